//! Message traces that follow a message into another account: a stream import and a
//! service export with `allow_trace`, and a service export without it. Checked against the
//! reference when it is at hand.

use async_nats::HeaderMap;

use super::clients::{comparable, next};

const CONFIG: &str = "accounts {\n\
    A { users [{user: a, password: a}],\n\
        exports [{stream: \"news.>\"}, {service: svc, allow_trace: true}, {service: closed}] }\n\
    B { users [{user: b, password: b}],\n\
        imports [{stream: {account: A, subject: \"news.>\"}, prefix: from_a, allow_trace: true},\n\
                 {service: {account: A, subject: svc}, to: ask},\n\
                 {service: {account: A, subject: closed}, to: ask_closed}] }\n\
    }\n";

#[tokio::test]
async fn traces_follow_messages_through_imports_that_allow_it() {
    let server = natsd_testkit::start(natsd_testkit::options_from_config(CONFIG))
        .await
        .unwrap();
    let ours = import_traces(server.client_url()).await;
    let events = |n: usize| ours[n]["events"].as_array().unwrap().clone();
    // The stream import lets the trace name the subscriber in B, by A's subject.
    let stream = events(0);
    assert_eq!(stream.len(), 3, "{}", ours[0]);
    assert_eq!(
        (&stream[2]["type"], &stream[2]["acc"], &stream[2]["sub"]),
        (&"eg".into(), &"B".into(), &"news.>".into())
    );
    // Trace-only: the same events, and nothing delivered (checked in `import_traces`).
    assert_eq!(
        comparable(&ours[1])["events"],
        comparable(&ours[0])["events"]
    );
    // The service export lets it name the responder in A.
    let service = events(2);
    assert_eq!(
        (&service[2]["type"], &service[2]["acc"], &service[2]["sub"]),
        (&"eg".into(), &"A".into(), &"svc".into())
    );
    // The other service export does not: the trace stops at the import.
    assert_eq!(events(3).len(), 2, "{}", ours[3]);
    if let Some(process) = natsd_testkit::process::start_reference("trace-allow", CONFIG).unwrap() {
        let theirs = import_traces(format!("nats://{}", process.addr)).await;
        assert_eq!(
            ours.iter().map(comparable).collect::<Vec<_>>(),
            theirs.iter().map(comparable).collect::<Vec<_>>()
        );
    }
}

fn traced(dest: &str, only: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Trace-Dest", dest);
    if only {
        headers.insert("Nats-Trace-Only", "true");
    }
    headers
}

fn trace_dest(message: &async_nats::Message) -> String {
    let dest = message
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Trace-Dest"));
    dest.map(|v| v.as_str().to_owned()).unwrap_or_default()
}

/// Traces of: a message into the stream import, the same trace-only, a request through
/// the service import that allows tracing, one through the one that does not. Checks on
/// the way what the receivers got.
async fn import_traces(url: String) -> Vec<serde_json::Value> {
    let user = |name: &str| {
        async_nats::ConnectOptions::with_user_and_password(name.into(), name.into())
            .name(format!("{name}-client"))
            .connect(url.clone())
    };
    let (a, b) = (user("a").await.unwrap(), user("b").await.unwrap());
    let mut imported = b.subscribe("from_a.>").await.unwrap();
    let mut served = a.subscribe("svc").await.unwrap();
    let mut closed = a.subscribe("closed").await.unwrap();
    let mut a_reports = a.subscribe("trace.a").await.unwrap();
    let mut b_reports = b.subscribe("trace.b").await.unwrap();
    // async-nats's flush does not wait for the server: probes prove each SUB, and a
    // client's own probe proves the SUBs it sent before.
    for (client, subject, sub) in [
        (&b, "trace.b", &mut b_reports),
        (&a, "news.probe", &mut imported),
        (&a, "svc", &mut served),
        (&a, "closed", &mut closed),
        (&a, "trace.a", &mut a_reports),
    ] {
        client.publish(subject, "probe".into()).await.unwrap();
        assert_eq!(next(sub).await.payload, "probe");
    }
    let mut found = Vec::new();
    let report = async |reports: &mut async_nats::Subscriber| -> serde_json::Value {
        serde_json::from_slice(&next(reports).await.payload).unwrap()
    };

    a.publish_with_headers("news.today", traced("trace.a", false), "news".into())
        .await
        .unwrap();
    let delivered = next(&mut imported).await;
    assert_eq!(delivered.subject.as_str(), "from_a.news.today");
    assert_eq!(trace_dest(&delivered), "trace.a");
    found.push(report(&mut a_reports).await);

    a.publish_with_headers("news.today", traced("trace.a", true), "only".into())
        .await
        .unwrap();
    found.push(report(&mut a_reports).await);

    b.publish_with_headers("ask", traced("trace.b", false), "q".into())
        .await
        .unwrap();
    // The responder's copy is traced on, to a reply subject that leads back to B.
    assert!(trace_dest(&next(&mut served).await).starts_with("_R_."));
    found.push(report(&mut b_reports).await);

    b.publish_with_headers("ask_closed", traced("trace.b", false), "q".into())
        .await
        .unwrap();
    assert_eq!(trace_dest(&next(&mut closed).await), "trace disabled");
    found.push(report(&mut b_reports).await);

    // The trace-only message reached nobody: the next message is the probe.
    a.publish("news.after", "after".into()).await.unwrap();
    assert_eq!(next(&mut imported).await.payload, "after");
    found
}

