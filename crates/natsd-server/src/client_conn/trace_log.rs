//! The trace log (`-V`) of one client's messages, in nats-server's lines: each message
//! line it sends or is sent, then `MSG_PAYLOAD: ["..."]` with the payload quoted as Go
//! quotes it. `trace_headers` logs the header block alone (and nothing for a message
//! without one); `max_traced_msg_len` cuts long payloads short with `...`.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use natsd_proto::encode::MsgLine;

use super::go_quote;
use crate::log::Logger;

/// Where a client's trace lines go, and how much of a payload they show.
#[derive(Debug)]
pub(crate) struct TraceLog {
    log: Arc<Logger>,
    peer: SocketAddr,
    cid: u64,
    headers_only: bool,
    max_len: usize,
}

impl TraceLog {
    pub(crate) fn new(
        log: Arc<Logger>,
        (peer, cid): (SocketAddr, u64),
        headers_only: bool,
        max_len: usize,
    ) -> Self {
        TraceLog {
            log,
            peer,
            cid,
            headers_only,
            max_len,
        }
    }

    /// `127.0.0.1:5000 - cid:7 - <<- [SUB foo 1]`.
    pub(crate) fn line(&self, direction: &str, what: &str) {
        self.log.trace(format_args!(
            "{} - cid:{} - {direction} [{what}]",
            self.peer, self.cid
        ));
    }

    /// A message going out: its `MSG`/`HMSG` line, then its payload.
    pub(crate) fn delivery(&self, line: &MsgLine<'_>, payload: &[u8], header_len: usize) {
        let mut encoded = BytesMut::with_capacity(line.len());
        line.write(&mut encoded);
        let text = String::from_utf8_lossy(&encoded);
        self.line("->>", text.trim_end());
        self.payload("->>", payload, header_len);
    }

    /// The payload (a header block of `header_len` bytes, then the body) of a message
    /// going `direction`.
    pub(crate) fn payload(&self, direction: &str, payload: &[u8], header_len: usize) {
        let shown = if self.headers_only {
            // The header block without the blank line that ends it.
            match payload.get(..header_len) {
                Some(block) if header_len > 0 => block.strip_suffix(b"\r\n\r\n").unwrap_or(block),
                _ => return,
            }
        } else {
            payload
        };
        if shown.is_empty() {
            return;
        }
        let text = if self.max_len > 0 && shown.len() > self.max_len {
            let quoted = go_quote(&shown[..self.max_len]);
            format!("\"{}...\"", &quoted[1..quoted.len() - 1])
        } else {
            go_quote(shown)
        };
        self.log.trace(format_args!(
            "{} - cid:{} - {direction} MSG_PAYLOAD: [{text}]",
            self.peer, self.cid
        ));
    }
}
