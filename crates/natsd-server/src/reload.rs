//! Config reload: new settings replace the old ones while the server runs. What nats-server
//! can reload (logging, limits, users) takes effect at once, for new and existing clients;
//! a change to anything else (listen addresses, names) refuses the whole reload.

use std::sync::Arc;
use std::time::SystemTime;

use natsd_proto::errors;
use thiserror::Error;

use natsd_auth::jwt::JwtError;
use natsd_auth::AuthError;

use bytes::Bytes;

use crate::account::{Account, AccountConfig, GLOBAL_ACCOUNT};
use crate::client_conn::{go_quote, subscription_violation, ClientConn};
use crate::conn::CloseReason;
use crate::options::Options;
use crate::server::{account_config, info_for, Server, ServerInner};
use crate::subscription::SubRef;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReloadError {
    #[error("config reload not supported for {field}: old={old}, new={new}")]
    NotSupported {
        field: &'static str,
        old: String,
        new: String,
    },
    #[error("{0}")]
    Tls(String),
}

/// Fails when a setting that cannot change at run time differs.
fn unchanged<T: PartialEq + std::fmt::Debug>(
    field: &'static str,
    old: &T,
    new: &T,
) -> Result<(), ReloadError> {
    if old == new {
        return Ok(());
    }
    Err(ReloadError::NotSupported {
        field,
        old: format!("{old:?}"),
        new: format!("{new:?}"),
    })
}

impl Server {
    /// Replaces the settings; returns a line for each change applied.
    pub fn reload(&self, new: Options) -> Result<Vec<String>, ReloadError> {
        let inner = self.inner();
        let old = inner.opts();
        unchanged("Host", &old.host, &new.host)?;
        // A random port (-1) in the new file keeps the one bound.
        let bound = Some(inner.port());
        unchanged("Port", &bound, &new.port.or(bound))?;
        unchanged("ServerName", &old.server_name, &new.server_name)?;
        unchanged("HTTPHost", &old.http_host, &new.http_host)?;
        if new.http_port != -1 {
            unchanged("HTTPPort", &old.http_port, &new.http_port)?;
        }
        unchanged("HTTPBasePath", &old.http_base_path, &new.http_base_path)?;
        unchanged(
            "NoHeaderSupport",
            &old.no_header_support,
            &new.no_header_support,
        )?;
        unchanged(
            "NoSublistCache",
            &old.disable_sublist_cache,
            &new.disable_sublist_cache,
        )?;

        let mut changes = Vec::new();
        macro_rules! note_changes {
            ($($field:ident),*) => {$(
                if old.$field != new.$field {
                    changes.push(format!("{} = {:?}", stringify!($field), new.$field));
                }
            )*};
        }
        note_changes!(
            debug,
            trace,
            logtime,
            log_file,
            log_size_limit,
            max_payload,
            max_control_line,
            max_pending,
            max_connections,
            max_subscriptions,
            ping_interval,
            ping_max,
            write_deadline,
            lame_duck_duration,
            lame_duck_grace_period,
            server_tags
        );
        // Certificates are read again on every reload, as nats-server does, so renewed files
        // take effect; a bad file refuses the reload.
        let acceptor = new
            .tls
            .as_ref()
            .map(crate::tls::acceptor)
            .transpose()
            .map_err(|e| ReloadError::Tls(e.to_string()))?;
        if old.tls != new.tls || new.tls.is_some() {
            changes.push("tls".to_owned());
        }
        let pins = |opts: &Options| {
            opts.tls
                .as_ref()
                .map(|tls| tls.pinned_certs.clone())
                .unwrap_or_default()
        };
        let new_pins = (pins(&old) != pins(&new)).then(|| pins(&new));
        unchanged("AllowNonTLS", &old.allow_non_tls, &new.allow_non_tls)?;
        let auth_changed = old.authorization != new.authorization;
        if auth_changed {
            changes.push("authorization users".to_owned());
        }

        {
            let mut info = inner.info_mut();
            *info = info_for(&new, &inner.keys, info.server_name.clone(), info.port);
        }
        inner.log.set_levels(new.debug, new.trace, new.logtime);
        inner.set_tls(acceptor);
        // Accounts in use whose exports or imports the new settings change.
        let rewired: Vec<String> = inner
            .all_accounts()
            .into_iter()
            .map(|account| account.name.clone())
            .filter(|name| {
                let now = inner.account_config(name).map(|c| (c.imports, c.exports));
                let reloaded = account_config(&new, new.authorization.trust.as_ref(), name)
                    .map(|c| (c.imports, c.exports));
                now != reloaded
            })
            .collect();
        let new = Arc::new(new);
        inner.replace_opts(Arc::clone(&new));
        for account in &rewired {
            crate::imports::rewire(inner, account);
        }
        // Limits, tracing and mappings take effect at once; an account the settings no
        // longer describe keeps what it had, but the global account falls back to none.
        for account in inner.all_accounts() {
            match inner.account_config(&account.name) {
                Some(config) => account.configure(&config),
                None if account.name == GLOBAL_ACCOUNT => {
                    account.configure(&AccountConfig::default());
                }
                None => {}
            }
        }
        *inner.monitor.config_load_time.lock() = SystemTime::now();
        if auth_changed {
            recheck_clients(inner, None);
        }
        if let Some(pins) = new_pins {
            drop_unpinned(inner, &pins);
        }
        Ok(changes)
    }
}

