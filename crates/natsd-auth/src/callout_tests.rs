use super::*;
use serde_json::json;

const NOW: i64 = 1_800_000_000;

struct World {
    issuer: nkeys::KeyPair,
    server: nkeys::KeyPair,
    user: nkeys::KeyPair,
    callout: AuthCallout,
}

fn world() -> World {
    let issuer = nkeys::KeyPair::new_account();
    World {
        callout: AuthCallout {
            issuer: issuer.public_key(),
            account: "AUTH".into(),
            auth_users: vec!["auth".into()],
            xkey: None,
            allowed_accounts: vec![],
        },
        issuer,
        server: nkeys::KeyPair::new_server(),
        user: nkeys::KeyPair::new_user(),
    }
}

impl World {
    fn expect(&self) -> Expectation<'_> {
        Expectation {
            callout: &self.callout,
            user_nkey: "",
            server_id: "",
            now: NOW,
            connection_type: "STANDARD",
        }
    }

    fn user_jwt(&self, signer: &nkeys::KeyPair, extra: serde_json::Value) -> String {
        let mut claims = json!({
            "jti": "J", "iat": NOW, "iss": signer.public_key(), "sub": self.user.public_key(),
            "aud": "APP", "name": "alice",
            "nats": {"type": "user", "version": 2, "pub": {"allow": ["app.>"]}, "sub": {},
                     "subs": -1, "data": -1, "payload": -1},
        });
        merge(&mut claims, extra);
        jwt::encode(&claims, signer).unwrap()
    }

    fn response(&self, nats: serde_json::Value, extra: serde_json::Value) -> String {
        let mut claims = json!({
            "jti": "R", "iat": NOW, "iss": self.issuer.public_key(),
            "sub": self.user.public_key(), "aud": self.server.public_key(),
            "nats": nats,
        });
        merge(&mut claims, extra);
        if let Some(fields) = claims["nats"].as_object_mut() {
            fields.insert("type".into(), "authorization_response".into());
            fields.insert("version".into(), 2.into());
        }
        jwt::encode(&claims, &self.issuer).unwrap()
    }

    fn judge(&self, body: &str) -> Result<Grant, CalloutError> {
        let user = self.user.public_key();
        let server = self.server.public_key();
        let expect = Expectation {
            user_nkey: &user,
            server_id: &server,
            ..self.expect()
        };
        judge_response(body.as_bytes(), &expect, None)
    }
}

