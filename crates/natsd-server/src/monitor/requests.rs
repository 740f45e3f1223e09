//! The monitoring providers over NATS: `$SYS.REQ.SERVER.PING[.<X>]` (every server answers)
//! and `$SYS.REQ.SERVER.<id>.<X>` (one server), for X in STATSZ, IDZ, VARZ, CONNZ, SUBSZ,
//! ROUTEZ, GATEWAYZ, LEAFZ, ACCOUNTZ, JSZ and HEALTHZ. The request body may carry the same
//! options as the HTTP query; the reply is nats-server's `{"server": ..., "data": ...}`.
//!
//! They live in the system account (the global one without), served by the server's
//! internal client there; every other account gets USER.INFO and its own CONNZ as it
//! loads. The whole is an [`Extension`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::connz::{ConnState, ConnzOptions, SubsDetail};
use super::subsz::SubszOptions;
use super::{rfc3339, BadRequest};
use crate::account::Account;
use crate::conn::{ConnKind, Flusher};
use crate::internal::{InternalClient, InternalMsg};
use crate::options::COMPATIBLE_VERSION;
use crate::server::{Extension, Server, ServerError, ServerInner};

const KINDS: [&str; 11] = [
    "STATSZ", "IDZ", "VARZ", "CONNZ", "SUBSZ", "ROUTEZ", "GATEWAYZ", "LEAFZ", "ACCOUNTZ", "JSZ",
    "HEALTHZ",
];

/// Who answered, as nats-server describes itself in system replies.
#[derive(Debug, Clone, Serialize)]
struct ServerBrief {
    name: String,
    host: String,
    id: String,
    ver: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
    /// nats-server's switches for its JetStream internals; natsd has none.
    feature_flags: serde_json::Map<String, Value>,
    jetstream: bool,
    flags: u64,
    seq: u64,
    time: String,
}

/// This server as system replies and events describe it.
pub(crate) fn brief(server: &ServerInner, seq: &AtomicU64) -> Value {
    let opts = server.opts();
    to_value(&ServerBrief {
        name: server.server_name(),
        host: opts.host.clone(),
        id: server.server_id(),
        ver: COMPATIBLE_VERSION.to_owned(),
        tags: opts.server_tags.clone(),
        feature_flags: serde_json::Map::new(),
        jetstream: server.jetstream.read().is_some(),
        flags: 0,
        seq: seq.fetch_add(1, Ordering::Relaxed) + 1,
        time: rfc3339(SystemTime::now()),
    })
}

/// The options a request body may carry, under nats-server's JSON names.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RequestOptions {
    sort: Option<String>,
    auth: bool,
    subscriptions: bool,
    subscriptions_detail: bool,
    offset: usize,
    limit: usize,
    cid: u64,
    state: Option<String>,
    user: Option<String>,
    acc: Option<String>,
    test: Option<String>,
    account: Option<String>,
}

impl RequestOptions {
    fn connz(&self) -> Result<ConnzOptions, BadRequest> {
        let state = match self.state.as_deref() {
            None | Some("" | "open") => ConnState::Open,
            Some("closed") => ConnState::Closed,
            Some("any" | "all") => ConnState::All,
            Some(other) => return Err(BadRequest(format!("Error decoding state for {other}"))),
        };
        let subs = if self.subscriptions_detail {
            SubsDetail::Detail
        } else if self.subscriptions {
            SubsDetail::List
        } else {
            SubsDetail::None
        };
        Ok(ConnzOptions {
            sort: self.sort.clone(),
            auth: self.auth,
            subs,
            offset: self.offset,
            limit: self.limit,
            cid: (self.cid > 0).then_some(self.cid),
            state,
            user: self.user.clone(),
            account: self.acc.clone(),
        })
    }

    fn subsz(&self) -> SubszOptions {
        SubszOptions {
            subs: self.subscriptions,
            offset: self.offset,
            limit: self.limit,
            test: self.test.clone(),
        }
    }
}

/// Where a request came from, and what it may see.
#[derive(Debug, Clone)]
struct Scope {
    /// Bound to the account the request was published in; the reply goes there.
    client: InternalClient,
    /// Requests from outside the system account see only their own account.
    own_account_only: bool,
}

/// The monitoring providers over NATS, and the per-account services, as an extension.
pub(crate) struct SystemServices;

