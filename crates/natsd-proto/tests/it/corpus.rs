//! Replays the fuzz corpus of the parser target: every input parses without panicking and
//! gives the same result whole and byte by byte.

use std::path::Path;

use crate::chunking::parse_chunked;
use crate::parser::parse_all;

#[test]
fn fuzz_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/parser");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let input = std::fs::read(entry.unwrap().path()).unwrap();
        let cuts: Vec<usize> = (0..input.len()).collect();
        assert_eq!(parse_all(&input, true), parse_chunked(&input, &cuts));
        count += 1;
    }
    assert!(count >= 10, "corpus has only {count} inputs");
}
