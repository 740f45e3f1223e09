//! Monitoring on an in-process server: the providers' filters, sorting and paging, the
//! closed-connection ring, the HTTP errors, Prometheus, and the same data over NATS.

use std::time::Duration;

use futures::StreamExt;
use natsd_auth::{Authenticator, User};
use natsd_server::monitor::connz::{ConnState, ConnzOptions, SubsDetail};
use natsd_server::monitor::subsz::SubszOptions;
use natsd_server::Options;
use natsd_testkit::http::{get, get_json};
use natsd_testkit::{start, test_options, wait_for, RawConn};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

async fn monitored(opts: Options) -> (natsd_server::Server, std::net::SocketAddr) {
    let server = start(opts).await.unwrap();
    let monitor = natsd_monitor::start(server.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    (server, monitor.local_addr)
}

#[tokio::test]
async fn connz_filters_sorts_pages_and_keeps_closed_connections() {
    let (server, http) = monitored(test_options()).await;
    let mut conns = Vec::new();
    // Three clients that received 1, 2 and 3 messages.
    for n in 1..=3 {
        let (mut conn, _) = RawConn::connect(server.local_addr()).await.unwrap();
        conn.send(&format!(
            "CONNECT {{\"verbose\":false,\"name\":\"c{n}\"}}\r\nSUB only.{n} 1\r\nPING\r\n"
        ))
        .await
        .unwrap();
        conn.expect("PONG\r\n").await.unwrap();
        conns.push(conn);
    }
    let (mut publisher, _) = RawConn::connect(server.local_addr()).await.unwrap();
    publisher
        .send("CONNECT {\"verbose\":false,\"name\":\"pub\"}\r\nPUB only.1 1\r\na\r\nPUB only.2 1\r\nb\r\nPUB only.2 1\r\nb\r\nPUB only.3 1\r\nc\r\nPUB only.3 1\r\nc\r\nPUB only.3 1\r\nc\r\nPING\r\n")
        .await
        .unwrap();
    publisher.expect("PONG\r\n").await.unwrap();
    for (i, conn) in conns.iter_mut().enumerate() {
        let subject = format!("only.{}", i + 1);
        let payload = ["a", "b", "c"][i];
        for _ in 0..=i {
            conn.expect(format!("MSG {subject} 1 1\r\n{payload}\r\n"))
                .await
                .unwrap();
        }
    }

    let by_bytes = server
        .connz(&ConnzOptions {
            sort: Some("bytes_to".into()),
            limit: 2,
            ..ConnzOptions::default()
        })
        .unwrap();
    assert_eq!((by_bytes.total, by_bytes.num_connections), (4, 2));
    let names: Vec<_> = by_bytes
        .connections
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["c3", "c2"]);
    assert_eq!(by_bytes.connections[0].out_msgs, 3);
    let page = server
        .connz(&ConnzOptions {
            offset: 3,
            ..ConnzOptions::default()
        })
        .unwrap();
    assert_eq!(page.connections.len(), 1);
    assert_eq!(page.connections[0].name, "pub");
    assert_eq!(page.connections[0].in_msgs, 6);

    let cid = by_bytes.connections[0].cid;
    let one = get_json(http, &format!("/connz?cid={cid}&subs=detail"))
        .await
        .unwrap();
    assert_eq!(one["connections"].as_array().unwrap().len(), 1);
    assert_eq!(
        one["connections"][0]["subscriptions_list_detail"][0]["msgs"],
        3
    );

    // A client that leaves is listed as closed, with its reason and traffic.
    let gone = conns.pop().unwrap();
    drop(gone);
    wait_for(WAIT, || server.num_clients() == 3).await.unwrap();
    let closed = server
        .connz(&ConnzOptions {
            state: ConnState::Closed,
            subs: SubsDetail::List,
            ..ConnzOptions::default()
        })
        .unwrap();
    assert_eq!(closed.total, 1);
    let conn = &closed.connections[0];
    assert_eq!(conn.reason.as_deref(), Some("Client Closed"));
    assert!(conn.stop.is_some());
    assert_eq!(
        (conn.out_msgs, conn.subscriptions_list.as_slice()),
        (3, &["only.3".to_owned()][..])
    );
    let all = server
        .connz(&ConnzOptions {
            state: ConnState::All,
            ..ConnzOptions::default()
        })
        .unwrap();
    assert_eq!(all.total, 4);

    // Totals include what closed connections did.
    let varz = get_json(http, "/varz").await.unwrap();
    assert_eq!(
        (varz["in_msgs"].as_u64(), varz["out_msgs"].as_u64()),
        (Some(6), Some(6))
    );
    assert_eq!(varz["total_connections"], 4);
    assert_eq!(varz["http_req_stats"]["/varz"], 1);
}

