//! Stream and service imports between accounts, built from internal subscriptions.
//!
//! - A stream import subscribes in the exporting account and republishes each message in
//!   the importing account, under a prefix or another subject.
//! - A service import subscribes in the importing account on the subject its clients send
//!   requests to, and forwards each request into the exporting account with a fresh reply
//!   subject `_R_.<import>.<token>`; a subscription on `_R_.<import>.>` in the exporting
//!   account routes responses back to the requester's own reply subject: the first one
//!   for a singleton export, every one until the request expires for stream and chunked.
//!   Requests and their responses carry a `Nats-Request-Info` header saying who asked
//!   (account and round-trip time, or all about the client when the import shares it).
//! - A traced message's trace goes on into the other account when the stream import or
//!   the service export allows it (`allow_trace`); a traced request the export does not
//!   let be traced reaches the responder with its tracing turned off.
//!
//! Forwarding happens on the publisher's task, through internal clients, whose depth
//! limit stops imports that would feed each other forever. Imports are an extension: they
//! are wired when an account loads, and rewired when its JWT or the config changes them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use natsd_proto::headers::HeaderBlock;
use parking_lot::Mutex;
use rand::Rng;
use serde::Serialize;

use crate::account::{Account, AccountConfig, Export, Import, ResponseType, ShareKind};
use crate::conn::{ConnKind, Flusher};
use crate::internal::{InternalClient, InternalMsg};
use crate::server::{Extension, Server, ServerError, ServerInner};
use crate::subscription::{Hop, Trace, TraceEvent, TRACE_DEST, TRACE_DISABLED};

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
            ShareKind::Service => service(inner, &exporter, &importer, import, &export)?,
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

/// Forwards a traced `msg` through `client` on `subject`, its trace following it into
/// the client's account: each connection it reaches there is noted with that account,
/// and with its subscription's subject as `shown` gives it.
fn forward_traced(
    client: &InternalClient,
    (subject, reply): (&[u8], &[u8]),
    msg: InternalMsg,
    flusher: &mut Flusher,
    trace: &mut Trace,
    shown: impl Fn(&[u8]) -> Vec<u8>,
) {
    let before = trace.events.len();
    let (header_len, payload) = (msg.header_len, msg.payload);
    client.publish_traced(subject, reply, header_len, payload, flusher, Some(trace));
    for event in &mut trace.events[before..] {
        if let TraceEvent::Egress(egress) = event {
            if egress.account.is_none() {
                egress.account = Some(client.account().name.clone());
                egress.subject = shown(&egress.subject).into();
            }
        }
    }
}

/// Where a message's headers ask for it to be traced, while its trace is on.
fn trace_dest(msg: &InternalMsg) -> Option<String> {
    if msg.header_len == 0 {
        return None;
    }
    let block = HeaderBlock::decode(msg.headers()).ok()?;
    block
        .get(TRACE_DEST)
        .filter(|dest| !dest.is_empty() && *dest != TRACE_DISABLED)
        .map(str::to_owned)
}

/// A subscription of the importing account on `local`, as nats-server's shadow
/// subscription in the exporting account sees it: the exporter's subject for what the
/// import brings to `local`.
fn exporter_view(import: &Import, local: &[u8]) -> Vec<u8> {
    let exported = import.subject.as_bytes();
    let candidate = match (&import.prefix, &import.to) {
        (Some(prefix), _) => local.strip_prefix(format!("{prefix}.").as_bytes()),
        (None, Some(_)) if !natsd_subject::has_wildcard(exported) => None,
        _ => Some(local),
    };
    match candidate {
        Some(candidate) if natsd_subject::is_subset(candidate, exported) => candidate.to_vec(),
        _ => exported.to_vec(),
    }
}

/// The header naming who sent a request that crossed accounts.
const REQUEST_INFO: &str = "Nats-Request-Info";

/// The requesting client, in nats-server's `Nats-Request-Info` JSON; fields it leaves out
/// when empty are left out.
#[derive(Serialize, Default)]
struct RequestInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    start: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    host: String,
    #[serde(skip_serializing_if = "is_zero")]
    id: u64,
    acc: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    ver: String,
    #[serde(skip_serializing_if = "is_zero")]
    rtt: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    server: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    client_type: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `Nats-Request-Info` for a request published by the client `publisher`: its account and
