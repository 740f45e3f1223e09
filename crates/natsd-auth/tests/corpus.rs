//! Replays the `jwt` fuzz target's corpus: every input gets a decision without panicking.

use std::path::Path;

#[path = "../../../fuzz/fuzz_targets/jwt_check.rs"]
mod jwt_check;

#[test]
fn fuzz_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/jwt");
    let (mut count, mut admitted, mut refused) = (0, 0, 0);
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        if let Ok(input) = std::fs::read(entry.path()) {
            match jwt_check::check(&input) {
                Some(true) => admitted += 1,
                Some(false) => refused += 1,
                None => {}
            }
            count += 1;
        }
    }
    assert!(count >= 10, "corpus has only {count} inputs");
    // The corpus reaches both outcomes: the trust chain is really exercised.
    assert!(
        admitted > 0 && refused > 0,
        "admitted {admitted}, refused {refused}"
    );
}
