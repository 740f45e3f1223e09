//! Auth callout (ADR-26): a service written here, connected as an `auth_users` user, answers
//! the server's authorization requests. Each test runs against natsd and, when it is at
//! hand, against nats-server 2.15.1 with the same config, and expects the same outcomes.

use std::time::Duration;

use async_nats::ConnectErrorKind;
use futures::StreamExt;
use natsd_auth::jwt;
use nkeys::{KeyPair, XKey};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

/// The service's keys: who signs its answers and the users in them, and its curve key.
struct Service {
    /// Signs the answers (the configured issuer, or the callout account in operator mode).
    issuer: KeyPair,
    /// Issues the users when not the issuer: the target account in operator mode.
    user_signer: Option<KeyPair>,
    xkey: XKey,
    /// The `client_tls` of every request answered.
    seen_tls: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl Service {
    fn new() -> Service {
        Service {
            issuer: KeyPair::new_account(),
            user_signer: None,
            xkey: XKey::new(),
            seen_tls: Default::default(),
        }
    }

    /// The same keys again, for the other server.
    fn again(&self) -> Service {
        Service {
            issuer: KeyPair::from_seed(&self.issuer.seed().unwrap()).unwrap(),
            user_signer: self
                .user_signer
                .as_ref()
                .map(|k| KeyPair::from_seed(&k.seed().unwrap()).unwrap()),
            xkey: XKey::from_seed(&self.xkey.seed().unwrap()).unwrap(),
            seen_tls: Default::default(),
        }
    }

    /// The config the servers run; `sealed` names the service's xkey.
    fn config(&self, sealed: bool, extra: &str) -> String {
        let xkey = if sealed {
            format!("xkey: {}", self.xkey.public_key())
        } else {
            String::new()
        };
        format!(
            "accounts {{\n  AUTH {{ users: [{{user: auth, password: pw}}] }}\n  APP {{}}\n}}\n\
             authorization {{\n  {extra}\n  auth_callout {{\n    issuer: {}\n    account: AUTH\n    \
             auth_users: [auth]\n    {xkey}\n  }}\n}}\n",
            self.issuer.public_key()
        )
    }

    /// Answers one request: `bob` with password `bob-pw` goes into APP, allowed to publish
    /// on `app.>` only; anyone else is refused with a reason.
    fn answer(&self, headers: Option<&async_nats::HeaderMap>, body: &[u8]) -> Vec<u8> {
        let server_xkey = headers
            .and_then(|h| h.get("Nats-Server-Xkey"))
            .map(|v| XKey::from_public_key(v.as_str()).unwrap());
        let token = match &server_xkey {
            Some(server) => self.xkey.open(body, server).unwrap(),
            None => body.to_vec(),
        };
        let request: jwt::Claims<serde_json::Value> =
            jwt::decode(std::str::from_utf8(&token).unwrap()).unwrap();
        assert_eq!(request.aud.as_deref(), Some("nats-authorization-request"));
        assert_eq!(request.sub, self.issuer.public_key());
        let nats = &request.nats;
        assert_eq!(nats["type"], "authorization_request");
        // The request is signed by the server whose ID it names.
        assert_eq!(nats["server_id"]["id"].as_str(), Some(request.iss.as_str()));
        let user_nkey = nats["user_nkey"].as_str().unwrap();
        self.seen_tls
            .lock()
            .unwrap()
            .push(nats["client_tls"].clone());
        let opts = &nats["connect_opts"];
        // Config form: user and password; operator mode: the sentinel JWT, and the
        // password in the connection name.
        let admitted =
            (opts["user"] == "bob" && opts["pass"] == "bob-pw") || opts["name"] == "bob:bob-pw";
        let outcome = if admitted {
            let signer = self.user_signer.as_ref().unwrap_or(&self.issuer);
            let user = json!({
                "jti": "U1", "iat": jwt::now_unix(), "iss": signer.public_key(),
                "sub": user_nkey, "aud": "APP", "name": "bob",
                "nats": {"type": "user", "version": 2, "pub": {"allow": ["app.>"]}, "sub": {},
                         "subs": -1, "data": -1, "payload": -1},
            });
            json!({"jwt": jwt::encode(&user, signer).unwrap()})
        } else {
            json!({"error": "bad credentials"})
        };
        let mut response = json!({
            "jti": "R1", "iat": jwt::now_unix(), "iss": self.issuer.public_key(),
            "sub": user_nkey, "aud": request.iss, "nats": outcome,
        });
        response["nats"]["type"] = json!("authorization_response");
        response["nats"]["version"] = json!(2);
        let token = jwt::encode(&response, &self.issuer).unwrap();
        match &server_xkey {
            Some(server) => self.xkey.seal(token.as_bytes(), server).unwrap(),
            None => token.into_bytes(),
        }
    }

    /// Connects as the auth user and answers requests until the test ends; `silent`
    /// takes requests and never answers.
    async fn run(self, url: &str, silent: bool) -> async_nats::Client {
        let auth = async_nats::ConnectOptions::with_user_and_password("auth".into(), "pw".into());
        self.run_as(url, auth, silent).await
    }

    async fn run_as(
        self,
        url: &str,
        options: async_nats::ConnectOptions,
        silent: bool,
    ) -> async_nats::Client {
        let client = options.connect(url).await.unwrap();
        let mut requests = client.subscribe("$SYS.REQ.USER.AUTH").await.unwrap();
        // async-nats's flush does not wait for the server: a round trip proves the SUB.
        super::round_trip(&client, "probe", "probe").await;
        let answering = client.clone();
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                if silent {
                    continue;
                }
                let body = self.answer(request.headers.as_ref(), &request.payload);
                if let Some(reply) = request.reply {
                    answering.publish(reply, body.into()).await.unwrap();
                }
            }
        });
        client
    }
}

