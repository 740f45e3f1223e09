//! Decentralized authentication with real clients: `.creds` users, JWT expiry, and the
//! account resolvers (memory and directory) with their `$SYS` requests.

use std::time::Duration;

use futures::StreamExt;
use natsd_testkit::jwt::{creds, now_secs, Account, Operator};
use natsd_testkit::{options_from_config, start, RawConn};
use serde_json::{json, Value};

use crate::security::{assert_refused, watching};

const WAIT: Duration = Duration::from_secs(10);

/// A server trusting `operator`, with the memory resolver holding `accounts`.
async fn serve(operator: &Operator, accounts: &[&Account]) -> natsd_server::Server {
    start(options_from_config(&operator.memory_config(accounts)))
        .await
        .unwrap()
}

/// Connects with a user JWT on a raw connection (with `sig`, the nonce signature, when
/// given) and checks it is admitted.
async fn connect_raw(
    server: &natsd_server::Server,
    jwt: &str,
    user: Option<&nkeys::KeyPair>,
) -> RawConn {
    let (mut conn, info) = RawConn::connect(server.local_addr()).await.unwrap();
    let sig = user.map_or_else(String::new, |user| {
        use base64::Engine;
        let nonce = info["nonce"].as_str().unwrap_or_default();
        let signature = user.sign(nonce.as_bytes()).unwrap();
        format!(
            ",\"sig\":\"{}\"",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
        )
    });
    conn.send(format!(
        "CONNECT {{\"verbose\":false,\"jwt\":\"{jwt}\"{sig}}}\r\nPING\r\n"
    ))
    .await
    .unwrap();
    conn.expect("PONG\r\n").await.unwrap();
    conn
}

/// Connects a new bearer user of `account` on a raw connection.
async fn bearer(server: &natsd_server::Server, account: &Account) -> RawConn {
    let user = nkeys::KeyPair::new_user();
    let jwt = account.user_jwt(&user, &json!({"bearer_token": true}), None);
    connect_raw(server, &jwt, None).await
}

/// Checks each `.creds` text is refused.
async fn all_refused(server: &natsd_server::Server, all: &[String]) {
    for creds in all {
        assert_refused(
            async_nats::ConnectOptions::with_credentials(creds)
                .unwrap()
                .connect(server.client_url()),
            async_nats::ConnectErrorKind::AuthorizationViolation,
            "authorization violation",
        )
        .await;
    }
}

/// A client of the system account, for the resolver's requests.
async fn system_client(server: &natsd_server::Server, operator: &Operator) -> async_nats::Client {
    let user = nkeys::KeyPair::new_user();
    async_nats::ConnectOptions::with_credentials(&operator.system.creds(&user, &json!({}), None))
        .unwrap()
        .connect(server.client_url())
        .await
        .unwrap()
}

async fn request(client: &async_nats::Client, subject: &str, body: &str) -> Value {
    let reply = tokio::time::timeout(
        WAIT,
        client.request(subject.to_owned(), body.to_owned().into()),
    )
    .await
    .unwrap()
    .unwrap();
    serde_json::from_slice(&reply.payload).unwrap()
}

fn update_subject(account: &Account) -> String {
    format!(
        "$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE",
        account.key.public_key()
    )
}

fn same_key(account: &Account) -> nkeys::KeyPair {
    nkeys::KeyPair::from_seed(&account.key.seed().unwrap()).unwrap()
}

