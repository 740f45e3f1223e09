//! Decentralized authentication: operator, account and user JWTs (nats-io/jwt v2).
//!
//! A JWT is `base64url(header).base64url(claims).base64url(signature)`, signed with the
//! issuer's Ed25519 NKey. Trust runs operator -> account -> user: an account JWT must be
//! issued by a trusted operator (or one of its signing keys), a user JWT by its account (or
//! one of the account's signing keys, naming the account in `issuer_account`).
//!
//! JWTs in the original (v1) format, which older `nsc` versions made and many deployments
//! still carry, are read too: their `type` (and `tags`, `issuer_account`) stand beside the
//! `nats` claims rather than in them, and their signature covers the claims alone.

mod activation;
mod claims;
mod user;

pub(crate) use user::{connect_window, connection_type_allowed};

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use serde::Deserialize;

pub use activation::verify_activation;
pub use claims::*;
pub use user::CONNECTION_TYPES;

use crate::permissions::{Entry, Permissions, ResponsePermission, SubjectRule};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed JWT")]
    Malformed,
    #[error("JWT signature does not verify")]
    BadSignature,
    #[error("JWT is a {found} JWT, not a {wanted} JWT")]
    WrongType { wanted: &'static str, found: String },
    #[error("JWT issuer {0} is not trusted")]
    UntrustedIssuer(String),
    #[error("JWT has expired")]
    Expired,
    #[error("JWT is not valid yet")]
    NotYetValid,
    #[error("user {0} has been revoked")]
    Revoked(String),
    #[error("unknown account {0}")]
    UnknownAccount(String),
    #[error("account {0} has expired")]
    AccountExpired(String),
    #[error("account does not allow bearer tokens")]
    BearerNotAllowed,
    #[error("connection type {0} not allowed")]
    ConnectionTypeNotAllowed(String),
    #[error("proxy connection required")]
    ProxyRequired,
    #[error("client address not allowed by the user's src")]
    SourceNotAllowed,
    #[error("outside connect times")]
    OutsideConnectTimes,
    #[error("times_location {0:?} is not supported (natsd reads connect times in UTC)")]
    UnsupportedLocation(String),
    #[error("scoped users require no permissions or limits set")]
    ScopedUserHasPermissions,
    #[error("permission template: {0}")]
    BadTemplate(String),
    #[error("activation: {0}")]
    BadActivation(&'static str),
    #[error("account JWT does not validate: {0}")]
    InvalidAccount(String),
}

/// Claims every JWT carries.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims<T> {
    #[serde(default)]
    pub jti: String,
    #[serde(default)]
    pub iat: i64,
    pub iss: String,
    pub sub: String,
    #[serde(default)]
    pub name: String,
    /// Whom the JWT is for: an auth callout's target account or server.
    #[serde(default)]
    pub aud: Option<String>,
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default)]
    pub nbf: Option<i64>,
    pub nats: T,
}

/// The current time in Unix seconds, as JWT claims count it.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Decodes a JWT and checks it is signed by its issuer; trust is the caller's question.
/// A v1 JWT comes back in the v2 shape.
pub fn decode<T: serde::de::DeserializeOwned>(token: &str) -> Result<Claims<T>, JwtError> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let decoded = URL_SAFE_NO_PAD
        .decode(claims)
        .map_err(|_| JwtError::Malformed)?;
    let mut value: serde_json::Value =
        serde_json::from_slice(&decoded).map_err(|_| JwtError::Malformed)?;
    let v1 = migrate_v1(&mut value)?;
    let parsed: Claims<T> = serde_json::from_value(value).map_err(|_| JwtError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    let issuer = nkeys::KeyPair::from_public_key(&parsed.iss).map_err(|_| JwtError::Malformed)?;
    // v1 signed the claims part; v2 signs the header and the claims.
    let signed = if v1 {
        claims
    } else {
        &token[..header.len() + 1 + claims.len()]
    };
    issuer
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| JwtError::BadSignature)?;
    Ok(parsed)
}

