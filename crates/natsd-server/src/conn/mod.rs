//! The kind-neutral connection handle: who is at the other end, which account it works in,
//! what monitoring counts, where its outbound bytes wait, and how it ends. Every kind of
//! connection (client today; route, gateway, leaf and the server's internal ones as they
//! arrive) shares it; what only one kind needs lives with that kind's session.
//!
//! - [`Conn`]: the handle, shared by the connection's reader, its writer and every
//!   publisher delivering to it.
//! - `outbound`: the queue publishers append to, the writer task draining it, and the
//!   [`Flusher`] that wakes each writer once per read batch.
//! - `stream`: the byte-stream seam that TCP and TLS (and next, WebSocket) satisfy.
//! - `close`: [`CloseReason`], in nats-server's words.

mod close;
mod outbound;
mod stream;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use natsd_proto::encode::{self, MsgLine};
use natsd_proto::SharedSlice;
use parking_lot::Mutex;
use tokio::sync::Notify;

pub use close::CloseReason;
pub(crate) use outbound::write_loop;
pub use outbound::Flusher;
use outbound::{Outbound, Refused};
pub use stream::ByteStream;

/// What a connection is to the server, as nats-server tells them apart (`kind` in
/// monitoring and advisories).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnKind {
    Client,
    Router,
    Gateway,
    Leaf,
    /// The server's own connection in the system account.
    System,
    JetStream,
    /// Internal connections serving an account (imports, services).
    Account,
}

impl ConnKind {
    /// The name monitoring reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnKind::Client => "Client",
            ConnKind::Router => "Router",
            ConnKind::Gateway => "Gateway",
            ConnKind::Leaf => "Leafnode",
            ConnKind::System => "System",
            ConnKind::JetStream => "JetStream",
            ConnKind::Account => "Account",
        }
    }
}

/// The protocol a client connection speaks (`type` in monitoring, `client_type` in
/// advisories).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientProtocol {
    Nats,
    WebSocket,
    Mqtt,
}

impl ClientProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientProtocol::Nats => "nats",
            ClientProtocol::WebSocket => "websocket",
            ClientProtocol::Mqtt => "mqtt",
        }
    }
}

/// Where a connection is in its life; one state, read by every task that looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Lifecycle {
    /// Accepted and greeted; it has not been admitted yet.
    Greeted = 0,
    /// Admitted (CONNECT accepted): it may publish and subscribe.
    Connected = 1,
    /// Closing or closed before it was ever admitted.
    ClosedUnadmitted = 2,
    /// Closing or closed after it was admitted (it gets a disconnect advisory).
    Closed = 3,
}

impl Lifecycle {
    fn from_u8(value: u8) -> Lifecycle {
        match value {
            0 => Lifecycle::Greeted,
            1 => Lifecycle::Connected,
            2 => Lifecycle::ClosedUnadmitted,
            _ => Lifecycle::Closed,
        }
    }

    /// The state a close leads to from this one; `None` when already closed.
    fn closing(self) -> Option<Lifecycle> {
        match self {
            Lifecycle::Greeted => Some(Lifecycle::ClosedUnadmitted),
            Lifecycle::Connected => Some(Lifecycle::Closed),
            Lifecycle::ClosedUnadmitted | Lifecycle::Closed => None,
        }
    }
}

/// One connection, shared by its reader, its writer and every publisher that delivers
/// to it.
#[derive(Debug)]
pub struct Conn {
    pub cid: u64,
    pub kind: ConnKind,
    pub protocol: ClientProtocol,
    /// The peer's address.
    pub peer: SocketAddr,
    lifecycle: AtomicU8,
    close_reason: Mutex<Option<CloseReason>>,
    pub(crate) outbound: Outbound,
    wake_reader: Notify,
    /// What monitoring reports about the connection.
    pub(crate) stats: ConnStats,
}

impl Conn {
    pub(crate) fn new(
        cid: u64,
        kind: ConnKind,
        protocol: ClientProtocol,
        peer: SocketAddr,
        max_pending: usize,
    ) -> Self {
        Conn {
            cid,
            kind,
            protocol,
            peer,
            lifecycle: AtomicU8::new(Lifecycle::Greeted as u8),
            close_reason: Mutex::new(None),
            outbound: Outbound::new(max_pending),
            wake_reader: Notify::new(),
            stats: ConnStats::new(),
        }
    }

    pub fn lifecycle(&self) -> Lifecycle {
        Lifecycle::from_u8(self.lifecycle.load(Ordering::Acquire))
    }

    /// Whether CONNECT was accepted at some point, closed since or not.
    pub(crate) fn was_admitted(&self) -> bool {
        matches!(self.lifecycle(), Lifecycle::Connected | Lifecycle::Closed)
    }