#[tokio::test]
async fn users_with_jwt_credentials_connect_and_get_their_permissions() {
    let operator = Operator::new();
    let account = operator.account("A", &json!({}));
    let server = serve(&operator, &[&account]).await;
    let user = nkeys::KeyPair::new_user();
    let creds = account.creds(&user, &json!({"pub": {"deny": ["secret"]}}), None);
    let (options, mut errors) =
        watching(async_nats::ConnectOptions::with_credentials(&creds).unwrap());
    let client = options.connect(server.client_url()).await.unwrap();
    let mut sub = client.subscribe("hello").await.unwrap();
    client.publish("hello", "jwt".into()).await.unwrap();
    let msg = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.payload[..], b"jwt");
    client.publish("secret", "x".into()).await.unwrap();
    let error = tokio::time::timeout(WAIT, errors.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        error.contains("Permissions Violation for Publish to \"secret\""),
        "{error}"
    );
    assert_eq!(
        natsd_testkit::authorized_users(&server),
        vec![Some(user.public_key())]
    );

    // A user of an untrusted operator's account, and an expired JWT, are refused.
    let stranger = Operator::new().account("X", &json!({}));
    let foreign = stranger.creds(&nkeys::KeyPair::new_user(), &json!({}), None);
    let expired = account.creds(
        &nkeys::KeyPair::new_user(),
        &json!({}),
        Some(now_secs() - 10),
    );
    // So are users that must come through a trusted proxy (natsd has none) or on another
    // kind of connection.
    let proxied = account.creds(
        &nkeys::KeyPair::new_user(),
        &json!({"proxy_required": true}),
        None,
    );
    let websocket_only = account.creds(
        &nkeys::KeyPair::new_user(),
        &json!({"allowed_connection_types": ["WEBSOCKET"]}),
        None,
    );
    all_refused(&server, &[foreign, expired, proxied, websocket_only]).await;
}

#[tokio::test]
async fn a_connected_user_is_closed_when_its_jwt_expires() {
    let operator = Operator::new();
    let account = operator.account("A", &json!({}));
    let server = serve(&operator, &[&account]).await;
    let user = nkeys::KeyPair::new_user();
    let jwt = account.user_jwt(&user, &json!({}), Some(now_secs() + 2));
    let mut conn = connect_raw(&server, &jwt, Some(&user)).await;
    conn.expect_close_after("-ERR 'User Authentication Expired'\r\n")
        .await
        .unwrap();
    // The `.creds` of an untrusted key pair do not sign for this JWT's user.
    all_refused(&server, &[creds(&jwt, &nkeys::KeyPair::new_user())]).await;
}

#[tokio::test]
async fn the_memory_resolver_updates_accounts_in_use_and_skips_the_others() {
    let operator = Operator::new();
    let used = operator.account("USED", &json!({}));
    let idle = operator.account("IDLE", &json!({}));
    let server = serve(&operator, &[&used, &idle]).await;
    let mut user = bearer(&server, &used).await;
    let system = system_client(&server, &operator).await;

    let tighter =
        operator.account_with_key("USED", same_key(&used), &json!({"limits": {"subs": 1}}));
    let reply = request(&system, &update_subject(&used), &tighter.jwt).await;
    assert_eq!(reply["data"]["code"], 200, "{reply}");
    assert_eq!(reply["data"]["message"], "jwt updated");
    assert_eq!(reply["data"]["account"], used.key.public_key().as_str());
    assert!(reply["server"]["id"].is_string(), "{reply}");
    // The connected client has the new limit.
    user.send("SUB a 1\r\nSUB b 2\r\nPING\r\n").await.unwrap();
    user.expect("-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n")
        .await
        .unwrap();

    let renewed = operator.account_with_key("IDLE", same_key(&idle), &json!({}));
    let reply = request(&system, &update_subject(&idle), &renewed.jwt).await;
    assert_eq!(reply["data"]["message"], "jwt update skipped", "{reply}");

    // Wrong subject, and not a JWT at all.
    let reply = request(&system, &update_subject(&idle), &tighter.jwt).await;
    assert_eq!(reply["error"]["code"], 500, "{reply}");
    assert!(reply["error"]["description"]
        .as_str()
        .unwrap()
        .ends_with("subject does not match jwt content"));
    let reply = request(&system, &update_subject(&idle), "garbage").await;
    assert_eq!(reply["error"]["code"], 500, "{reply}");
    assert_eq!(reply["error"]["account"], idle.key.public_key().as_str());
    // An account JWT the operator did not sign is refused by the memory resolver.
    let forged = Operator::new().account_with_key("USED", same_key(&used), &json!({}));
    let reply = request(&system, &update_subject(&used), &forged.jwt).await;
    assert!(
        reply["error"]["description"]
            .as_str()
            .unwrap()
            .ends_with("account validation failed"),
        "{reply}"
    );
}