/// Moves a v1 JWT's claims into the v2 shape, as nats-io/jwt migrates them: the top-level
/// `type`, `tags` and `issuer_account` go into `nats` (where an activation's `type` named
/// the export's kind, now `kind`). Returns whether it was v1 (a JWT with a top-level
/// `type`). Limits that v2 dropped (a user's or an activation's `max`, an activation's
/// `payload`, `src` or `times`) make it malformed, as nats-io/jwt refuses them.
fn migrate_v1(claims: &mut serde_json::Value) -> Result<bool, JwtError> {
    let Some(fields) = claims.as_object_mut() else {
        return Err(JwtError::Malformed);
    };
    let kind = match fields.get("type") {
        Some(serde_json::Value::String(kind)) if !kind.is_empty() => kind.clone(),
        _ => return Ok(false),
    };
    let moved: Vec<(&str, serde_json::Value)> = ["type", "tags", "issuer_account"]
        .into_iter()
        .filter_map(|key| fields.remove(key).map(|value| (key, value)))
        .collect();
    let nats = fields
        .entry("nats")
        .or_insert_with(|| serde_json::json!({}));
    let Some(nats) = nats.as_object_mut() else {
        return Err(JwtError::Malformed);
    };
    let unlimited = |key: &str| nats.get(key).is_none_or(|v| v.as_i64() == Some(NO_LIMIT));
    let dropped_limits = match kind.as_str() {
        "user" => !unlimited("max"),
        "activation" => {
            !unlimited("max")
                || !unlimited("payload")
                || nats.get("src").is_some_and(|src| src != "")
                || nats
                    .get("times")
                    .is_some_and(|times| times.as_array().is_some_and(|t| !t.is_empty()))
        }
        _ => false,
    };
    if dropped_limits {
        return Err(JwtError::Malformed);
    }
    if kind == "activation" {
        if let Some(export_kind) = nats.remove("type") {
            nats.insert("kind".to_owned(), export_kind);
        }
    }
    for (key, value) in moved {
        nats.insert(key.to_owned(), value);
    }
    Ok(true)
}

/// A user JWT's own checks: its type and times.
pub(crate) fn check_user(claims: &Claims<UserNats>, now: i64) -> Result<(), JwtError> {
    check_type(&claims.nats.kind, "user")?;
    check_times(claims, now)
}

/// A fresh `jti`: 52 random base32 characters, the length of nats-io/jwt's claim hash.
pub(crate) fn new_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    (0..52)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

pub(crate) fn check_times<T>(claims: &Claims<T>, now: i64) -> Result<(), JwtError> {
    if claims.exp.is_some_and(|exp| exp > 0 && now >= exp) {
        return Err(JwtError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf > 0 && now < nbf) {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}

fn check_type(found: &str, wanted: &'static str) -> Result<(), JwtError> {
    if found != wanted {
        return Err(JwtError::WrongType {
            wanted,
            found: found.to_owned(),
        });
    }
    Ok(())
}

/// An account JWT the server holds, with the token it came as.
#[derive(Debug, Clone)]
pub struct AccountEntry {
    pub claims: Arc<Claims<AccountNats>>,
    pub token: Arc<str>,
    /// Why the claims do not validate, when they do not: the account is held (as
    /// nats-server holds it) but admits no user.
    pub problem: Option<String>,
}

impl AccountEntry {
    /// Whether the account's users go to an auth callout service.
    fn calls_out(&self) -> bool {
        !self.claims.nats.authorization.auth_users.is_empty()
    }
}

/// The trusted operators and the account JWTs the resolver holds.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Operator identity keys and their signing keys.
    operator_keys: Vec<String>,
    /// Account public key -> its JWT.
    accounts: HashMap<String, AccountEntry>,
    /// How many of the accounts delegate their users to an auth callout service.
    callout_accounts: usize,
    /// The system account named by the operator.
    pub system_account: Option<String>,
}

impl PartialEq for Trust {
    fn eq(&self, other: &Self) -> bool {
        self.operator_keys == other.operator_keys
            && self.system_account == other.system_account
            && self.accounts.len() == other.accounts.len()
            && self.accounts.iter().all(|(key, entry)| {
                other
                    .accounts
                    .get(key)
                    .is_some_and(|o| o.token == entry.token)
            })
    }
}

impl Eq for Trust {}

/// What the connection tells about a client, for the restrictions a user JWT carries.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionFacts<'a> {
    pub ip: Option<IpAddr>,
    /// `STANDARD`, `WEBSOCKET`, ... as nats-io/jwt names them.
    pub connection_type: &'a str,
    /// Unix seconds.
    pub now: i64,
}

