//! One suite for every store: the memory store, the file store on a simulated disk and on
//! a directory. Then the file store against the memory store on random operations, and
//! the file store's recovery from crashes, torn writes and flipped bits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use natsd_store::{
    DirStorage, FileStore, FileStoreConfig, MemStore, SimStorage, StoreError, StreamStore,
};

fn small_blocks() -> FileStoreConfig {
    FileStoreConfig {
        block_size: 256,
        sync_always: false,
    }
}

/// Each store the suite runs on, fresh.
fn stores(name: &str) -> Vec<(String, Box<dyn StreamStore>)> {
    let dir = std::env::temp_dir().join(format!("natsd-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    vec![
        ("memory".into(), Box::new(MemStore::new())),
        (
            "file on a simulated disk".into(),
            Box::new(FileStore::open(SimStorage::new(), small_blocks()).unwrap()),
        ),
        (
            "file in a directory".into(),
            Box::new(FileStore::open(DirStorage::new(&dir).unwrap(), small_blocks()).unwrap()),
        ),
    ]
}

#[test]
fn stored_messages_load_back_by_sequence_and_subject() {
    for (name, mut store) in stores("load") {
        assert_eq!(store.store("a.1", b"", b"one", 10).unwrap(), 1, "{name}");
        let headers = b"NATS/1.0\r\nX: y\r\n\r\n";
        assert_eq!(store.store("a.2", headers, b"two", 20).unwrap(), 2);
        assert_eq!(store.store("a.1", b"", b"three", 30).unwrap(), 3);
        let second = store.load(2).unwrap();
        assert_eq!(
            (
                second.subject.as_str(),
                &second.headers[..],
                &second.payload[..],
                second.ts
            ),
            ("a.2", &headers[..], &b"two"[..], 20),
            "{name}"
        );
        assert_eq!(store.load_last("a.1").unwrap().payload, "three", "{name}");
        assert_eq!(store.load_next("a.*", 2).unwrap().seq, 2, "{name}");
        assert_eq!(store.load_next("a.1", 2).unwrap().seq, 3, "{name}");
        assert!(
            matches!(store.load(9), Err(StoreError::NotYetStored)),
            "{name}"
        );
        assert!(
            matches!(store.load_last("b"), Err(StoreError::NotFound)),
            "{name}"
        );
        let state = store.state();
        assert_eq!(
            (
                state.msgs,
                state.first_seq,
                state.last_seq,
                state.num_subjects
            ),
            (3, 1, 3, 2),
            "{name}"
        );
        assert_eq!((state.first_ts, state.last_ts), (10, 30), "{name}");
    }
}

#[test]
fn removals_leave_gaps_and_move_subject_bounds() {
    for (name, mut store) in stores("remove") {
        for payload in ["1", "2", "3", "4"] {
            store.store("s", b"", payload.as_bytes(), 1).unwrap();
        }
        assert!(store.remove(1).unwrap(), "{name}");
        assert!(store.remove(3).unwrap(), "{name}");
        assert!(!store.remove(3).unwrap(), "{name}");
        assert!(matches!(store.load(3), Err(StoreError::NotFound)), "{name}");
        let subject = store.subject_state("s").unwrap();
        assert_eq!(
            (subject.msgs, subject.first, subject.last),
            (2, 2, 4),
            "{name}"
        );
        let state = store.state();
        assert_eq!(
            (state.msgs, state.first_seq, state.num_deleted),
            (2, 2, 1),
            "{name}"
        );
        assert!(store.remove(4).unwrap());
        assert_eq!(store.subject_state("s").unwrap().last, 2, "{name}");
    }
}

#[test]
fn a_purge_empties_the_stream_and_sequences_go_on() {
    for (name, mut store) in stores("purge") {
        for _ in 0..10 {
            store
                .store("p", b"", b"0123456789012345678901234567890", 1)
                .unwrap();
        }
        assert_eq!(store.purge().unwrap(), 10, "{name}");
        let state = store.state();
        assert_eq!(
            (state.msgs, state.bytes, state.first_seq, state.last_seq),
            (0, 0, 11, 10),
            "{name}"
        );
        assert_eq!(store.store("p", b"", b"after", 2).unwrap(), 11, "{name}");
        assert_eq!(store.state().first_seq, 11, "{name}");
    }
}

/// Filtered purges as nats-server's `PurgeEx` does them, and compaction.
#[test]
fn filtered_purges_keep_and_compact_as_nats_server_does() {
    for (name, mut store) in stores("purge-ex") {
        // 1..=12, subjects s.1, s.2, s.3 in turn.
        for i in 0..12 {
            store
                .store(&format!("s.{}", i % 3 + 1), b"", b"m", i)
                .unwrap();
        }
        let seqs = |store: &dyn StreamStore, filter: &str| {
            let mut found = Vec::new();
            let mut next = 1;
            while let Some(seq) = store.next_match(filter, next) {
                found.push(seq);
                next = seq + 1;
            }
            found
        };
        assert_eq!(store.purge_ex("s.1", 0, 2).unwrap(), 2, "{name}");
        assert_eq!(seqs(&*store, "s.1"), [7, 10], "{name}");
        assert_eq!(store.purge_ex("s.*", 6, 0).unwrap(), 3, "{name}");
        assert_eq!(seqs(&*store, ">"), [6, 7, 8, 9, 10, 11, 12], "{name}");
        let filtered = store.filtered_state("s.2", 1);
        assert_eq!(
            (filtered.msgs, filtered.first, filtered.last),
            (2, 8, 11),
            "{name}"
        );
        let wild = store.filtered_state("s.*", 9);
        assert_eq!((wild.msgs, wild.first, wild.last), (4, 9, 12), "{name}");
        assert_eq!(store.purge_ex("", 0, 3).unwrap(), 4, "{name}");
        assert_eq!(seqs(&*store, ""), [10, 11, 12], "{name}");
        assert_eq!(store.compact(12).unwrap(), 2, "{name}");
        assert_eq!(store.state().first_seq, 12, "{name}");
        // Compacting past the end moves the next sequence on.
        assert_eq!(store.compact(20).unwrap(), 1, "{name}");
        assert_eq!(store.store("s.1", b"", b"next", 99).unwrap(), 20, "{name}");
    }
}

/// Reopening a file store finds what it held, whatever the blocks.
#[test]
fn a_reopened_file_store_holds_what_it_held() {
    let disk = SimStorage::new();
    let mut store = FileStore::open(disk.clone(), small_blocks()).unwrap();
    for i in 0..40 {
        store
            .store(&format!("r.{}", i % 3), b"", format!("m{i}").as_bytes(), i)
            .unwrap();
    }
    store.remove(5).unwrap();
    let before = store.state();
    // What a caller acknowledges it has flushed.
    store.flush().unwrap();
    drop(store);
    let store = FileStore::open(disk, small_blocks()).unwrap();
    assert_eq!(store.state(), before);
    assert_eq!(store.load(40).unwrap().payload, "m39");
    assert!(matches!(store.load(5), Err(StoreError::NotFound)));
    assert_eq!(store.recovery(), Default::default());
}

#[derive(Debug, Clone)]
enum Op {
    Store(u8, Vec<u8>),
    Remove(u64),
    Purge,
    Compact(u64),
    PurgeEx(u8, u64, u64),
    /// Dropped as by a crash, or closed cleanly (saving the index), then opened again.
    Reopen(bool),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        6 => (0u8..4, proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(s, p)| Op::Store(s, p)),
        2 => (1u64..30).prop_map(Op::Remove),
        1 => Just(Op::Purge),
        1 => (1u64..40).prop_map(Op::Compact),
        1 => (0u8..5, 0u64..30, 0u64..4).prop_map(|(f, s, k)| Op::PurgeEx(f, s, k)),
        1 => proptest::bool::ANY.prop_map(Op::Reopen),
    ]
}