/// How a client presents a name and password.
type Presenter = dyn Fn(&str, &str) -> async_nats::ConnectOptions;

fn user(name: &str, password: &str) -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::with_user_and_password(name.into(), password.into())
        .connection_timeout(WAIT)
}

/// What a client sees of the callout on one server (the service already answering):
/// whether bob is admitted into APP with the service's permissions, and whether a wrong
/// password and an unknown user are refused.
async fn outcomes(url: &str, user: &Presenter) -> Vec<String> {
    let mut seen = Vec::new();
    let receiver = user("bob", "bob-pw").connect(url).await.unwrap();
    let sender = user("bob", "bob-pw").connect(url).await.unwrap();
    let mut everything = receiver.subscribe(">").await.unwrap();
    super::round_trip(&receiver, "app.ready", "ready").await;
    assert_eq!(
        tokio::time::timeout(WAIT, everything.next())
            .await
            .unwrap()
            .unwrap()
            .payload,
        "ready"
    );
    // Outside its publish permissions: dropped, so what arrives next is the allowed one.
    sender.publish("other.x", "denied".into()).await.unwrap();
    sender.publish("app.x", "allowed".into()).await.unwrap();
    let msg = tokio::time::timeout(WAIT, everything.next())
        .await
        .unwrap()
        .unwrap();
    seen.push(format!("bob: {} {:?}", msg.subject, msg.payload));
    for (name, password) in [("bob", "wrong"), ("eve", "x")] {
        match user(name, password).connect(url).await {
            Ok(_) => seen.push(format!("{name}: admitted")),
            Err(error) => seen.push(format!("{name}: {:?}", error.kind())),
        }
    }
    seen
}

fn expected() -> Vec<String> {
    vec![
        "bob: app.x b\"allowed\"".to_owned(),
        format!("bob: {:?}", ConnectErrorKind::AuthorizationViolation),
        format!("eve: {:?}", ConnectErrorKind::AuthorizationViolation),
    ]
}

async fn check(name: &str, sealed: bool) {
    let service = Service::new();
    let config = service.config(sealed, "");
    let server = natsd_testkit::start(natsd_testkit::options_from_config(&config))
        .await
        .unwrap();
    let url = server.client_url();
    let _service = service.again().run(&url, false).await;
    assert_eq!(outcomes(&url, &user).await, expected());
    if let Some(process) = natsd_testkit::process::start_reference(name, &config).unwrap() {
        let url = format!("nats://{}", process.addr);
        let _service = service.run(&url, false).await;
        assert_eq!(outcomes(&url, &user).await, expected());
    }
}

#[tokio::test]
async fn the_callout_service_admits_places_and_refuses_clients() {
    check("callout", false).await;
}

#[tokio::test]
async fn sealed_requests_and_answers_use_the_xkeys() {
    check("callout-sealed", true).await;
}

/// A service that takes the request and never answers: the client is refused once the
/// authentication timeout passes, while the auth user still gets in.
#[tokio::test]
async fn an_unanswered_request_refuses_the_client_after_the_auth_timeout() {
    let service = Service::new();
    let config = service.config(false, "timeout: 0.5");
    let server = natsd_testkit::start(natsd_testkit::options_from_config(&config))
        .await
        .unwrap();
    let url = server.client_url();
    let _service = service.run(&url, true).await;
    let error = user("bob", "bob-pw").connect(&url).await.unwrap_err();
    assert_eq!(error.kind(), ConnectErrorKind::AuthorizationViolation);
}

/// The INFO of a server names its curve key, as nats-server 2.15.1's does.
#[tokio::test]
async fn info_carries_the_servers_xkey() {
    let server = natsd_testkit::start_default().await.unwrap();
    let client = async_nats::connect(server.client_url()).await.unwrap();
    let info = client.server_info();
    assert_eq!(info.server_id.len(), 56);
    assert!(info.server_id.starts_with('N'));
    assert!(nkeys::KeyPair::from_public_key(&info.server_id).is_ok());
    let (_raw, json) = natsd_testkit::raw::RawConn::connect(server.local_addr())
        .await
        .unwrap();
    let xkey = json["xkey"].as_str().unwrap();
    assert!(XKey::from_public_key(xkey).is_ok(), "{xkey}");
}

