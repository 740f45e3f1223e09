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

pub(crate) async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
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

/// A message with `Nats-Trace-Dest` makes the server publish a trace of it on that subject:
/// where it came in and each connection it reached; `Nats-Trace-Only` traces without
/// delivering. The same traffic against the reference, when at hand, gives the same
/// trace but for ids and times.
#[tokio::test]
async fn traced_messages_report_where_they_went() {
    let server = natsd_testkit::start_default().await.unwrap();
    let ours = traces(server.client_url()).await;
    for (trace, only) in ours.iter().zip([false, true]) {
        let events = trace["events"].as_array().unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["in", "eg", "eg"], "trace-only {only}: {trace}");
        assert_eq!(events[0]["name"], "publisher");
        assert_eq!(events[0]["acc"], "$G");
        assert_eq!(events[0]["subj"], "traced");
        assert_eq!(events[2]["queue"], "workers");
        assert_eq!(trace["server"]["id"], server.server_id().as_str());
    }
    if let Some(process) = natsd_testkit::process::start_reference("traced", "").unwrap() {
        let theirs = traces(format!("nats://{}", process.addr)).await;
        assert_eq!(
            ours.iter().map(comparable).collect::<Vec<_>>(),
            theirs.iter().map(comparable).collect::<Vec<_>>()
        );
    }
}

/// A trace without what is each server's own: the server, connection ids and times.
pub(crate) fn comparable(trace: &serde_json::Value) -> serde_json::Value {
    let mut trace = trace.clone();
    for event in trace["events"].as_array_mut().unwrap() {
        let event = event.as_object_mut().unwrap();
        event.remove("ts");
        event.remove("cid");
    }
    trace.as_object_mut().unwrap().remove("server");
    trace
}

/// Publishes a traced message and a trace-only one to a subscriber and a queue member;
/// returns both traces, having checked that only the first was delivered.
async fn traces(url: String) -> Vec<serde_json::Value> {
    let named = |name: &str| {
        async_nats::ConnectOptions::new()
            .name(name)
            .connect(url.clone())
    };
    let (publisher, subscriber) = (
        named("publisher").await.unwrap(),
        named("subscriber").await.unwrap(),
    );
    let mut plain = subscriber.subscribe("traced").await.unwrap();
    let mut queued = subscriber
        .queue_subscribe("traced", "workers".into())
        .await
        .unwrap();
    let mut reports = publisher.subscribe("trace.reports").await.unwrap();
    // async-nats's flush does not wait for the server: a message each subscription
    // receives proves the server holds it.
    subscriber.publish("traced", "probe".into()).await.unwrap();
    publisher
        .publish("trace.reports", "probe".into())
        .await
        .unwrap();
    for sub in [&mut plain, &mut queued, &mut reports] {
        assert_eq!(next(sub).await.payload, "probe");
    }
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Trace-Dest", "trace.reports");
    publisher
        .publish_with_headers("traced", headers.clone(), "delivered".into())
        .await
        .unwrap();
    headers.insert("Nats-Trace-Only", "true");
    publisher
        .publish_with_headers("traced", headers, "traced only".into())
        .await
        .unwrap();
    publisher.publish("traced", "after".into()).await.unwrap();
    let mut found = Vec::new();
    for _ in 0..2 {
        found.push(serde_json::from_slice(&next(&mut reports).await.payload).unwrap());
    }
    for sub in [&mut plain, &mut queued] {
        let first = next(sub).await;
        assert_eq!(first.payload, "delivered");
        let trace_dest = first
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Trace-Dest"));
        assert_eq!(trace_dest.map(|v| v.as_str()), Some("trace.reports"));
        // The trace-only message never arrives: the next one is the plain publish.
        assert_eq!(next(sub).await.payload, "after");
    }
    found
}

/// A traced message that a stream export or a service import takes into another account
/// reports the hop (`se`, `si`) and its trace stops there, as nats-server's does without
/// `allow_trace`; checked against the reference when it is at hand.
#[tokio::test]
async fn traces_stop_where_imports_take_messages_into_other_accounts() {
    const CONFIG: &str = "accounts {\n\
        A { users [{user: a, password: a}], exports [{stream: \"news.>\"}, {service: svc}] }\n\
        B { users [{user: b, password: b}],\n\
            imports [{stream: {account: A, subject: \"news.>\"}, prefix: from_a},\n\
                     {service: {account: A, subject: svc}, to: ask}] }\n\
        }\n";
    let server = natsd_testkit::start(natsd_testkit::options_from_config(CONFIG))
        .await
        .unwrap();
    let ours = hop_traces(server.client_url()).await;
    let kinds = |trace: &serde_json::Value| -> Vec<String> {
        let events = trace["events"].as_array().unwrap();
        events
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds(&ours[0]), ["in", "se"], "{}", ours[0]);
    assert_eq!(ours[0]["events"][1]["acc"], "B");
    assert_eq!(ours[0]["events"][1]["to"], "from_a.news.today");
    assert_eq!(kinds(&ours[1]), ["in", "si"], "{}", ours[1]);
    assert_eq!(
        (
            &ours[1]["events"][1]["acc"],
            &ours[1]["events"][1]["from"],
            &ours[1]["events"][1]["to"]
        ),
        (&"A".into(), &"ask".into(), &"svc".into())
    );
    if let Some(process) = natsd_testkit::process::start_reference("trace-hops", CONFIG).unwrap() {
        let theirs = hop_traces(format!("nats://{}", process.addr)).await;
        assert_eq!(
            ours.iter().map(comparable).collect::<Vec<_>>(),
            theirs.iter().map(comparable).collect::<Vec<_>>()
        );
    }
}

