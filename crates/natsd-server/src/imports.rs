//! Stream and service imports between accounts, built from internal subscriptions.
//!
//! - A stream import subscribes in the exporting account and republishes each message in
//!   the importing account, under a prefix or another subject.
//! - A service import subscribes in the importing account on the subject its clients send
//!   requests to, and forwards each request into the exporting account with a fresh reply
//!   subject `_R_.<import>.<token>`; a subscription on `_R_.<import>.>` in the exporting
//!   account routes responses back to the requester's own reply subject: the first one
//!   for a singleton export, every one until the request expires for stream and chunked.
//!
//! Forwarding happens on the publisher's task, through internal clients, whose depth
//! limit stops imports that would feed each other forever. Imports are an extension: they
//! are wired when an account loads, and rewired when its JWT or the config changes them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use rand::Rng;

use crate::account::{Account, AccountConfig, Import, ResponseType, ShareKind};
use crate::conn::{ConnKind, Flusher};
use crate::internal::{InternalClient, InternalMsg};
use crate::server::{Extension, Server, ServerError, ServerInner};

/// How long a service response is awaited, nats-server's default threshold.
const RESPONSE_WAIT: Duration = Duration::from_secs(120);
/// Pending responses beyond which expired ones are dropped.
const PENDING_PRUNE_AT: usize = 1024;

/// Wires each account's imports as it loads.
pub(crate) struct Imports;

impl Extension for Imports {
    fn account_loaded(&self, server: &Server, account: &Arc<Account>) -> Result<(), ServerError> {
        match server.inner().account_config(&account.name) {
            Some(config) => wire_account(server.inner(), &config),
            None => Ok(()),
        }
    }
}

/// Replaces the import subscriptions of `name` (an account in use) and of the accounts in
/// use that import from it, after its JWT changed its imports or exports.
pub(crate) fn rewire(inner: &Arc<ServerInner>, name: &str) {
    for account in inner.all_accounts() {
        let Some(config) = inner.account_config(&account.name) else {
            continue;
        };
        if account.name != name && !config.imports.iter().any(|i| i.account == name) {
            continue;
        }
        account.remove_import_subscriptions();
        if let Err(error) = wire_account(inner, &config) {
            inner
                .log
                .error(format_args!("Account {} imports: {error}", account.name));
        }
    }
}

/// Subscribes one account's imports; those the exporter does not export are skipped.
pub(crate) fn wire_account(
    inner: &Arc<ServerInner>,
    config: &AccountConfig,
) -> Result<(), ServerError> {
    let importer = inner.account(Some(&config.name));
    for import in &config.imports {
        let Some(export) = inner
            .account_config(&import.account)
            .and_then(|exporter| exporter.export_for(import, &config.name).cloned())
        else {
            inner.log.warn(format_args!(
                "Account {} import of {:?} from {}: no matching export",
                config.name, import.subject, import.account
            ));
            continue;
        };
        let exporter = inner.account(Some(&import.account));
        match import.kind {
            ShareKind::Stream => stream(&exporter, &importer, import)?,
            ShareKind::Service => service(&exporter, &importer, import, export.response)?,
        }
    }
    Ok(())
}

/// Where a message on `subject` lands in the importing account.
fn stream_subject(import: &Import, subject: &[u8]) -> Vec<u8> {
    if let Some(prefix) = &import.prefix {
        let mut mapped = prefix.clone().into_bytes();
        mapped.push(b'.');
        mapped.extend_from_slice(subject);
        return mapped;
    }
    match &import.to {
        Some(to) if !natsd_subject::has_wildcard(import.subject.as_bytes()) => {
            to.clone().into_bytes()
        }
        _ => subject.to_vec(),
    }
}

/// Forwards `msg` through `client` on `subject`, headers and all.
fn forward(
    client: &InternalClient,
    subject: &[u8],
    reply: &[u8],
    msg: InternalMsg,
    flusher: &mut Flusher,
) {
    client.publish(subject, reply, msg.header_len, msg.payload, flusher);
}

/// An internal client of an account held weakly, while the account lives.
fn client_of(account: &std::sync::Weak<Account>) -> Option<InternalClient> {
    account
        .upgrade()
        .map(|account| InternalClient::new(account, ConnKind::Account))
}

