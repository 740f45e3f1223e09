//! The outbound side of a connection: a queue that publishers append to and one writer task
//! drains with vectored writes.
//!
//! Publishers never write to sockets. They append frames under a short lock and mark the
//! connection in their [`Flusher`]; after a whole read buffer is processed the flusher wakes
//! each marked writer once, so one socket write carries many messages.

use std::collections::{HashMap, VecDeque};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use natsd_auth::{Credentials, Permissions, ResponsePermission};
use natsd_proto::encode::{self, MsgLine};
use natsd_proto::SharedSlice;
use parking_lot::{Mutex, RwLock};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use crate::subscription::SubRef;

/// Payloads up to this size are copied into the outbound buffer; larger ones are shared.
const COPY_PAYLOAD_MAX: usize = 2048;
/// Longest a publisher waits for slow receivers per read batch.
const STALL_LIMIT: Duration = Duration::from_millis(10);
/// Most slices handed to one vectored write.
const MAX_IOVECS: usize = 1024;

/// Why a connection was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    ClientClosed,
    ReadError,
    WriteError,
    ProtocolViolation,
    ParseError,
    MaxPayloadExceeded,
    MaxControlLineExceeded,
    MaxConnectionsExceeded,
    MaxAccountConnectionsExceeded,
    MaxSubscriptionsExceeded,
    BadClientProtocolVersion,
    NoRespondersRequiresHeaders,
    AuthenticationViolation,
    AuthenticationTimeout,
    AuthenticationExpired,
    Revocation,
    TlsHandshakeError,
    StaleConnection,
    SlowConsumerPendingBytes,
    SlowConsumerWriteDeadline,
    ServerShutdown,
}

/// The wording of nats-server's closed-connection reasons (logs and `/connz`).
impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::ReadError => "Read Error",
            CloseReason::WriteError => "Write Error",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::ParseError => "Parse Error",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::MaxAccountConnectionsExceeded => "Maximum Account Connections Exceeded",
            CloseReason::MaxSubscriptionsExceeded => "Maximum Subscriptions Exceeded",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::AuthenticationExpired => "Authentication Expired",
            CloseReason::Revocation => "Credentials Revoked",
            CloseReason::TlsHandshakeError => "TLS Handshake Failure",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::ServerShutdown => "Server Shutdown",
        })
    }
}

#[derive(Debug, Default)]
struct Queue {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    /// Messages and payload bytes queued for the client, counted under the queue's lock
    /// that every delivery takes anyway.
    out_msgs: u64,
    out_bytes: u64,
}

impl Queue {
    fn push_shared(&mut self, bytes: Bytes) {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.chunks.push_back(bytes);
    }
}

/// State of one connection shared between its reader, its writer and every publisher that
/// delivers to it.
#[derive(Debug)]
pub struct ClientShared {
    pub cid: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The client takes `HMSG` (CONNECT `headers` and server support).
    pub(crate) headers: AtomicBool,
    /// Deliver the client's own publishes back to it.
    pub(crate) echo: AtomicBool,
    /// CONNECT `protocol`; 1 means the client takes asynchronous INFO.
    pub(crate) protocol: AtomicU8,
    max_pending: usize,
    /// Bytes queued or taken by the writer and not yet written.
    pending: AtomicUsize,
    queue: Mutex<Queue>,
    wake_writer: Notify,
    wake_reader: Notify,
    /// Signalled whenever the writer finished a write, for stalled publishers.
    drained: Notify,
    flush_marked: AtomicBool,
    closed: AtomicBool,
    close_reason: Mutex<Option<CloseReason>>,
    /// Subscriptions by sid.
    pub(crate) subs: Mutex<HashMap<Bytes, SubRef>>,
    /// What monitoring reports about the connection.
    pub(crate) stats: ConnStats,
    /// The user's permissions; the flag saves unrestricted clients the lock.
    permissions: RwLock<Option<Arc<Permissions>>>,
    has_permissions: AtomicBool,
    /// Reply subjects this client may answer under `allow_responses`, with when the request
    /// arrived and how many responses went out.
    responses: Mutex<Option<Box<Responses>>>,
}

/// Reply subject -> when the request arrived and how many responses went out.
type Responses = HashMap<Bytes, (Instant, usize)>;

/// Tracked reply subjects beyond which expired ones are pruned.
const RESPONSES_PRUNE_AT: usize = 4096;

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

/// What the client said about itself in CONNECT.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnDetails {
    pub name: String,
    pub lang: String,
    pub version: String,
    /// The authenticated user, when authentication is on.
    pub user: Option<String>,
    /// Kept to check the client again when a reload changes the users (boxed: most
    /// connections carry none).
    pub credentials: Option<Box<Credentials>>,
    /// CONNECT was accepted.
    pub connected: bool,
    /// The nonce the greeting INFO carried, which NKey users sign.
    pub nonce: Option<String>,
    /// The account the client is bound to.
    pub account: String,
}

