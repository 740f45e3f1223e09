//! The JWT checks a client's CONNECT can reach, on arbitrary input: shared by the `jwt`
//! fuzz target and the test that replays its corpus.
//!
//! The first byte picks what the rest is: a whole token (mostly refused at the signature),
//! or the `nats` claims of a user JWT that is then signed by the account, or by its scoped
//! signing key, so that claims parsing, templates, `src` and `times` are reached too.

use natsd_auth::jwt::{encode, ConnectionFacts, Trust};

/// Keys made from fixed bytes, so that every run checks the same trust chain.
const OPERATOR: (nkeys::KeyPairType, u8) = (nkeys::KeyPairType::Operator, 1);
const ACCOUNT: (nkeys::KeyPairType, u8) = (nkeys::KeyPairType::Account, 2);
const SCOPED: (nkeys::KeyPairType, u8) = (nkeys::KeyPairType::Account, 3);
const USER: (nkeys::KeyPairType, u8) = (nkeys::KeyPairType::User, 4);
const NOW: i64 = 1_800_000_000;

fn key((kind, byte): (nkeys::KeyPairType, u8)) -> Option<nkeys::KeyPair> {
    nkeys::KeyPair::new_from_raw(kind, [byte; 32]).ok()
}

fn trust() -> Option<Trust> {
    let (operator, account, scoped) = (key(OPERATOR)?, key(ACCOUNT)?, key(SCOPED)?);
    let operator_jwt = encode(
        &serde_json::json!({"iss": operator.public_key(), "sub": operator.public_key(),
            "iat": NOW, "nats": {"type": "operator", "version": 2}}),
        &operator,
    )
    .ok()?;
    let account_jwt = encode(
        &serde_json::json!({"iss": operator.public_key(), "sub": account.public_key(),
            "iat": NOW, "name": "acct", "nats": {"type": "account", "version": 2, "tags": ["zone:eu"],
            "signing_keys": [{"kind": "user_scope", "key": scoped.public_key(),
                "template": {"pub": {"allow": ["{{name()}}.{{tag(team)}}"],
                                     "deny": ["{{account-tag(zone)}}.x"]},
                             "sub": {"allow": ["{{subject()}}.>"]}}}]}}),
        &operator,
    )
    .ok()?;
    let mut trust = Trust::from_operators(&[operator_jwt], NOW).ok()?;
    trust.add_account(&account_jwt, NOW).ok()?;
    Some(trust)
}

/// Runs one input; it must come back with a decision, never a panic. Returns the decision
/// (admitted or not) when the input got that far.
pub fn check(data: &[u8]) -> Option<bool> {
    let (trust, (&mode, rest)) = (trust()?, data.split_first()?);
    let facts = ConnectionFacts {
        ip: "127.0.0.1".parse().ok(),
        connection_type: "STANDARD",
        now: NOW,
    };
    let text = std::str::from_utf8(rest).ok()?;
    let token = match mode % 3 {
        0 => text.to_owned(),
        signed => {
            let (account, scoped, user) = (key(ACCOUNT)?, key(SCOPED)?, key(USER)?);
            let mut nats = serde_json::from_str::<serde_json::Value>(text).ok()?;
            let signer = if signed == 1 { &account } else { &scoped };
            if let (2, Some(fields)) = (signed, nats.as_object_mut()) {
                fields.insert("issuer_account".into(), account.public_key().into());
            }
            let claims = serde_json::json!({"iss": signer.public_key(), "sub": user.public_key(),
                "iat": NOW, "name": "fuzz", "nats": nats});
            encode(&claims, signer).ok()?
        }
    };
    Some(trust.verify_user(&token, facts).is_ok())
}
