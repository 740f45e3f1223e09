//! Auth callout (nats-server 2.10, ADR-26): a service, itself a client of the server,
//! decides who the other clients are.
//!
//! For a client the callout covers, the server makes up a user NKey, signs an
//! authorization request JWT (the client's CONNECT, address and TLS) with its own server
//! key, and publishes it on [`CALLOUT_SUBJECT`] in the callout account, sealed with the
//! service's xkey when one is configured. The service answers with an authorization
//! response JWT holding either a user JWT for that NKey, issued by the configured issuer
//! with the target account in its `aud`, or an error. This module builds the request and
//! judges the answer; the server carries them.

use serde::{Deserialize, Serialize};

use crate::jwt::{self, Claims, JwtError, Trust, UserNats};
use crate::{nkey, Credentials, Permissions};

/// Where the server sends authorization requests, in the callout account.
pub const CALLOUT_SUBJECT: &str = "$SYS.REQ.USER.AUTH";
/// The `aud` of every authorization request.
pub const REQUEST_AUDIENCE: &str = "nats-authorization-request";
/// The header that carries the server's xkey with a sealed request.
pub const XKEY_HEADER: &str = "Nats-Server-Xkey";
/// The user that stands for a token in a request, as nats-server redacts it.
const REDACTED: &str = "[REDACTED]";

/// `authorization { auth_callout { ... } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCallout {
    /// The account NKey that signs the users the service hands out.
    pub issuer: String,
    /// The account the service runs in and the requests are published to.
    pub account: String,
    /// Users the server authenticates itself (the service's own among them).
    pub auth_users: Vec<String>,
    /// The service's curve key: requests are sealed for it and answers may come sealed.
    pub xkey: Option<String>,
    /// Accounts whose configured users also go through the service; all when empty.
    pub allowed_accounts: Vec<String>,
}

impl AuthCallout {
    /// Whether the service decides on a client that presented `user` (see
    /// [`presented_user`]) and that the configured users would place in `account`
    /// (`None` for the global account, or when they refused it).
    pub fn covers(&self, user: &str, account: Option<&str>) -> bool {
        if self.auth_users.iter().any(|u| u == user) {
            return false;
        }
        match account {
            None => true,
            Some(account) => {
                self.allowed_accounts.is_empty()
                    || self.allowed_accounts.iter().any(|a| a == account)
            }
        }
    }
}

/// A client the auth callout service decides on, and who the client says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covered {
    pub callout: AuthCallout,
    /// See [`presented_user`].
    pub presented: String,
}

/// Who a client says it is, as nats-server names it to auth callout: its NKey, else its
/// user name, else its user JWT's subject (`jwt_subject` reads it, when it comes to
/// that), else a redacted token.
pub fn presented_user(
    creds: &Credentials,
    jwt_subject: impl FnOnce(&str) -> Option<String>,
) -> String {
    fn given(s: &Option<String>) -> Option<&str> {
        s.as_deref().filter(|s| !s.is_empty())
    }
    if let Some(named) = given(&creds.nkey).or(given(&creds.user)) {
        return named.to_owned();
    }
    if let Some(token) = given(&creds.jwt) {
        return jwt_subject(token).unwrap_or_default();
    }
    given(&creds.token)
        .map(|_| REDACTED.to_owned())
        .unwrap_or_default()
}

/// The server, as a request names it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerIdentity {
    pub name: String,
    pub host: String,
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Set when the request is sealed: the key the answer may be sealed for.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub xkey: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The connecting client, as a request names it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientInformation {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub id: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub client_type: String,
    /// The nonce the client signed, when it signed one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
}

/// What the client sent in CONNECT, as a request passes it on.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectOptions {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jwt: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nkey: String,
    #[serde(rename = "sig", skip_serializing_if = "String::is_empty")]
    pub signed_nonce: String,
    #[serde(rename = "auth_token", skip_serializing_if = "String::is_empty")]
    pub token: String,
    #[serde(rename = "user", skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(rename = "pass", skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    pub protocol: i64,
}

