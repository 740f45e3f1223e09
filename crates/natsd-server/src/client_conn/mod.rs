//! A client connection as the rest of the server sees it: [`ClientConn`] holds the
//! client's kind-neutral [`Conn`] handle, its subscriptions, what it asked for in CONNECT
//! that delivery honours (headers, echo, asynchronous INFO), its permissions and the facts
//! its admission rests on. It is the client's [`Deliver`] target: it frames `MSG`/`HMSG`
//! and applies its own permissions, so delivery decisions stay with the subscriber.
//!
//! - `permits`: permissions as publishing and delivery consult them, with the replies a
//!   client may send under `allow_responses`.
//! - `trace_log`: the client's lines and payloads in the trace log.

mod permits;
mod trace_log;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use natsd_auth::callout::ClientTls;
use natsd_auth::{Credentials, Permissions};
use natsd_proto::encode::{self, MsgLine, Sizes};
use natsd_proto::SharedSlice;
use parking_lot::Mutex;

use crate::conn::{Conn, Flusher};
use crate::subscription::{Deliver, Message, Refusal, SubRef, Subscription};

pub(crate) use permits::Permits;
pub(crate) use trace_log::TraceLog;

/// A client connection as the rest of the server sees it.
#[derive(Debug)]
pub(crate) struct ClientConn {
    pub conn: Arc<Conn>,
    /// The client takes `HMSG` (CONNECT `headers` and server support).
    pub(crate) headers: AtomicBool,
    /// Deliver the client's own publishes back to it.
    pub(crate) echo: AtomicBool,
    /// CONNECT `protocol` 1: the client takes asynchronous INFO.
    pub(crate) async_info: AtomicBool,
    pub permits: Permits,
    /// Subscriptions by sid.
    pub subs: Mutex<HashMap<Bytes, SubRef>>,
    /// What the client's admission rests on, to check it again when users, account JWTs or
    /// pinned certificates change.
    pub auth: Mutex<AuthFacts>,
    /// Set when the trace log was on as the client connected.
    pub(crate) trace_log: Option<TraceLog>,
    /// The client's TLS session, when it came over TLS.
    pub(crate) tls: Option<Box<ClientTls>>,
}

/// The credentials a client presented (with its certificate's names and key) and the
/// nonce its INFO carried.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthFacts {
    /// Boxed: most connections keep none.
    pub credentials: Option<Box<Credentials>>,
    pub nonce: Option<String>,
}

impl ClientConn {
    pub(crate) fn new(
        conn: Arc<Conn>,
        trace_log: Option<TraceLog>,
        tls: Option<Box<ClientTls>>,
    ) -> Self {
        ClientConn {
            trace_log,
            tls,
            conn,
            headers: AtomicBool::new(false),
            echo: AtomicBool::new(true),
            async_info: AtomicBool::new(false),
            permits: Permits::default(),
            subs: Mutex::new(HashMap::new()),
            auth: Mutex::new(AuthFacts::default()),
        }
    }

    pub(crate) fn takes_async_info(&self) -> bool {
        self.async_info.load(Ordering::Relaxed)
    }

    pub(crate) fn set_permissions(&self, permissions: Option<Permissions>) {
        self.permits.set(permissions);
    }

    /// The certificate key the client presented, for `pinned_certs`.
    pub(crate) fn certificate_key(&self) -> Option<String> {
        self.auth
            .lock()
            .credentials
            .as_ref()
            .and_then(|c| c.certificate_key.clone())
    }
}

impl ClientConn {
    /// Notes a message going out in the trace log, when it is on.
    #[cold]
    #[inline(never)]
    fn trace_delivery(&self, line: &MsgLine<'_>, payload: SharedSlice<'_>, header_len: usize) {
        if let Some(trace_log) = &self.trace_log {
            trace_log.delivery(line, payload.as_slice(), header_len);
        }
    }
}

impl Deliver for ClientConn {
    fn accepts(&self, message: &Message<'_>) -> Result<(), Refusal> {
        if message.publisher == Some(self.conn.cid) && !self.echo.load(Ordering::Relaxed) {
            return Err(Refusal::NoEcho);
        }
        if !self
            .permits
            .accepts_delivery(message.subject, message.reply)
        {
            return Err(Refusal::SubjectDenied);
        }
        if self.conn.is_closed() {
            return Err(Refusal::ClientClosed);
        }
        Ok(())
    }

    /// `MSG`/`HMSG`; header blocks go only to clients that asked for headers, others get
    /// `MSG` with the body alone.
    fn write(&self, sub: &Subscription, message: &Message<'_>, flusher: &mut Flusher) {
        let stripped_size;
        let (sizes, payload, header_len) = if message.header_len == 0 {
            (Sizes::Plain(message.size_text), message.payload, 0)
        } else if self.headers.load(Ordering::Relaxed) {
            let sizes = Sizes::WithHeaders(message.header_len_text, message.size_text);
            (sizes, message.payload, message.header_len)
        } else {
            let body = message.payload.skip(message.header_len);
            stripped_size = encode::decimal(body.len());
            (Sizes::Plain(stripped_size.as_bytes()), body, 0)
        };
        let line = MsgLine {
            subject: message.subject,
            sid: &sub.sid,
            reply: message.reply,
            sizes,
        };
        if self.trace_log.is_some() {
            self.trace_delivery(&line, payload, header_len);
        }
        self.conn.queue_message(line, payload);
        flusher.mark(&self.conn);
    }

    fn name(&self) -> Option<String> {
        Some(self.conn.stats.details.lock().name.clone())
    }

    fn cid(&self) -> Option<u64> {
        Some(self.conn.cid)
    }

    fn forget(&self, sub: &SubRef) {
        let mut subs = self.subs.lock();
        if subs.get(&sub.sid).is_some_and(|s| s == sub) {
            subs.remove(&sub.sid);
        }
    }
}

/// `-ERR` text for a subscription the client may not hold.
pub(crate) fn subscription_violation(subject: &[u8], queue: Option<&[u8]>) -> String {
    match queue {
        Some(queue) => format!(
            "Permissions Violation for Subscription to {} using queue {}",
            go_quote(subject),
            go_quote(queue)
        ),
        None => format!(
            "Permissions Violation for Subscription to {}",
            go_quote(subject)
        ),
    }
}

/// Quotes like Go's `%q` for the subjects that appear in permission errors.
pub(crate) fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        // Go writes each byte of invalid UTF-8 as \xHH.
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('"');
    out
}
