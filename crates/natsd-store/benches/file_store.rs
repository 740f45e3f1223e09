//! The file store on a real directory: storing 128-byte messages (flushed to the file
//! one by one or a hundred at a time, or synced each), and opening 100,000 messages over 10,000
//! subjects by scanning the blocks or from the index a clean close saved.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use natsd_store::{DirStorage, FileStore, FileStoreConfig, StreamStore};

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natsd-store-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open(dir: &Path, sync_always: bool) -> FileStore<DirStorage> {
    let config = FileStoreConfig {
        sync_always,
        ..FileStoreConfig::default()
    };
    FileStore::open(DirStorage::new(dir).unwrap(), config).unwrap()
}

fn bench(c: &mut Criterion) {
    let payload = [b'x'; 128];
    let mut group = c.benchmark_group("file_store");
    // Flushed after each message, after each 100 (a read's worth), or synced each time;
    // the store is purged every 100,000 messages, as a stream under limits would hold no
    // more.
    for (name, sync_always, batch) in [
        ("store_128b_flushed", false, 1),
        ("store_128b_flushed_per_100", false, 100),
        ("store_128b_synced", true, 1),
    ] {
        let path = dir(name);
        let mut store = open(&path, sync_always);
        let mut n = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                let seq = store
                    .store("bench.subject", b"", &payload, n as i64)
                    .unwrap();
                if n.is_multiple_of(batch) {
                    store.flush().unwrap();
                }
                // A stream under limits: it holds at most 100,000 messages.
                if n.is_multiple_of(100_000) {
                    store.purge().unwrap();
                }
                seq
            })
        });
        drop(store);
        let _ = std::fs::remove_dir_all(&path);
    }

    let mut memory = natsd_store::MemStore::new();
    let mut n = 0i64;
    group.bench_function("memory_store_128b", |b| {
        b.iter(|| {
            n += 1;
            if n % 100_000 == 0 {
                memory.purge().unwrap();
            }
            memory.store("bench.subject", b"", &payload, n).unwrap()
        })
    });

    let path = dir("open");
    let mut store = open(&path, false);
    for i in 0..100_000u64 {
        store
            .store(&format!("open.{}", i % 10_000), b"", &payload, i as i64)
            .unwrap();
    }
    store.close().unwrap();
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("open_100k_from_saved_index", |b| {
        b.iter(|| open(&path, false).state().msgs)
    });
    std::fs::remove_file(path.join("index.dat")).unwrap();
    group.bench_function("open_100k_by_scanning", |b| {
        b.iter(|| open(&path, false).state().msgs)
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&path);
}

criterion_group!(benches, bench);
criterion_main!(benches);
