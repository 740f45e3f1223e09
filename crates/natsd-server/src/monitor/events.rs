//! Client advisories, published in the system account as nats-server publishes them:
//! connect and disconnect on `$SYS.ACCOUNT.<account>.CONNECT` and `.DISCONNECT`, and
//! failed authentications on `$SYS.SERVER.<server id>.CLIENT.AUTH.ERR` (shaped as a
//! disconnect, with the reason).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde_json::json;

use super::requests::brief;
use super::rfc3339;
use crate::client_conn::ClientConn;
use crate::server::ServerInner;

/// Sequence numbers of the events this process published.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// What happened to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientEvent<'a> {
    Connect,
    Disconnect,
    /// With the user name or NKey the client presented (never a password or token).
    AuthenticationFailed(Option<&'a str>),
}

/// Publishes a client's advisory.
pub(crate) fn client_event(inner: &ServerInner, client: &ClientConn, what: ClientEvent<'_>) {
    if !inner.has_system_account() {
        return;
    }
    let conn = &client.conn;
    let details = conn.stats.details.lock().clone();
    let account = details.account_name();
    let mut client_info = json!({
        "start": rfc3339(conn.stats.start),
        "host": conn.peer.ip().to_string(),
        "id": conn.cid,
        "acc": account,
        "kind": conn.kind.as_str(),
        "client_type": conn.protocol.as_str(),
    });
    let presented = match what {
        ClientEvent::AuthenticationFailed(user) => user.map(str::to_owned),
        _ => None,
    };
    for (key, value) in [
        (
            "user",
            details.user.clone().or(presented).unwrap_or_default(),
        ),
        ("name", details.name.clone()),
        ("lang", details.lang.clone()),
        ("ver", details.version.clone()),
    ] {
        if !value.is_empty() {
            client_info[key] = json!(value);
        }
    }
    let closed = what != ClientEvent::Connect;
    let (kind, subject) = match what {
        ClientEvent::Connect => (
            "io.nats.server.advisory.v1.client_connect",
            format!("$SYS.ACCOUNT.{account}.CONNECT"),
        ),
        ClientEvent::Disconnect => (
            "io.nats.server.advisory.v1.client_disconnect",
            format!("$SYS.ACCOUNT.{account}.DISCONNECT"),
        ),
        ClientEvent::AuthenticationFailed(_) => (
            "io.nats.server.advisory.v1.client_disconnect",
            format!("$SYS.SERVER.{}.CLIENT.AUTH.ERR", inner.server_id()),
        ),
    };
    let mut event = json!({
        "type": kind,
        "id": format!("{}{}", inner.server_id(), SEQUENCE.fetch_add(1, Ordering::Relaxed)),
        "timestamp": rfc3339(SystemTime::now()),
        "server": brief(inner, &SEQUENCE),
        "client": client_info,
    });
    if closed {
        let (out_msgs, out_bytes) = conn.out_counts();
        event["sent"] = json!({ "msgs": out_msgs, "bytes": out_bytes });
        event["received"] = json!({
            "msgs": conn.stats.in_msgs.load(Ordering::Relaxed),
            "bytes": conn.stats.in_bytes.load(Ordering::Relaxed),
        });
        event["reason"] = json!(conn
            .close_reason()
            .map(|r| r.to_string())
            .unwrap_or_default());
    }
    inner
        .system_client()
        .send(subject.as_bytes(), b"", event.to_string());
}