impl Trust {
    /// Trust from operator JWTs; `now` is Unix seconds.
    pub fn from_operators(operators: &[String], now: i64) -> Result<Trust, JwtError> {
        let mut trust = Trust::default();
        for token in operators {
            let claims: Claims<OperatorNats> = decode(token)?;
            check_type(&claims.nats.kind, "operator")?;
            check_times(&claims, now)?;
            if claims.iss != claims.sub {
                return Err(JwtError::UntrustedIssuer(claims.iss));
            }
            trust.operator_keys.push(claims.sub.clone());
            trust.operator_keys.extend(claims.nats.signing_keys.clone());
            if trust.system_account.is_none() {
                trust.system_account.clone_from(&claims.nats.system_account);
            }
        }
        Ok(trust)
    }

    /// Checks an account JWT: well formed, current, and issued by a trusted operator.
    pub fn verify_account(&self, token: &str, now: i64) -> Result<AccountEntry, JwtError> {
        let claims: Claims<AccountNats> = decode(token)?;
        check_type(&claims.nats.kind, "account")?;
        check_times(&claims, now)?;
        if !self.operator_keys.contains(&claims.iss) {
            return Err(JwtError::UntrustedIssuer(claims.iss));
        }
        Ok(AccountEntry {
            problem: activation::validate_account(&claims).err(),
            claims: Arc::new(claims),
            token: Arc::from(token.trim()),
        })
    }

    /// Verifies and holds an account JWT; returns the account's public key.
    pub fn add_account(&mut self, token: &str, now: i64) -> Result<String, JwtError> {
        let entry = self.verify_account(token, now)?;
        let key = entry.claims.sub.clone();
        self.insert_account(entry);
        Ok(key)
    }

    /// Holds an account JWT already verified.
    pub fn insert_account(&mut self, entry: AccountEntry) {
        self.callout_accounts += usize::from(entry.calls_out());
        if let Some(old) = self.accounts.insert(entry.claims.sub.clone(), entry) {
            self.callout_accounts -= usize::from(old.calls_out());
        }
    }

    pub fn remove_account(&mut self, key: &str) -> Option<AccountEntry> {
        let removed = self.accounts.remove(key);
        if let Some(old) = &removed {
            self.callout_accounts -= usize::from(old.calls_out());
        }
        removed
    }

    /// Whether some account delegates its users to an auth callout service.
    pub fn has_callout_accounts(&self) -> bool {
        self.callout_accounts > 0
    }

    /// An operator's identity key or one of its signing keys.
    pub fn is_operator_key(&self, key: &str) -> bool {
        self.operator_keys.iter().any(|k| k == key)
    }