impl Extension for SystemServices {
    fn started(&self, server: &Server) -> Result<(), ServerError> {
        subscribe(server)
    }

    fn account_loaded(&self, server: &Server, account: &Arc<Account>) -> Result<(), ServerError> {
        serve_account(server.inner(), Arc::clone(account))
    }
}

/// Subscribes the request handlers in the system account. Handlers hold the server
/// weakly, so they do not keep it alive.
fn subscribe(server: &Server) -> Result<(), ServerError> {
    let inner = server.inner();
    let id = server.server_id();
    let system = Scope {
        client: inner.system_client().clone(),
        own_account_only: false,
    };
    let seq = Arc::new(AtomicU64::new(0));
    let subscribe = |subject: String, kind: Option<&'static str>| {
        subscribe_one(inner, &seq, subject, kind, &system)
    };
    subscribe("$SYS.REQ.SERVER.PING".to_owned(), None)?;
    for kind in KINDS {
        subscribe(format!("$SYS.REQ.SERVER.PING.{kind}"), Some(kind))?;
        subscribe(format!("$SYS.REQ.SERVER.{id}.{kind}"), Some(kind))?;
    }
    subscribe("$SYS.REQ.USER.INFO".to_owned(), Some("USERINFO"))
}

/// The services every account other than the system one gets: `$SYS.REQ.USER.INFO`, and
/// CONNZ limited to its own connections. Accounts from JWTs get them when first used.
fn serve_account(inner: &Arc<ServerInner>, account: Arc<Account>) -> Result<(), ServerError> {
    if !inner.has_system_account() || Arc::ptr_eq(&account, &inner.system_account()) {
        return Ok(());
    }
    let scope = Scope {
        client: InternalClient::new(account, ConnKind::Account),
        own_account_only: true,
    };
    let seq = Arc::new(AtomicU64::new(0));
    for (subject, kind) in [
        ("$SYS.REQ.USER.INFO", "USERINFO"),
        ("$SYS.REQ.SERVER.PING.CONNZ", "CONNZ"),
        ("$SYS.REQ.ACCOUNT.PING.CONNZ", "CONNZ"),
    ] {
        subscribe_one(inner, &seq, subject.to_owned(), Some(kind), &scope)?;
    }
    Ok(())
}

/// Subscribes one request subject in the scope's account. Handlers hold the server
/// weakly, so they do not keep it alive.
fn subscribe_one(
    inner: &Arc<ServerInner>,
    seq: &Arc<AtomicU64>,
    subject: String,
    kind: Option<&'static str>,
    scope: &Scope,
) -> Result<(), ServerError> {
    let (weak, seq, handler_scope) = (Arc::downgrade(inner), Arc::clone(seq), scope.clone());
    let handler = Arc::new(move |msg: InternalMsg, flusher: &mut Flusher| {
        if let Some(inner) = Weak::upgrade(&weak) {
            let server = Server::from_inner(inner);
            let request = Request {
                kind: kind.unwrap_or("STATSZ"),
                legacy_ping: kind.is_none(),
                scope: &handler_scope,
            };
            answer(&server, &request, &msg, &seq, flusher);
        }
    });
    scope
        .client
        .subscribe(&subject, None, handler)
        .map(|_| ())
        .map_err(|_| ServerError::InvalidSubject)
}

struct Request<'a> {
    kind: &'a str,
    legacy_ping: bool,
    scope: &'a Scope,
}

fn answer(
    server: &Server,
    request: &Request<'_>,
    msg: &InternalMsg,
    seq: &AtomicU64,
    flusher: &mut Flusher,
) {
    let Some(reply) = msg.reply.as_ref() else {
        return;
    };
    let options: Result<RequestOptions, BadRequest> =
        if msg.body().iter().all(u8::is_ascii_whitespace) {
            Ok(RequestOptions::default())
        } else {
            serde_json::from_slice(msg.body())
                .map_err(|e| BadRequest(format!("Error decoding request: {e}")))
        };
    let brief = brief(server.inner(), seq);
    let data = options.and_then(|mut options| {
        if request.scope.own_account_only {
            options.acc = Some(request.scope.client.account().name.clone());
        }
        match request.kind {
            "USERINFO" => Ok(user_info(server, msg.publisher)),
            kind => data(server, kind, &options, msg.body()),
        }
    });
    let body = match data {
        Ok(data) if request.kind == "STATSZ" || request.legacy_ping => {
            json!({ "server": brief, "statsz": data })
        }
        // nats-server answers IDZ with the bare identity, unwrapped.
        Ok(data) if request.kind == "IDZ" => data,
        Ok(data) => json!({ "server": brief, "data": data }),
        Err(error) => json!({ "server": brief, "error": { "code": 400, "description": error.0 } }),
    };
    request
        .scope
        .client
        .publish(reply, b"", 0, body.to_string().into(), flusher);
}