impl ClientShared {
    pub(crate) fn new(cid: u64, peer: SocketAddr, max_pending: usize) -> Self {
        ClientShared {
            cid,
            peer,
            headers: AtomicBool::new(false),
            echo: AtomicBool::new(true),
            protocol: AtomicU8::new(0),
            max_pending,
            pending: AtomicUsize::new(0),
            queue: Mutex::new(Queue::default()),
            wake_writer: Notify::new(),
            wake_reader: Notify::new(),
            drained: Notify::new(),
            flush_marked: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            close_reason: Mutex::new(None),
            subs: Mutex::new(HashMap::new()),
            stats: ConnStats::new(),
            permissions: RwLock::new(None),
            has_permissions: AtomicBool::new(false),
            responses: Mutex::new(None),
        }
    }

    pub(crate) fn set_permissions(&self, permissions: Option<Permissions>) {
        let permissions = permissions.map(Arc::new);
        self.has_permissions
            .store(permissions.is_some(), Ordering::Release);
        *self.permissions.write() = permissions;
    }

    /// The permissions in force, for reporting.
    pub(crate) fn permissions(&self) -> Option<Arc<Permissions>> {
        self.permissions.read().clone()
    }

    /// Runs `check` on the permissions in force, or answers `true` when there are none;
    /// the flag spares unrestricted clients the lock.
    fn allowed_by(&self, check: impl FnOnce(&Permissions) -> bool) -> bool {
        if !self.has_permissions.load(Ordering::Acquire) {
            return true;
        }
        self.permissions.read().as_deref().is_none_or(check)
    }

    /// Whether the client may publish to `subject`, or answer a request received on it.
    pub(crate) fn may_publish(&self, subject: &[u8]) -> bool {
        self.allowed_by(|permissions| {
            permissions.can_publish(subject)
                || permissions
                    .allow_responses
                    .is_some_and(|allowed| self.may_respond(subject, &allowed))
        })
    }

    pub(crate) fn may_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.allowed_by(|permissions| permissions.can_subscribe(subject, queue))
    }

    /// Whether a message may be delivered to this client: not on a subject its subscribe
    /// permissions deny. A request it may answer under `allow_responses` is noted.
    pub(crate) fn accepts_delivery(&self, subject: &[u8], reply: &[u8]) -> bool {
        self.allowed_by(|permissions| {
            if permissions.delivery_denied(subject) {
                return false;
            }
            if let Some(allowed) = permissions.allow_responses.filter(|_| !reply.is_empty()) {
                let mut responses = self.responses.lock();
                let responses = responses.get_or_insert_with(Box::default);
                if responses.len() >= RESPONSES_PRUNE_AT {
                    let expires = allowed.expires;
                    responses.retain(|_, (at, _)| expires.is_zero() || at.elapsed() <= expires);
                }
                responses.insert(Bytes::copy_from_slice(reply), (Instant::now(), 0));
            }
            true
        })
    }

    /// Whether a publish to `subject` answers a request received, within `allowed`.
    fn may_respond(&self, subject: &[u8], allowed: &ResponsePermission) -> bool {
        let mut responses = self.responses.lock();
        let Some(responses) = responses.as_mut() else {
            return false;
        };
        let Some((at, sent)) = responses.get_mut(subject) else {
            return false;
        };
        *sent += 1;
        let over = allowed.max_msgs > 0 && *sent > allowed.max_msgs;
        let expired = !allowed.expires.is_zero() && at.elapsed() > allowed.expires;
        if over || expired {
            responses.remove(subject);
            return false;
        }
        true
    }

    /// Bytes queued and not yet written.
    pub fn pending_bytes(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Messages and payload bytes queued for this client so far.
    pub(crate) fn out_counts(&self) -> (u64, u64) {
        let queue = self.queue.lock();
        (queue.out_msgs, queue.out_bytes)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        *self.close_reason.lock()
    }

    /// Closes the connection. What is queued is still written, except for slow consumers,
    /// whose queue is dropped. Returns false if it was already closing.
    pub(crate) fn close(&self, reason: CloseReason) -> bool {
        if self.closed.swap(true, Ordering::AcqRel) {
            return false;
        }
        *self.close_reason.lock() = Some(reason);
        if matches!(
            reason,
            CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
        ) {
            let mut queue = self.queue.lock();
            queue.chunks.clear();
            queue.tail.clear();
        }
        self.wake_writer.notify_one();
        self.wake_reader.notify_one();
        self.drained.notify_waiters();
        true
    }

    /// Above three quarters of max pending, publishers to this client wait for its writer
    /// (nats-server's fast-producer stall), rather than run it into the limit.
    fn over_stall_threshold(&self) -> bool {
        self.pending.load(Ordering::Acquire) > self.stall_threshold()
    }

    fn stall_threshold(&self) -> usize {
        self.max_pending / 4 * 3
    }

    /// Queues protocol bytes (INFO, PONG, -ERR...) and wakes the writer at once.
    pub(crate) fn send_now(&self, bytes: &[u8]) {
        if self.append(|queue| queue.tail.extend_from_slice(bytes), bytes.len()) {
            self.wake_writer.notify_one();
        }
    }

    /// Queues one message frame: control line, payload, CRLF, encoded straight into the
    /// queue. Small payloads are copied, large ones shared.
    pub(crate) fn queue_message(&self, line: MsgLine<'_>, payload: SharedSlice<'_>) -> bool {
        let size = line.len() + payload.len() + 2;
        self.append(
            |queue| {
                queue.out_msgs += 1;
                queue.out_bytes += payload.len() as u64;
                line.write(&mut queue.tail);
                if payload.len() <= COPY_PAYLOAD_MAX {
                    queue.tail.extend_from_slice(payload.as_slice());
                } else {
                    queue.push_shared(payload.to_bytes());
                }
                queue.tail.extend_from_slice(encode::CRLF);
            },
            size,
        )
    }

    fn append(&self, write: impl FnOnce(&mut Queue), size: usize) -> bool {
        if self.is_closed() {
            return false;
        }
        // Counted before queueing, so the writer never accounts bytes not yet counted.
        let before = self.pending.fetch_add(size, Ordering::AcqRel);
        if before + size > self.max_pending {
            self.pending.fetch_sub(size, Ordering::AcqRel);
            self.close(CloseReason::SlowConsumerPendingBytes);
            return false;
        }
        write(&mut self.queue.lock());
        true
    }

    /// Takes everything queued, oldest first; it stays counted as pending until written.
    fn take_queued(&self, into: &mut Vec<Bytes>) {
        let mut queue = self.queue.lock();
        into.extend(queue.chunks.drain(..));
        if !queue.tail.is_empty() {
            let tail = queue.tail.split().freeze();
            into.push(tail);
        }
    }

    /// Accounts written bytes; stalled publishers are woken when the backlog falls below
    /// the stall threshold.
    fn written(&self, bytes: usize) {
        let before = self.pending.fetch_sub(bytes, Ordering::AcqRel);
        let threshold = self.stall_threshold();
        if before > threshold && before.saturating_sub(bytes) <= threshold {
            self.drained.notify_waiters();
        }
    }

    pub(crate) async fn reader_woken(&self) {
        self.wake_reader.notified().await;
    }
}