fn stream(
    exporter: &Arc<Account>,
    importer: &Arc<Account>,
    import: &Import,
) -> Result<(), ServerError> {
    let into = Arc::downgrade(importer);
    let mapping = import.clone();
    let handler = Arc::new(move |msg: InternalMsg, flusher: &mut Flusher| {
        let Some(into) = client_of(&into) else {
            return;
        };
        let subject = stream_subject(&mapping, &msg.subject);
        let reply = msg.reply.clone().unwrap_or_default();
        forward(&into, &subject, &reply, msg, flusher);
    });
    let sub = InternalClient::new(Arc::clone(exporter), ConnKind::Account)
        .subscribe(&import.subject, None, handler)
        .map_err(|_| ServerError::InvalidSubject)?;
    importer.add_import_subscription(exporter, sub.0);
    Ok(())
}

/// Requests forwarded and awaiting their response: token -> (requester's reply, when).
type Pending = Arc<Mutex<HashMap<String, (Bytes, Instant)>>>;

fn service(
    exporter: &Arc<Account>,
    importer: &Arc<Account>,
    import: &Import,
    response: ResponseType,
) -> Result<(), ServerError> {
    let local = import.to.clone().unwrap_or_else(|| import.subject.clone());
    let reply_prefix = format!("_R_.{}", random_token(6));
    let pending: Pending = Arc::default();

    let requests = {
        let into = Arc::downgrade(exporter);
        let (pending, reply_prefix) = (Arc::clone(&pending), reply_prefix.clone());
        let target = (!natsd_subject::has_wildcard(import.subject.as_bytes()))
            .then(|| import.subject.clone());
        Arc::new(move |msg: InternalMsg, flusher: &mut Flusher| {
            let Some(into) = client_of(&into) else {
                return;
            };
            let subject = target
                .as_deref()
                .map_or_else(|| msg.subject.to_vec(), |t| t.as_bytes().to_vec());
            let reply = match &msg.reply {
                Some(reply) => {
                    let token = random_token(10);
                    let mut pending = pending.lock();
                    if pending.len() >= PENDING_PRUNE_AT {
                        pending.retain(|_, (_, at)| at.elapsed() < RESPONSE_WAIT);
                    }
                    pending.insert(token.clone(), (reply.clone(), Instant::now()));
                    format!("{reply_prefix}.{token}")
                }
                None => String::new(),
            };
            forward(&into, &subject, reply.as_bytes(), msg, flusher);
        })
    };
    let sub = InternalClient::new(Arc::clone(importer), ConnKind::Account)
        .subscribe(&local, None, requests)
        .map_err(|_| ServerError::InvalidSubject)?;
    importer.add_import_subscription(importer, sub.0);

    let responses = {
        let back = Arc::downgrade(importer);
        let prefix_len = reply_prefix.len() + 1;
        Arc::new(move |msg: InternalMsg, flusher: &mut Flusher| {
            let Some(back) = client_of(&back) else {
                return;
            };
            let token = String::from_utf8_lossy(msg.subject.get(prefix_len..).unwrap_or_default())
                .into_owned();
            // A singleton's first response ends the request; streamed and chunked ones
            // flow until the request expires.
            let found = {
                let mut pending = pending.lock();
                match response {
                    ResponseType::Singleton => pending.remove(&token),
                    ResponseType::Stream | ResponseType::Chunked => pending.get(&token).cloned(),
                }
            };
            let Some((reply, at)) = found else {
                return;
            };
            if at.elapsed() > RESPONSE_WAIT {
                return;
            }
            forward(&back, &reply, b"", msg, flusher);
        })
    };
    let sub = InternalClient::new(Arc::clone(exporter), ConnKind::Account)
        .subscribe(&format!("{reply_prefix}.>"), None, responses)
        .map_err(|_| ServerError::InvalidSubject)?;
    importer.add_import_subscription(exporter, sub.0);
    Ok(())
}

fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import(prefix: Option<&str>, to: Option<&str>, subject: &str) -> Import {
        Import {
            kind: ShareKind::Stream,
            account: "A".into(),
            subject: subject.into(),
            to: to.map(Into::into),
            prefix: prefix.map(Into::into),
            activated: false,
        }
    }

    #[test]
    fn stream_subjects_are_mapped() {
        assert_eq!(
            stream_subject(&import(Some("from_a"), None, "a.>"), b"a.x"),
            b"from_a.a.x"
        );
        assert_eq!(
            stream_subject(&import(None, Some("local"), "news"), b"news"),
            b"local"
        );
        assert_eq!(
            stream_subject(&import(None, Some("local"), "news.*"), b"news.x"),
            b"news.x"
        );
        assert_eq!(stream_subject(&import(None, None, "a.>"), b"a.x"), b"a.x");
    }
}