/// round-trip time, and everything else about it when the import shares it.
fn request_info(inner: &ServerInner, publisher: Option<u64>, share: bool) -> Option<String> {
    let client = inner.client(publisher?)?;
    let conn = &client.conn;
    let details = conn.stats.details.lock().clone();
    let rtt = conn.stats.rtt.load(std::sync::atomic::Ordering::Relaxed);
    let acc = details.account_name();
    let info = if share {
        RequestInfo {
            start: crate::timefmt::rfc3339(conn.stats.start),
            host: conn.peer.ip().to_string(),
            id: conn.cid,
            acc,
            user: details.user.unwrap_or_default(),
            name: details.name,
            lang: details.lang,
            ver: details.version,
            rtt,
            server: inner.server_id(),
            kind: conn.kind.as_str().to_owned(),
            client_type: conn.protocol.as_str().to_owned(),
        }
    } else {
        RequestInfo {
            acc,
            rtt,
            ..RequestInfo::default()
        }
    };
    serde_json::to_string(&info).ok()
}

/// `msg` with the header `name` set to `value` (replacing any it had), for forwarding.
/// A block the publisher got wrong travels as it came.
fn with_header(mut msg: InternalMsg, name: &str, value: &str) -> InternalMsg {
    if let Some((payload, header_len)) =
        HeaderBlock::set_in(&msg.payload, msg.header_len, name, value)
    {
        msg.payload = payload.into();
        msg.header_len = header_len;
    }
    msg
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
    let handler = Arc::new(
        move |msg: InternalMsg, flusher: &mut Flusher, trace: Option<&mut Trace>| {
            let Some(into) = client_of(&into) else {
                return;
            };
            let subject = stream_subject(&mapping, &msg.subject);
            let reply = msg.reply.clone().unwrap_or_default();
            match trace {
                None => forward(&into, &subject, &reply, msg, flusher),
                Some(trace) => {
                    let shown = |local: &[u8]| exporter_view(&mapping, local);
                    forward_traced(&into, (&subject, &reply), msg, flusher, trace, shown);
                }
            }
        },
    );
    // A stream export counts as a hop only where the importer wants the message, as
    // nats-server reports it.
    let (into, mapping) = (Arc::downgrade(importer), import.clone());
    let hop_of = Arc::new(move |subject: &[u8]| {
        let importer = into.upgrade()?;
        let to = stream_subject(&mapping, subject);
        (!importer.matches(&to).is_empty()).then(|| Hop::StreamExport {
            account: importer.name.clone(),
            to,
        })
    });
    let sub = InternalClient::new(Arc::clone(exporter), ConnKind::Account)
        .subscribe_import(&import.subject, handler, hop_of, import.allow_trace)
        .map_err(|_| ServerError::InvalidSubject)?;
    importer.add_import_subscription(exporter, sub.0);
    Ok(())
}

/// A request forwarded and awaiting its response.
#[derive(Clone)]
struct PendingRequest {
    /// The requester's own reply subject.
    reply: Bytes,
    at: Instant,
    /// Its `Nats-Request-Info`, repeated on the responses.
    info: Option<String>,
}

/// Requests awaiting their response, by token.
type Pending = Arc<Mutex<HashMap<String, PendingRequest>>>;

