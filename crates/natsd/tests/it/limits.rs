//! Limits and lifecycle: slow consumers, stale connections, connection and subscription caps,
//! lame duck mode, shutdown.

use std::time::Duration;

use async_nats::Event;
use futures::StreamExt;
use natsd_server::Options;
use natsd_testkit::{test_options, wait_for, RawConn};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
const QUIET: &str = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";

/// How a subscriber that never reads was cut off.
struct Cut {
    /// Bytes published before the server closed it.
    sent: usize,
    /// From the first publish to the close.
    after: Duration,
    reason: String,
}

/// Publishes until the subscriber that never reads is closed.
async fn flood_until_closed(opts: Options) -> Cut {
    let server = natsd_testkit::start(opts).await.unwrap();
    let (mut stuck, _) = RawConn::connect(server.local_addr()).await.unwrap();
    stuck
        .send(format!("{QUIET}SUB flood 1\r\nPING\r\n"))
        .await
        .unwrap();
    stuck.expect("PONG\r\n").await.unwrap();
    let (mut publisher, _) = RawConn::connect(server.local_addr()).await.unwrap();
    publisher.send(QUIET).await.unwrap();
    let payload = vec![b'x'; 64 * 1024];
    let frame = [
        format!("PUB flood {}\r\n", payload.len()).into_bytes(),
        payload,
        b"\r\n".to_vec(),
    ]
    .concat();
    let mut sent = 0;
    let started = std::time::Instant::now();
    // Bounded: 256 MiB at most, far above what loopback buffers and max_pending absorb.
    while server.num_clients() == 2 && sent < 256 * 1024 * 1024 {
        publisher.send(&frame).await.unwrap();
        sent += frame.len();
    }
    wait_for(WAIT, || server.num_clients() == 1).await.unwrap();
    let after = started.elapsed();
    // The publisher is unaffected; the slow consumer got no -ERR, only a close.
    publisher.sync().await.unwrap();
    let mut tail = Vec::new();
    while stuck.fill(Duration::from_millis(500)).await.unwrap() {
        tail.append(&mut stuck.received);
        assert!(
            !String::from_utf8_lossy(&tail).contains("-ERR"),
            "slow consumers get no -ERR"
        );
        tail.clear();
    }
    assert!(stuck.is_closed());
    let reason = natsd_testkit::close_reasons(&server)
        .pop()
        .expect("the slow consumer is listed as closed");
    Cut {
        sent,
        after,
        reason,
    }
}

#[tokio::test]
async fn slow_consumer_over_max_pending_is_closed() {
    let opts = Options {
        max_pending: 256 * 1024,
        ..test_options()
    };
    let cut = flood_until_closed(opts).await;
    assert_eq!(cut.reason, "Slow Consumer (Pending Bytes)");
    // Cut at 256 KiB pending plus what the loopback socket buffers hold, long before the
    // default 64 MiB would be reached.
    assert!(
        cut.sent > 256 * 1024 && cut.sent < 32 * 1024 * 1024,
        "{} bytes",
        cut.sent
    );
}

#[tokio::test]
async fn slow_consumer_past_write_deadline_is_closed() {
    let opts = Options {
        write_deadline: Duration::from_millis(200),
        // Room for everything the flood sends, so that only the deadline can cut.
        max_pending: 1024 * 1024 * 1024,
        ..test_options()
    };
    let cut = flood_until_closed(opts).await;
    assert_eq!(cut.reason, "Slow Consumer (Write Deadline)");
    // The default deadline is 10 s.
    assert!(cut.after < Duration::from_secs(5), "{:?}", cut.after);
}

#[tokio::test]
async fn silent_client_is_stale_after_ping_max() {
    let opts = Options {
        ping_interval: Duration::from_millis(100),
        ping_max: 2,
        ..test_options()
    };
    let server = natsd_testkit::start(opts).await.unwrap();
    let (mut conn, _) = RawConn::connect(server.local_addr()).await.unwrap();
    conn.send(QUIET).await.unwrap();
    conn.expect_close_after("PING\r\nPING\r\n-ERR 'Stale Connection'\r\n")
        .await
        .unwrap();
}

