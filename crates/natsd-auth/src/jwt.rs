//! Decentralized authentication: operator, account and user JWTs (nats-io/jwt v2).
//!
//! A JWT is `base64url(header).base64url(claims).base64url(signature)`, signed with the
//! issuer's Ed25519 NKey. Trust runs operator -> account -> user: an account JWT must be
//! issued by a trusted operator (or one of its signing keys), a user JWT by its account (or
//! one of the account's signing keys, naming the account in `issuer_account`).

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

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
}

/// Claims every JWT carries.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims<T> {
    #[serde(default)]
    pub iat: i64,
    pub iss: String,
    pub sub: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default)]
    pub nbf: Option<i64>,
    pub nats: T,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OperatorNats {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub signing_keys: Vec<String>,
    #[serde(default)]
    pub system_account: Option<String>,
}

/// A signing key: a bare key, or a scoped one (whose template natsd does not apply yet).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SigningKey {
    Key(String),
    Scoped { key: String },
}

impl SigningKey {
    fn key(&self) -> &str {
        match self {
            SigningKey::Key(key) | SigningKey::Scoped { key } => key,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountNats {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub signing_keys: Vec<SigningKey>,
    /// User key -> revoked when issued at or before this time; `*` revokes everyone.
    #[serde(default)]
    pub revocations: HashMap<String, i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct JwtRule {
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    #[serde(default)]
    pub deny: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JwtResponses {
    #[serde(default)]
    pub max: usize,
    /// Nanoseconds.
    #[serde(default)]
    pub ttl: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserNats {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, rename = "pub")]
    pub publish: JwtRule,
    #[serde(default, rename = "sub")]
    pub subscribe: JwtRule,
    #[serde(default)]
    pub resp: Option<JwtResponses>,
    #[serde(default)]
    pub issuer_account: Option<String>,
    #[serde(default)]
    pub bearer_token: bool,
}

/// The current time in Unix seconds, as JWT claims count it.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Decodes a JWT and checks it is signed by its issuer; trust is the caller's question.
pub fn decode<T: serde::de::DeserializeOwned>(token: &str) -> Result<Claims<T>, JwtError> {
    let mut parts = token.trim().split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let decoded = URL_SAFE_NO_PAD
        .decode(claims)
        .map_err(|_| JwtError::Malformed)?;
    let claims: Claims<T> = serde_json::from_slice(&decoded).map_err(|_| JwtError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed)?;
    let issuer = nkeys::KeyPair::from_public_key(&claims.iss).map_err(|_| JwtError::Malformed)?;
    let signed = format!(
        "{header}.{}",
        token.trim().split('.').nth(1).unwrap_or_default()
    );
    issuer
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| JwtError::BadSignature)?;
    Ok(claims)
}

fn check_times<T>(claims: &Claims<T>, now: i64) -> Result<(), JwtError> {
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

/// The trusted operators and the account JWTs the resolver holds.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Operator identity keys and their signing keys.
    operator_keys: Vec<String>,
    /// Account public key -> its claims.
    accounts: HashMap<String, Claims<AccountNats>>,
    /// The system account named by the operator.
    pub system_account: Option<String>,
}

impl PartialEq for Trust {
    fn eq(&self, other: &Self) -> bool {
        self.operator_keys == other.operator_keys
            && self.system_account == other.system_account
            && self
                .accounts
                .keys()
                .collect::<std::collections::BTreeSet<_>>()
                == other.accounts.keys().collect()
    }
}

impl Eq for Trust {}

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

    /// Adds an account JWT (from `resolver_preload`); returns the account's public key.
    pub fn add_account(&mut self, token: &str, now: i64) -> Result<String, JwtError> {
        let claims: Claims<AccountNats> = decode(token)?;
        check_type(&claims.nats.kind, "account")?;
        check_times(&claims, now)?;
        if !self.operator_keys.contains(&claims.iss) {
            return Err(JwtError::UntrustedIssuer(claims.iss));
        }
        let key = claims.sub.clone();
        self.accounts.insert(key.clone(), claims);
        Ok(key)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &str> {
        self.accounts.keys().map(String::as_str)
    }

    /// Checks a user JWT; returns the user's key, account, permissions and expiry.
    pub fn verify_user(&self, token: &str, now: i64) -> Result<JwtUser, JwtError> {
        let claims: Claims<UserNats> = decode(token)?;
        check_type(&claims.nats.kind, "user")?;
        check_times(&claims, now)?;
        let account_key = claims
            .nats
            .issuer_account
            .clone()
            .unwrap_or_else(|| claims.iss.clone());
        let account = self
            .accounts
            .get(&account_key)
            .ok_or_else(|| JwtError::UnknownAccount(account_key.clone()))?;
        let issued_by_account = claims.iss == account.sub;
        let issued_by_signing_key = account
            .nats
            .signing_keys
            .iter()
            .any(|k| k.key() == claims.iss);
        if !issued_by_account && !issued_by_signing_key {
            return Err(JwtError::UntrustedIssuer(claims.iss));
        }
        let revocations = &account.nats.revocations;
        let revoked_at = revocations
            .get(&claims.sub)
            .or_else(|| revocations.get("*"))
            .copied();
        if revoked_at.is_some_and(|at| claims.iat <= at) {
            return Err(JwtError::Revoked(claims.sub));
        }
        Ok(JwtUser {
            permissions: user_permissions(&claims.nats),
            key: claims.sub,
            name: claims.name,
            account: account_key,
            expires: claims.exp.filter(|exp| *exp > 0),
            bearer: claims.nats.bearer_token,
        })
    }
}

/// A user admitted by its JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtUser {
    pub key: String,
    pub name: String,
    pub account: String,
    pub permissions: Option<Permissions>,
    /// Unix seconds.
    pub expires: Option<i64>,
    /// No nonce signature needed.
    pub bearer: bool,
}

fn user_permissions(nats: &UserNats) -> Option<Permissions> {
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
        publish: rule(&nats.publish),
        subscribe: rule(&nats.subscribe),
        allow_responses: nats.resp.as_ref().map(|resp| ResponsePermission {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_795_000_000;

    struct Chain {
        trust: Trust,
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
        let mut trust = Trust::from_operators(&[op], NOW).unwrap_or_default();
        assert_eq!(trust.add_account(&acc, NOW), Ok(account.public_key()));
        Chain {
            trust,
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
            .verify_user(&by_account, NOW)
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
            .verify_user(&by_signer, NOW)
            .unwrap_or_else(|e| panic!("{e}"));
        let permissions = verified.permissions.unwrap_or_default();
        assert!(permissions.can_publish(b"a.x") && !permissions.can_publish(b"c"));
        let stranger = nkeys::KeyPair::new_account();
        let forged = user_jwt(&stranger, &chain.account.public_key(), &user, json!({}));
        assert!(matches!(
            chain.trust.verify_user(&forged, NOW),
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
            chain.trust.verify_user(&token, NOW),
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
            fresh.trust.verify_user(&expiring, NOW).map(|u| u.expires),
            Ok(Some(NOW + 10))
        );
        assert_eq!(
            fresh.trust.verify_user(&expiring, NOW + 10),
            Err(JwtError::Expired)
        );
        let mut parts: Vec<&str> = expiring.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(br#"{"iss":"x"}"#);
        parts[1] = &other;
        assert!(fresh.trust.verify_user(&parts.join("."), NOW).is_err());
        assert_eq!(
            fresh.trust.verify_user("not.a.jwt", NOW).err(),
            Some(JwtError::Malformed)
        );
    }
}
