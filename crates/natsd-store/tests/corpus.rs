//! Replays the `store_recovery` fuzz target's corpus: every input opens without panicking
//! and serves every message it counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[path = "../../../fuzz/fuzz_targets/store_check.rs"]
mod store_check;

#[test]
fn fuzz_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/store_recovery");
    let (mut count, mut with_messages, mut damaged, mut torn) = (0, 0, 0, 0);
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let input = std::fs::read(entry.path()).unwrap();
        let (msgs, recovery) = store_check::check(&input).unwrap();
        count += 1;
        with_messages += usize::from(msgs > 0);
        damaged += usize::from(recovery.damaged > 0);
        torn += usize::from(recovery.torn_bytes > 0);
    }
    assert!(count >= 5, "corpus has only {count} inputs");
    // The corpus reaches whole, damaged and torn blocks.
    assert!(
        with_messages > 0 && damaged > 0 && torn > 0,
        "with messages {with_messages}, damaged {damaged}, torn {torn}"
    );
}