/// Operator mode: the AUTH account's JWT names the service's user in `auth_users` and
/// lets it place users in APP; clients come with a sentinel (a bearer user of AUTH that
/// may do nothing) and the service decides who they are.
#[tokio::test]
async fn an_account_jwt_delegates_its_users_to_the_callout_service() {
    let operator = natsd_testkit::jwt::Operator::new();
    let app = operator.account("APP", &json!({}));
    let service_user = KeyPair::new_user();
    let auth_key = KeyPair::new_account();
    let auth = operator.account_with_key(
        "AUTH",
        KeyPair::from_seed(&auth_key.seed().unwrap()).unwrap(),
        &json!({"authorization": {"auth_users": [service_user.public_key()],
                                  "allowed_accounts": [app.key.public_key()]}}),
    );
    let service_creds = auth.creds(&service_user, &json!({}), None);
    let sentinel = auth.creds(
        &KeyPair::new_user(),
        &json!({"bearer_token": true, "pub": {"deny": [">"]}, "sub": {"deny": [">"]}}),
        None,
    );
    let config = operator.memory_config(&[&auth, &app]);
    let service = Service {
        issuer: auth_key,
        user_signer: Some(KeyPair::from_seed(&app.key.seed().unwrap()).unwrap()),
        xkey: XKey::new(),
        seen_tls: Default::default(),
    };
    let present = move |name: &str, password: &str| {
        async_nats::ConnectOptions::with_credentials(&sentinel)
            .unwrap()
            .name(format!("{name}:{password}"))
            .connection_timeout(WAIT)
    };
    let as_service = || async_nats::ConnectOptions::with_credentials(&service_creds).unwrap();
    let server = natsd_testkit::start(natsd_testkit::options_from_config(&config))
        .await
        .unwrap();
    let url = server.client_url();
    let _service = service.again().run_as(&url, as_service(), false).await;
    assert_eq!(outcomes(&url, &present).await, expected());
    if let Some(process) = natsd_testkit::process::start_reference("callout-jwt", &config).unwrap()
    {
        let url = format!("nats://{}", process.addr);
        let _service = service.run_as(&url, as_service(), false).await;
        assert_eq!(outcomes(&url, &present).await, expected());
    }
}

/// Over TLS with verified client certificates, a request describes the client's session:
/// the TLS version, the cipher suite by its IANA name, and the chain that verified the
/// client's certificate, ending in the CA, in PEM. Checked against the reference when it
/// is at hand (the cipher each server picks is its own choice).
#[tokio::test]
async fn requests_describe_the_clients_tls_session() {
    let dir = std::env::temp_dir().join(format!("natsd-callout-tls-{}", std::process::id()));
    let certs = natsd_testkit::certs::TestCerts::generate(&dir).unwrap();
    let service = Service::new();
    let tls = format!(
        "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", verify: true }}\n",
        certs.server_cert.display(),
        certs.server_key.display(),
        certs.ca.display()
    );
    let config = format!("{tls}{}", service.config(false, ""));
    let connect = |user: &str, password: &str| {
        async_nats::ConnectOptions::with_user_and_password(user.into(), password.into())
            .add_root_certificates(certs.ca.clone())
            .add_client_certificate(certs.client_cert.clone(), certs.client_key.clone())
            .require_tls(true)
    };
    let session = async |url: String, service: Service| -> serde_json::Value {
        let seen = std::sync::Arc::clone(&service.seen_tls);
        let _service = service.run_as(&url, connect("auth", "pw"), false).await;
        let bob = connect("bob", "bob-pw").connect(url).await.unwrap();
        super::round_trip(&bob, "app.tls", "tls").await;
        let seen = seen.lock().unwrap();
        seen.last().cloned().unwrap()
    };
    let server = natsd_testkit::start(natsd_testkit::options_from_config(&config))
        .await
        .unwrap();
    let ours = session(server.client_url(), service.again()).await;
    assert_eq!(ours["version"], "1.3", "{ours}");
    assert!(
        ours["cipher"].as_str().unwrap().starts_with("TLS_"),
        "{ours}"
    );
    assert!(ours.get("certs").is_none(), "{ours}");
    let chain = ours["verified_chains"][0].as_array().unwrap();
    let pem = |path: &std::path::Path| std::fs::read_to_string(path).unwrap();
    assert_eq!(chain.len(), 2, "{ours}");
    assert_eq!(
        chain[0].as_str().unwrap().trim(),
        pem(&certs.client_cert).trim()
    );
    assert_eq!(chain[1].as_str().unwrap().trim(), pem(&certs.ca).trim());
    if let Some(process) = natsd_testkit::process::start_reference("callout-tls", &config).unwrap()
    {
        let theirs = session(format!("tls://{}", process.addr), service.again()).await;
        let without_cipher = |v: &serde_json::Value| {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("cipher");
            v
        };
        assert_eq!(without_cipher(&ours), without_cipher(&theirs));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