proptest::proptest! {
    // Cheap enough to try many: each case is a few dozen operations on a simulated disk.
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// The file store answers as the memory store does, after any operations, across
    /// reopenings. (Sizes are the stores' own, so bytes are not compared.)
    #[test]
    fn the_file_store_agrees_with_the_memory_store(ops in proptest::collection::vec(op(), 1..60)) {
        let disk = SimStorage::new();
        let mut file = FileStore::open(disk.clone(), small_blocks()).unwrap();
        let mut memory = MemStore::new();
        for op in ops {
            match op {
                Op::Store(s, payload) => {
                    let subject = format!("sub.{s}");
                    let a = file.store(&subject, b"", &payload, 7).unwrap();
                    let b = memory.store(&subject, b"", &payload, 7).unwrap();
                    proptest::prop_assert_eq!(a, b);
                }
                Op::Remove(seq) => {
                    proptest::prop_assert_eq!(file.remove(seq).unwrap(), memory.remove(seq).unwrap());
                }
                Op::Purge => {
                    proptest::prop_assert_eq!(file.purge().unwrap(), memory.purge().unwrap());
                }
                Op::Compact(seq) => {
                    proptest::prop_assert_eq!(file.compact(seq).unwrap(), memory.compact(seq).unwrap());
                }
                Op::PurgeEx(f, seq, keep) => {
                    let filter = match f {
                        0 => String::new(),
                        1 => "sub.*".to_owned(),
                        n => format!("sub.{n}"),
                    };
                    proptest::prop_assert_eq!(
                        file.purge_ex(&filter, seq, keep).unwrap(),
                        memory.purge_ex(&filter, seq, keep).unwrap()
                    );
                }
                Op::Reopen(clean) => {
                    if clean {
                        file.close().unwrap();
                    } else {
                        file.flush().unwrap();
                        drop(file);
                    }
                    file = FileStore::open(disk.clone(), small_blocks()).unwrap();
                }
            }
            let (f, m) = (file.state(), memory.state());
            proptest::prop_assert_eq!(
                (f.msgs, f.first_seq, f.last_seq, f.num_deleted, f.num_subjects),
                (m.msgs, m.first_seq, m.last_seq, m.num_deleted, m.num_subjects)
            );
        }
        for seq in 1..=memory.state().last_seq {
            let (f, m) = (file.load(seq).ok(), memory.load(seq).ok());
            proptest::prop_assert_eq!(f.map(|m| (m.subject, m.payload)), m.map(|m| (m.subject, m.payload)));
        }
        for s in 0..4 {
            let subject = format!("sub.{s}");
            proptest::prop_assert_eq!(file.subject_state(&subject), memory.subject_state(&subject));
        }
    }
}