/// After `pinned_certs` changed: clients whose certificate key is no longer listed are
/// closed, as nats-server does.
fn drop_unpinned(inner: &ServerInner, pins: &[String]) {
    for client in inner.snapshot_clients() {
        if !crate::tls::pinned(client.certificate_key().as_deref(), pins) {
            inner.log.debug(format_args!(
                "cid:{} - client certificate no longer among pinned_certs",
                client.conn.cid
            ));
            client.conn.close(CloseReason::TlsHandshakeError);
        }
    }
}

/// Drops each subscription `client` may no longer hold, telling it with the `-ERR` that
/// nats-server sends: `... to "<subject>" [using queue "<queue>"] (sid "<sid>")`.
fn drop_forbidden_subscriptions(inner: &ServerInner, client: &ClientConn) {
    let mut forbidden: Vec<SubRef> = {
        let mut subs = client.subs.lock();
        let sids: Vec<Bytes> = subs
            .values()
            .filter(|sub| {
                !client
                    .permits
                    .may_subscribe(&sub.subject, sub.queue.as_deref())
            })
            .map(|sub| sub.sid.clone())
            .collect();
        sids.iter().filter_map(|sid| subs.remove(sid)).collect()
    };
    if forbidden.is_empty() {
        return;
    }
    forbidden.sort_by(|a, b| a.sid.cmp(&b.sid));
    let account = inner.loaded_account(&client.conn.account_name());
    for sub in forbidden {
        let text = subscription_violation(&sub.subject, sub.queue.as_deref());
        client
            .conn
            .send_error(&format!("{text} (sid {})", go_quote(&sub.sid)));
        if let Some(account) = &account {
            account.unsubscribe(&sub);
        }
    }
}

/// Checks clients (all, or those of one account) against the users and account JWTs in
/// force: those no longer admitted are closed, the others take their new permissions at
/// once, losing the subscriptions those no longer allow. A revoked user is told so; one
/// whose signing key is gone is closed without a word, as nats-server does.
pub(crate) fn recheck_clients(inner: &ServerInner, only: Option<&Arc<Account>>) {
    let authenticator = inner.authenticator();
    let clients = match only {
        Some(account) => inner.clients_of(account),
        None => inner.snapshot_clients(),
    };
    for client in clients {
        if !client.conn.is_connected() {
            continue;
        }
        let facts = client.auth.lock().clone();
        let credentials = facts.credentials.as_deref().cloned().unwrap_or_default();
        let conn = &client.conn;
        match authenticator.authenticate(&credentials, facts.nonce.as_deref()) {
            Ok(identity) => {
                client.set_permissions(identity.permissions);
                drop_forbidden_subscriptions(inner, &client);
            }
            Err(AuthError::Jwt(JwtError::Revoked(_))) => {
                conn.send_error(errors::USER_AUTHENTICATION_REVOKED);
                conn.close(CloseReason::Revocation);
            }
            Err(AuthError::Jwt(JwtError::UntrustedIssuer(_))) => {
                conn.close(CloseReason::AuthenticationViolation);
            }
            Err(_) => {
                conn.send_error(errors::AUTHORIZATION_VIOLATION);
                conn.close(CloseReason::AuthenticationViolation);
            }
        }
    }
}