/// The client's TLS session, when it has one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientTls {
    /// `1.2` or `1.3`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The cipher suite by its IANA name, as Go names it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cipher: String,
    /// PEM certificates the client presented, when they were not verified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certs: Vec<String>,
    /// When they were: the chain that verified them, the client's certificate first and
    /// the trusted root last, in PEM.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verified_chains: Vec<Vec<String>>,
}

/// A DER certificate in PEM, as Go's `pem.EncodeToMemory` writes it.
pub fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// The `nats` claims of an authorization request.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuthorizationRequest {
    pub server_id: ServerIdentity,
    /// The NKey the answer's user JWT must be for.
    pub user_nkey: String,
    pub client_info: ClientInformation,
    pub connect_opts: ConnectOptions,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_tls: Option<ClientTls>,
}

/// Signs a request with the server's key; `subject` is the callout's issuer, and the
/// request is void after `expires` (Unix seconds).
pub fn encode_request(
    request: &AuthorizationRequest,
    subject: &str,
    server_key: &nkeys::KeyPair,
    now: i64,
    expires: i64,
) -> Result<String, JwtError> {
    let mut nats = serde_json::to_value(request).map_err(|_| JwtError::Malformed)?;
    if let Some(fields) = nats.as_object_mut() {
        fields.insert("type".into(), "authorization_request".into());
        fields.insert("version".into(), 2.into());
    }
    let claims = serde_json::json!({
        "jti": jwt::new_id(),
        "iat": now,
        "iss": server_key.public_key(),
        "sub": subject,
        "aud": REQUEST_AUDIENCE,
        "exp": expires,
        "nats": nats,
    });
    jwt::encode(&claims, server_key)
}

#[derive(Debug, Clone, Deserialize)]
struct ResponseNats {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    jwt: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    issuer_account: String,
}

/// Why a service's answer admits nobody; the texts are nats-server's, which it logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalloutError {
    #[error("Auth callout violation: \"no reason supplied\" on account {0:?}")]
    NoReason(String),
    #[error("Error decrypting auth callout response on account {0:?}: {1}")]
    Decrypt(String, String),
    #[error("{0}")]
    Jwt(#[from] JwtError),
    #[error("Authorization response had validation errors: {0}")]
    InvalidResponse(&'static str),
    #[error("Auth callout violation: auth callout response is not for expected user")]
    NotForUser,
    #[error("Auth callout violation: auth callout response is not for server")]
    NotForServer,
    #[error("Auth callout service returned an error: {0}")]
    Refused(String),
    #[error("Error validating user JWT: {0}")]
    InvalidUser(JwtError),
    #[error("Expected authorized user of {expected:?} but got {got:?} on account {account:?}")]
    WrongUser {
        expected: String,
        got: String,
        account: String,
    },
    #[error("Authorized user on account {0:?} outside of valid connect times")]
    OutsideConnectTimes(String),
    #[error("Authorized user on account {0:?} using invalid connection type")]
    ConnectionType(String),
    #[error("Auth callout signing key is unknown")]
    UnknownSigningKey,
    #[error("Account {issuer:?} not permitted as valid account option for auth callout for account {account:?}")]
    AccountNotAllowed { issuer: String, account: String },
    #[error("Error non operator mode account {0:?}: attempted to use issuer_account")]
    IssuerAccount(String),
    #[error("Wrong issuer for auth callout response on account {account:?}, expected {expected:?} got {got:?}")]
    WrongIssuer {
        account: String,
        expected: String,
        got: String,
    },
}

/// What the server expects of an answer to one request.
#[derive(Debug, Clone)]
pub struct Expectation<'a> {
    pub callout: &'a AuthCallout,
    /// The user NKey the request named.
    pub user_nkey: &'a str,
    pub server_id: &'a str,
    pub now: i64,
    /// How the client connected, for the user's `allowed_connection_types`.
    pub connection_type: &'a str,
}

/// A user the service admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The account the user goes into (the user JWT's `aud`).
    pub account: String,
    /// The name the client is known by: the user JWT's `name`, else its NKey.
    pub user: String,
    /// `None`: the account's defaults apply.
    pub permissions: Option<Permissions>,
    /// Unix seconds: the user JWT's expiry, or the end of its connect window if sooner.
    pub expires: Option<i64>,
}