/// A process crash loses nothing stored: every store handed its record to the operating
/// system before returning.
#[test]
fn a_process_crash_keeps_every_stored_message() {
    let disk = SimStorage::new();
    let mut store = FileStore::open(disk.clone(), small_blocks()).unwrap();
    for i in 0..50 {
        store.store("c", b"", format!("{i}").as_bytes(), i).unwrap();
    }
    // Dropped without a sync or a close, as by kill -9; the disk keeps what was written.
    // What a caller acknowledges it has flushed.
    store.flush().unwrap();
    drop(store);
    let mut store = FileStore::open(disk.clone(), small_blocks()).unwrap();
    assert_eq!(store.state().msgs, 50);
    assert_eq!(store.load(50).unwrap().payload, "49");
    // Messages stored and not flushed (so not acknowledged) may go in a crash; the store
    // keeps a whole prefix of them and goes on after it.
    for i in 50..55 {
        store.store("c", b"", format!("{i}").as_bytes(), i).unwrap();
    }
    // A crash runs no destructor.
    std::mem::forget(store);
    let mut store = FileStore::open(disk, small_blocks()).unwrap();
    let kept = store.state().last_seq;
    assert!((50..=55).contains(&kept), "kept {kept}");
    assert_eq!(store.store("c", b"", b"next", 99).unwrap(), kept + 1);
}

