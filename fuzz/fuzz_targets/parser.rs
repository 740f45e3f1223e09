//! Feeds arbitrary bytes to the client-protocol parser, split at a fuzzer-chosen point, and
//! checks the split changes nothing. Run with `cargo fuzz run parser` from this directory;
//! new corpus entries land in `corpus/parser`, which a plain test replays.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use natsd_proto::{Parser, ParserLimits};

fn run(chunks: &[&[u8]]) -> (Vec<natsd_proto::ClientOp>, Option<natsd_proto::ParseError>) {
    let mut parser = Parser::new(ParserLimits { max_control_line: 256, max_payload: Some(4096) });
    parser.set_headers(true);
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parser.next_op(&mut buf) {
                Ok(Some(op)) => ops.push(op),
                Ok(None) => break,
                Err(e) => return (ops, Some(e)),
            }
        }
    }
    (ops, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else { return };
    let at = usize::from(split).min(input.len());
    let whole = run(&[input]);
    let split = run(&[&input[..at], &input[at..]]);
    assert_eq!(whole, split);
});