    pub fn account(&self, key: &str) -> Option<&AccountEntry> {
        self.accounts.get(key)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &AccountEntry> {
        self.accounts.values()
    }

    /// Checks a user JWT as nats-server does at connect; returns who the user is and what
    /// it may do. The nonce signature is the caller's to check, unless `bearer`.
    pub fn verify_user(
        &self,
        token: &str,
        facts: ConnectionFacts<'_>,
    ) -> Result<JwtUser, JwtError> {
        let claims: Claims<UserNats> = decode(token)?;
        check_user(&claims, facts.now)?;
        let account_key = claims
            .nats
            .issuer_account
            .clone()
            .unwrap_or_else(|| claims.iss.clone());
        let entry = self
            .accounts
            .get(&account_key)
            .ok_or_else(|| JwtError::UnknownAccount(account_key.clone()))?;
        if let Some(problem) = &entry.problem {
            return Err(JwtError::InvalidAccount(problem.clone()));
        }
        let account = &entry.claims;
        let scope = if claims.iss == account.sub {
            None
        } else {
            let signer = account
                .nats
                .signing_keys
                .iter()
                .find(|k| k.key() == claims.iss)
                .ok_or_else(|| JwtError::UntrustedIssuer(claims.iss.clone()))?;
            signer.template()
        };
        let granted = match scope {
            Some(template) => user::scoped(template, &claims, account)?,
            None => claims.nats.limits.clone(),
        };
        if check_times(account, facts.now).is_err() {
            return Err(JwtError::AccountExpired(account_key));
        }
        // natsd has no trusted proxies, so a user that must come through one cannot.
        if claims.nats.limits.limits.proxy_required || granted.limits.proxy_required {
            return Err(JwtError::ProxyRequired);
        }
        if granted.limits.bearer_token && account.nats.limits.disallow_bearer {
            return Err(JwtError::BearerNotAllowed);
        }
        if !user::connection_type_allowed(
            &granted.limits.allowed_connection_types,
            facts.connection_type,
        ) {
            return Err(JwtError::ConnectionTypeNotAllowed(
                facts.connection_type.to_owned(),
            ));
        }
        let revocations = &account.nats.revocations;
        let revoked_at = revocations
            .get(&claims.sub)
            .or_else(|| revocations.get("*"))
            .copied();
        if revoked_at.is_some_and(|at| claims.iat <= at) {
            return Err(JwtError::Revoked(claims.sub));
        }
        if !user::source_allowed(&granted.limits.src, facts.ip) {
            return Err(JwtError::SourceNotAllowed);
        }
        let window = user::connect_window(
            &granted.limits.times,
            &granted.limits.times_location,
            facts.now,
        )?;
        let expires = [
            claims.exp.filter(|exp| *exp > 0),
            window.map(|left| facts.now + left),
        ]
        .into_iter()
        .flatten()
        .min();
        let permissions = permissions_from(&granted.permissions).or_else(|| {
            account
                .nats
                .default_permissions
                .as_ref()
                .and_then(permissions_from)
        });
        Ok(JwtUser {
            permissions,
            key: claims.sub,
            account: account_key,
            expires,
            bearer: granted.limits.bearer_token,
            max_subscriptions: limit(granted.limits.subs),
            max_payload: limit(granted.limits.payload),
        })
    }
}

/// A JWT limit as the server counts it: `-1` is none.
pub fn limit(value: i64) -> Option<usize> {
    (value != NO_LIMIT).then(|| usize::try_from(value).unwrap_or(0))
}

/// A user admitted by its JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtUser {
    pub key: String,
    pub account: String,
    pub permissions: Option<Permissions>,
    /// Unix seconds: the JWT's expiry, or the end of its connect window if sooner.
    pub expires: Option<i64>,
    /// No nonce signature needed.
    pub bearer: bool,
    pub max_subscriptions: Option<usize>,
    pub max_payload: Option<usize>,
}