/// Traces of a message published into a stream export (from account A) and of a request
/// sent through a service import (from account B).
async fn hop_traces(url: String) -> Vec<serde_json::Value> {
    let user = |name: &str| {
        async_nats::ConnectOptions::with_user_and_password(name.into(), name.into())
            .name(format!("{name}-client"))
            .connect(url.clone())
    };
    let (a, b) = (user("a").await.unwrap(), user("b").await.unwrap());
    // Interest in B for what the stream export brings it; none for the service in A.
    let mut imported = b.subscribe("from_a.news.>").await.unwrap();
    b.publish("from_a.news.probe", "probe".into())
        .await
        .unwrap();
    assert_eq!(next(&mut imported).await.payload, "probe");
    let mut found = Vec::new();
    for (client, subject) in [(&a, "news.today"), (&b, "ask")] {
        let mut reports = client.subscribe("trace.hops").await.unwrap();
        // async-nats's flush does not wait for the server: the probe proves the SUB.
        client.publish("trace.hops", "probe".into()).await.unwrap();
        assert_eq!(next(&mut reports).await.payload, "probe");
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Trace-Dest", "trace.hops");
        headers.insert("Nats-Trace-Only", "true");
        client
            .publish_with_headers(subject, headers, "hi".into())
            .await
            .unwrap();
        found.push(serde_json::from_slice(&next(&mut reports).await.payload).unwrap());
    }
    found
}

/// An account's `msg_trace`: a message with a sampled W3C `traceparent` (and no
/// `Nats-Trace-Dest`) is traced to the account's destination and still delivered; one
/// whose flags say "not sampled" is not traced. Checked against the reference when it is
/// at hand.
#[tokio::test]
async fn the_account_msg_trace_traces_sampled_traceparent_messages() {
    const CONFIG: &str = "accounts {\n\
        A { users [{user: a, password: a}], msg_trace: { dest: acc.traces, sampling: \"100%\" } }\n\
        }\n";
    let server = natsd_testkit::start(natsd_testkit::options_from_config(CONFIG))
        .await
        .unwrap();
    let ours = traceparent_traces(server.client_url()).await;
    assert_eq!(ours["events"][0]["type"], "in");
    assert_eq!(ours["events"][1]["type"], "eg");
    assert!(
        ours["request"]["header"]["traceparent"].is_array(),
        "{ours}"
    );
    if let Some(process) = natsd_testkit::process::start_reference("acc-trace", CONFIG).unwrap() {
        let theirs = traceparent_traces(format!("nats://{}", process.addr)).await;
        assert_eq!(comparable(&ours), comparable(&theirs));
    }
}

/// Publishes an unsampled then a sampled `traceparent` message; returns the one trace,
/// having checked that both messages were delivered and the first made no trace.
async fn traceparent_traces(url: String) -> serde_json::Value {
    let client = async_nats::ConnectOptions::with_user_and_password("a".into(), "a".into())
        .name("tracer")
        .connect(url)
        .await
        .unwrap();
    let mut reports = client.subscribe("acc.traces").await.unwrap();
    let mut delivered = client.subscribe("work").await.unwrap();
    client.publish("work", "probe".into()).await.unwrap();
    assert_eq!(next(&mut delivered).await.payload, "probe");
    for (flags, body) in [("00", "unsampled"), ("01", "sampled")] {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}").as_str(),
        );
        client
            .publish_with_headers("work", headers, body.into())
            .await
            .unwrap();
        assert_eq!(next(&mut delivered).await.payload, body);
    }
    let report = next(&mut reports).await;
    // The unsampled message made none: the first report is the sampled one's, and it
    // names the subscriber it went to.
    let trace: serde_json::Value = serde_json::from_slice(&report.payload).unwrap();
    assert_eq!(
        trace["request"]["header"]["traceparent"][0],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    trace
}
