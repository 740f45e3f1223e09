//! Parser throughput: a read buffer of many small publishes, as a fast publisher sends them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use natsd_proto::{ClientOp, Parser, ParserLimits};

fn frames(count: usize, payload: usize, reply: bool) -> Vec<u8> {
    let body = vec![b'x'; payload];
    let mut out = Vec::new();
    for _ in 0..count {
        let line = if reply {
            format!("PUB orders.eu.created _INBOX.abc {payload}\r\n")
        } else {
            format!("PUB orders.eu.created {payload}\r\n")
        };
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn parse_all(input: &[u8]) -> usize {
    let mut parser = Parser::new(ParserLimits::default());
    let mut buf = BytesMut::from(input);
    let mut count = 0;
    while let Some(op) = parser.next_op(&mut buf).unwrap() {
        if let ClientOp::Pub(publish) = op {
            count += publish.payload().len();
        }
    }
    count
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for (name, payload, reply) in [
        ("pub_16b", 16, false),
        ("pub_reply_16b", 16, true),
        ("pub_1k", 1024, false),
    ] {
        let input = frames(1000, payload, reply);
        group.throughput(Throughput::Elements(1000));
        group.bench_function(name, |b| b.iter(|| parse_all(&input)));
    }
    let mixed = b"SUB orders.* workers 12\r\nPING\r\nUNSUB 12 5\r\nPONG\r\n".repeat(250);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("sub_unsub_ping_pong", |b| b.iter(|| parse_all(&mixed)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