#[tokio::test]
async fn answering_pings_keeps_a_client() {
    let opts = Options {
        ping_interval: Duration::from_millis(50),
        ..test_options()
    };
    let server = natsd_testkit::start(opts).await.unwrap();
    let (mut conn, _) = RawConn::connect(server.local_addr()).await.unwrap();
    conn.send(QUIET).await.unwrap();
    for _ in 0..5 {
        conn.expect("PING\r\n").await.unwrap();
        conn.send("PONG\r\n").await.unwrap();
    }
    assert_eq!(server.num_clients(), 1);
}

#[tokio::test]
async fn max_connections_refuses_with_info_then_error() {
    let opts = Options {
        max_connections: 2,
        ..test_options()
    };
    let server = natsd_testkit::start(opts).await.unwrap();
    let (mut first, _) = RawConn::connect(server.local_addr()).await.unwrap();
    let (mut second, _) = RawConn::connect(server.local_addr()).await.unwrap();
    first.sync().await.unwrap();
    second.sync().await.unwrap();
    let (mut third, info) = RawConn::connect(server.local_addr()).await.unwrap();
    assert_eq!(info["proto"], 1);
    third
        .expect_close_after("-ERR 'maximum connections exceeded'\r\n")
        .await
        .unwrap();
    first.sync().await.unwrap();
}

#[tokio::test]
async fn max_subscriptions_refuses_but_keeps_the_connection() {
    let opts = Options {
        max_subscriptions: 2,
        ..test_options()
    };
    let server = natsd_testkit::start(opts).await.unwrap();
    let (mut conn, _) = RawConn::connect(server.local_addr()).await.unwrap();
    conn.send(format!("{QUIET}SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPING\r\n"))
        .await
        .unwrap();
    conn.expect("-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n")
        .await
        .unwrap();
    assert_eq!(server.num_subscriptions(), 2);
}

#[tokio::test]
async fn lame_duck_tells_clients_and_they_move_to_another_server() {
    let ldm_opts = Options {
        lame_duck_grace_period: Duration::from_millis(200),
        lame_duck_duration: Duration::from_millis(400),
        ..test_options()
    };
    let leaving = natsd_testkit::start(ldm_opts).await.unwrap();
    let staying = natsd_testkit::start_default().await.unwrap();
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let client = async_nats::ConnectOptions::new()
        .retain_servers_order()
        .event_callback(move |event| {
            let events_tx = events_tx.clone();
            async move {
                let _ = events_tx.send(event);
            }
        })
        .connect(
            [leaving.client_url(), staying.client_url()]
                .map(|url| url.parse::<async_nats::ServerAddr>().unwrap())
                .as_slice(),
        )
        .await
        .unwrap();
    assert_eq!(client.server_info().port, leaving.local_addr().port());

    let ldm = tokio::spawn({
        let leaving = leaving.clone();
        async move { leaving.lame_duck().await }
    });
    let mut saw_ldm = false;
    let mut reconnected = false;
    while !(saw_ldm && reconnected) {
        match timeout(WAIT, events.recv()).await.unwrap().unwrap() {
            Event::LameDuckMode => saw_ldm = true,
            Event::Connected if saw_ldm => reconnected = true,
            _ => {}
        }
    }
    timeout(WAIT, ldm).await.unwrap().unwrap();
    assert_eq!(leaving.num_clients(), 0);
    assert!(leaving.is_lame_duck());
    wait_for(WAIT, || {
        client.server_info().port == staying.local_addr().port()
    })
    .await
    .unwrap();
    let mut sub = client.subscribe("after.ldm").await.unwrap();
    client
        .publish("after.ldm", "still here".into())
        .await
        .unwrap();
    let msg = timeout(WAIT, sub.next()).await.unwrap().unwrap();
    assert_eq!(&msg.payload[..], b"still here");
    // A server in lame duck mode accepts no new clients.
    assert!(RawConn::connect(leaving.local_addr()).await.is_err());
}

#[tokio::test]
async fn shutdown_flushes_and_closes_every_client() {
    let server = natsd_testkit::start_default().await.unwrap();
    let mut conns = Vec::new();
    for _ in 0..20 {
        let (mut conn, _) = RawConn::connect(server.local_addr()).await.unwrap();
        conn.send(QUIET).await.unwrap();
        conn.sync().await.unwrap();
        conns.push(conn);
    }
    timeout(WAIT, server.shutdown()).await.unwrap();
    assert_eq!(server.num_clients(), 0);
    for mut conn in conns {
        conn.expect_closed().await.unwrap();
    }
}
