//! Internal clients: how the server's own services (the `$SYS` requests, events, imports,
//! the account resolver, and JetStream from its own crate) subscribe and publish inside an
//! account, through the same index and fan-out as client connections.
//!
//! A handler runs on the publisher's task with the publisher's [`Flusher`], so what it
//! publishes in turn is woken with the rest of that batch and stalls that publisher when a
//! receiver falls behind, exactly as a client's publish would. Publishing from a handler
//! that was reached by publishing from a handler... stops at a fixed depth, so imports
//! that feed each other cannot recurse forever.

use std::cell::Cell;
use std::sync::Arc;

use bytes::Bytes;
use natsd_proto::encode;

use crate::account::Account;
use crate::conn::{ConnKind, Flusher};
use crate::delivery::deliver;
use crate::subscription::{Deliver, Hop, Message, Refusal, SubRef, Subscription, Trace};

/// How many internal publishes one message may pass through.
const MAX_DEPTH: usize = 8;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// A message as an internal subscriber receives it. Its bytes are a copy: they do not pin
/// the publisher's read buffer however long the subscriber keeps them.
#[derive(Debug, Clone)]
pub struct InternalMsg {
    pub subject: Bytes,
    pub reply: Option<Bytes>,
    /// The `NATS/1.0` header block followed by the body.
    pub payload: Bytes,
    /// Length of the header block; 0 when the message has none.
    pub header_len: usize,
    /// The publishing client's id, when a client published it.
    pub publisher: Option<u64>,
}

impl InternalMsg {
    /// The `NATS/1.0` header block, empty when the message has none.
    pub fn headers(&self) -> &[u8] {
        self.payload.get(..self.header_len).unwrap_or_default()
    }

    pub fn body(&self) -> &[u8] {
        self.payload.get(self.header_len..).unwrap_or_default()
    }
}

/// Callback of an internal subscriber. It runs on the publisher's task, so it must be quick
/// (hand work to a channel when it is not); the flusher is the publisher's, for whatever
/// the handler publishes in turn.
pub type InternalHandler = Arc<dyn Fn(InternalMsg, &mut Flusher) + Send + Sync>;

/// Callback of an import's subscription, which carries messages into another account.
/// For a traced message whose import allows tracing it is given the trace, to go on
/// noting where the message goes there.
pub type ImportHandler = Arc<dyn Fn(InternalMsg, &mut Flusher, Option<&mut Trace>) + Send + Sync>;

/// A subscription of an internal client; dropping it does not unsubscribe, call
/// [`InternalClient::unsubscribe`].
#[derive(Debug, Clone)]
pub struct InternalSubscription(pub(crate) SubRef);

/// The subject was not a valid subscription subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid subject")]
pub struct InvalidSubject;

/// A server-side client bound to one account.
#[derive(Debug, Clone)]
pub struct InternalClient {
    account: Arc<Account>,
    kind: ConnKind,
}

impl InternalClient {
    pub(crate) fn new(account: Arc<Account>, kind: ConnKind) -> Self {
        InternalClient { account, kind }
    }

    pub fn account(&self) -> &Arc<Account> {
        &self.account
    }

    pub fn kind(&self) -> ConnKind {
        self.kind
    }

    /// Subscribes `handler` to `subject` (in `queue`, when given).
    pub fn subscribe(
        &self,
        subject: &str,
        queue: Option<&str>,
        handler: InternalHandler,
    ) -> Result<InternalSubscription, InvalidSubject> {
        self.subscribe_as(subject, queue, Handler::Plain(handler))
    }

    /// Subscribes `handler`, which carries messages into another account, to `subject`;
    /// `hop_of` says where a message goes, for traced messages to report, and
    /// `allow_trace` whether their trace goes on there.
    pub fn subscribe_import(
        &self,
        subject: &str,
        handler: ImportHandler,
        hop_of: HopOf,
        allow_trace: bool,
    ) -> Result<InternalSubscription, InvalidSubject> {
        let import = Handler::Import {
            forward: handler,
            hop_of,
            allow_trace,
        };
        self.subscribe_as(subject, None, import)
    }

    fn subscribe_as(
        &self,
        subject: &str,
        queue: Option<&str>,
        handler: Handler,
    ) -> Result<InternalSubscription, InvalidSubject> {
        let sub = SubRef(Arc::new(Subscription::new(
            Bytes::copy_from_slice(subject.as_bytes()),
            queue.map(|q| Bytes::copy_from_slice(q.as_bytes())),
            Bytes::new(),
            Arc::new(handler),
        )));
        self.account
            .subscribe(sub.clone())
            .map_err(|_| InvalidSubject)?;
        Ok(InternalSubscription(sub))
    }

    pub fn unsubscribe(&self, sub: &InternalSubscription) {
        self.account.unsubscribe(&sub.0);
    }

    /// Publishes `payload` (a header block of `header_len` bytes, then the body) on
    /// `subject`; returns whether anything received it. Receivers are marked in `flusher`:
    /// a caller on its own task flushes it (or drops it) and may wait for stalled receivers
    /// with [`Flusher::wait_for_stalled`].
    pub fn publish(
        &self,
        subject: &[u8],
        reply: &[u8],
        header_len: usize,
        payload: Bytes,
        flusher: &mut Flusher,
    ) -> bool {
        self.publish_traced(subject, reply, header_len, payload, flusher, None)
    }