/// Unseals an answer sealed for the server's xkey, or says why it cannot.
pub type Opener<'a> = &'a dyn Fn(&[u8]) -> Result<Vec<u8>, String>;

/// A service's answer that is for this server and this client, and not a refusal.
struct Answer {
    user_jwt: String,
    /// Who signed the answer: its `issuer_account`, else its issuer.
    signer: String,
    sealed: bool,
}

/// Opens and checks a service's answer (the message body, sealed or not) up to the user
/// JWT it carries. `opener` unseals an answer that is not a plain JWT.
fn read_answer(
    body: &[u8],
    expect: &Expectation<'_>,
    opener: Option<Opener<'_>>,
) -> Result<Answer, CalloutError> {
    let account = &expect.callout.account;
    if body.is_empty() {
        return Err(CalloutError::NoReason(account.clone()));
    }
    let opened;
    let (body, sealed) = match opener {
        Some(open) if !body.starts_with(b"eyJ") => {
            opened = open(body).map_err(|e| CalloutError::Decrypt(account.clone(), e))?;
            (&opened[..], true)
        }
        _ => (body, false),
    };
    let token = std::str::from_utf8(body).map_err(|_| JwtError::Malformed)?;
    let response: Claims<ResponseNats> = jwt::decode(token)?;
    if response.nats.kind != "authorization_response" {
        return Err(JwtError::WrongType {
            wanted: "authorization_response",
            found: response.nats.kind,
        }
        .into());
    }
    check_response(&response)?;
    jwt::check_times(&response, expect.now)?;
    if response.sub != expect.user_nkey {
        return Err(CalloutError::NotForUser);
    }
    if response.aud.as_deref() != Some(expect.server_id) {
        return Err(CalloutError::NotForServer);
    }
    if !response.nats.error.is_empty() {
        return Err(CalloutError::Refused(response.nats.error));
    }
    let signer = if response.nats.issuer_account.is_empty() {
        response.iss
    } else {
        response.nats.issuer_account
    };
    Ok(Answer {
        user_jwt: response.nats.jwt,
        signer,
        sealed,
    })
}

/// The user JWT an answer carries, checked to be for the expected user.
fn answered_user(
    answer: &Answer,
    expect: &Expectation<'_>,
) -> Result<Claims<UserNats>, CalloutError> {
    let user: Claims<UserNats> =
        jwt::decode(&answer.user_jwt).map_err(CalloutError::InvalidUser)?;
    jwt::check_user(&user, expect.now).map_err(CalloutError::InvalidUser)?;
    if user.sub != expect.user_nkey {
        return Err(CalloutError::WrongUser {
            expected: expect.user_nkey.to_owned(),
            got: user.sub,
            account: expect.callout.account.clone(),
        });
    }
    Ok(user)
}

/// The name a callout user is known by: its JWT's `name`, else its NKey.
fn known_as(user: &Claims<UserNats>) -> String {
    if user.name.is_empty() {
        user.sub.clone()
    } else {
        user.name.clone()
    }
}

/// Judges a service's answer in the config form, as nats-server does: the user JWT must
/// come from the configured issuer and names its account in `aud`.
pub fn judge_response(
    body: &[u8],
    expect: &Expectation<'_>,
    opener: Option<Opener<'_>>,
) -> Result<Grant, CalloutError> {
    let answer = read_answer(body, expect, opener)?;
    let user = answered_user(&answer, expect)?;
    let account = &expect.callout.account;
    let limits = &user.nats.limits.limits;
    let window = jwt::connect_window(&limits.times, &limits.times_location, expect.now)
        .map_err(|_| CalloutError::OutsideConnectTimes(account.clone()))?;
    if !jwt::connection_type_allowed(&limits.allowed_connection_types, expect.connection_type) {
        return Err(CalloutError::ConnectionType(account.clone()));
    }
    if user
        .nats
        .issuer_account
        .as_deref()
        .is_some_and(|a| !a.is_empty())
    {
        return Err(CalloutError::IssuerAccount(account.clone()));
    }
    if user.iss != expect.callout.issuer {
        return Err(CalloutError::WrongIssuer {
            account: account.clone(),
            expected: expect.callout.issuer.clone(),
            got: user.iss,
        });
    }
    let expires = [
        user.exp.filter(|exp| *exp > 0),
        window.map(|left| expect.now + left),
    ]
    .into_iter()
    .flatten()
    .min();
    Ok(Grant {
        account: user.aud.clone().unwrap_or_default(),
        user: known_as(&user),
        permissions: jwt::permissions_from(&user.nats.limits.permissions),
        expires,
    })
}

