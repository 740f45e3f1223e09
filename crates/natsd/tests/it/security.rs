//! Authentication and permissions as the official Rust client sees them.

use std::time::Duration;

use futures::StreamExt;
use natsd_auth::permissions::Entry;
use natsd_auth::{Authenticator, Permissions, SubjectRule, User};
use natsd_server::Options;
use natsd_testkit::{start, test_options, wait_for};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

fn user(name: &str, password: &str, permissions: Option<Permissions>) -> User {
    User {
        name: name.into(),
        password: Some(password.into()),
        nkey: None,
        permissions,
        account: None,
        ..Default::default()
    }
}

fn rule(allow: &[&str], deny: &[&str]) -> SubjectRule {
    let list = |l: &[&str]| (!l.is_empty()).then(|| l.iter().map(|e| Entry::parse(e)).collect());
    SubjectRule {
        allow: list(allow),
        deny: list(deny),
    }
}

fn with_users(users: Vec<User>) -> Options {
    Options {
        authorization: Authenticator {
            users,
            ..Authenticator::default()
        },
        ..test_options()
    }
}

/// Asserts that a connection attempt is refused within the test's wait, and that the
/// client saw the refusal as `expected`, its message saying `saying` (not a timeout, not
/// some other failure).
pub(crate) async fn assert_refused<T>(
    attempt: impl std::future::Future<Output = Result<T, async_nats::ConnectError>>,
    expected: async_nats::ConnectErrorKind,
    saying: &str,
) {
    match tokio::time::timeout(WAIT, attempt).await {
        Ok(Err(error)) => {
            assert_eq!(error.kind(), expected, "refused with {error}");
            assert!(error.to_string().contains(saying), "refused with {error}");
        }
        Ok(Ok(_)) => panic!("the connection must be refused"),
        Err(_) => panic!("no refusal within {WAIT:?}"),
    }
}

/// `options` that forward the server's `-ERR`s the client reports.
pub(crate) fn watching(
    options: async_nats::ConnectOptions,
) -> (async_nats::ConnectOptions, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let options = options.event_callback(move |event| {
        let tx = tx.clone();
        async move {
            if let async_nats::Event::ServerError(error) = event {
                let _ = tx.send(error.to_string());
            }
        }
    });
    (options, rx)
}

/// Connects as `name`, watching the server's `-ERR`s.
async fn connect_watching(
    url: &str,
    name: &str,
    password: &str,
) -> (async_nats::Client, mpsc::UnboundedReceiver<String>) {
    let (options, rx) = watching(async_nats::ConnectOptions::with_user_and_password(
        name.into(),
        password.into(),
    ));
    (options.connect(url).await.unwrap(), rx)
}

#[tokio::test]
async fn users_tokens_and_nkeys_connect() {
    let server = start(with_users(vec![user("alice", "s3cret", None)]))
        .await
        .unwrap();
    let url = server.client_url();
    let ok = async_nats::ConnectOptions::with_user_and_password("alice".into(), "s3cret".into())
        .connect(&url)
        .await;
    assert!(ok.is_ok());
    assert_refused(
        async_nats::ConnectOptions::with_user_and_password("alice".into(), "nope".into())
            .connect(&url),
        async_nats::ConnectErrorKind::AuthorizationViolation,
        "authorization violation",
    )
    .await;

    let server = start(Options {
        authorization: Authenticator {
            token: Some("t0k3n".into()),
            ..Authenticator::default()
        },
        ..test_options()
    })
    .await
    .unwrap();
    let client = async_nats::ConnectOptions::with_token("t0k3n".into())
        .connect(server.client_url())
        .await
        .unwrap();
    client.flush().await.unwrap();

    let key = nkeys::KeyPair::new_user();
    let server = start(with_users(vec![User {
        name: key.public_key(),
        password: None,
        nkey: Some(key.public_key()),
        permissions: None,
        account: None,
        ..Default::default()
    }]))
    .await
    .unwrap();
    let seed = key.seed().unwrap();
    let client = async_nats::ConnectOptions::with_nkey(seed)
        .connect(server.client_url())
        .await
        .unwrap();
    crate::round_trip(&client, "n", "signed").await;
    let stranger = nkeys::KeyPair::new_user().seed().unwrap();
    assert_refused(
        async_nats::ConnectOptions::with_nkey(stranger)
            .max_reconnects(1)
            .connect(server.client_url()),
        async_nats::ConnectErrorKind::AuthorizationViolation,
        "authorization violation",
    )
    .await;
}