    pub fn is_connected(&self) -> bool {
        self.lifecycle() == Lifecycle::Connected
    }

    /// Marks the connection admitted, unless it is already closing.
    pub(crate) fn set_connected(&self) {
        let _ = self.lifecycle.compare_exchange(
            Lifecycle::Greeted as u8,
            Lifecycle::Connected as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    pub fn is_closed(&self) -> bool {
        self.lifecycle.load(Ordering::Acquire) >= Lifecycle::ClosedUnadmitted as u8
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        *self.close_reason.lock()
    }

    /// Closes the connection. What is queued is still written, except for slow consumers,
    /// whose queue is dropped. Returns false if it was already closing.
    pub(crate) fn close(&self, reason: CloseReason) -> bool {
        let closed = self
            .lifecycle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                Lifecycle::from_u8(now).closing().map(|next| next as u8)
            });
        if closed.is_err() {
            return false;
        }
        *self.close_reason.lock() = Some(reason);
        if matches!(
            reason,
            CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
        ) {
            self.outbound.discard();
        }
        self.outbound.wake_all();
        self.wake_reader.notify_one();
        true
    }

    /// Bytes queued and not yet written.
    pub fn pending_bytes(&self) -> usize {
        self.outbound.pending_bytes()
    }

    /// Messages and payload bytes queued for this connection so far.
    pub(crate) fn out_counts(&self) -> (u64, u64) {
        self.outbound.out_counts()
    }

    /// Queues protocol bytes (INFO, PONG, -ERR...) and wakes the writer at once.
    pub(crate) fn send_now(&self, bytes: &[u8]) {
        if self.queue_bytes(bytes) {
            self.outbound.wake_writer();
        }
    }

    /// Sends `-ERR '<text>'`.
    pub(crate) fn send_error(&self, text: &str) {
        self.send_now(&error_line(text));
    }

    /// Queues `-ERR '<text>'` without waking the writer; the caller marks the connection in
    /// its flusher. Returns whether it was queued.
    pub(crate) fn queue_error(&self, text: &str) -> bool {
        self.queue_bytes(&error_line(text))
    }

    fn queue_bytes(&self, bytes: &[u8]) -> bool {
        if self.is_closed() {
            return false;
        }
        match self.outbound.append_bytes(bytes) {
            Ok(()) => true,
            Err(refused) => {
                self.refused(refused);
                false
            }
        }
    }

    /// Queues one message frame; the caller marks the connection in its flusher.
    pub(crate) fn queue_message(&self, line: MsgLine<'_>, payload: SharedSlice<'_>) -> bool {
        if self.is_closed() {
            return false;
        }
        match self.outbound.append_message(line, payload) {
            Ok(()) => true,
            Err(refused) => {
                self.refused(refused);
                false
            }
        }
    }

    fn refused(&self, refused: Refused) {
        match refused {
            Refused::OverMaxPending => self.close(CloseReason::SlowConsumerPendingBytes),
        };
    }

    pub(crate) async fn reader_woken(&self) {
        self.wake_reader.notified().await;
    }

    /// The account the connection is bound to, as monitoring names it.
    pub(crate) fn account_name(&self) -> String {
        self.stats.details.lock().account_name()
    }
}

/// Counters and details of one connection for monitoring; the reader task is the only
/// writer of the inbound figures.
#[derive(Debug)]
pub(crate) struct ConnStats {
    pub start: SystemTime,
    pub in_msgs: AtomicU64,
    pub in_bytes: AtomicU64,
    /// Nanoseconds since the Unix epoch of the last inbound traffic.
    pub last_activity: AtomicU64,
    /// Round trip of the last answered server PING, in nanoseconds.
    pub rtt: AtomicU64,
    pub details: Mutex<ConnDetails>,
}

impl ConnStats {
    fn new() -> Self {
        let start = SystemTime::now();
        ConnStats {
            start,
            in_msgs: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            last_activity: AtomicU64::new(unix_nanos(start)),
            rtt: AtomicU64::new(0),
            details: Mutex::new(ConnDetails::default()),
        }
    }
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn unix_nanos(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Who the peer is, as monitoring reports it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnDetails {
    pub name: String,
    pub lang: String,
    pub version: String,
    /// The authenticated user, when authentication is on.
    pub user: Option<String>,
    /// The account the connection is bound to; empty for the global account.
    pub account: String,
}

impl ConnDetails {
    /// The account's name, the global account's for empty.
    pub(crate) fn account_name(&self) -> String {
        if self.account.is_empty() {
            crate::account_config::GLOBAL_ACCOUNT.to_owned()
        } else {
            self.account.clone()
        }
    }
}

fn error_line(text: &str) -> BytesMut {
    let mut out = BytesMut::new();
    encode::err(&mut out, text);
    out
}