pub(crate) fn permissions_from(jwt: &JwtPermissions) -> Option<Permissions> {
    let rule = |rule: &JwtRule| SubjectRule {
        allow: rule
            .allow
            .as_ref()
            .map(|list| list.iter().map(|e| Entry::parse(e)).collect()),
        deny: rule
            .deny
            .as_ref()
            .map(|list| list.iter().map(|e| Entry::parse(e)).collect()),
    };
    let permissions = Permissions {
        publish: rule(&jwt.publish),
        subscribe: rule(&jwt.subscribe),
        allow_responses: jwt.resp.as_ref().map(|resp| ResponsePermission {
            max_msgs: resp.max,
            expires: std::time::Duration::from_nanos(resp.ttl),
        }),
    };
    let unrestricted = permissions.publish.is_empty()
        && permissions.subscribe.is_empty()
        && permissions.allow_responses.is_none();
    (!unrestricted).then_some(permissions)
}

/// Encodes and signs claims; for tools and tests that issue JWTs.
pub fn encode(claims: &serde_json::Value, issuer: &nkeys::KeyPair) -> Result<String, JwtError> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let signature = issuer
        .sign(signed.as_bytes())
        .map_err(|_| JwtError::Malformed)?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// `token` with its signature replaced by a stranger's signature of the same bytes: well