#[tokio::test]
async fn permission_violations_are_reported_and_the_connection_stays() {
    let limited = Permissions {
        publish: rule(&["allowed.>"], &[]),
        subscribe: rule(&[], &["secret.>"]),
        allow_responses: None,
    };
    let server = start(with_users(vec![
        user("limited", "p", Some(limited)),
        user("admin", "p", None),
    ]))
    .await
    .unwrap();
    let url = server.client_url();
    let (client, mut errors) = connect_watching(&url, "limited", "p").await;
    client.publish("forbidden", "x".into()).await.unwrap();
    client.flush().await.unwrap();
    let error = tokio::time::timeout(WAIT, errors.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        error.contains("Permissions Violation for Publish to \"forbidden\""),
        "{error}"
    );
    let _denied = client.subscribe("secret.plans").await.unwrap();
    let error = tokio::time::timeout(WAIT, errors.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        error.contains("Permissions Violation for Subscription to \"secret.plans\""),
        "{error}"
    );

    // Still connected: a wildcard subscription gets everything but the denied subjects.
    let mut everything = client.subscribe(">").await.unwrap();
    wait_for(WAIT, || server.num_subscriptions() >= 1)
        .await
        .unwrap();
    let (admin, _) = connect_watching(&url, "admin", "p").await;
    for subject in ["secret.plans", "public.news", "allowed.a"] {
        admin.publish(subject, subject.into()).await.unwrap();
    }
    admin.flush().await.unwrap();
    let first = tokio::time::timeout(WAIT, everything.next())
        .await
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(WAIT, everything.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        [first.subject.as_str(), second.subject.as_str()],
        ["public.news", "allowed.a"]
    );
    client.publish("allowed.b", "fine".into()).await.unwrap();
    let own = tokio::time::timeout(WAIT, everything.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(own.subject.as_str(), "allowed.b");
}

#[tokio::test]
async fn reload_takes_permissions_away_at_once() {
    let open = Permissions::default();
    let server = start(with_users(vec![user("u", "p", Some(open))]))
        .await
        .unwrap();
    let (client, mut errors) = connect_watching(&server.client_url(), "u", "p").await;
    let mut sub = client.subscribe("x").await.unwrap();
    client.publish("x", "before".into()).await.unwrap();
    let msg = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.payload[..], b"before");

    let closed = Permissions {
        publish: rule(&[], &["x"]),
        ..Permissions::default()
    };
    let mut opts = (*server.options()).clone();
    opts.authorization.users = vec![user("u", "p", Some(closed))];
    server.reload(opts).unwrap();
    client.publish("x", "after".into()).await.unwrap();
    let error = tokio::time::timeout(WAIT, errors.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        error.contains("Permissions Violation for Publish to \"x\""),
        "{error}"
    );
    assert_eq!(server.num_clients(), 1, "the client keeps its connection");
}

/// A reload that takes away the right to subscriptions a client holds drops them, with
/// nats-server's `-ERR` for each; the others stay.
#[tokio::test]
async fn reload_drops_subscriptions_no_longer_allowed() {
    let wide = Permissions {
        subscribe: rule(&["foo.>", "bar"], &[]),
        ..Permissions::default()
    };
    let server = start(with_users(vec![user("u", "p", Some(wide))]))
        .await
        .unwrap();
    let (mut held, _) = natsd_testkit::RawConn::connect(server.local_addr())
        .await
        .unwrap();
    held.send(
        "CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\n\
         SUB foo.bar 1\r\nSUB foo.q workers 2\r\nSUB bar 3\r\nPING\r\n",
    )
    .await
    .unwrap();
    held.expect("PONG\r\n").await.unwrap();

    let narrow = Permissions {
        subscribe: rule(&["bar"], &[]),
        ..Permissions::default()
    };
    let mut opts = (*server.options()).clone();
    opts.authorization.users = vec![user("u", "p", Some(narrow))];
    server.reload(opts).unwrap();
    held.expect(
        "-ERR 'Permissions Violation for Subscription to \"foo.bar\" (sid \"1\")'\r\n\
         -ERR 'Permissions Violation for Subscription to \"foo.q\" using queue \"workers\" (sid \"2\")'\r\n",
    )
    .await
    .unwrap();

    let publisher = async_nats::ConnectOptions::with_user_and_password("u".into(), "p".into())
        .connect(server.client_url())
        .await
        .unwrap();
    for subject in ["foo.bar", "foo.q", "bar"] {
        publisher.publish(subject, "x".into()).await.unwrap();
    }
    publisher.flush().await.unwrap();
    // In publish order: had either dropped subscription stayed, its message came first.
    held.expect("MSG bar 3 1\r\nx\r\n").await.unwrap();
    held.sync().await.unwrap();
    assert_eq!(server.num_clients(), 2, "the client keeps its connection");
}