/// Messages with a sampled `traceparent` that the account's sampling leaves out go on
/// with `Nats-Trace-Dest: trace disabled`, so that nothing after traces them; the others
/// are traced and keep their headers. With 1% sampling, 30 messages all traced would be a
/// one in 10^50 chance. Checked against the reference when it is at hand.
#[tokio::test]
async fn unsampled_messages_go_on_with_tracing_disabled() {
    const CONFIG: &str = "accounts {\n\
        A { users [{user: a, password: a}], msg_trace: { dest: acc.traces, sampling: 1 } }\n\
        }\n";
    let server = natsd_testkit::start(natsd_testkit::options_from_config(CONFIG))
        .await
        .unwrap();
    sampled_out(server.client_url()).await;
    if let Some(process) = natsd_testkit::process::start_reference("trace-sampled", CONFIG).unwrap()
    {
        sampled_out(format!("nats://{}", process.addr)).await;
    }
}

async fn sampled_out(url: String) {
    const SENT: usize = 30;
    let client = async_nats::ConnectOptions::with_user_and_password("a".into(), "a".into())
        .connect(url)
        .await
        .unwrap();
    let mut work = client.subscribe("work").await.unwrap();
    let mut reports = client.subscribe("acc.traces").await.unwrap();
    client.publish("acc.traces", "probe".into()).await.unwrap();
    assert_eq!(next(&mut reports).await.payload, "probe");
    for _ in 0..SENT {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
        client
            .publish_with_headers("work", headers, "w".into())
            .await
            .unwrap();
    }
    let mut disabled = 0;
    for _ in 0..SENT {
        match trace_dest(&next(&mut work).await).as_str() {
            "trace disabled" => disabled += 1,
            "" => {}
            other => panic!("delivered with Nats-Trace-Dest {other:?}"),
        }
    }
    assert!(disabled > 0, "every message was sampled");
    for _ in disabled..SENT {
        let trace: serde_json::Value =
            serde_json::from_slice(&next(&mut reports).await.payload).unwrap();
        assert_eq!(trace["events"][0]["type"], "in");
    }
}

/// A subscriber that does not take a traced message is named with the reason: its own
/// publish with echo off, or a subject its permissions deny. Checked against the
/// reference when it is at hand.
#[tokio::test]
async fn refusing_subscribers_are_traced_with_the_reason() {
    const CONFIG: &str = "authorization { users: [\n\
        {user: quiet, password: q},\n\
        {user: guarded, password: g, permissions: {subscribe: {allow: \">\", deny: \"work.secret\"}}}\n\
        ] }\n";
    let server = natsd_testkit::start(natsd_testkit::options_from_config(CONFIG))
        .await
        .unwrap();
    let ours = refusals(server.client_url()).await;
    let mut errors: Vec<&str> = ours["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["error"].as_str())
        .collect();
    errors.sort_unstable();
    assert_eq!(
        errors,
        [
            "Not delivered because of no echo",
            "Not delivered because subscription denies this subject"
        ],
        "{ours}"
    );
    if let Some(process) =
        natsd_testkit::process::start_reference("trace-refusals", CONFIG).unwrap()
    {
        let theirs = refusals(format!("nats://{}", process.addr)).await;
        assert_eq!(in_any_order(&ours), in_any_order(&theirs));
    }
}

/// A trace's comparable events, sorted: subscriptions match in no fixed order.
fn in_any_order(trace: &serde_json::Value) -> Vec<String> {
    let mut events: Vec<String> = comparable(trace)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    events.sort_unstable();
    events
}

async fn refusals(url: String) -> serde_json::Value {
    let quiet = async_nats::ConnectOptions::with_user_and_password("quiet".into(), "q".into())
        .name("quiet")
        .no_echo()
        .connect(url.clone())
        .await
        .unwrap();
    let guarded = async_nats::ConnectOptions::with_user_and_password("guarded".into(), "g".into())
        .name("guarded")
        .connect(url)
        .await
        .unwrap();
    let mut own = quiet.subscribe("work.secret").await.unwrap();
    let mut reports = guarded.subscribe("reports").await.unwrap();
    let mut denied = guarded.subscribe("work.>").await.unwrap();
    guarded.publish("work.open", "probe".into()).await.unwrap();
    assert_eq!(next(&mut denied).await.payload, "probe");
    guarded.publish("reports", "probe".into()).await.unwrap();
    assert_eq!(next(&mut reports).await.payload, "probe");
    quiet.publish("work.secret", "probe".into()).await.unwrap();
    quiet
        .publish_with_headers("work.secret", traced("reports", true), "x".into())
        .await
        .unwrap();
    let report = serde_json::from_slice(&next(&mut reports).await.payload).unwrap();
    // Neither subscriber took either message: the next each sees is this one.
    guarded
        .publish("work.secret", "after".into())
        .await
        .unwrap();
    assert_eq!(next(&mut own).await.payload, "after");
    report
}