/// The subject of a user JWT whose signature verifies.
pub fn jwt_subject(token: &str) -> Option<String> {
    jwt::decode::<serde_json::Value>(token)
        .ok()
        .map(|claims| claims.sub)
}

/// An account's auth callout in operator mode, from its JWT's `authorization`, when it
/// names `auth_users`.
pub fn of_account(account: &str, trust: &Trust) -> Option<AuthCallout> {
    let entry = trust.account(account)?;
    let external = &entry.claims.nats.authorization;
    (!external.auth_users.is_empty()).then(|| AuthCallout {
        issuer: account.to_owned(),
        account: account.to_owned(),
        auth_users: external.auth_users.clone(),
        xkey: external.xkey.clone().filter(|k| !k.is_empty()),
        allowed_accounts: external.allowed_accounts.clone(),
    })
}

/// Judges a service's answer in operator mode, as nats-server does: an unsealed answer
/// is signed by the callout account or one of its signing keys; the user JWT is issued
/// by that account or one it may place users in, and then must pass every check a user
/// JWT passes at connect (as a bearer: the server holds the user's NKey).
pub fn judge_operator_response(
    body: &[u8],
    expect: &Expectation<'_>,
    opener: Option<Opener<'_>>,
    trust: &Trust,
    facts: jwt::ConnectionFacts<'_>,
) -> Result<Grant, CalloutError> {
    let answer = read_answer(body, expect, opener)?;
    let callout = expect.callout;
    let signed_by_account = answer.signer == callout.account
        || trust.account(&callout.account).is_some_and(|entry| {
            entry
                .claims
                .nats
                .signing_keys
                .iter()
                .any(|k| k.key() == answer.signer)
        });
    if !answer.sealed && !signed_by_account {
        return Err(CalloutError::UnknownSigningKey);
    }
    let user = answered_user(&answer, expect)?;
    let issuer_account = user
        .nats
        .issuer_account
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| user.iss.clone());
    let allowed = match callout.allowed_accounts.as_slice() {
        [any] if any == "*" => true,
        listed => listed.contains(&issuer_account),
    };
    if issuer_account != callout.account && !allowed {
        return Err(CalloutError::AccountNotAllowed {
            issuer: user.iss,
            account: callout.account.clone(),
        });
    }
    let admitted = trust
        .verify_user(&answer.user_jwt, facts)
        .map_err(CalloutError::InvalidUser)?;
    Ok(Grant {
        account: admitted.account,
        user: known_as(&user),
        permissions: admitted.permissions,
        expires: admitted.expires,
    })
}

/// nats-io/jwt's checks of a response's own fields.
fn check_response(response: &Claims<ResponseNats>) -> Result<(), CalloutError> {
    let nats = &response.nats;
    let problem = if !nkey::is_user_key(&response.sub) {
        "Subject must be a user public key"
    } else if !response.aud.as_deref().is_some_and(nkey::is_server_key) {
        "Audience must be a server public key"
    } else if nats.error.is_empty() && nats.jwt.is_empty() {
        "Error or Jwt is required"
    } else if !nats.error.is_empty() && !nats.jwt.is_empty() {
        "Only Error or Jwt can be set"
    } else if !nats.issuer_account.is_empty() && !nkey::is_account_key(&nats.issuer_account) {
        "issuer_account is not an account public key"
    } else {
        return Ok(());
    };
    Err(CalloutError::InvalidResponse(problem))
}

#[cfg(test)]
#[path = "callout_tests.rs"]
mod tests;