    /// [`InternalClient::publish`] of a traced message, noting in `trace` where it goes.
    pub(crate) fn publish_traced(
        &self,
        subject: &[u8],
        reply: &[u8],
        header_len: usize,
        payload: Bytes,
        flusher: &mut Flusher,
        trace: Option<&mut Trace>,
    ) -> bool {
        let depth = DEPTH.get();
        if depth >= MAX_DEPTH || header_len > payload.len() {
            return false;
        }
        let result = self.account.matches(subject);
        if result.is_empty() {
            return false;
        }
        let header_text = encode::decimal(header_len);
        let size_text = encode::decimal(payload.len());
        let message = Message {
            publisher: None,
            subject,
            reply,
            header_len,
            header_len_text: header_text.as_bytes(),
            size_text: size_text.as_bytes(),
            payload: natsd_proto::SharedSlice::whole(&payload),
        };
        DEPTH.set(depth + 1);
        let delivered = deliver(&self.account, &result, &message, flusher, trace);
        DEPTH.set(depth);
        delivered
    }

    /// Publishes a body without headers, on the caller's own task: receivers are woken
    /// when this returns.
    pub fn send(&self, subject: &[u8], reply: &[u8], body: impl Into<Bytes>) -> bool {
        let mut flusher = Flusher::default();
        self.publish(subject, reply, 0, body.into(), &mut flusher)
    }
}

/// An internal subscriber as a delivery target: it takes every message it matched, as an
/// [`InternalMsg`] with its own copy of the bytes.
enum Handler {
    Plain(InternalHandler),
    Import {
        forward: ImportHandler,
        hop_of: HopOf,
        allow_trace: bool,
    },
}

/// Where an import's subscription takes a message on a given subject, if anywhere.
pub type HopOf = Arc<dyn Fn(&[u8]) -> Option<Hop> + Send + Sync>;

impl Deliver for Handler {
    fn accepts(&self, _message: &Message<'_>) -> Result<(), Refusal> {
        Ok(())
    }

    fn hop(&self, subject: &[u8]) -> Option<Hop> {
        match self {
            Handler::Plain(_) => None,
            Handler::Import { hop_of, .. } => hop_of(subject),
        }
    }

    fn forwards_traces(&self) -> bool {
        matches!(
            self,
            Handler::Import {
                allow_trace: true,
                ..
            }
        )
    }

    fn write(&self, _sub: &Subscription, message: &Message<'_>, flusher: &mut Flusher) {
        let msg = owned(message);
        match self {
            Handler::Plain(handler) => handler(msg, flusher),
            Handler::Import { forward, .. } => forward(msg, flusher, None),
        }
    }

    fn write_traced(
        &self,
        sub: &Subscription,
        message: &Message<'_>,
        flusher: &mut Flusher,
        trace: &mut Trace,
    ) {
        match self {
            Handler::Import { forward, .. } => forward(owned(message), flusher, Some(trace)),
            Handler::Plain(_) => self.write(sub, message, flusher),
        }
    }
}

/// A message as an internal subscriber keeps it.
fn owned(message: &Message<'_>) -> InternalMsg {
    InternalMsg {
        subject: Bytes::copy_from_slice(message.subject),
        reply: (!message.reply.is_empty()).then(|| Bytes::copy_from_slice(message.reply)),
        payload: Bytes::copy_from_slice(message.payload.as_slice()),
        header_len: message.header_len,
        publisher: message.publisher,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn publishing_from_handlers_stops_at_the_depth_limit() {
        let client = InternalClient::new(Arc::new(Account::new("A", true)), ConnKind::Account);
        let received = Arc::new(AtomicUsize::new(0));
        let (again, count) = (client.clone(), Arc::clone(&received));
        client
            .subscribe(
                "loop",
                None,
                Arc::new(move |msg: InternalMsg, flusher: &mut Flusher| {
                    count.fetch_add(1, Ordering::Relaxed);
                    again.publish(b"loop", b"", 0, msg.payload, flusher);
                }),
            )
            .unwrap();
        assert!(client.send(b"loop", b"", "x"));
        assert_eq!(received.load(Ordering::Relaxed), MAX_DEPTH);
    }

    #[test]
    fn a_received_message_owns_its_bytes() {
        let client = InternalClient::new(Arc::new(Account::new("A", true)), ConnKind::Account);
        let kept = Arc::new(parking_lot::Mutex::new(None));
        let keep = Arc::clone(&kept);
        client
            .subscribe(
                "s",
                None,
                Arc::new(move |msg: InternalMsg, _: &mut Flusher| *keep.lock() = Some(msg)),
            )
            .unwrap();
        let mut read_buffer = bytes::BytesMut::from(&b"NATS/1.0\r\n\r\nbody and more"[..]);
        let payload = read_buffer.split_to(16).freeze();
        assert!(client.publish(b"s", b"r", 12, payload.clone(), &mut Flusher::default()));
        let msg = kept.lock().take().unwrap();
        assert_eq!(msg.headers(), b"NATS/1.0\r\n\r\n");
        assert_eq!(msg.body(), b"body");
        assert_eq!(msg.reply.as_deref(), Some(&b"r"[..]));
        // The publisher's buffer is not shared with what the subscriber kept.
        assert!(!std::ptr::eq(msg.payload.as_ptr(), payload.as_ptr()));
    }
}