#[tokio::test]
async fn the_full_resolver_keeps_accounts_in_its_directory() {
    let dir = std::env::temp_dir().join(format!("natsd-jwt-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let operator = Operator::new();
    let first = operator.account("FIRST", &json!({}));
    let config = |preload: &[&Account]| {
        options_from_config(&operator.full_resolver_config(&dir, ", allow_delete: true", preload))
    };
    let server = start(config(&[&first])).await.unwrap();
    // Preloads are written to the directory.
    let first_file = dir.join(format!("{}.jwt", first.key.public_key()));
    assert_eq!(std::fs::read_to_string(&first_file).unwrap(), first.jwt);
    let system = system_client(&server, &operator).await;

    // A new account pushed over $SYS is stored and admits its users at once.
    let second = operator.account("SECOND", &json!({}));
    let reply = request(&system, "$SYS.REQ.CLAIMS.UPDATE", &second.jwt).await;
    assert_eq!(reply["data"]["message"], "jwt updated", "{reply}");
    let second_file = dir.join(format!("{}.jwt", second.key.public_key()));
    assert_eq!(std::fs::read_to_string(&second_file).unwrap(), second.jwt);
    let mut second_user = bearer(&server, &second).await;

    let list = request(&system, "$SYS.REQ.CLAIMS.LIST", "").await;
    let mut expected = vec![
        first.key.public_key(),
        second.key.public_key(),
        operator.system.key.public_key(),
    ];
    expected.sort();
    assert_eq!(list["data"], json!(expected), "{list}");
    let lookup = tokio::time::timeout(
        WAIT,
        system.request(
            format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.LOOKUP", first.key.public_key()),
            "".into(),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(&lookup.payload[..], first.jwt.as_bytes());

    // Revoking a connected user: it is told and closed; others of the account stay.
    let revoked_key = nkeys::KeyPair::new_user();
    let revoked_jwt = first.user_jwt(&revoked_key, &json!({"bearer_token": true}), None);
    let mut revoked = connect_raw(&server, &revoked_jwt, None).await;
    let mut bystander = bearer(&server, &first).await;
    let revoking = operator.account_with_key(
        "FIRST",
        same_key(&first),
        &json!({"revocations": {revoked_key.public_key(): now_secs() + 60}}),
    );
    let reply = request(&system, &update_subject(&first), &revoking.jwt).await;
    assert_eq!(reply["data"]["message"], "jwt updated", "{reply}");
    revoked
        .expect_close_after("-ERR 'User Authentication Revoked'\r\n")
        .await
        .unwrap();
    bystander.send("PING\r\n").await.unwrap();
    bystander.expect("PONG\r\n").await.unwrap();
    assert_eq!(std::fs::read_to_string(&first_file).unwrap(), revoking.jwt);

    // A restarted server finds what was pushed, without preloads.
    let restarted = start(config(&[])).await.unwrap();
    bearer(&restarted, &second).await;
    restarted.shutdown().await;

    // Deleting an account needs the operator's signature; its clients are closed.
    let delete = |signer: &nkeys::KeyPair| {
        natsd_auth::jwt::encode(
            &json!({"iss": signer.public_key(), "sub": signer.public_key(), "iat": now_secs(),
                    "nats": {"type": "generic", "version": 2,
                             "accounts": [second.key.public_key()]}}),
            signer,
        )
        .unwrap()
    };
    let reply = request(
        &system,
        "$SYS.REQ.CLAIMS.DELETE",
        &delete(&nkeys::KeyPair::new_operator()),
    )
    .await;
    assert!(
        reply["error"]["description"]
            .as_str()
            .unwrap()
            .ends_with("not trusted"),
        "{reply}"
    );
    let reply = request(&system, "$SYS.REQ.CLAIMS.DELETE", &delete(&operator.key)).await;
    assert_eq!(reply["data"]["message"], "deleted 1 accounts", "{reply}");
    second_user
        .expect_close_after("-ERR 'Account Authentication Expired'\r\n")
        .await
        .unwrap();
    assert!(!second_file.exists());
    assert!(dir
        .join(format!("{}.jwt.deleted", second.key.public_key()))
        .exists());
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_reload_with_new_account_jwts_revokes_connected_users() {
    let operator = Operator::new();
    let account = operator.account("A", &json!({}));
    let server = serve(&operator, &[&account]).await;
    let user = nkeys::KeyPair::new_user();
    let jwt = account.user_jwt(&user, &json!({"bearer_token": true}), None);
    let mut conn = connect_raw(&server, &jwt, None).await;
    let revoking = operator.account_with_key(
        "A",
        same_key(&account),
        &json!({"revocations": {user.public_key(): now_secs() + 60}}),
    );
    server
        .reload(options_from_config(&operator.memory_config(&[&revoking])))
        .unwrap();
    conn.expect_close_after("-ERR 'User Authentication Revoked'\r\n")
        .await
        .unwrap();
}

#[tokio::test]
async fn an_update_lowering_conn_closes_the_newest_clients() {
    let operator = Operator::new();
    let account = operator.account("A", &json!({}));
    let server = serve(&operator, &[&account]).await;
    let mut oldest = bearer(&server, &account).await;
    let mut newest = bearer(&server, &account).await;
    let system = system_client(&server, &operator).await;
    let one = operator.account_with_key("A", same_key(&account), &json!({"limits": {"conn": 1}}));
    let reply = request(&system, &update_subject(&account), &one.jwt).await;
    assert_eq!(reply["data"]["message"], "jwt updated", "{reply}");
    newest
        .expect_close_after("-ERR 'maximum account active connections exceeded'\r\n")
        .await
        .unwrap();
    oldest.send("PING\r\n").await.unwrap();
    oldest.expect("PONG\r\n").await.unwrap();
}

#[tokio::test]
async fn clients_of_an_expiring_account_are_closed_when_it_expires() {
    let operator = Operator::new();
    let account = operator.account_until("A", &json!({}), now_secs() + 2);
    let server = serve(&operator, &[&account]).await;
    let mut client = bearer(&server, &account).await;
    client
        .expect_close_after("-ERR 'Account Authentication Expired'\r\n")
        .await
        .unwrap();
}

#[tokio::test]
async fn accounts_from_jwts_get_the_per_account_system_services() {
    let operator = Operator::new();
    let account = operator.account("A", &json!({}));
    let server = serve(&operator, &[&account]).await;
    let user = nkeys::KeyPair::new_user();
    let client =
        async_nats::ConnectOptions::with_credentials(&account.creds(&user, &json!({}), None))
            .unwrap()
            .connect(server.client_url())
            .await
            .unwrap();
    let info = request(&client, "$SYS.REQ.USER.INFO", "").await;
    assert_eq!(info["data"]["user"], user.public_key().as_str(), "{info}");
    assert_eq!(
        info["data"]["account"],
        account.key.public_key().as_str(),
        "{info}"
    );
}

#[tokio::test]
async fn service_imports_from_account_jwts_answer_requests() {
    let operator = Operator::new();
    let exporter = operator.account(
        "A",
        &json!({"exports": [{"subject": "help", "type": "service"},
                            {"subject": "private", "type": "service", "token_req": true}]}),
    );
    let importer = operator.account(
        "B",
        &json!({"imports": [
            // With local_subject, `subject` is the exporter's side.
            {"subject": "help", "account": exporter.key.public_key(), "type": "service",
             "local_subject": "ask"},
            // With the older `to`, `subject` is the local side and `to` the exporter's.
            {"subject": "ask.legacy", "account": exporter.key.public_key(), "type": "service",
             "to": "help"},
            // A private export needs an activation token natsd does not issue.
            {"subject": "private", "account": exporter.key.public_key(), "type": "service"}]}),
    );
    let server = serve(&operator, &[&exporter, &importer]).await;
    let url = server.client_url();
    let connect = |account: &Account| {
        let creds = account.creds(&nkeys::KeyPair::new_user(), &json!({}), None);
        let url = url.clone();
        async move {
            async_nats::ConnectOptions::with_credentials(&creds)
                .unwrap()
                .connect(url)
                .await
                .unwrap()
        }
    };
    let responder = connect(&exporter).await;
    let mut requests = responder.subscribe("help").await.unwrap();
    let mut private = responder.subscribe("private").await.unwrap();
    responder.flush().await.unwrap();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let _ = responder.publish(reply, "answer".into()).await;
            }
        }
    });
    let requester = connect(&importer).await;
    for subject in ["ask", "ask.legacy"] {
        let reply = tokio::time::timeout(WAIT, requester.request(subject, "?".into()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&reply.payload[..], b"answer", "{subject}");
    }
    requester.publish("private", "x".into()).await.unwrap();
    requester.flush().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), private.next())
            .await
            .is_err(),
        "a private export must not be reachable without an activation"
    );
}