/// With sync_always a power loss keeps every stored message; a write cut short in the
/// middle of the last record is cut off, and the store takes new messages after it.
#[test]
fn a_power_loss_keeps_what_was_synced_and_cuts_a_torn_write() {
    let always = FileStoreConfig {
        sync_always: true,
        ..small_blocks()
    };
    let disk = SimStorage::new();
    let mut store = FileStore::open(disk.clone(), always).unwrap();
    for i in 0..20 {
        store.store("d", b"", format!("{i}").as_bytes(), i).unwrap();
    }
    // What a caller acknowledges it has flushed.
    store.flush().unwrap();
    drop(store);
    disk.lose_power(0);
    let store = FileStore::open(disk.clone(), always).unwrap();
    assert_eq!(store.state().msgs, 20);
    drop(store);

    // An unsynced write: a power loss keeps only part of it.
    let mut unsynced = FileStore::open(disk.clone(), small_blocks()).unwrap();
    unsynced.store("d", b"", b"not synced", 99).unwrap();
    unsynced.flush().unwrap();
    drop(unsynced);
    disk.lose_power(7);
    let mut store = FileStore::open(disk.clone(), always).unwrap();
    assert_eq!(store.state().msgs, 20);
    assert_eq!(store.recovery().torn_bytes, 7);
    assert_eq!(store.store("d", b"", b"next", 100).unwrap(), 21);
    // What a caller acknowledges it has flushed.
    store.flush().unwrap();
    drop(store);
    let store = FileStore::open(disk, always).unwrap();
    assert_eq!(store.load(21).unwrap().payload, "next");
    assert_eq!(store.recovery(), Default::default());
}

/// A flipped bit in the middle of a block drops that record alone, reported; every
/// message served is byte for byte the one stored, and the store goes on.
#[test]
fn a_flipped_bit_drops_one_record_and_no_more() {
    let disk = SimStorage::new();
    let config = FileStoreConfig {
        block_size: 1 << 20,
        sync_always: true,
    };
    let mut store = FileStore::open(disk.clone(), config).unwrap();
    let payload = |i: usize| format!("payload number {i}").into_bytes();
    for i in 0..30 {
        store.store("f", b"", &payload(i), i as i64).unwrap();
    }
    // What a caller acknowledges it has flushed.
    store.flush().unwrap();
    drop(store);
    let block = "0000000001.blk";
    disk.flip(block, disk.len(block) / 2, 0x10);
    let mut store = FileStore::open(disk, config).unwrap();
    assert_eq!(store.recovery().damaged, 1);
    assert_eq!(store.state().msgs, 29);
    for seq in 1..=30u64 {
        if let Ok(msg) = store.load(seq) {
            assert_eq!(msg.payload, payload(seq as usize - 1), "message {seq}");
        }
    }
    assert_eq!(store.store("f", b"", b"more", 31).unwrap(), 31);
}

/// A record damaged after the store opened is not served either: the read that finds it
/// reports it, and the next change to the store removes it, for good.
#[test]
fn a_record_damaged_while_open_is_refused_and_removed() {
    let disk = SimStorage::new();
    let mut store = FileStore::open(disk.clone(), FileStoreConfig::default()).unwrap();
    store.store("g", b"", b"good", 1).unwrap();
    store.store("g", b"", b"fine", 2).unwrap();
    store.flush().unwrap();
    disk.flip("0000000001.blk", 30, 0x01);
    assert!(matches!(store.load(1), Err(StoreError::Corrupt(_))));
    store.store("g", b"", b"after", 3).unwrap();
    assert_eq!(store.recovery().damaged, 1);
    let state = store.state();
    assert_eq!((state.msgs, state.first_seq), (2, 2));
    assert_eq!(store.subject_state("g").unwrap().first, 2);
    store.flush().unwrap();
    drop(store);
    let store = FileStore::open(disk, FileStoreConfig::default()).unwrap();
    assert_eq!(store.state().msgs, 2);
    assert_eq!(store.load(2).unwrap().payload, "fine");
}