/// Collects the connections a publisher queued messages for, to wake each writer once,
/// and those it must wait for because they fell too far behind.
#[derive(Debug, Default)]
pub struct Flusher {
    marked: Vec<Arc<ClientShared>>,
    stalled: Vec<Arc<ClientShared>>,
}

impl Flusher {
    pub(crate) fn mark(&mut self, client: &Arc<ClientShared>) {
        if !client.flush_marked.swap(true, Ordering::AcqRel) {
            self.marked.push(Arc::clone(client));
        }
        if client.over_stall_threshold() && !self.stalled.iter().any(|c| Arc::ptr_eq(c, client)) {
            self.stalled.push(Arc::clone(client));
        }
    }

    /// Waits until every stalled receiver is below the threshold (or closed), at most
    /// [`STALL_LIMIT`] per read batch as nats-server does, so a stuck receiver slows its
    /// publishers only briefly; its own limits then close it.
    pub(crate) async fn wait_for_stalled(&mut self) {
        if self.stalled.is_empty() {
            return;
        }
        let until = tokio::time::Instant::now() + STALL_LIMIT;
        for client in self.stalled.drain(..) {
            loop {
                let drained = client.drained.notified();
                if client.is_closed() || !client.over_stall_threshold() {
                    break;
                }
                if tokio::time::timeout_at(until, drained).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Wakes every marked writer.
    /// Wakes every marked writer; returns whether there were any.
    pub fn flush(&mut self) -> bool {
        let woke = !self.marked.is_empty();
        for client in self.marked.drain(..) {
            client.flush_marked.store(false, Ordering::Release);
            client.wake_writer.notify_one();
        }
        woke
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Drains the connection's queue into the socket until the connection closes.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    client: Arc<ClientShared>,
    mut socket: W,
    write_deadline: Duration,
) {
    let mut batch = Vec::new();
    loop {
        client.take_queued(&mut batch);
        if batch.is_empty() {
            if client.is_closed() {
                break;
            }
            client.wake_writer.notified().await;
            continue;
        }
        let write = write_all(&client, &mut socket, &mut batch);
        match tokio::time::timeout(write_deadline, write).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                client.close(CloseReason::WriteError);
                break;
            }
            Err(_) => {
                client.close(CloseReason::SlowConsumerWriteDeadline);
                break;
            }
        }
    }
    // The peer may already be gone; nothing is left to report it to.
    let _ = socket.shutdown().await;
}

async fn write_all<W: AsyncWrite + Unpin>(
    client: &ClientShared,
    socket: &mut W,
    batch: &mut Vec<Bytes>,
) -> std::io::Result<()> {
    let mut first = 0;
    while first < batch.len() {
        let end = batch.len().min(first + MAX_IOVECS);
        let slices: Vec<IoSlice<'_>> = batch[first..end].iter().map(|b| IoSlice::new(b)).collect();
        let mut written = socket.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        client.written(written);
        while written > 0 {
            let Some(chunk) = batch.get_mut(first) else {
                break;
            };
            if written >= chunk.len() {
                written -= chunk.len();
                first += 1;
            } else {
                chunk.advance(written);
                written = 0;
            }
        }
    }
    batch.clear();
    Ok(())
}