/// `$SYS.REQ.USER.INFO`: the requesting client's user, account and permissions.
fn user_info(server: &Server, publisher: Option<u64>) -> Value {
    let Some(client) = publisher.and_then(|cid| server.inner().client(cid)) else {
        return Value::Null;
    };
    let details = client.conn.stats.details.lock().clone();
    let mut info = json!({
        "account": details.account_name(),
        "user": details.user.unwrap_or_default(),
        "expires": 0,
    });
    if let Some(permissions) = client.permits.get() {
        info["permissions"] = permissions_json(&permissions);
    }
    info
}

/// Permissions in the shape nats-server reports them.
fn permissions_json(permissions: &natsd_auth::Permissions) -> Value {
    let rule = |rule: &natsd_auth::SubjectRule| {
        let list = |entries: &Option<Vec<natsd_auth::permissions::Entry>>| {
            entries.as_ref().map(|entries| {
                entries
                    .iter()
                    .map(|e| match &e.queue {
                        Some(queue) => format!("{} {queue}", e.subject),
                        None => e.subject.clone(),
                    })
                    .collect::<Vec<_>>()
            })
        };
        let mut value = json!({});
        if let Some(allow) = list(&rule.allow) {
            value["allow"] = json!(allow);
        }
        if let Some(deny) = list(&rule.deny) {
            value["deny"] = json!(deny);
        }
        value
    };
    let mut value = json!({
        "publish": rule(&permissions.publish),
        "subscribe": rule(&permissions.subscribe),
    });
    if let Some(responses) = &permissions.allow_responses {
        value["responses"] = json!({
            "max": responses.max_msgs,
            "ttl": u64::try_from(responses.expires.as_nanos()).unwrap_or(u64::MAX),
        });
    }
    value
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The options of the requests whose options are their own (`JSZ`, `HEALTHZ`).
fn own_options<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, BadRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| BadRequest(format!("Error decoding request: {e}")))
}

fn data(
    server: &Server,
    kind: &str,
    options: &RequestOptions,
    body: &[u8],
) -> Result<Value, BadRequest> {
    Ok(match kind {
        "STATSZ" => statsz(server),
        "IDZ" => json!({
            "name": server.server_name(),
            "host": server.options().host,
            "id": server.server_id(),
        }),
        "VARZ" => to_value(&server.varz()),
        "CONNZ" => to_value(&server.connz(&options.connz()?)?),
        "SUBSZ" => to_value(&server.subsz(&options.subsz())?),
        "ROUTEZ" => to_value(&server.routez()),
        "GATEWAYZ" => to_value(&server.gatewayz()),
        "LEAFZ" => to_value(&server.leafz()),
        "ACCOUNTZ" => to_value(&server.accountz(options.account.as_deref())),
        "JSZ" => to_value(&server.jsz(&own_options(body)?)?),
        _ => to_value(&server.healthz(&own_options(body)?)),
    })
}

/// The periodic statistics nats-server publishes and answers to `PING`.
fn statsz(server: &Server) -> Value {
    let varz = server.varz();
    json!({
        "start": varz.start,
        "mem": varz.mem,
        "cores": varz.cores,
        "cpu": varz.cpu,
        "connections": varz.connections,
        "total_connections": varz.total_connections,
        "active_accounts": usize::from(varz.connections > 0),
        "subscriptions": varz.subscriptions,
        "sent": { "msgs": varz.out_msgs, "bytes": varz.out_bytes },
        "sent_to_clients": { "msgs": varz.out_client_msgs, "bytes": varz.out_client_bytes },
        "received": { "msgs": varz.in_msgs, "bytes": varz.in_bytes },
        "received_from_clients": { "msgs": varz.in_client_msgs, "bytes": varz.in_client_bytes },
        "slow_consumers": varz.slow_consumers,
        // This server alone: natsd does not cluster yet.
        "active_servers": 1,
        "gomaxprocs": varz.gomaxprocs,
    })
}
