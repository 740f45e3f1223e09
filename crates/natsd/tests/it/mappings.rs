//! Subject mappings seen by a client: traced mappings, permissions on the mapped subject,
//! weighted destinations, and mappings changed by a reload. Wire behaviour is in the
//! `mappings` differential scripts.

use async_nats::HeaderMap;

use super::clients::{comparable, next};

/// A traced message that a mapping rewrites reports an `sm` event naming the new subject,
/// after its `in` event (which keeps the published one) and before its egress; checked
/// against the reference when it is at hand.
#[tokio::test]
async fn a_mapped_message_traces_the_mapping() {
    const CONFIG: &str = "mappings { \"orders.*\": \"shipping.$1\" }\n";
    let server = natsd_testkit::start(natsd_testkit::options_from_config(CONFIG))
        .await
        .unwrap();
    let ours = mapped_trace(server.client_url()).await;
    let kinds: Vec<&str> = ours["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["in", "sm", "eg"], "{ours}");
    assert_eq!(ours["events"][0]["subj"], "orders.7");
    assert_eq!(ours["events"][1]["to"], "shipping.7");
    if let Some(process) = natsd_testkit::process::start_reference("mapped-trace", CONFIG).unwrap()
    {
        let theirs = mapped_trace(format!("nats://{}", process.addr)).await;
        assert_eq!(comparable(&ours), comparable(&theirs));
    }
}

async fn mapped_trace(url: String) -> serde_json::Value {
    let client = async_nats::ConnectOptions::new()
        .name("mapper")
        .connect(url)
        .await
        .unwrap();
    let mut shipped = client.subscribe("shipping.>").await.unwrap();
    let mut reports = client.subscribe("reports").await.unwrap();
    client.publish("orders.0", "probe".into()).await.unwrap();
    assert_eq!(next(&mut shipped).await.subject.as_str(), "shipping.0");
    client.publish("reports", "probe".into()).await.unwrap();
    assert_eq!(next(&mut reports).await.payload, "probe");
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Trace-Dest", "reports");
    client
        .publish_with_headers("orders.7", headers, "order".into())
        .await
        .unwrap();
    assert_eq!(next(&mut shipped).await.subject.as_str(), "shipping.7");
    serde_json::from_slice(&next(&mut reports).await.payload).unwrap()
}

/// A traced message the server refuses (here the publish permission, checked on the
/// mapped subject) still reports its trace, with the error in the `in` event and no
/// egress; checked against the reference when it is at hand.
#[tokio::test]
async fn a_refused_traced_message_reports_why() {
    const CONFIG: &str = "mappings { \"open.*\": \"closed.$1\" }\n\
        authorization { users: [ {user: u, password: p, permissions: {publish: [\"open.>\", \"reports\"]}} ] }\n";
    let server = natsd_testkit::start(natsd_testkit::options_from_config(CONFIG))
        .await
        .unwrap();
    let ours = refused_trace(server.client_url()).await;
    assert_eq!(
        ours["events"][0]["error"], "Permissions Violation for Publish to \"closed.1\"",
        "{ours}"
    );
    assert_eq!(ours["events"][1]["type"], "sm");
    assert!(ours["events"].get(2).is_none(), "{ours}");
    if let Some(process) = natsd_testkit::process::start_reference("refused-trace", CONFIG).unwrap()
    {
        let theirs = refused_trace(format!("nats://{}", process.addr)).await;
        assert_eq!(comparable(&ours), comparable(&theirs));
    }
}

async fn refused_trace(url: String) -> serde_json::Value {
    let client = async_nats::ConnectOptions::with_user_and_password("u".into(), "p".into())
        .name("refused")
        .connect(url)
        .await
        .unwrap();
    let mut reports = client.subscribe("reports").await.unwrap();
    client.publish("reports", "probe".into()).await.unwrap();
    assert_eq!(next(&mut reports).await.payload, "probe");
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Trace-Dest", "reports");
    client
        .publish_with_headers("open.1", headers, "x".into())
        .await
        .unwrap();
    serde_json::from_slice(&next(&mut reports).await.payload).unwrap()
}

/// Weights split the traffic: with two halves, 200 messages all going one way would be a
/// one in 2^199 chance.
#[tokio::test]
async fn weighted_destinations_share_the_traffic() {
    let server = natsd_testkit::start(natsd_testkit::options_from_config(
        "mappings { work: [ {dest: left, weight: 50%}, {dest: right, weight: 50%} ] }\n",
    ))
    .await
    .unwrap();
    let client = async_nats::connect(server.client_url()).await.unwrap();
    let mut both = client.subscribe("*").await.unwrap();
    const SENT: usize = 200;
    for _ in 0..SENT {
        client.publish("work", "w".into()).await.unwrap();
    }
    let (mut left, mut right) = (0, 0);
    for _ in 0..SENT {
        match next(&mut both).await.subject.as_str() {
            "left" => left += 1,
            "right" => right += 1,
            other => panic!("delivered on {other}"),
        }
    }
    assert_eq!(left + right, SENT);
    assert!(left > 0 && right > 0, "left {left}, right {right}");
}

/// A reload that adds, changes or drops a mapping takes effect for connected clients.
#[tokio::test]
async fn a_reload_changes_the_mappings() {
    let config = |mappings: &str| natsd_testkit::options_from_config(mappings);
    let server = natsd_testkit::start(config("mappings { in: first }\n"))
        .await
        .unwrap();
    let client = async_nats::connect(server.client_url()).await.unwrap();
    let mut all = client.subscribe("*").await.unwrap();
    let mut delivered_on = async |client: &async_nats::Client| {
        client.publish("in", "m".into()).await.unwrap();
        next(&mut all).await.subject.to_string()
    };
    assert_eq!(delivered_on(&client).await, "first");
    server.reload(config("mappings { in: second }\n")).unwrap();
    assert_eq!(delivered_on(&client).await, "second");
    server.reload(config("")).unwrap();
    assert_eq!(delivered_on(&client).await, "in");
}

/// An account JWT's `mappings` apply to its clients (a weight left out is all of the
/// traffic); mappings whose weights add up past 100 make the account invalid, as
/// nats-io/jwt's validation has it, so it admits nobody.
#[tokio::test]
async fn account_jwt_mappings_apply_and_bad_weights_invalidate_the_account() {
    use natsd_testkit::jwt::Operator;
    use serde_json::json;
    let operator = Operator::new();
    let mapped = operator.account(
        "MAPPED",
        &json!({"limits": {"conn": -1, "subs": -1, "payload": -1},
                "mappings": {"in.*": [{"subject": "out.$1"}]}}),
    );
    let overweight = operator.account(
        "OVERWEIGHT",
        &json!({"limits": {"conn": -1, "subs": -1, "payload": -1},
                "mappings": {"in": [{"subject": "a", "weight": 60}, {"subject": "b", "weight": 50}]}}),
    );
    let server = natsd_testkit::start(natsd_testkit::options_from_config(
        &operator.memory_config(&[&mapped, &overweight]),
    ))
    .await
    .unwrap();
    let connect = |account: &natsd_testkit::jwt::Account| {
        let user = nkeys::KeyPair::new_user();
        async_nats::ConnectOptions::with_credentials(&account.creds(&user, &json!({}), None))
            .unwrap()
            .connect(server.client_url())
    };
    let client = connect(&mapped).await.unwrap();
    let mut out = client.subscribe("out.*").await.unwrap();
    client.publish("in.x", "m".into()).await.unwrap();
    assert_eq!(next(&mut out).await.subject.as_str(), "out.x");
    assert!(connect(&overweight).await.is_err());
}
