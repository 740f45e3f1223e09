//! Sublist matching: a literal hit, a wildcard-heavy index, and the shared cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use natsd_subject::Sublist;

fn populated(cache: bool) -> Sublist<u32> {
    let list = Sublist::new(cache);
    let mut id = 0;
    for region in 0..20 {
        for kind in 0..50 {
            list.insert(format!("orders.r{region}.k{kind}").as_bytes(), None, id)
                .unwrap();
            id += 1;
        }
        list.insert(format!("orders.r{region}.*").as_bytes(), None, id)
            .unwrap();
        id += 1;
    }
    list.insert(b"orders.>", Some(b"audit"), id).unwrap();
    list.insert(b"*.*.k7", None, id + 1).unwrap();
    list
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("sublist");
    let uncached = populated(false);
    group.bench_function("match_literal_no_cache", |b| {
        b.iter(|| uncached.matches(b"orders.r3.k7").plain.len())
    });
    group.bench_function("match_miss_no_cache", |b| {
        b.iter(|| uncached.matches(b"payments.r3.k7").plain.len())
    });
    let cached = populated(true);
    cached.matches(b"orders.r3.k7");
    group.bench_function("match_cache_hit", |b| {
        b.iter(|| cached.matches(b"orders.r3.k7").plain.len())
    });
    group.bench_function("insert_remove", |b| {
        let list = populated(true);
        b.iter(|| {
            list.insert(b"orders.r1.new", None, 99_999).unwrap();
            list.remove(b"orders.r1.new", None, &99_999)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
