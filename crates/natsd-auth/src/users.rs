//! Configured users and tokens, and the decision on what a client presented in CONNECT.
//!
//! As in nats-server: a client that sends an NKey is checked against the NKey users (the
//! signature of this connection's nonce must verify); otherwise a token, when one is
//! configured; otherwise user and password. A client that presents nothing at all is
//! admitted as `no_auth_user` when that is set.

use std::net::IpAddr;

use crate::jwt::{ConnectionFacts, JwtError, Trust};
use crate::permissions::Permissions;
use crate::{nkey, secret};

/// One configured user: a name and password, or an NKey.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// The user name; for an NKey user, the public key.
    pub name: String,
    pub password: Option<String>,
    pub nkey: Option<String>,
    /// The user's own permissions; the defaults apply when there are none.
    pub permissions: Option<Permissions>,
    /// The account the user belongs to; the global account when `None`.
    pub account: Option<String>,
    /// The kinds of connection it may come on (`STANDARD`, `WEBSOCKET`, ...); any when
    /// empty.
    pub allowed_connection_types: Vec<String>,
    /// It may only connect through a trusted proxy, which natsd has none of.
    pub proxy_required: bool,
}

/// What a client presented in CONNECT.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub user: Option<String>,
    pub pass: Option<String>,
    pub token: Option<String>,
    pub nkey: Option<String>,
    pub sig: Option<String>,
    /// A user JWT (decentralized authentication).
    pub jwt: Option<String>,
    /// Names from the client's verified TLS certificate (emails, DNS names, URIs, then the
    /// subject), for `verify_and_map`.
    pub certificate: Vec<String>,
    /// Hex SHA-256 of the client certificate's public key, for `pinned_certs`.
    pub certificate_key: Option<String>,
    /// The client's address, for a user JWT's `src`.
    pub client_ip: Option<IpAddr>,
    pub connection_type: ConnectionType,
}

/// How a client reached the server, as user JWTs' `allowed_connection_types` name it.
/// Only plain NATS clients exist yet; WebSocket, MQTT and leaf nodes add theirs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConnectionType {
    #[default]
    Standard,
}

impl ConnectionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionType::Standard => "STANDARD",
        }
    }
}

impl Credentials {
    fn is_empty(&self) -> bool {
        self.user.is_none() && self.token.is_none() && self.nkey.is_none()
    }
}

/// Who a client turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user name or NKey; empty for a token or when authentication is off.
    pub user: String,
    pub permissions: Option<Permissions>,
    /// The user's account; the global account when `None`.
    pub account: Option<String>,
    /// When the user's JWT expires, in Unix seconds.
    pub expires: Option<i64>,
    /// Limits a user JWT sets; `None` is no limit of the user's own.
    pub max_subscriptions: Option<usize>,
    pub max_payload: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials")]
    NoCredentials,
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("wrong password for user {0:?}")]
    WrongPassword(String),
    #[error("wrong token")]
    WrongToken,
    #[error("unknown nkey {0:?}")]
    UnknownNkey(String),
    #[error("signature of the nonce does not verify for nkey {0:?}")]
    BadSignature(String),
    #[error("user JWT: {0}")]
    Jwt(#[from] JwtError),
    #[error("{0}")]
    Callout(#[from] crate::callout::CalloutError),
    /// The auth callout service could not be asked, or did not answer in time.
    #[error("{0}")]
    CalloutUnanswered(String),
    #[error("proxy connection required")]
    ProxyRequired,
    #[error("user {0:?} may not connect with this connection type")]
    ConnectionTypeNotAllowed(String),
}

/// The configured ways in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authenticator {
    pub users: Vec<User>,
    pub token: Option<String>,
    /// The user taken by clients that present no credentials.
    pub no_auth_user: Option<String>,
    pub default_permissions: Option<Permissions>,
    /// TLS `verify_and_map`: the user is the one named by the client certificate.
    pub map_certificates: bool,
    /// Operator mode: users come with JWTs that chain to these operators.
    pub trust: Option<Trust>,
    /// An external service decides on the clients it covers.
    pub callout: Option<crate::AuthCallout>,
    /// `authorization { proxy_required }`: the token (or single user) may only be used
    /// through a trusted proxy.
    pub proxy_required: bool,
}

impl Authenticator {
    pub fn is_required(&self) -> bool {
        !self.users.is_empty()
            || self.token.is_some()
            || self.map_certificates
            || self.trust.is_some()
            || self.callout.is_some()
    }

    /// Whether checking a password or token may take a bcrypt hash's deliberate slowness.
    pub fn uses_bcrypt(&self) -> bool {
        self.token.as_deref().is_some_and(secret::is_bcrypt)
            || self
                .users
                .iter()
                .any(|u| u.password.as_deref().is_some_and(secret::is_bcrypt))
    }

