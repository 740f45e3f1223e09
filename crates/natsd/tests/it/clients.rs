//! The official Rust client, async-nats, against an in-process server.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use futures::StreamExt;
use natsd_server::Server;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

async fn setup() -> (Server, Client) {
    let server = natsd_testkit::start_default().await.unwrap();
    let client = async_nats::connect(server.client_url()).await.unwrap();
    (server, client)
}

async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    timeout(WAIT, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open")
}

#[tokio::test]
async fn publish_and_subscribe() {
    let (_server, client) = setup().await;
    let mut sub = client.subscribe("greet.joe").await.unwrap();
    client.flush().await.unwrap();
    client.publish("greet.joe", "hello".into()).await.unwrap();
    let msg = next(&mut sub).await;
    assert_eq!(msg.subject.as_str(), "greet.joe");
    assert_eq!(&msg.payload[..], b"hello");
    assert_eq!(
        client.server_info().version,
        natsd_server::COMPATIBLE_VERSION
    );
    assert_eq!(client.server_info().max_payload, 1024 * 1024);
}

#[tokio::test]
async fn wildcards_match_as_nats_server() {
    let (_server, client) = setup().await;
    let mut star = client.subscribe("orders.*.created").await.unwrap();
    let mut tail = client.subscribe("orders.>").await.unwrap();
    client.flush().await.unwrap();
    for subject in [
        "orders.eu.created",
        "orders.eu.created.late",
        "orders.us.created",
        "other.x",
    ] {
        client.publish(subject, Bytes::new()).await.unwrap();
    }
    client.flush().await.unwrap();
    assert_eq!(next(&mut star).await.subject.as_str(), "orders.eu.created");
    assert_eq!(next(&mut star).await.subject.as_str(), "orders.us.created");
    let tails: Vec<String> = [
        next(&mut tail).await,
        next(&mut tail).await,
        next(&mut tail).await,
    ]
    .iter()
    .map(|m| m.subject.to_string())
    .collect();
    assert_eq!(
        tails,
        [
            "orders.eu.created",
            "orders.eu.created.late",
            "orders.us.created"
        ]
    );
    // Nothing else arrives: a request round trip proves the server has sent everything.
    client
        .publish("orders.sentinel.created", Bytes::new())
        .await
        .unwrap();
    assert_eq!(
        next(&mut star).await.subject.as_str(),
        "orders.sentinel.created"
    );
}

#[tokio::test]
async fn queue_group_delivers_each_message_to_exactly_one_member() {
    let (server, client) = setup().await;
    let mut members = Vec::new();
    for _ in 0..4 {
        let member = async_nats::connect(server.client_url()).await.unwrap();
        let sub = member
            .queue_subscribe("work", "workers".into())
            .await
            .unwrap();
        member.flush().await.unwrap();
        members.push((member, sub));
    }
    const COUNT: usize = 400;
    for i in 0..COUNT {
        client.publish("work", i.to_string().into()).await.unwrap();
    }
    client.flush().await.unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut per_member = Vec::new();
    let mut total = 0;
    for (_, sub) in &mut members {
        let mut count = 0;
        while total < COUNT {
            match timeout(Duration::from_millis(300), sub.next()).await {
                Ok(Some(msg)) => {
                    *seen
                        .entry(String::from_utf8_lossy(&msg.payload).into_owned())
                        .or_default() += 1;
                    count += 1;
                    total += 1;
                }
                _ => break,
            }
        }
        per_member.push(count);
    }
    assert_eq!(seen.len(), COUNT, "every message delivered");
    assert!(seen.values().all(|&n| n == 1), "no message delivered twice");
    assert!(
        per_member.iter().all(|&n| n > 0),
        "spread across members: {per_member:?}"
    );
}