#[tokio::test]
async fn http_errors_use_nats_server_texts() {
    let (_server, http) = monitored(test_options()).await;
    for (path, text) in [
        ("/connz?sort=bogus", "invalid sorting option: bogus"),
        (
            "/connz?sort=stop",
            "sort by stop only valid on closed connections",
        ),
        (
            "/connz?limit=abc",
            "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax",
        ),
        ("/connz?state=bogus", "Error decoding state for bogus"),
        (
            "/subsz?test=foo.*",
            "invalid test subject, must be valid publish subject: foo.*",
        ),
    ] {
        assert_eq!(
            get(http, path).await.unwrap(),
            (400, text.to_owned()),
            "{path}"
        );
    }
    let (status, _) = get(http, "/nothing-here").await.unwrap();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn subsz_counts_and_tests_subjects() {
    let (server, http) = monitored(test_options()).await;
    let client = async_nats::connect(server.client_url()).await.unwrap();
    let _a = client.subscribe("orders.*").await.unwrap();
    let _b = client
        .queue_subscribe("orders.new", "workers".into())
        .await
        .unwrap();
    let _c = client.subscribe("audit.>").await.unwrap();
    // The client may send its SUBs after the flush's PING.
    wait_for(WAIT, || server.num_subscriptions() == 3)
        .await
        .unwrap();
    let subsz = server
        .subsz(&SubszOptions {
            subs: true,
            test: Some("orders.new".into()),
            ..SubszOptions::default()
        })
        .unwrap();
    let subjects: Vec<_> = subsz
        .subscriptions_list
        .iter()
        .map(|s| s.subject.as_str())
        .collect();
    assert_eq!(subjects, ["orders.*", "orders.new"]);
    assert_eq!(
        subsz.subscriptions_list[1].qgroup.as_deref(),
        Some("workers")
    );
    assert_eq!(subsz.total, 2);
    let json = get_json(http, "/subsz").await.unwrap();
    assert!(json["num_subscriptions"].as_u64().unwrap() >= 3);
    assert!(json["num_inserts"].as_u64().unwrap() >= 3);
    assert!(json.get("subscriptions_list").is_none());
}

#[tokio::test]
async fn prometheus_metrics_show_the_same_figures() {
    let (server, http) = monitored(test_options()).await;
    let client = async_nats::ConnectOptions::new()
        .name("metered \"client\"")
        .connect(server.client_url())
        .await
        .unwrap();
    client.publish("m", "12345".into()).await.unwrap();
    client.flush().await.unwrap();
    wait_for(WAIT, || server.varz().in_msgs == 1).await.unwrap();
    let (status, text) = get(http, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let value = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
    };
    assert_eq!(value("natsd_connections"), Some(1));
    assert_eq!(value("natsd_in_msgs_total"), Some(1));
    assert_eq!(value("natsd_in_bytes_total"), Some(5));
    assert!(text.contains("# TYPE natsd_in_msgs_total counter"));
    assert!(
        text.contains(
            "natsd_connection_pending_bytes{cid=\"1\",name=\"metered \\\"client\\\"\"} 0"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn monitoring_is_served_over_nats_too() {
    let server = start(natsd_testkit::options_from_config(
        "accounts {\n  SYS { users: [ {user: sys, password: p} ] }\n  \
         APP { users: [ {user: app, password: p, permissions: {publish: \">\", subscribe: {deny: \"secret\"}}} ] }\n}\n\
         system_account: SYS\n",
    ))
    .await
    .unwrap();
    let system = async_nats::ConnectOptions::with_user_and_password("sys".into(), "p".into())
        .connect(server.client_url())
        .await
        .unwrap();
    let mut events = system.subscribe("$SYS.ACCOUNT.*.CONNECT").await.unwrap();
    let mut failures = system
        .subscribe("$SYS.SERVER.*.CLIENT.AUTH.ERR")
        .await
        .unwrap();
    wait_for(WAIT, || server.num_subscriptions() >= 2)
        .await
        .unwrap();
    // A failed login is announced with the name it presented and the reason.
    let refused = async_nats::ConnectOptions::with_user_and_password("app".into(), "wrong".into())
        .connect(server.client_url())
        .await;
    assert!(refused.is_err());
    let failure = tokio::time::timeout(WAIT, failures.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        failure.subject.as_str(),
        format!("$SYS.SERVER.{}.CLIENT.AUTH.ERR", server.server_id())
    );
    let failure: Value = serde_json::from_slice(&failure.payload).unwrap();
    assert_eq!(
        failure["type"],
        "io.nats.server.advisory.v1.client_disconnect"
    );
    assert_eq!(failure["reason"], "Authentication Failure");
    assert_eq!(failure["client"]["user"], "app");
    let app = async_nats::ConnectOptions::with_user_and_password("app".into(), "p".into())
        .name("app-client")
        .connect(server.client_url())
        .await
        .unwrap();
    let _sub = app.subscribe("watched").await.unwrap();
    wait_for(WAIT, || server.num_subscriptions() >= 3)
        .await
        .unwrap();

    // The connect advisory names the client and its account.
    let event = tokio::time::timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(event.subject.as_str(), "$SYS.ACCOUNT.APP.CONNECT");
    let event: Value = serde_json::from_slice(&event.payload).unwrap();
    assert_eq!(event["type"], "io.nats.server.advisory.v1.client_connect");
    assert_eq!(event["client"]["acc"], "APP");
    assert_eq!(event["client"]["user"], "app");
    assert_eq!(event["client"]["name"], "app-client");

    // The system account sees everything.
    let reply = system
        .request("$SYS.REQ.SERVER.PING.VARZ", "".into())
        .await
        .unwrap();
    let varz: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(varz["server"]["id"], server.server_id());
    assert_eq!(varz["data"]["system_account"], "SYS");
    assert_eq!(varz["data"]["connections"], 2);
    let subject = format!("$SYS.REQ.SERVER.{}.CONNZ", server.server_id());
    let reply = system
        .request(subject, r#"{"subscriptions": true}"#.into())
        .await
        .unwrap();
    let connz: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(connz["data"]["total"], 2);
    let reply = system
        .request("$SYS.REQ.SERVER.PING", "".into())
        .await
        .unwrap();
    let statsz: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(statsz["statsz"]["connections"], 2);
    let reply = system
        .request("$SYS.REQ.SERVER.PING.CONNZ", r#"{"state": "bogus"}"#.into())
        .await
        .unwrap();
    let refused: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(refused["error"]["code"], 400);
    assert_eq!(
        refused["error"]["description"],
        "Error decoding state for bogus"
    );

    // Other accounts reach only their own connections and their user info.
    let varz = app.request("$SYS.REQ.SERVER.PING.VARZ", "".into()).await;
    assert!(
        varz.is_err(),
        "server-wide data is for the system account only"
    );
    let reply = app
        .request(
            "$SYS.REQ.SERVER.PING.CONNZ",
            r#"{"subscriptions": true}"#.into(),
        )
        .await
        .unwrap();
    let connz: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(connz["data"]["total"], 1);
    let listed = connz["data"]["connections"][0]["subscriptions_list"]
        .as_array()
        .unwrap()
        .clone();
    assert!(listed.contains(&Value::from("watched")), "{listed:?}");
    let reply = app.request("$SYS.REQ.USER.INFO", "".into()).await.unwrap();
    let info: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(info["data"]["user"], "app");
    assert_eq!(info["data"]["account"], "APP");
    assert_eq!(
        info["data"]["permissions"]["subscribe"]["deny"],
        serde_json::json!(["secret"])
    );
}

#[tokio::test]
async fn users_authenticate_and_connz_names_them() {
    let opts = Options {
        authorization: Authenticator {
            users: vec![User {
                name: "alice".into(),
                password: Some("secret".into()),
                nkey: None,
                permissions: None,
                account: None,
                ..Default::default()
            }],
            ..Authenticator::default()
        },
        auth_timeout: Some(Duration::from_millis(300)),
        ..test_options()
    };
    let (server, http) = monitored(opts).await;
    let (mut intruder, info) = RawConn::connect(server.local_addr()).await.unwrap();
    assert_eq!(info["auth_required"], true);
    intruder
        .send("CONNECT {\"verbose\":false,\"user\":\"alice\",\"pass\":\"guess\"}\r\n")
        .await
        .unwrap();
    intruder
        .expect("-ERR 'Authorization Violation'\r\n")
        .await
        .unwrap();
    intruder.expect_closed().await.unwrap();

    let started = std::time::Instant::now();
    let (mut silent, _) = RawConn::connect(server.local_addr()).await.unwrap();
    silent
        .expect("-ERR 'Authentication Timeout'\r\n")
        .await
        .unwrap();
    silent.expect_closed().await.unwrap();
    // The configured 300 ms, not the 2 s default.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(1500),
        "closed after {took:?}"
    );

    let client =
        async_nats::ConnectOptions::with_user_and_password("alice".into(), "secret".into())
            .connect(server.client_url())
            .await
            .unwrap();
    let mut sub = client.subscribe("x").await.unwrap();
    client.publish("x", "ok".into()).await.unwrap();
    assert!(tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .is_some());
    let connz = get_json(http, "/connz?auth=true&user=alice").await.unwrap();
    assert_eq!(connz["total"], 1);
    assert_eq!(connz["connections"][0]["authorized_user"], "alice");
    let closed = get_json(http, "/connz?state=closed&sort=reason")
        .await
        .unwrap();
    let reasons: Vec<_> = closed["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        reasons,
        ["Authentication Failure", "Authentication Timeout"]
    );
}

#[tokio::test]
async fn endpoints_move_under_the_base_path() {
    let opts = Options {
        http_base_path: "/mon/".into(),
        ..test_options()
    };
    let (_server, http) = monitored(opts).await;
    let varz = get_json(http, "/mon/varz").await.unwrap();
    assert_eq!(varz["http_base_path"], "/mon/");
    assert_eq!(get(http, "/varz").await.unwrap().0, 404);
    assert_eq!(get(http, "/mon/healthz").await.unwrap().0, 200);
}

/// Monitoring on the wildcard `0.0.0.0` answers over IPv6 too, as nats-server's does.
#[tokio::test]
async fn monitoring_on_the_wildcard_answers_over_ipv4_and_ipv6() {
    let server = start(test_options()).await.unwrap();
    let monitor = natsd_monitor::start(server.clone(), "0.0.0.0:0")
        .await
        .unwrap();
    let port = monitor.local_addr.port();
    assert_eq!(monitor.local_addr.to_string(), format!("0.0.0.0:{port}"));
    for host in ["127.0.0.1", "[::1]"] {
        let addr = format!("{host}:{port}").parse().unwrap();
        let varz = natsd_testkit::http::get_json(addr, "/varz").await.unwrap();
        assert_eq!(varz["server_id"], server.server_id().as_str(), "{host}");
    }
}
