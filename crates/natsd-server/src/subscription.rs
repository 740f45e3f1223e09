//! Subscriptions, the messages they receive, and the [`Deliver`] seam through which each
//! kind of subscriber takes a message in its own framing (`MSG`/`HMSG` for clients, a
//! callback for internal subscribers; `RMSG`, `LMSG` and MQTT `PUBLISH` as those arrive).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use natsd_proto::SharedSlice;

use crate::conn::Flusher;

/// A message on its way to subscribers.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The publishing connection's id, when a connection published it (for `echo`).
    pub publisher: Option<u64>,
    pub subject: &'a [u8],
    pub reply: &'a [u8],
    /// Header block length; 0 when the message carries no headers.
    pub header_len: usize,
    /// Header length as the publisher wrote it (repeated verbatim in `HMSG`).
    pub header_len_text: &'a [u8],
    /// Total size as the publisher wrote it (repeated verbatim in `MSG`/`HMSG`).
    pub size_text: &'a [u8],
    /// Header block followed by the body.
    pub payload: SharedSlice<'a>,
}

/// A subscriber: what owns subscriptions and takes their messages.
pub trait Deliver: Send + Sync {
    /// Whether a message may go to this subscriber, or why not: not its own publish when
    /// it asked for no echo, not denied by its permissions, not closed. A subscriber that
    /// tracks the requests it may answer notes the reply here.
    fn accepts(&self, message: &Message<'_>) -> Result<(), Refusal>;

    /// Queues the message for `sub` in the subscriber's framing, marking what must be
    /// woken in `flusher`.
    fn write(&self, sub: &Subscription, message: &Message<'_>, flusher: &mut Flusher);

    /// The connection id, for subscribers that are connections.
    fn cid(&self) -> Option<u64> {
        None
    }

    /// The connection's name as its CONNECT gave it, for subscribers that are connections.
    fn name(&self) -> Option<String> {
        None
    }

    /// For a subscriber that carries messages into another account (an import), where a
    /// message on `subject` goes: traced messages report it.
    fn hop(&self, _subject: &[u8]) -> Option<Hop> {
        None
    }

    /// Whether a traced message goes on being traced past this subscriber (an import
    /// that allows tracing), through [`Deliver::write_traced`].
    fn forwards_traces(&self) -> bool {
        false
    }

    /// Like [`Deliver::write`], noting in `trace` where the message goes next; with a
    /// trace-only message, only notes it.
    fn write_traced(
        &self,
        sub: &Subscription,
        message: &Message<'_>,
        flusher: &mut Flusher,
        _trace: &mut Trace,
    ) {
        self.write(sub, message, flusher);
    }

    /// Drops `sub` from the subscriber's own records once it reached its delivery limit.
    fn forget(&self, _sub: &SubRef) {}
}

/// Why a subscription did not take a message; traced messages report it, in
/// nats-server's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NoEcho,
    SubjectDenied,
    SubscriptionClosed,
    ClientClosed,
    AutoUnsubscribeExceeded,
}

impl Refusal {
    pub fn text(self) -> &'static str {
        match self {
            Refusal::NoEcho => "Not delivered because of no echo",
            Refusal::SubjectDenied => "Not delivered because subscription denies this subject",
            Refusal::SubscriptionClosed => "Not delivered because subscription is closed",
            Refusal::ClientClosed => "Not delivered because client is closed",
            Refusal::AutoUnsubscribeExceeded => "Not delivered because auto-unsubscribe exceeded",
        }
    }
}

/// An import a message crossed into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hop {
    /// A stream export took it into the importing `account`, as `to`.
    StreamExport { account: String, to: Vec<u8> },
    /// A service import took a request on `from` into the exporting `account`, as `to`.
    ServiceImport {
        account: String,
        from: Vec<u8>,
        to: Vec<u8>,
    },
}

/// The header that asks for a message to be traced, and names where to.
pub const TRACE_DEST: &str = "Nats-Trace-Dest";
/// Its value once tracing was turned off on the way.
pub const TRACE_DISABLED: &str = "trace disabled";

/// What a traced message did on its way out.
#[derive(Debug, Default)]
pub struct Trace {
    /// `Nats-Trace-Only`: note where the message would go, deliver it nowhere.
    pub only: bool,
    pub events: Vec<TraceEvent>,
}

/// One step of a traced message, in order.
#[derive(Debug)]
pub enum TraceEvent {
    /// A subject mapping sent the message to `to`.
    Mapping {
        at: SystemTime,
        to: Vec<u8>,
    },
    Egress(Egress),
    /// Into another account through an import; the trace stops there unless the import
    /// allows tracing.
    Hop {
        at: SystemTime,
        hop: Hop,
    },
}

/// One connection a traced message reached (or, trace-only, would have).
#[derive(Debug)]
pub struct Egress {
    pub at: SystemTime,
    pub cid: u64,
    pub name: String,
    /// The subscription's subject, as the account the message was published in sees it.
    pub subject: Bytes,
    pub queue: Option<Bytes>,
    /// The connection's account, when the trace followed the message into another one.
    pub account: Option<String>,
    /// Why it was not delivered there, when it was not.
    pub error: Option<Refusal>,
}

/// Where a subscription's messages go.
pub type Target = Arc<dyn Deliver>;

pub struct Subscription {
    pub sid: Bytes,
    pub subject: Bytes,
    pub queue: Option<Bytes>,
    pub target: Target,
    delivered: AtomicU64,
    /// Auto-unsubscribe after this many deliveries; 0 means none.
    max: AtomicU64,
    closed: AtomicBool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("sid", &self.sid)
            .field("subject", &self.subject)
            .field("queue", &self.queue)
            .field("cid", &self.target.cid())
            .finish()
    }
}

impl Subscription {
    pub fn new(subject: Bytes, queue: Option<Bytes>, sid: Bytes, target: Target) -> Self {
        Subscription {
            sid,
            subject,
            queue,
            target,
            delivered: AtomicU64::new(0),
            max: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// The auto-unsubscribe limit; 0 when there is none.
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Acquire)
    }

    pub fn set_max(&self, max: u64) {
        self.max.store(max, Ordering::Release);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the subscription closed; returns false if it already was.
    pub fn close(&self) -> bool {
        !self.closed.swap(true, Ordering::AcqRel)
    }

    /// Counts one delivery. Returns `None` when the auto-unsubscribe limit was already reached
    /// (nothing is delivered), else whether this delivery is the last one allowed.
    pub fn take_delivery(&self) -> Option<bool> {
        let n = self.delivered.fetch_add(1, Ordering::AcqRel) + 1;
        match self.max.load(Ordering::Acquire) {
            0 => Some(false),
            max if n < max => Some(false),
            max if n == max => Some(true),
            _ => None,
        }
    }
}

/// A shared subscription compared by identity, as the sublist stores it.
#[derive(Debug, Clone)]
pub struct SubRef(pub Arc<Subscription>);

/// A subscription is itself: equal and hashed by identity.
impl PartialEq for SubRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SubRef {}

impl std::hash::Hash for SubRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.0), state);
    }
}

impl std::ops::Deref for SubRef {
    type Target = Subscription;
    fn deref(&self) -> &Subscription {
        &self.0
    }
}