/// Messages aged out oldest first (limits, work queues) take their blocks with them.
#[test]
fn blocks_go_once_their_messages_are_gone() {
    use natsd_store::Storage;
    let disk = SimStorage::new();
    let mut store = FileStore::open(disk.clone(), small_blocks()).unwrap();
    for i in 0..100 {
        store
            .store("q", b"", format!("work {i}").as_bytes(), i)
            .unwrap();
    }
    store.flush().unwrap();
    let full = disk.list().unwrap().len();
    assert!(full > 10, "{full} blocks");
    for seq in 1..=90 {
        store.remove(seq).unwrap();
    }
    store.flush().unwrap();
    let left = disk.list().unwrap().len();
    assert!(left <= full / 4, "{left} of {full} blocks left");
    // What a caller acknowledges it has flushed.
    store.flush().unwrap();
    drop(store);
    let store = FileStore::open(disk, small_blocks()).unwrap();
    let state = store.state();
    assert_eq!((state.msgs, state.first_seq, state.last_seq), (10, 91, 100));
    assert_eq!(store.load(91).unwrap().payload, "work 90");
}

/// A clean close saves the index: the next open takes it and scans only what was written
/// after it, here after a crash. (A bit flipped under the saved index is found when the
/// message is read, and not served.)
#[test]
fn a_saved_index_spares_the_next_open_a_scan() {
    let disk = SimStorage::new();
    let config = FileStoreConfig {
        block_size: 1 << 20,
        sync_always: false,
    };
    let mut store = FileStore::open(disk.clone(), config).unwrap();
    for i in 0..20 {
        store
            .store(&format!("i.{}", i % 4), b"", format!("{i}").as_bytes(), i)
            .unwrap();
    }
    store.remove(3).unwrap();
    let closed = store.state();
    store.close().unwrap();

    let mut store = FileStore::open(disk.clone(), config).unwrap();
    assert_eq!(store.state(), closed);
    store.store("i.9", b"", b"after", 99).unwrap();
    store.remove(4).unwrap();
    // What a caller acknowledges it has flushed.
    store.flush().unwrap();
    drop(store);
    let store = FileStore::open(disk.clone(), config).unwrap();
    let state = store.state();
    assert_eq!((state.msgs, state.last_seq), (19, 21));
    assert_eq!(store.load(21).unwrap().payload, "after");
    assert!(matches!(store.load(4), Err(StoreError::NotFound)));
    assert_eq!(store.subject_state("i.9").unwrap().msgs, 1);
    store.close().unwrap();

    // Under the saved index a damaged record is not rescanned, but never served.
    disk.flip("0000000001.blk", 20, 0x01);
    let store = FileStore::open(disk, config).unwrap();
    assert_eq!(store.recovery(), Default::default());
    assert!(matches!(store.load(1), Err(StoreError::Corrupt(_))));
    assert_eq!(store.load(2).unwrap().payload, "1");
}

/// A saved index that no longer fits (its blocks purged away) is passed over for a scan.
#[test]
fn a_stale_saved_index_is_passed_over() {
    let disk = SimStorage::new();
    let mut store = FileStore::open(disk.clone(), small_blocks()).unwrap();
    for i in 0..30 {
        store.store("x", b"", format!("{i}").as_bytes(), i).unwrap();
    }
    store.close().unwrap();
    let mut store = FileStore::open(disk.clone(), small_blocks()).unwrap();
    store.purge().unwrap();
    store.store("x", b"", b"new", 31).unwrap();
    // What a caller acknowledges it has flushed.
    store.flush().unwrap();
    drop(store);
    let store = FileStore::open(disk, small_blocks()).unwrap();
    let state = store.state();
    assert_eq!((state.msgs, state.first_seq, state.last_seq), (1, 31, 31));
}