#[tokio::test]
async fn request_reply_with_headers() {
    let (server, client) = setup().await;
    let responder = async_nats::connect(server.client_url()).await.unwrap();
    let mut service = responder.subscribe("svc.echo").await.unwrap();
    responder.flush().await.unwrap();
    let task = tokio::spawn(async move {
        while let Some(request) = service.next().await {
            let reply = request.reply.clone().unwrap();
            let mut headers = HeaderMap::new();
            let seen = request
                .headers
                .as_ref()
                .and_then(|h| h.get("X-Trace"))
                .map(|v| v.to_string());
            headers.insert("X-Seen", seen.unwrap_or_default().as_str());
            responder
                .publish_with_headers(reply, headers, request.payload)
                .await
                .unwrap();
        }
    });
    let mut headers = HeaderMap::new();
    headers.insert("X-Trace", "abc");
    let response = timeout(
        WAIT,
        client.request_with_headers("svc.echo", headers, "ping".into()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(&response.payload[..], b"ping");
    assert_eq!(
        response.headers.unwrap().get("X-Seen").unwrap().as_str(),
        "abc"
    );
    task.abort();
}

#[tokio::test]
async fn request_without_responders_fails_fast() {
    let (_server, client) = setup().await;
    let error = timeout(WAIT, client.request("nobody.home", "x".into()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.kind(), async_nats::RequestErrorKind::NoResponders);
}

#[tokio::test]
async fn unsubscribe_after_a_number_of_messages() {
    let (server, client) = setup().await;
    let mut sub = client.subscribe("limited").await.unwrap();
    sub.unsubscribe_after(3).await.unwrap();
    client.flush().await.unwrap();
    for i in 0..10 {
        client
            .publish("limited", i.to_string().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let got: Vec<Bytes> = timeout(WAIT, sub.map(|m| m.payload).collect())
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![Bytes::from("0"), Bytes::from("1"), Bytes::from("2")]
    );
    natsd_testkit::wait_for(WAIT, || server.num_subscriptions() == 0)
        .await
        .unwrap();
}

#[tokio::test]
async fn one_mebibyte_payloads_round_trip() {
    let (_server, client) = setup().await;
    let mut sub = client.subscribe("big").await.unwrap();
    client.flush().await.unwrap();
    let payload: Bytes = (0..1024 * 1024)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    for _ in 0..3 {
        client.publish("big", payload.clone()).await.unwrap();
    }
    for _ in 0..3 {
        assert_eq!(next(&mut sub).await.payload, payload);
    }
}

#[tokio::test]
async fn thousands_of_subscriptions() {
    let (server, client) = setup().await;
    const SUBS: usize = 5000;
    let mut subs = Vec::with_capacity(SUBS);
    for i in 0..SUBS {
        subs.push(client.subscribe(format!("many.{i}")).await.unwrap());
    }
    let wide = client.subscribe("many.*").await.unwrap();
    client.flush().await.unwrap();
    natsd_testkit::wait_for(WAIT, || server.num_subscriptions() == SUBS + 1)
        .await
        .unwrap();
    for i in (0..SUBS).step_by(97) {
        client
            .publish(format!("many.{i}"), i.to_string().into())
            .await
            .unwrap();
    }
    for i in (0..SUBS).step_by(97) {
        let msg = next(&mut subs[i]).await;
        assert_eq!(msg.payload, Bytes::from(i.to_string()));
    }
    let wide_count = timeout(WAIT, wide.take(SUBS.div_ceil(97)).count())
        .await
        .unwrap();
    assert_eq!(wide_count, SUBS.div_ceil(97));
    drop(subs);
    client.flush().await.unwrap();
    natsd_testkit::wait_for(WAIT, || server.num_subscriptions() <= 1)
        .await
        .unwrap();
}

#[tokio::test]
async fn internal_subscribers_share_the_routing_path() {
    let (server, client) = setup().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let internal_client = server.internal_client(None);
    let internal = internal_client
        .subscribe(
            "$SYS.REQ.TEST.>",
            None,
            std::sync::Arc::new(
                move |msg: natsd_server::InternalMsg, _: &mut natsd_server::Flusher| {
                    let _ = tx.send(msg);
                },
            ),
        )
        .unwrap();
    let mut inbox = client.subscribe("reply.here").await.unwrap();
    client.flush().await.unwrap();
    client
        .publish_with_reply("$SYS.REQ.TEST.x", "reply.here", "q".into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let msg = timeout(WAIT, rx.recv()).await.unwrap().unwrap();
    assert_eq!(&msg.subject[..], b"$SYS.REQ.TEST.x");
    assert_eq!(msg.reply.as_deref(), Some(&b"reply.here"[..]));
    assert_eq!(msg.body(), b"q");
    assert!(msg.publisher.is_some());
    assert!(internal_client.send(b"reply.here", b"", "answer"));
    assert_eq!(&next(&mut inbox).await.payload[..], b"answer");
    internal_client.unsubscribe(&internal);
    assert!(!internal_client.send(b"$SYS.REQ.TEST.y", b"", ""));
}

/// The default listen address, `0.0.0.0`, takes IPv6 clients as well (nats-server binds it
/// dual-stack), and is still reported as `0.0.0.0`.
#[tokio::test]
async fn the_default_listener_takes_ipv4_and_ipv6_clients() {
    let server = natsd_testkit::start(natsd_server::Options {
        host: "0.0.0.0".to_owned(),
        ..natsd_testkit::test_options()
    })
    .await
    .unwrap();
    let port = server.local_addr().port();
    assert_eq!(server.local_addr().to_string(), format!("0.0.0.0:{port}"));
    let v6 = async_nats::connect(format!("nats://[::1]:{port}"))
        .await
        .unwrap();
    let v4 = async_nats::connect(format!("nats://127.0.0.1:{port}"))
        .await
        .unwrap();
    let mut sub = v6.subscribe("both").await.unwrap();
    v6.flush().await.unwrap();
    v4.publish("both", "over IPv4".into()).await.unwrap();
    assert_eq!(next(&mut sub).await.payload, "over IPv4");
    // An IPv4 client is told its address as IPv4, not as ::ffff:127.0.0.1.
    let (_raw, info) =
        natsd_testkit::RawConn::connect(format!("127.0.0.1:{port}").parse().unwrap())
            .await
            .unwrap();
    assert_eq!(info["client_ip"], "127.0.0.1");
}