fn service(
    inner: &Arc<ServerInner>,
    exporter: &Arc<Account>,
    importer: &Arc<Account>,
    import: &Import,
    export: &Export,
) -> Result<(), ServerError> {
    let response = export.response;
    let local = import.to.clone().unwrap_or_else(|| import.subject.clone());
    let reply_prefix = format!("_R_.{}", random_token(6));
    let pending: Pending = Arc::default();
    // A request goes to the exported subject, or keeps its own under a wildcard import.
    let target =
        (!natsd_subject::has_wildcard(import.subject.as_bytes())).then(|| import.subject.clone());

    let requests = {
        let into = Arc::downgrade(exporter);
        let server = Arc::downgrade(inner);
        let share = import.share;
        let (pending, reply_prefix) = (Arc::clone(&pending), reply_prefix.clone());
        let target = target.clone();
        Arc::new(
            move |msg: InternalMsg, flusher: &mut Flusher, trace: Option<&mut Trace>| {
                let Some(into) = client_of(&into) else {
                    return;
                };
                let info = server
                    .upgrade()
                    .and_then(|server| request_info(&server, msg.publisher, share));
                let msg = match &info {
                    Some(info) => with_header(msg, REQUEST_INFO, info),
                    None => msg,
                };
                let subject = request_subject(into.account(), target.as_deref(), &msg.subject);
                // A reply subject in the exporting account that routes back to `reply`.
                let route_back = |reply: &Bytes, info: Option<String>| {
                    let token = random_token(10);
                    let mut pending = pending.lock();
                    if pending.len() >= PENDING_PRUNE_AT {
                        pending.retain(|_, request| request.at.elapsed() < RESPONSE_WAIT);
                    }
                    let request = PendingRequest {
                        reply: reply.clone(),
                        at: Instant::now(),
                        info,
                    };
                    pending.insert(token.clone(), request);
                    format!("{reply_prefix}.{token}")
                };
                let reply = match &msg.reply {
                    Some(reply) => route_back(reply, info),
                    None => String::new(),
                };
                match trace {
                    // The trace goes on in the exporter, whose trace events reach the
                    // importer's destination through a reply subject of its own.
                    Some(trace) => {
                        let dest = trace_dest(&msg).unwrap_or_default();
                        let back = route_back(&Bytes::from(dest), None);
                        let msg = with_header(msg, TRACE_DEST, &back);
                        let subject = (subject.as_slice(), reply.as_bytes());
                        forward_traced(&into, subject, msg, flusher, trace, <[u8]>::to_vec);
                    }
                    // A traced request the export does not let be traced goes on untraced.
                    None if trace_dest(&msg).is_some() => {
                        let msg = with_header(msg, TRACE_DEST, TRACE_DISABLED);
                        forward(&into, &subject, reply.as_bytes(), msg, flusher);
                    }
                    None => forward(&into, &subject, reply.as_bytes(), msg, flusher),
                }
            },
        )
    };
    let (account, into) = (exporter.name.clone(), Arc::downgrade(exporter));
    let hop_of = Arc::new(move |subject: &[u8]| {
        Some(Hop::ServiceImport {
            account: account.clone(),
            from: subject.to_vec(),
            to: request_subject(&*into.upgrade()?, target.as_deref(), subject),
        })
    });
    let sub = InternalClient::new(Arc::clone(importer), ConnKind::Account)
        .subscribe_import(&local, requests, hop_of, export.allow_trace)
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
            let Some(request) = found else {
                return;
            };
            if request.at.elapsed() > RESPONSE_WAIT {
                return;
            }
            let msg = match &request.info {
                Some(info) => with_header(msg, REQUEST_INFO, info),
                None => msg,
            };
            forward(&back, &request.reply, b"", msg, flusher);
        })
    };
    let sub = InternalClient::new(Arc::clone(exporter), ConnKind::Account)
        .subscribe(&format!("{reply_prefix}.>"), None, responses)
        .map_err(|_| ServerError::InvalidSubject)?;
    importer.add_import_subscription(exporter, sub.0);
    Ok(())
}

/// Where a request on `subject` goes in the exporting account: `target`, or `subject`
/// itself when the import has no single target, then wherever the exporter's mappings
/// send that, as nats-server maps service requests.
fn request_subject(exporter: &Account, target: Option<&str>, subject: &[u8]) -> Vec<u8> {
    let subject = target.map_or_else(|| subject.to_vec(), |t| t.as_bytes().to_vec());
    if !exporter.has_mappings() {
        return subject;
    }
    exporter.mapped_subject(&subject).unwrap_or(subject)
}

/// `len` random base62 characters, for reply subjects no one can guess.
pub(crate) fn random_token(len: usize) -> String {
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
            share: false,
            allow_trace: true,
        }
    }

    #[test]
    fn importer_subscriptions_show_as_the_exporter_sees_them() {
        let view = |import: &Import, local: &str| {
            String::from_utf8(exporter_view(import, local.as_bytes())).unwrap()
        };
        let prefixed = import(Some("from_a"), None, "news.>");
        assert_eq!(view(&prefixed, "from_a.>"), "news.>");
        assert_eq!(view(&prefixed, "from_a.news.sport"), "news.sport");
        let renamed = import(None, Some("alerts.local"), "alerts");
        assert_eq!(view(&renamed, "alerts.local"), "alerts");
        let plain = import(None, None, "a.*");
        assert_eq!(view(&plain, "a.b"), "a.b");
        assert_eq!(view(&plain, ">"), "a.*");
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