/// A Key-Value bucket's stream: each update of a key removes its older revision, all
/// through the stream. Mostly dead blocks are rewritten, so the blocks stay near the size
/// of what they hold, and every latest revision is still there after a reopen; on the
/// simulated disk and in a directory.
#[test]
fn mostly_dead_blocks_are_rewritten() {
    let dir = std::env::temp_dir().join(format!("natsd-store-{}-kv", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let disk = SimStorage::new();
    let sim_size = kv_workload(
        || disk.clone(),
        || {
            use natsd_store::Storage;
            disk.list()
                .unwrap()
                .iter()
                .map(|name| disk.len(name) as u64)
                .sum()
        },
    );
    let dir_size = kv_workload(
        || DirStorage::new(&dir).unwrap(),
        || {
            std::fs::read_dir(&dir)
                .unwrap()
                .map(|entry| entry.unwrap().metadata().unwrap().len())
                .sum()
        },
    );
    // 20 live records of about 60 bytes, against 1,000 stored and 980 removals.
    for size in [sim_size, dir_size] {
        assert!(size < 4 * 4096, "{size} bytes on disk");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the Key-Value workload on the storage `open` gives; returns the bytes stored
/// once it is done, as `size` counts them.
fn kv_workload<S: natsd_store::Storage>(open: impl Fn() -> S, size: impl Fn() -> u64) -> u64 {
    let config = FileStoreConfig {
        block_size: 4096,
        sync_always: false,
    };
    let mut store = FileStore::open(open(), config).unwrap();
    for round in 0..50 {
        for key in 0..20 {
            let subject = format!("$KV.b.k{key}");
            let before = store.subject_state(&subject).map(|s| s.last);
            store
                .store(&subject, b"", format!("{round}").as_bytes(), round)
                .unwrap();
            if let Some(older) = before {
                store.remove(older).unwrap();
            }
        }
    }
    store.flush().unwrap();
    let stored = size();
    drop(store);
    let store = FileStore::open(open(), config).unwrap();
    assert_eq!(store.state().msgs, 20);
    for key in 0..20 {
        assert_eq!(
            store.load_last(&format!("$KV.b.k{key}")).unwrap().payload,
            "49"
        );
    }
    stored
}

#[derive(Debug, Clone)]
enum DiskOp {
    Store(u8, u8),
    Remove(u64),
    Compact(u64),
    Flush,
    Sync,
    /// A sync taken now ([`StreamStore::sync_later`]); `RunSync` runs the oldest taken.
    SyncLater,
    RunSync,
    /// A clean close (saving the index) and an open, which then scans what comes after.
    Reopen,
}

fn disk_op() -> impl proptest::strategy::Strategy<Value = DiskOp> {
    use proptest::prelude::*;
    prop_oneof![
        6 => (0u8..4, 0u8..60).prop_map(|(s, n)| DiskOp::Store(s, n)),
        3 => (1u64..40).prop_map(DiskOp::Remove),
        1 => (1u64..40).prop_map(DiskOp::Compact),
        2 => Just(DiskOp::Flush),
        2 => Just(DiskOp::Sync),
        1 => Just(DiskOp::SyncLater),
        1 => Just(DiskOp::RunSync),
        1 => Just(DiskOp::Reopen),
    ]
}

/// A sync taken and not run yet, what it covers, and what was removed since.
type TakenSync = (
    natsd_store::PendingSync,
    Vec<(u64, Vec<u8>)>,
    std::collections::HashSet<u64>,
);

/// Every message a store holds, by sequence.
fn held_messages(memory: &MemStore) -> Vec<(u64, Vec<u8>)> {
    (1..=memory.state().last_seq)
        .filter_map(|seq| memory.load(seq).ok())
        .map(|m| (m.seq, m.payload.to_vec()))
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

    /// After a power loss (which keeps what was synced, and `torn` bytes of what was
    /// not), every message held at the last sync (or clean close) and not removed since
    /// is there, byte for byte, and every message there is the one stored at its
    /// sequence; also when the open that follows starts from a saved index, and when a
    /// byte of a block was flipped too (then one message at most may be missing). A sync
    /// taken earlier and run later covers what was stored when it was taken.
    #[test]
    fn a_power_loss_loses_nothing_synced(
        ops in proptest::collection::vec(disk_op(), 1..80),
        torn in 0usize..100,
        flip in proptest::option::of((0usize..4096, 1u8..=255)),
    ) {
        let disk = SimStorage::new();
        let mut file = FileStore::open(disk.clone(), small_blocks()).unwrap();
        let mut memory = MemStore::new();
        let mut stored: std::collections::HashMap<u64, Vec<u8>> = Default::default();
        let mut synced: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut removed_since: std::collections::HashSet<u64> = Default::default();
        // Syncs taken and not yet run, oldest first, each with what it covers and what
        // was removed since it was taken.
        let mut pending: std::collections::VecDeque<TakenSync> = Default::default();
        for op in ops {
            match op {
                DiskOp::Store(s, n) => {
                    let payload = vec![s; n as usize];
                    let seq = file.store(&format!("p.{s}"), b"", &payload, 1).unwrap();
                    memory.store(&format!("p.{s}"), b"", &payload, 1).unwrap();
                    stored.insert(seq, payload);
                }
                DiskOp::Remove(seq) => {
                    file.remove(seq).unwrap();
                    memory.remove(seq).unwrap();
                    removed_since.insert(seq);
                    for (_, _, removed) in &mut pending {
                        removed.insert(seq);
                    }
                }
                DiskOp::Compact(seq) => {
                    file.compact(seq).unwrap();
                    memory.compact(seq).unwrap();
                    removed_since.extend(1..seq);
                    for (_, _, removed) in &mut pending {
                        removed.extend(1..seq);
                    }
                }
                DiskOp::Flush => file.flush().unwrap(),
                DiskOp::SyncLater => {
                    let held = held_messages(&memory);
                    pending.push_back((file.sync_later().unwrap(), held, Default::default()));
                }
                DiskOp::RunSync => {
                    if let Some((sync, held, removed)) = pending.pop_front() {
                        // Taken after the last full sync, which drops the pending ones.
                        sync.run().unwrap();
                        synced = held;
                        removed_since = removed;
                    }
                }
                DiskOp::Sync | DiskOp::Reopen => {
                    if matches!(op, DiskOp::Reopen) {
                        file.close().unwrap();
                        file = FileStore::open(disk.clone(), small_blocks()).unwrap();
                    } else {
                        file.sync().unwrap();
                    }
                    synced = held_messages(&memory);
                    removed_since.clear();
                    pending.clear();
                }
            }
        }
        // The power goes: no destructor runs, unsynced bytes go but for a torn part.
        std::mem::forget(file);
        disk.lose_power(torn);
        // And perhaps bits flip in one byte of one block while the power is off.
        if let Some((at, mask)) = flip {
            use natsd_store::Storage;
            let mut blocks: Vec<String> = disk.list().unwrap();
            blocks.retain(|name| name.ends_with(".blk") && disk.len(name) > 0);
            blocks.sort();
            if let Some(name) = blocks.get(at % blocks.len().max(1)) {
                disk.flip(name, at % disk.len(name), mask);
            }
        }
        let file = FileStore::open(disk, small_blocks()).unwrap();
        // A flipped byte costs at most the one record it hit.
        let allowed_missing = usize::from(flip.is_some());
        let missing = synced
            .iter()
            .filter(|(seq, _)| !removed_since.contains(seq))
            .filter(|(seq, payload)| {
                file.load(*seq).map(|m| m.payload.to_vec()).ok().as_ref() != Some(payload)
            })
            .count();
        proptest::prop_assert!(missing <= allowed_missing, "{} synced messages missing", missing);
        for seq in 1..=file.state().last_seq {
            if let Ok(msg) = file.load(seq) {
                proptest::prop_assert_eq!(Some(&msg.payload.to_vec()), stored.get(&seq));
            }
        }
    }
}