#[tokio::test]
async fn updated_account_jwts_change_imports_and_exports_at_once() {
    let operator = Operator::new();
    let exporter = operator.account(
        "A",
        &json!({"exports": [{"subject": "news.>", "type": "stream"}]}),
    );
    let importer = operator.account("B", &json!({}));
    let server = serve(&operator, &[&exporter, &importer]).await;
    let system = system_client(&server, &operator).await;
    let mut reader = bearer(&server, &importer).await;
    let mut writer = bearer(&server, &exporter).await;
    reader.send("SUB from_a.> 1\r\nPING\r\n").await.unwrap();
    reader.expect("PONG\r\n").await.unwrap();
    // Each check publishes, then syncs the reader: what reached it comes before its PONG.
    let publish_and_read = |n: u32| format!("PUB news.{n} 1\r\n{n}\r\nPING\r\n");

    writer.send(publish_and_read(1)).await.unwrap();
    writer.expect("PONG\r\n").await.unwrap();
    reader.send("PING\r\n").await.unwrap();
    reader.expect("PONG\r\n").await.unwrap();

    let importing = operator.account_with_key(
        "B",
        same_key(&importer),
        &json!({"imports": [{"subject": "news.>", "account": exporter.key.public_key(),
                             "type": "stream", "to": "from_a"}]}),
    );
    let reply = request(&system, &update_subject(&importer), &importing.jwt).await;
    assert_eq!(reply["data"]["message"], "jwt updated", "{reply}");
    writer.send(publish_and_read(2)).await.unwrap();
    writer.expect("PONG\r\n").await.unwrap();
    reader.send("PING\r\n").await.unwrap();
    reader
        .expect("MSG from_a.news.2 1 1\r\n2\r\nPONG\r\n")
        .await
        .unwrap();

    // The exporter withdraws the export: the import stops.
    let closed = operator.account_with_key("A", same_key(&exporter), &json!({}));
    let reply = request(&system, &update_subject(&exporter), &closed.jwt).await;
    assert_eq!(reply["data"]["message"], "jwt updated", "{reply}");
    writer.send(publish_and_read(3)).await.unwrap();
    writer.expect("PONG\r\n").await.unwrap();
    reader.send("PING\r\n").await.unwrap();
    reader.expect("PONG\r\n").await.unwrap();
}