/// A request crossing accounts through a service import carries `Nats-Request-Info`, to
/// the responder and back on the response: the requester's account and round-trip time,
/// and all about the requesting client when the import shares it.
#[tokio::test]
async fn service_requests_say_who_asked() {
    let server = start(natsd_testkit::options_from_config(
        "accounts {\n\
           A { users [{user: a, password: a}], exports [{service: svc}, {service: shared}] }\n\
           B { users [{user: b, password: b}], imports [\n\
             {service: {account: A, subject: svc}},\n\
             {service: {account: A, subject: shared}, share: true}] }\n\
         }\n",
    ))
    .await
    .unwrap();
    let connect = |user: &str, name: &str| {
        async_nats::ConnectOptions::with_user_and_password(user.into(), user.into())
            .name(name)
            .connect(server.client_url())
    };
    let responder = connect("a", "responder").await.unwrap();
    let requester = connect("b", "requester").await.unwrap();
    let info_of = |headers: Option<&async_nats::HeaderMap>| -> serde_json::Value {
        let value = headers
            .and_then(|h| h.get("Nats-Request-Info"))
            .map(|v| v.as_str().to_owned())
            .expect("Nats-Request-Info");
        serde_json::from_str(&value).unwrap()
    };
    for (subject, shared) in [("svc", false), ("shared", true)] {
        let mut requests = responder.subscribe(subject).await.unwrap();
        responder.flush().await.unwrap();
        let asked = requester.request(subject, "hi".into());
        let answer = async {
            let request = tokio::time::timeout(WAIT, requests.next())
                .await
                .unwrap()
                .unwrap();
            let info = info_of(request.headers.as_ref());
            responder
                .publish(request.reply.unwrap(), "ok".into())
                .await
                .unwrap();
            info
        };
        let (reply, info) = tokio::join!(asked, answer);
        let reply = reply.unwrap();
        assert_eq!(
            info,
            info_of(reply.headers.as_ref()),
            "the response repeats it"
        );
        assert_eq!(info["acc"], "B");
        assert!(info["rtt"].as_u64().is_some_and(|rtt| rtt > 0), "{info}");
        if shared {
            assert_eq!(
                (&info["user"], &info["name"], &info["lang"], &info["kind"]),
                (
                    &"b".into(),
                    &"requester".into(),
                    &"rust".into(),
                    &"Client".into()
                ),
                "{info}"
            );
            assert_eq!(info["host"], "127.0.0.1");
            assert_eq!(info["server"], server.server_id().as_str());
        } else {
            assert_eq!(info.as_object().map(|o| o.len()), Some(2), "{info}");
        }
    }
}

/// bcrypt checks run beside the connection workers: while a flood of wrong passwords is
/// being checked, an authorized client's round trips complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_failed_logins_does_not_hold_up_authorized_clients() {
    let hash = bcrypt::hash("right", 10).unwrap();
    let server = start(with_users(vec![user("u", &hash, None)]))
        .await
        .unwrap();
    let url = server.client_url();
    let (client, _) = connect_watching(&url, "u", "right").await;
    let mut sub = client.subscribe("ping").await.unwrap();
    wait_for(WAIT, || server.num_subscriptions() >= 1)
        .await
        .unwrap();

    let mut attempts = Vec::new();
    for _ in 0..16 {
        let addr = server.local_addr();
        attempts.push(tokio::spawn(async move {
            let (mut conn, _) = natsd_testkit::RawConn::connect(addr).await?;
            conn.send("CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"wrong\"}\r\n")
                .await?;
            conn.expect("-ERR 'Authorization Violation'\r\n").await
        }));
    }
    client.publish("ping", "during".into()).await.unwrap();
    let msg = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.payload[..], b"during");
    let still_checking = attempts.iter().filter(|a| !a.is_finished()).count();
    assert!(
        still_checking > 0,
        "the round trip should finish while wrong passwords are still being checked"
    );
    for attempt in attempts {
        attempt.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn service_imports_answer_requests_across_accounts() {
    let server = start(natsd_testkit::options_from_config(
        "accounts {\n  SVC { users: [ {user: svc, password: p} ], exports: [ {service: \"time.now\"} ] }\n  \
         APP { users: [ {user: app, password: p} ], imports: [ {service: {account: SVC, subject: \"time.now\"}, to: \"clock\"} ] }\n}\n",
    ))
    .await
    .unwrap();
    let url = server.client_url();
    let (service, _) = connect_watching(&url, "svc", "p").await;
    let mut requests = service.subscribe("time.now").await.unwrap();
    let responder = tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let body = format!("noon for {}", String::from_utf8_lossy(&request.payload));
            if let Some(reply) = request.reply {
                service.publish(reply, body.into()).await.unwrap();
                service.flush().await.unwrap();
            }
        }
    });
    wait_for(WAIT, || server.num_subscriptions() >= 1)
        .await
        .unwrap();

    let (app, _) = connect_watching(&url, "app", "p").await;
    let response = tokio::time::timeout(WAIT, app.request("clock", "app".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&response.payload[..], b"noon for app");
    // The exporting account's subject itself is not visible from the importing account.
    let direct = tokio::time::timeout(WAIT, app.request("time.now", "app".into())).await;
    assert!(
        matches!(direct, Ok(Err(_))),
        "no responders in the importing account"
    );

    let accounts = server.accountz(None).accounts;
    for name in ["$G", "SVC", "APP"] {
        assert!(accounts.iter().any(|a| a == name), "{accounts:?}");
    }
    responder.abort();
}