/// formed in every part, so only the signature check can refuse it.
#[cfg(test)]
pub(crate) fn forged(token: &str) -> String {
    let (signed, _) = token.rsplit_once('.').unwrap_or_default();
    let stranger = nkeys::KeyPair::new_account();
    let signature = stranger.sign(signed.as_bytes()).unwrap_or_default();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Encodes and signs claims in the original (v1) format: `"alg":"ed25519"`, and the
/// signature over the claims part alone (the claims' `type` stands beside `nats`, as the
/// caller writes them); for tests and tools that check old credentials.
pub fn encode_v1(claims: &serde_json::Value, issuer: &nkeys::KeyPair) -> Result<String, JwtError> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"jwt","alg":"ed25519"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signature = issuer
        .sign(body.as_bytes())
        .map_err(|_| JwtError::Malformed)?;
    Ok(format!(
        "{header}.{body}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_795_000_000;

    fn at(now: i64) -> ConnectionFacts<'static> {
        ConnectionFacts {
            ip: "127.0.0.1".parse().ok(),
            connection_type: "STANDARD",
            now,
        }
    }

    struct Chain {
        trust: Trust,
        operator_jwt: String,
        account_jwt: String,
        account: nkeys::KeyPair,
        signer: nkeys::KeyPair,
    }

    fn make_chain(revoke: Option<(&str, i64)>) -> Chain {
        let operator = nkeys::KeyPair::new_operator();
        let account = nkeys::KeyPair::new_account();
        let signer = nkeys::KeyPair::new_account();
        let op = encode(
            &json!({"iss": operator.public_key(), "sub": operator.public_key(), "iat": NOW,
                    "nats": {"type": "operator", "version": 2}}),
            &operator,
        )
        .unwrap_or_default();
        let mut revocations = serde_json::Map::new();
        if let Some((user, at)) = revoke {
            revocations.insert(user.to_owned(), json!(at));
        }
        let acc = encode(
            &json!({"iss": operator.public_key(), "sub": account.public_key(), "iat": NOW,
                    "nats": {"type": "account", "version": 2,
                             "signing_keys": [signer.public_key()], "revocations": revocations}}),
            &operator,
        )
        .unwrap_or_default();
        let mut trust = Trust::from_operators(std::slice::from_ref(&op), NOW).unwrap_or_default();
        assert_eq!(trust.add_account(&acc, NOW), Ok(account.public_key()));
        Chain {
            trust,
            operator_jwt: op,
            account_jwt: acc,
            account,
            signer,
        }
    }

    fn user_jwt(
        issuer: &nkeys::KeyPair,
        account: &str,
        user: &str,
        extra: serde_json::Value,
    ) -> String {
        let mut nats = json!({"type": "user", "version": 2, "issuer_account": account});
        if let (Some(nats), Some(extra)) = (nats.as_object_mut(), extra.as_object()) {
            nats.extend(extra.clone());
        }
        encode(
            &json!({"iss": issuer.public_key(), "sub": user, "iat": NOW, "name": "u", "nats": nats}),
            issuer,
        )
        .unwrap_or_default()
    }

    #[test]
    fn users_issued_by_the_account_or_its_signing_keys() {
        let chain = make_chain(None);
        let user = nkeys::KeyPair::new_user().public_key();
        let by_account = user_jwt(
            &chain.account,
            &chain.account.public_key(),
            &user,
            json!({}),
        );
        let verified = chain
            .trust
            .verify_user(&by_account, at(NOW))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(verified.account, chain.account.public_key());
        assert_eq!(verified.permissions, None);
        let by_signer = user_jwt(
            &chain.signer,
            &chain.account.public_key(),
            &user,
            json!({"pub": {"allow": ["a.>"]}, "sub": {"deny": ["b"]}}),
        );
        let verified = chain
            .trust
            .verify_user(&by_signer, at(NOW))
            .unwrap_or_else(|e| panic!("{e}"));
        let permissions = verified.permissions.unwrap_or_default();
        assert!(permissions.can_publish(b"a.x") && !permissions.can_publish(b"c"));
        let stranger = nkeys::KeyPair::new_account();
        let forged = user_jwt(&stranger, &chain.account.public_key(), &user, json!({}));
        assert!(matches!(
            chain.trust.verify_user(&forged, at(NOW)),
            Err(JwtError::UntrustedIssuer(_))
        ));
    }

    #[test]
    fn tampered_expired_and_revoked_users_are_refused() {
        let user = nkeys::KeyPair::new_user().public_key();
        let chain = make_chain(Some((&user, NOW)));
        let token = user_jwt(
            &chain.account,
            &chain.account.public_key(),
            &user,
            json!({}),
        );
        assert_eq!(
            chain.trust.verify_user(&token, at(NOW)),
            Err(JwtError::Revoked(user.clone()))
        );
        let fresh = make_chain(None);
        let expiring = encode(
            &json!({"iss": fresh.account.public_key(), "sub": user, "iat": NOW, "exp": NOW + 10,
                    "nats": {"type": "user", "version": 2}}),
            &fresh.account,
        )
        .unwrap_or_default();
        assert_eq!(
            fresh
                .trust
                .verify_user(&expiring, at(NOW))
                .map(|u| u.expires),
            Ok(Some(NOW + 10))
        );
        assert_eq!(
            fresh.trust.verify_user(&expiring, at(NOW + 10)),
            Err(JwtError::Expired)
        );
        let mut parts: Vec<&str> = expiring.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(br#"{"iss":"x"}"#);
        parts[1] = &other;
        assert!(fresh.trust.verify_user(&parts.join("."), at(NOW)).is_err());
        assert_eq!(
            fresh.trust.verify_user("not.a.jwt", at(NOW)).err(),
            Some(JwtError::Malformed)
        );
    }

    #[test]
    fn forged_signatures_are_refused_for_every_issuer() {
        let mut chain = make_chain(None);
        let user = nkeys::KeyPair::new_user().public_key();
        let account = chain.account.public_key();
        let by_account = user_jwt(&chain.account, &account, &user, json!({}));
        let by_signer = user_jwt(&chain.signer, &account, &user, json!({}));
        // The genuine ones pass, so each refusal below is the signature's.
        assert!(Trust::from_operators(std::slice::from_ref(&chain.operator_jwt), NOW).is_ok());
        assert!(chain.trust.verify_account(&chain.account_jwt, NOW).is_ok());
        assert!(chain.trust.verify_user(&by_account, at(NOW)).is_ok());
        assert!(chain.trust.verify_user(&by_signer, at(NOW)).is_ok());

        assert_eq!(
            Trust::from_operators(&[forged(&chain.operator_jwt)], NOW).err(),
            Some(JwtError::BadSignature)
        );
        assert_eq!(
            chain
                .trust
                .verify_account(&forged(&chain.account_jwt), NOW)
                .err(),
            Some(JwtError::BadSignature)
        );
        assert_eq!(
            chain.trust.add_account(&forged(&chain.account_jwt), NOW),
            Err(JwtError::BadSignature)
        );
        for token in [by_account, by_signer] {
            assert_eq!(
                chain.trust.verify_user(&forged(&token), at(NOW)).err(),
                Some(JwtError::BadSignature)
            );
        }
    }

    fn encode_v1(claims: &serde_json::Value, issuer: &nkeys::KeyPair) -> String {
        super::encode_v1(claims, issuer).unwrap_or_default()
    }

    #[test]
    fn original_format_jwts_are_read_in_the_v2_shape() {
        let operator = nkeys::KeyPair::new_operator();
        let account = nkeys::KeyPair::new_account();
        let user = nkeys::KeyPair::new_user().public_key();
        let op = encode_v1(
            &json!({"iss": operator.public_key(), "sub": operator.public_key(), "iat": NOW,
                    "type": "operator", "nats": {}}),
            &operator,
        );
        let acc = encode_v1(
            &json!({"iss": operator.public_key(), "sub": account.public_key(), "iat": NOW,
                    "type": "account", "tags": ["old"], "nats": {"limits": {"conn": -1}}}),
            &operator,
        );
        let mut trust = Trust::from_operators(std::slice::from_ref(&op), NOW).unwrap_or_default();
        assert_eq!(trust.add_account(&acc, NOW), Ok(account.public_key()));
        let old_user = |nats: serde_json::Value| {
            encode_v1(
                &json!({"iss": account.public_key(), "sub": user, "iat": NOW,
                        "type": "user", "nats": nats}),
                &account,
            )
        };
        let token = old_user(json!({"pub": {"allow": ["a.>"]}, "bearer_token": true}));
        let verified = trust.verify_user(&token, at(NOW));
        assert!(verified.is_ok(), "{verified:?}");
        assert_eq!(
            trust.verify_user(&forged(&token), at(NOW)).err(),
            Some(JwtError::BadSignature)
        );
        // v2 dropped the message limit `max`: a user limited by it is refused.
        assert_eq!(
            trust
                .verify_user(&old_user(json!({"max": 10})), at(NOW))
                .err(),
            Some(JwtError::Malformed)
        );
        assert!(trust
            .verify_user(&old_user(json!({"max": -1})), at(NOW))
            .is_ok());
        // A v1 signature over header and claims (the v2 way) does not verify as v1.
        let v2_signed = encode(
            &json!({"iss": account.public_key(), "sub": user, "iat": NOW,
                    "type": "user", "nats": {}}),
            &account,
        )
        .unwrap_or_default();
        assert_eq!(
            trust.verify_user(&v2_signed, at(NOW)).err(),
            Some(JwtError::BadSignature)
        );
    }

    #[test]
    fn original_format_activations_name_their_kind_in_type() {
        let exporter = nkeys::KeyPair::new_account();
        let token = encode_v1(
            &json!({"iss": exporter.public_key(), "sub": "AIMPORTER", "iat": NOW,
                    "type": "activation", "nats": {"subject": "s.>", "type": "stream"}}),
            &exporter,
        );
        let claims: Claims<ActivationNats> = match decode(&token) {
            Ok(claims) => claims,
            Err(error) => panic!("{error}"),
        };
        assert_eq!(claims.nats.kind, Some(ShareType::Stream));
        assert_eq!(claims.nats.subject, "s.>");
        let limited = encode_v1(
            &json!({"iss": exporter.public_key(), "sub": "AIMPORTER", "iat": NOW,
                    "type": "activation", "nats": {"subject": "s.>", "type": "stream",
                                                   "src": "10.0.0.0/8"}}),
            &exporter,
        );
        assert_eq!(
            decode::<ActivationNats>(&limited).err(),
            Some(JwtError::Malformed)
        );
    }
}