    /// The auth callout that decides on a client presenting `creds`: the configured one,
    /// or in operator mode the one of the account its user JWT names. The user JWT is
    /// decoded once, for both the account and who the client is.
    pub fn callout_for(&self, creds: &Credentials) -> Option<crate::callout::Covered> {
        use crate::callout::{of_account, presented_user, Covered};
        let Some(trust) = &self.trust else {
            return self.callout.clone().map(|callout| Covered {
                presented: presented_user(creds, crate::callout::jwt_subject),
                callout,
            });
        };
        let claims: crate::jwt::Claims<crate::jwt::UserNats> =
            crate::jwt::decode(creds.jwt.as_deref()?).ok()?;
        let account = claims
            .nats
            .issuer_account
            .filter(|a| !a.is_empty())
            .unwrap_or(claims.iss);
        Some(Covered {
            callout: of_account(&account, trust)?,
            presented: presented_user(creds, |_| Some(claims.sub)),
        })
    }

    /// Whether some client may have to wait for an auth callout service.
    pub fn may_call_out(&self) -> bool {
        self.callout.is_some() || self.trust.as_ref().is_some_and(Trust::has_callout_accounts)
    }

    /// NKey users need a nonce in INFO.
    pub fn needs_nonce(&self) -> bool {
        self.trust.is_some() || self.users.iter().any(|u| u.nkey.is_some())
    }

    /// The identity of a configured user whose credentials held, unless the way it
    /// came is not one it may use.
    fn admit(&self, user: &User, creds: &Credentials) -> Result<Identity, AuthError> {
        let kind = creds.connection_type.as_str();
        if !crate::jwt::connection_type_allowed(&user.allowed_connection_types, kind) {
            return Err(AuthError::ConnectionTypeNotAllowed(user.name.clone()));
        }
        Ok(self.identity(user))
    }

    fn identity(&self, user: &User) -> Identity {
        Identity {
            user: user.name.clone(),
            permissions: user
                .permissions
                .clone()
                .or_else(|| self.default_permissions.clone()),
            account: user.account.clone(),
            expires: None,
            max_subscriptions: None,
            max_payload: None,
        }
    }

    /// Decides on a client's credentials; `nonce` is the one its INFO carried.
    pub fn authenticate(
        &self,
        creds: &Credentials,
        nonce: Option<&str>,
    ) -> Result<Identity, AuthError> {
        self.authenticate_at(creds, nonce, crate::jwt::now_unix())
    }