#[tokio::test]
async fn streamed_service_responses_all_reach_the_requester() {
    let server = start(natsd_testkit::options_from_config(
        "accounts {\n  SVC { users: [ {user: svc, password: p} ], exports: [ {service: \"feed\", response: stream} ] }\n  \
         APP { users: [ {user: app, password: p} ], imports: [ {service: {account: SVC, subject: \"feed\"}} ] }\n}\n",
    ))
    .await
    .unwrap();
    let url = server.client_url();
    let (service, _) = connect_watching(&url, "svc", "p").await;
    let mut requests = service.subscribe("feed").await.unwrap();
    let responder = tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                for part in ["one", "two", "three"] {
                    service.publish(reply.clone(), part.into()).await.unwrap();
                }
                service.flush().await.unwrap();
            }
        }
    });
    wait_for(WAIT, || server.num_subscriptions() >= 1)
        .await
        .unwrap();
    let (app, _) = connect_watching(&url, "app", "p").await;
    let mut inbox = app.subscribe("my.inbox").await.unwrap();
    wait_for(WAIT, || server.num_subscriptions() >= 2)
        .await
        .unwrap();
    app.publish_with_reply("feed", "my.inbox", "go".into())
        .await
        .unwrap();
    let mut parts = Vec::new();
    for _ in 0..3 {
        let msg = tokio::time::timeout(WAIT, inbox.next())
            .await
            .unwrap()
            .unwrap();
        parts.push(String::from_utf8_lossy(&msg.payload).into_owned());
    }
    assert_eq!(parts, ["one", "two", "three"]);
    responder.abort();
}

#[tokio::test]
async fn a_reload_adds_accounts_and_changes_their_limits() {
    let before = "accounts { A { users: [ {user: a, password: p} ] } }\n";
    let after =
        "accounts { A { users: [ {user: a, password: p} ], limits: { max_subscriptions: 2 } }, \
                 B { users: [ {user: b, password: p} ] } }\n";
    let server = start(natsd_testkit::options_from_config(before))
        .await
        .unwrap();
    let (mut a, _) = natsd_testkit::RawConn::connect(server.local_addr())
        .await
        .unwrap();
    a.send("CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"p\"}\r\nSUB x 1\r\nPING\r\n")
        .await
        .unwrap();
    a.expect("PONG\r\n").await.unwrap();
    server
        .reload(natsd_testkit::options_from_config(after))
        .unwrap();
    // The new limit holds for the connected client of A.
    a.send("SUB y 2\r\nSUB z 3\r\nPING\r\n").await.unwrap();
    a.expect("-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n")
        .await
        .unwrap();
    // The new user lands in its new account, apart from A.
    let (mut b, _) = natsd_testkit::RawConn::connect(server.local_addr())
        .await
        .unwrap();
    b.send("CONNECT {\"verbose\":false,\"user\":\"b\",\"pass\":\"p\"}\r\nPUB x 1\r\n1\r\nPING\r\n")
        .await
        .unwrap();
    b.expect("PONG\r\n").await.unwrap();
    a.send("PING\r\n").await.unwrap();
    a.expect("PONG\r\n").await.unwrap();
    for account in ["A", "B"] {
        let connz = server
            .connz(&natsd_server::monitor::connz::ConnzOptions {
                account: Some(account.to_owned()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(connz.connections.len(), 1, "{account}");
    }
}
