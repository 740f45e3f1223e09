//! The monitoring providers over NATS: `$SYS.REQ.SERVER.PING[.<X>]` (every server answers)
//! and `$SYS.REQ.SERVER.<id>.<X>` (one server), for X in STATSZ, IDZ, VARZ, CONNZ, SUBSZ,
//! ROUTEZ, GATEWAYZ, LEAFZ, ACCOUNTZ, JSZ and HEALTHZ. The request body may carry the same
//! options as the HTTP query; the reply is nats-server's `{"server": ..., "data": ...}`.
//!
//! natsd has no system account yet, so these subjects live in the global account.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::connz::{ConnState, ConnzOptions, SubsDetail};
use super::subsz::SubszOptions;
use super::{rfc3339, BadRequest};
use crate::options::COMPATIBLE_VERSION;
use crate::server::{Server, ServerError};
use crate::subscription::InternalMsg;

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
    jetstream: bool,
    flags: u64,
    seq: u64,
    time: String,
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

/// Subscribes the request handlers; they hold the server weakly, so they do not keep it
/// alive.
pub(crate) fn subscribe(server: &Server) -> Result<(), ServerError> {
    let id = server.server_id();
    let seq = Arc::new(AtomicU64::new(0));
    let weak = Arc::downgrade(server.inner());
    let addr = server.local_addr();
    let handler = |kind: Option<&'static str>| {
        let (weak, seq) = (Weak::clone(&weak), Arc::clone(&seq));
        Arc::new(move |msg: InternalMsg| {
            if let Some(inner) = weak.upgrade() {
                let server = Server::from_inner(inner, addr);
                answer(
                    &server,
                    kind.unwrap_or("STATSZ"),
                    kind.is_none(),
                    &msg,
                    &seq,
                );
            }
        })
    };
    server.subscribe_internal("$SYS.REQ.SERVER.PING", None, handler(None))?;
    for kind in KINDS {
        server.subscribe_internal(
            &format!("$SYS.REQ.SERVER.PING.{kind}"),
            None,
            handler(Some(kind)),
        )?;
        server.subscribe_internal(
            &format!("$SYS.REQ.SERVER.{id}.{kind}"),
            None,
            handler(Some(kind)),
        )?;
    }
    Ok(())
}

fn answer(server: &Server, kind: &str, legacy_ping: bool, msg: &InternalMsg, seq: &AtomicU64) {
    let Some(reply) = msg.reply.as_ref().and_then(|r| std::str::from_utf8(r).ok()) else {
        return;
    };
    let options: Result<RequestOptions, BadRequest> =
        if msg.body.iter().all(u8::is_ascii_whitespace) {
            Ok(RequestOptions::default())
        } else {
            serde_json::from_slice(&msg.body)
                .map_err(|e| BadRequest(format!("Error decoding request: {e}")))
        };
    let opts = server.options();
    let brief = ServerBrief {
        name: server.server_name(),
        host: opts.host.clone(),
        id: server.server_id(),
        ver: COMPATIBLE_VERSION.to_owned(),
        tags: opts.server_tags.clone(),
        jetstream: false,
        flags: 0,
        seq: seq.fetch_add(1, Ordering::Relaxed) + 1,
        time: rfc3339(SystemTime::now()),
    };
    let data = options.and_then(|options| data(server, kind, &options));
    let body = match data {
        Ok(data) if kind == "STATSZ" || legacy_ping => json!({ "server": brief, "statsz": data }),
        Ok(data) => json!({ "server": brief, "data": data }),
        Err(error) => json!({ "server": brief, "error": { "code": 400, "description": error.0 } }),
    };
    server.publish_internal(reply, None, None, body.to_string().as_bytes());
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn data(server: &Server, kind: &str, options: &RequestOptions) -> Result<Value, BadRequest> {
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
        "JSZ" => to_value(&server.jsz()),
        _ => to_value(&server.healthz()),
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
        "received": { "msgs": varz.in_msgs, "bytes": varz.in_bytes },
        "slow_consumers": varz.slow_consumers,
    })
}
