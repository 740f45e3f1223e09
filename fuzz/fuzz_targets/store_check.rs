//! What the `store_recovery` fuzz target checks of one input, shared with the test that
//! replays its corpus: arbitrary bytes as a file store block open without panicking, and
//! every message the store then counts loads. Returns what opening found.

use natsd_store::{FileStore, FileStoreConfig, Recovery, SimStorage, Storage, StreamStore};

/// Messages held, and what recovery reported.
pub fn check(data: &[u8]) -> Option<(u64, Recovery)> {
    let mut disk = SimStorage::new();
    disk.append("0000000001.blk", data).ok()?;
    let store = FileStore::open(disk, FileStoreConfig::default()).ok()?;
    let state = store.state();
    let loaded = (state.first_seq..=state.last_seq)
        .filter(|seq| store.load(*seq).is_ok())
        .count() as u64;
    assert_eq!(loaded, state.msgs, "every counted message loads");
    Some((state.msgs, store.recovery()))
}
