//! Subscriptions and where their messages go.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::client::ClientShared;

/// A message as an internal subscriber receives it.
#[derive(Debug, Clone)]
pub struct InternalMsg {
    pub subject: Bytes,
    pub reply: Option<Bytes>,
    /// The `NATS/1.0` header block, empty when the message has none.
    pub headers: Bytes,
    pub body: Bytes,
    /// The publishing client's id, when a client published it.
    pub publisher: Option<u64>,
}

/// Callback of a server-side subscriber; it runs on the publisher's task, so it must be quick
/// (hand work to a channel when it is not).
pub type InternalHandler = Arc<dyn Fn(InternalMsg) + Send + Sync>;

/// Where a subscription's messages are delivered.
pub enum Target {
    Client(Arc<ClientShared>),
    Internal(InternalHandler),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Client(c) => write!(f, "Client({})", c.cid),
            Target::Internal(_) => f.write_str("Internal"),
        }
    }
}

#[derive(Debug)]
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

impl PartialEq for SubRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::ops::Deref for SubRef {
    type Target = Subscription;
    fn deref(&self) -> &Subscription {
        &self.0
    }
}