    /// [`Authenticator::authenticate`] at `now`, in Unix seconds.
    pub fn authenticate_at(
        &self,
        creds: &Credentials,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<Identity, AuthError> {
        if let Some(trust) = &self.trust {
            let token = creds.jwt.as_deref().ok_or(AuthError::NoCredentials)?;
            let facts = ConnectionFacts {
                ip: creds.client_ip,
                connection_type: creds.connection_type.as_str(),
                now,
            };
            let user = trust.verify_user(token, facts)?;
            let sig = creds.sig.as_deref().unwrap_or_default();
            if !user.bearer && !nonce.is_some_and(|nonce| nkey::verify(&user.key, nonce, sig)) {
                return Err(AuthError::BadSignature(user.key));
            }
            return Ok(Identity {
                user: user.key,
                permissions: user.permissions,
                account: Some(user.account),
                expires: user.expires,
                max_subscriptions: user.max_subscriptions,
                max_payload: user.max_payload,
            });
        }
        if !self.is_required() {
            return Ok(Identity {
                user: String::new(),
                permissions: self.default_permissions.clone(),
                account: None,
                expires: None,
                max_subscriptions: None,
                max_payload: None,
            });
        }
        if self.map_certificates {
            return creds
                .certificate
                .iter()
                .find_map(|name| self.users.iter().find(|u| &u.name == name))
                .ok_or_else(|| {
                    AuthError::UnknownUser(creds.certificate.first().cloned().unwrap_or_default())
                })
                .and_then(|user| self.checked(user, creds));
        }
        if let Some(key) = &creds.nkey {
            let user = self
                .users
                .iter()
                .find(|u| u.nkey.as_deref() == Some(key))
                .ok_or_else(|| AuthError::UnknownNkey(key.clone()))?;
            if user.proxy_required {
                return Err(AuthError::ProxyRequired);
            }
            let sig = creds.sig.as_deref().unwrap_or_default();
            if !nonce.is_some_and(|nonce| nkey::verify(key, nonce, sig)) {
                return Err(AuthError::BadSignature(key.clone()));
            }
            return self.admit(user, creds);
        }
        if let Some(token) = &self.token {
            if self.proxy_required {
                return Err(AuthError::ProxyRequired);
            }
            return match &creds.token {
                Some(given) if secret::matches(token, given) => Ok(Identity {
                    user: String::new(),
                    permissions: self.default_permissions.clone(),
                    account: None,
                    expires: None,
                    max_subscriptions: None,
                    max_payload: None,
                }),
                _ => Err(AuthError::WrongToken),
            };
        }
        let name = match (&creds.user, &self.no_auth_user) {
            (Some(name), _) => name,
            (None, Some(fallback)) if creds.is_empty() => {
                let user = self
                    .users
                    .iter()
                    .find(|u| &u.name == fallback)
                    .ok_or_else(|| AuthError::UnknownUser(fallback.clone()))?;
                return self.checked(user, creds);
            }
            _ => return Err(AuthError::NoCredentials),
        };
        let user = self
            .users
            .iter()
            .find(|u| &u.name == name && u.nkey.is_none())
            .ok_or_else(|| AuthError::UnknownUser(name.clone()))?;
        if user.proxy_required {
            return Err(AuthError::ProxyRequired);
        }
        let password = user.password.as_deref().unwrap_or_default();
        if !secret::matches(password, creds.pass.as_deref().unwrap_or_default()) {
            return Err(AuthError::WrongPassword(name.clone()));
        }
        self.admit(user, creds)
    }

    /// [`Authenticator::admit`] for a user taken without a password check (by its
    /// certificate, or as `no_auth_user`): it too may have to come through a proxy.
    fn checked(&self, user: &User, creds: &Credentials) -> Result<Identity, AuthError> {
        if user.proxy_required {
            return Err(AuthError::ProxyRequired);
        }
        self.admit(user, creds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn user(name: &str, password: &str) -> User {
        User {
            name: name.into(),
            password: Some(password.into()),
            nkey: None,
            permissions: None,
            account: None,
            ..Default::default()
        }
    }

    fn creds(user: Option<&str>, pass: Option<&str>) -> Credentials {
        Credentials {
            user: user.map(Into::into),
            pass: pass.map(Into::into),
            ..Credentials::default()
        }
    }

    #[test]
    fn users_passwords_and_no_auth_user() {
        let auth = Authenticator {
            users: vec![user("a", "pa"), user("b", "pb")],
            no_auth_user: Some("b".into()),
            ..Authenticator::default()
        };
        assert_eq!(
            auth.authenticate(&creds(Some("a"), Some("pa")), None)
                .map(|i| i.user),
            Ok("a".into())
        );
        assert_eq!(
            auth.authenticate(&creds(Some("a"), Some("pb")), None),
            Err(AuthError::WrongPassword("a".into()))
        );
        assert_eq!(
            auth.authenticate(&creds(Some("c"), Some("pc")), None),
            Err(AuthError::UnknownUser("c".into()))
        );
        assert_eq!(
            auth.authenticate(&creds(None, None), None).map(|i| i.user),
            Ok("b".into())
        );
        let strict = Authenticator {
            no_auth_user: None,
            ..auth
        };
        assert_eq!(
            strict.authenticate(&creds(None, None), None),
            Err(AuthError::NoCredentials)
        );
    }

    #[test]
    fn certificates_name_the_user() {
        let auth = Authenticator {
            users: vec![User {
                name: "CN=svc,O=acme".into(),
                password: None,
                nkey: None,
                permissions: None,
                account: None,
                ..Default::default()
            }],
            map_certificates: true,
            ..Authenticator::default()
        };
        let presented = |names: &[&str]| Credentials {
            certificate: names.iter().map(|n| n.to_string()).collect(),
            ..Credentials::default()
        };
        assert_eq!(
            auth.authenticate(&presented(&["svc@acme.io", "CN=svc,O=acme"]), None)
                .map(|i| i.user),
            Ok("CN=svc,O=acme".into())
        );
        assert!(auth.authenticate(&presented(&["CN=other"]), None).is_err());
        assert!(auth.authenticate(&presented(&[]), None).is_err());
    }

    #[test]
    fn tokens() {
        let auth = Authenticator {
            token: Some("t0k3n".into()),
            ..Authenticator::default()
        };
        let with = |t: &str| Credentials {
            token: Some(t.into()),
            ..Credentials::default()
        };
        assert!(auth.authenticate(&with("t0k3n"), None).is_ok());
        assert_eq!(
            auth.authenticate(&with("t0k3"), None),
            Err(AuthError::WrongToken)
        );
        assert_eq!(
            auth.authenticate(&creds(Some("u"), Some("p")), None),
            Err(AuthError::WrongToken)
        );
    }

    #[test]
    fn nkeys_sign_the_nonce() {
        let key = nkeys::KeyPair::new_user();
        let public = key.public_key();
        let auth = Authenticator {
            users: vec![User {
                name: public.clone(),
                password: None,
                nkey: Some(public.clone()),
                permissions: None,
                account: None,
                ..Default::default()
            }],
            ..Authenticator::default()
        };
        assert!(auth.needs_nonce());
        let nonce = crate::nkey::new_nonce();
        let sig = URL_SAFE_NO_PAD.encode(key.sign(nonce.as_bytes()).unwrap_or_default());
        let presented = Credentials {
            nkey: Some(public.clone()),
            sig: Some(sig),
            ..Credentials::default()
        };
        assert_eq!(
            auth.authenticate(&presented, Some(&nonce)).map(|i| i.user),
            Ok(public.clone())
        );
        assert_eq!(
            auth.authenticate(&presented, Some("other")),
            Err(AuthError::BadSignature(public.clone()))
        );
        assert_eq!(
            auth.authenticate(&presented, None),
            Err(AuthError::BadSignature(public))
        );
    }
}
