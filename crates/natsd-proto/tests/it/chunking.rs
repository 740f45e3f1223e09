//! Any split of the input into reads yields the same ops and the same error as one read.

use bytes::BytesMut;
use natsd_proto::{ClientOp, ParseError, Parser, ParserLimits};
use proptest::prelude::*;

use crate::parser::parse_all;

pub fn parse_chunked(input: &[u8], cuts: &[usize]) -> (Vec<ClientOp>, Option<ParseError>) {
    let mut parser = Parser::new(ParserLimits::default());
    parser.set_headers(true);
    let mut buf = BytesMut::new();
    let mut ops = Vec::new();
    let mut start = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.sort_unstable();
    points.push(input.len());
    for end in points {
        if end < start {
            continue;
        }
        buf.extend_from_slice(&input[start..end]);
        start = end;
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

fn op_text() -> impl Strategy<Value = Vec<u8>> {
    let subject = "[a-z]{1,5}(\\.[a-z*>]{1,3}){0,2}";
    let payload = proptest::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        (subject, payload.clone()).prop_map(|(s, p)| {
            let mut v = format!("PUB {s} {}\r\n", p.len()).into_bytes();
            v.extend_from_slice(&p);
            v.extend_from_slice(b"\r\n");
            v
        }),
        (subject, payload).prop_map(|(s, p)| {
            let hdr = b"NATS/1.0\r\nA: b\r\n\r\n";
            let mut v =
                format!("HPUB {s} r {} {}\r\n", hdr.len(), hdr.len() + p.len()).into_bytes();
            v.extend_from_slice(hdr);
            v.extend_from_slice(&p);
            v.extend_from_slice(b"\r\n");
            v
        }),
        (subject, 1u32..1000).prop_map(|(s, sid)| format!("SUB {s} q {sid}\r\n").into_bytes()),
        (1u32..1000).prop_map(|sid| format!("unsub {sid} 3\r\n").into_bytes()),
        Just(b"PING\r\n".to_vec()),
        Just(b"PONG\r\n".to_vec()),
        Just(b"CONNECT {\"verbose\":false}\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..8),
    ]
}

proptest! {
    #[test]
    fn any_chunking_yields_the_same_ops(
        ops in proptest::collection::vec(op_text(), 1..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let input: Vec<u8> = ops.concat();
        let whole = parse_all(&input, true);
        let chunked = parse_chunked(&input, &cuts);
        prop_assert_eq!(whole, chunked);
    }

    #[test]
    fn byte_at_a_time_matches_one_read(input in proptest::collection::vec(any::<u8>(), 0..200)) {
        let whole = parse_all(&input, true);
        let cuts: Vec<usize> = (0..input.len()).collect();
        prop_assert_eq!(whole, parse_chunked(&input, &cuts));
    }
}