fn merge(into: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

#[test]
fn auth_users_bypass_and_allowed_accounts_narrow_the_callout() {
    let mut callout = world().callout;
    assert!(!callout.covers("auth", None));
    assert!(callout.covers("bob", None));
    assert!(callout.covers("bob", Some("APP")));
    callout.allowed_accounts = vec!["APP".into()];
    assert!(callout.covers("bob", Some("APP")));
    assert!(!callout.covers("bob", Some("OTHER")));
    assert!(callout.covers("", None));
}

#[test]
fn the_presented_user_is_the_nkey_then_the_name_then_the_jwt_then_a_redacted_token() {
    let creds =
        |nkey: Option<&str>, user: Option<&str>, jwt: Option<String>, token: Option<&str>| {
            Credentials {
                nkey: nkey.map(Into::into),
                user: user.map(Into::into),
                jwt,
                token: token.map(Into::into),
                ..Credentials::default()
            }
        };
    let w = world();
    let user_jwt = w.user_jwt(&w.issuer, json!({}));
    assert_eq!(
        presented_user(&creds(Some("UK"), Some("bob"), None, None), jwt_subject),
        "UK"
    );
    assert_eq!(
        presented_user(&creds(None, Some("bob"), None, Some("t")), jwt_subject),
        "bob"
    );
    assert_eq!(
        presented_user(&creds(None, None, Some(user_jwt), Some("t")), jwt_subject),
        w.user.public_key()
    );
    assert_eq!(
        presented_user(&creds(None, Some(""), None, Some("t")), jwt_subject),
        "[REDACTED]"
    );
    assert_eq!(presented_user(&Credentials::default(), jwt_subject), "");
}

#[test]
fn a_request_is_signed_by_the_server_for_the_issuer() {
    let w = world();
    let request = AuthorizationRequest {
        user_nkey: w.user.public_key(),
        connect_opts: ConnectOptions {
            username: "bob".into(),
            password: "pw".into(),
            protocol: 1,
            ..ConnectOptions::default()
        },
        ..AuthorizationRequest::default()
    };
    let token = encode_request(&request, &w.callout.issuer, &w.server, NOW, NOW + 2).unwrap();
    let claims: Claims<serde_json::Value> = jwt::decode(&token).unwrap();
    assert_eq!(claims.iss, w.server.public_key());
    assert_eq!(claims.sub, w.callout.issuer);
    assert_eq!(claims.aud.as_deref(), Some(REQUEST_AUDIENCE));
    assert_eq!(claims.exp, Some(NOW + 2));
    assert_eq!(claims.nats["type"], "authorization_request");
    assert_eq!(claims.nats["version"], 2);
    assert_eq!(claims.nats["user_nkey"], w.user.public_key());
    assert_eq!(claims.nats["connect_opts"]["user"], "bob");
    assert_eq!(claims.nats["connect_opts"]["pass"], "pw");
    assert_eq!(claims.nats["connect_opts"]["protocol"], 1);
    assert!(claims.nats.get("client_tls").is_none());
}

#[test]
fn a_good_answer_places_the_user_in_its_audience_with_its_permissions() {
    let w = world();
    let user = w.user_jwt(&w.issuer, json!({"exp": NOW + 60}));
    let grant = w
        .judge(&w.response(json!({"jwt": user}), json!({})))
        .unwrap();
    assert_eq!(grant.account, "APP");
    assert_eq!(grant.user, "alice");
    assert_eq!(grant.expires, Some(NOW + 60));
    let permissions = grant.permissions.unwrap();
    assert!(permissions.publish.allow.is_some());
}

#[test]
fn answers_for_someone_else_or_from_someone_else_are_refused() {
    let w = world();
    let user = w.user_jwt(&w.issuer, json!({}));
    let stranger = nkeys::KeyPair::new_user().public_key();
    let other_server = nkeys::KeyPair::new_server().public_key();
    let cases = [
        (
            w.response(json!({"jwt": user}), json!({"sub": stranger})),
            CalloutError::NotForUser,
        ),
        (
            w.response(json!({"jwt": user}), json!({"aud": other_server})),
            CalloutError::NotForServer,
        ),
        (
            w.response(json!({"error": "nope"}), json!({})),
            CalloutError::Refused("nope".into()),
        ),
        (
            w.response(json!({}), json!({})),
            CalloutError::InvalidResponse("Error or Jwt is required"),
        ),
        (
            w.response(json!({"jwt": user, "error": "x"}), json!({})),
            CalloutError::InvalidResponse("Only Error or Jwt can be set"),
        ),
        (
            w.response(json!({"jwt": user}), json!({"aud": "AUTH"})),
            CalloutError::InvalidResponse("Audience must be a server public key"),
        ),
    ];
    for (body, wanted) in cases {
        assert_eq!(w.judge(&body), Err(wanted));
    }
    let rogue = nkeys::KeyPair::new_account();
    let by_rogue = w.user_jwt(&rogue, json!({}));
    assert!(matches!(
        w.judge(&w.response(json!({"jwt": by_rogue}), json!({}))),
        Err(CalloutError::WrongIssuer { .. })
    ));
    let with_issuer_account = w.user_jwt(&w.issuer, json!({}));
    let claims: Claims<serde_json::Value> = jwt::decode(&with_issuer_account).unwrap();
    let mut nats = claims.nats.clone();
    nats["issuer_account"] = json!(rogue.public_key());
    let relabelled = w.user_jwt(&w.issuer, json!({ "nats": nats }));
    assert_eq!(
        w.judge(&w.response(json!({"jwt": relabelled}), json!({}))),
        Err(CalloutError::IssuerAccount("AUTH".into()))
    );
    assert_eq!(w.judge(""), Err(CalloutError::NoReason("AUTH".into())));
    assert!(matches!(w.judge("eyJnot-a-jwt"), Err(CalloutError::Jwt(_))));
}

#[test]
fn a_user_for_another_nkey_or_expired_is_refused() {
    let w = world();
    let other = nkeys::KeyPair::new_user().public_key();
    let user = w.user_jwt(&w.issuer, json!({"sub": other}));
    assert!(matches!(
        w.judge(&w.response(json!({"jwt": user}), json!({}))),
        Err(CalloutError::WrongUser { .. })
    ));
    let expired = w.user_jwt(&w.issuer, json!({"exp": NOW - 1}));
    assert_eq!(
        w.judge(&w.response(json!({"jwt": expired}), json!({}))),
        Err(CalloutError::InvalidUser(JwtError::Expired))
    );
    let forged = jwt::forged(&w.user_jwt(&w.issuer, json!({})));
    assert_eq!(
        w.judge(&w.response(json!({"jwt": forged}), json!({}))),
        Err(CalloutError::InvalidUser(JwtError::BadSignature))
    );
}

#[test]
fn a_sealed_answer_is_opened_and_a_plain_one_passes() {
    let w = world();
    let user = w.user_jwt(&w.issuer, json!({}));
    let plain = w.response(json!({"jwt": user}), json!({}));
    let user_key = w.user.public_key();
    let server_key = w.server.public_key();
    let expect = Expectation {
        user_nkey: &user_key,
        server_id: &server_key,
        ..w.expect()
    };
    let sealed = format!("sealed:{plain}");
    let open = |body: &[u8]| -> Result<Vec<u8>, String> {
        body.strip_prefix(b"sealed:")
            .map(<[u8]>::to_vec)
            .ok_or_else(|| "not sealed".to_owned())
    };
    assert!(judge_response(sealed.as_bytes(), &expect, Some(&open)).is_ok());
    assert!(judge_response(plain.as_bytes(), &expect, Some(&open)).is_ok());
    assert_eq!(
        judge_response(b"garbage", &expect, Some(&open)),
        Err(CalloutError::Decrypt("AUTH".into(), "not sealed".into()))
    );
}

/// An operator trusting the callout account AUTH (with a signing key, and APP allowed)
/// and the accounts APP and OTHER.
struct Operated {
    trust: Trust,
    auth: nkeys::KeyPair,
    auth_signer: nkeys::KeyPair,
    app: nkeys::KeyPair,
    other: nkeys::KeyPair,
}

fn operated() -> Operated {
    let operator = nkeys::KeyPair::new_operator();
    let account = |key: &nkeys::KeyPair, nats: serde_json::Value| {
        let mut claims = json!({"jti": "A", "iat": NOW, "iss": operator.public_key(),
            "sub": key.public_key(), "nats": {"type": "account", "version": 2,
            "limits": {"subs": -1, "conn": -1, "payload": -1, "imports": -1, "exports": -1,
                       "wildcards": true}}});
        merge(&mut claims["nats"], nats);
        jwt::encode(&claims, &operator).unwrap()
    };
    let op = json!({"jti": "O", "iat": NOW, "iss": operator.public_key(),
        "sub": operator.public_key(), "nats": {"type": "operator", "version": 2}});
    let mut trust = Trust::from_operators(&[jwt::encode(&op, &operator).unwrap()], NOW).unwrap();
    let (auth, auth_signer) = (nkeys::KeyPair::new_account(), nkeys::KeyPair::new_account());
    let (app, other) = (nkeys::KeyPair::new_account(), nkeys::KeyPair::new_account());
    let external = json!({"signing_keys": [auth_signer.public_key()],
        "authorization": {"auth_users": ["UX"], "allowed_accounts": [app.public_key()]}});
    trust.add_account(&account(&auth, external), NOW).unwrap();
    trust.add_account(&account(&app, json!({})), NOW).unwrap();
    trust.add_account(&account(&other, json!({})), NOW).unwrap();
    Operated {
        trust,
        auth,
        auth_signer,
        app,
        other,
    }
}

#[test]
fn in_operator_mode_answers_come_from_the_account_and_users_from_allowed_accounts() {
    let o = operated();
    let callout = of_account(&o.auth.public_key(), &o.trust).unwrap();
    assert_eq!(callout.auth_users, ["UX"]);
    let (user, server) = (nkeys::KeyPair::new_user(), nkeys::KeyPair::new_server());
    let (user_key, server_key) = (user.public_key(), server.public_key());
    let expect = Expectation {
        callout: &callout,
        user_nkey: &user_key,
        server_id: &server_key,
        now: NOW,
        connection_type: "STANDARD",
    };
    let facts = jwt::ConnectionFacts {
        ip: None,
        connection_type: "STANDARD",
        now: NOW,
    };
    let user_of = |account: &nkeys::KeyPair| {
        let claims = json!({"jti": "U", "iat": NOW, "iss": account.public_key(),
            "sub": user_key, "name": "bob", "nats": {"type": "user", "version": 2,
            "subs": -1, "data": -1, "payload": -1}});
        jwt::encode(&claims, account).unwrap()
    };
    let answer = |signer: &nkeys::KeyPair, user_jwt: String| {
        let claims = json!({"jti": "R", "iat": NOW, "iss": signer.public_key(),
            "sub": user_key, "aud": server_key,
            "nats": {"type": "authorization_response", "version": 2, "jwt": user_jwt}});
        jwt::encode(&claims, signer).unwrap()
    };
    let judge =
        |body: String| judge_operator_response(body.as_bytes(), &expect, None, &o.trust, facts);
    let placed = judge(answer(&o.auth, user_of(&o.app))).unwrap();
    assert_eq!(
        (placed.account, placed.user),
        (o.app.public_key(), "bob".to_owned())
    );
    let own = judge(answer(&o.auth_signer, user_of(&o.auth))).unwrap();
    assert_eq!(own.account, o.auth.public_key());
    assert_eq!(
        judge(answer(&o.app, user_of(&o.app))),
        Err(CalloutError::UnknownSigningKey)
    );
    assert_eq!(
        judge(answer(&o.auth, user_of(&o.other))),
        Err(CalloutError::AccountNotAllowed {
            issuer: o.other.public_key(),
            account: o.auth.public_key(),
        })
    );
    assert!(of_account(&o.app.public_key(), &o.trust).is_none());
}
