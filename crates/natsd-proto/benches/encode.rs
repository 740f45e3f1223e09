//! Fan-out encoding: the MSG/HMSG control line written for each subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use natsd_proto::encode::{msg_line, Sizes};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("msg_line_x1000", |b| {
        let mut out = BytesMut::with_capacity(64 * 1024);
        b.iter(|| {
            out.clear();
            for sid in 0..1000u32 {
                let sid = sid.to_string();
                msg_line(
                    &mut out,
                    b"orders.eu.created",
                    sid.as_bytes(),
                    b"",
                    Sizes::Plain(b"16"),
                );
            }
            out.len()
        })
    });
    group.bench_function("hmsg_line_with_reply_x1000", |b| {
        let mut out = BytesMut::with_capacity(64 * 1024);
        b.iter(|| {
            out.clear();
            for _ in 0..1000 {
                msg_line(
                    &mut out,
                    b"orders.eu.created",
                    b"7",
                    b"_INBOX.abc.def",
                    Sizes::WithHeaders(b"22", b"38"),
                );
            }
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