/// Updates of many accounts sent at once over separate connections all take effect: none
/// is lost to another changing the trust at the same moment. Each account's new limit
/// holds, and the resolver serves each account's new JWT.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_many_accounts_all_take_effect() {
    const ACCOUNTS: usize = 32;
    let dir = std::env::temp_dir().join(format!("natsd-jwt-concurrent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let operator = Operator::new();
    let accounts: Vec<Account> = (0..ACCOUNTS)
        .map(|i| operator.account(&format!("A{i}"), &json!({})))
        .collect();
    let preload: Vec<&Account> = accounts.iter().collect();
    let config = operator.full_resolver_config(&dir, "", &preload);
    let server = start(options_from_config(&config)).await.unwrap();
    let mut users = Vec::new();
    for account in &accounts {
        users.push(bearer(&server, account).await);
    }
    let updated: Vec<String> = accounts
        .iter()
        .map(|account| {
            operator
                .account_with_key(
                    &account.name,
                    same_key(account),
                    &json!({"limits": {"subs": 1}}),
                )
                .jwt
        })
        .collect();
    let mut senders = Vec::new();
    for (account, jwt) in accounts.iter().zip(&updated) {
        senders.push((
            system_client(&server, &operator).await,
            update_subject(account),
            jwt.clone(),
        ));
    }
    let replies = futures::future::join_all(senders.into_iter().map(
        |(client, subject, jwt)| async move {
            tokio::spawn(async move { request(&client, &subject, &jwt).await })
                .await
                .unwrap()
        },
    ))
    .await;
    for reply in replies {
        assert_eq!(reply["data"]["message"], "jwt updated", "{reply}");
    }
    let system = system_client(&server, &operator).await;
    for ((user, account), jwt) in users.iter_mut().zip(&accounts).zip(&updated) {
        user.send("SUB a 1\r\nSUB b 2\r\nPING\r\n").await.unwrap();
        user.expect("-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n")
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", account.name));
        let subject = format!(
            "$SYS.REQ.ACCOUNT.{}.CLAIMS.LOOKUP",
            account.key.public_key()
        );
        let served = tokio::time::timeout(WAIT, system.request(subject, "".into()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&served.payload),
            *jwt,
            "{} lost its update",
            account.name
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Operator, account and user JWTs in the original (v1) format, which older `nsc` versions
/// made, in the config file, the resolver preload, a `.creds` file and CONNECT: natsd takes
/// them as nats-server does (and, when the reference is at hand, the same config and
/// credentials are checked against it too).
#[tokio::test]
async fn original_format_jwts_are_accepted() {
    use natsd_testkit::jwt::sign_v1;
    let (operator, system, account, user) = (
        nkeys::KeyPair::new_operator(),
        nkeys::KeyPair::new_account(),
        nkeys::KeyPair::new_account(),
        nkeys::KeyPair::new_user(),
    );
    let now = now_secs();
    let operator_jwt = sign_v1(
        &json!({"iss": operator.public_key(), "sub": operator.public_key(), "iat": now,
                "jti": "OPV1", "name": "OLD", "type": "operator",
                "nats": {"system_account": system.public_key()}}),
        &operator,
    );
    let limits = json!({"subs": -1, "conn": -1, "leaf": -1, "imports": -1, "exports": -1,
                        "data": -1, "payload": -1, "wildcards": true});
    let account_jwt = |key: &nkeys::KeyPair, name: &str| {
        sign_v1(
            &json!({"iss": operator.public_key(), "sub": key.public_key(), "iat": now,
                    "jti": format!("{name}V1"), "name": name, "type": "account",
                    "nats": {"limits": limits}}),
            &operator,
        )
    };
    let user_jwt = sign_v1(
        &json!({"iss": account.public_key(), "sub": user.public_key(), "iat": now,
                "jti": "UV1", "name": "old-user", "type": "user",
                "nats": {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1}}),
        &account,
    );
    let config = format!(
        "operator: {operator_jwt}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {}\n  {}: {}\n}}\n",
        system.public_key(),
        account_jwt(&system, "SYS"),
        account.public_key(),
        account_jwt(&account, "OLDACC"),
    );
    let credentials = creds(&user_jwt, &user);
    let round_trip = |url: String| {
        let credentials = credentials.clone();
        async move {
            let client = async_nats::ConnectOptions::with_credentials(&credentials)
                .unwrap()
                .connect(url)
                .await
                .unwrap();
            crate::round_trip(&client, "old.format", "works").await;
        }
    };
    let server = start(options_from_config(&config)).await.unwrap();
    round_trip(server.client_url()).await;
    // A forged v1 user is still refused.
    let forged_user = natsd_testkit::jwt::forged(&user_jwt);
    assert_refused(
        async_nats::ConnectOptions::with_credentials(&creds(&forged_user, &user))
            .unwrap()
            .connect(server.client_url()),
        async_nats::ConnectErrorKind::AuthorizationViolation,
        "authorization violation",
    )
    .await;

    if let Some(process) = natsd_testkit::process::start_reference("jwt-v1", &config).unwrap() {
        round_trip(format!("nats://{}", process.addr)).await;
    }
}
