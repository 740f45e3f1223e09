//! Encoders for what the server sends to clients.
//!
//! Message frames are written as a control line into a caller-owned buffer; the payload is
//! appended by the caller so a large payload can be shared instead of copied.

use bytes::{BufMut, BytesMut};

pub const PING: &[u8] = b"PING\r\n";
pub const PONG: &[u8] = b"PONG\r\n";
pub const OK: &[u8] = b"+OK\r\n";
pub const CRLF: &[u8] = b"\r\n";

/// `-ERR '<text>'\r\n`.
pub fn err(out: &mut BytesMut, text: &str) {
    out.reserve(text.len() + 9);
    out.put_slice(b"-ERR '");
    out.put_slice(text.as_bytes());
    out.put_slice(b"'\r\n");
}

/// `INFO <json> \r\n`; nats-server puts a space before the CRLF and clients accept both.
pub fn info(out: &mut BytesMut, json: &[u8]) {
    out.reserve(json.len() + 8);
    out.put_slice(b"INFO ");
    out.put_slice(json);
    out.put_slice(b" \r\n");
}

/// The sizes part of a message control line.
#[derive(Debug, Clone, Copy)]
pub enum Sizes<'a> {
    /// `MSG`: the payload size text.
    Plain(&'a [u8]),
    /// `HMSG`: header size text and total size text.
    WithHeaders(&'a [u8], &'a [u8]),
}

/// The control line of one delivered message.
#[derive(Debug, Clone, Copy)]
pub struct MsgLine<'a> {
    pub subject: &'a [u8],
    pub sid: &'a [u8],
    /// Empty when the message has no reply subject.
    pub reply: &'a [u8],
    pub sizes: Sizes<'a>,
}

impl MsgLine<'_> {
    /// Encoded length, so a queue can account for it before writing.
    pub fn len(&self) -> usize {
        let (verb, sizes) = match self.sizes {
            Sizes::Plain(n) => (4, n.len()),
            Sizes::WithHeaders(h, n) => (5, h.len() + n.len() + 1),
        };
        let reply = if self.reply.is_empty() {
            0
        } else {
            self.reply.len() + 1
        };
        verb + self.subject.len() + 1 + self.sid.len() + 1 + reply + sizes + 2
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn write(&self, out: &mut BytesMut) {
        msg_line(out, self.subject, self.sid, self.reply, self.sizes);
    }
}

/// `MSG <subject> <sid> [reply] <size>\r\n` or
/// `HMSG <subject> <sid> [reply] <hdr size> <total size>\r\n`.
pub fn msg_line(out: &mut BytesMut, subject: &[u8], sid: &[u8], reply: &[u8], sizes: Sizes<'_>) {
    let sizes_len = match sizes {
        Sizes::Plain(n) => n.len(),
        Sizes::WithHeaders(h, n) => h.len() + n.len() + 1,
    };
    out.reserve(subject.len() + sid.len() + reply.len() + sizes_len + 10);
    match sizes {
        Sizes::Plain(_) => out.put_slice(b"MSG "),
        Sizes::WithHeaders(..) => out.put_slice(b"HMSG "),
    }
    out.put_slice(subject);
    out.put_u8(b' ');
    out.put_slice(sid);
    out.put_u8(b' ');
    if !reply.is_empty() {
        out.put_slice(reply);
        out.put_u8(b' ');
    }
    match sizes {
        Sizes::Plain(n) => out.put_slice(n),
        Sizes::WithHeaders(h, n) => {
            out.put_slice(h);
            out.put_u8(b' ');
            out.put_slice(n);
        }
    }
    out.put_slice(CRLF);
}

/// Writes a decimal number; used where the server computes a size itself.
pub fn decimal(n: usize) -> itoa_lite::Buffer {
    itoa_lite::Buffer::new(n)
}

/// A tiny stack buffer for decimal numbers, to avoid allocating per message.
pub mod itoa_lite {
    pub struct Buffer {
        bytes: [u8; 20],
        start: usize,
    }

    impl Buffer {
        pub fn new(mut n: usize) -> Self {
            let mut bytes = [b'0'; 20];
            let mut start = bytes.len();
            loop {
                start -= 1;
                bytes[start] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            Buffer { bytes, start }
        }

        pub fn as_bytes(&self) -> &[u8] {
            &self.bytes[self.start..]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_line_forms() {
        let mut out = BytesMut::new();
        msg_line(&mut out, b"foo", b"1", b"", Sizes::Plain(b"5"));
        msg_line(
            &mut out,
            b"foo",
            b"22",
            b"bar",
            Sizes::WithHeaders(b"12", b"17"),
        );
        assert_eq!(&out[..], b"MSG foo 1 5\r\nHMSG foo 22 bar 12 17\r\n");
    }

    #[test]
    fn msg_line_length_is_exact() {
        for line in [
            MsgLine {
                subject: b"foo",
                sid: b"1",
                reply: b"",
                sizes: Sizes::Plain(b"5"),
            },
            MsgLine {
                subject: b"a.b",
                sid: b"22",
                reply: b"r",
                sizes: Sizes::WithHeaders(b"12", b"17"),
            },
        ] {
            let mut out = BytesMut::new();
            line.write(&mut out);
            assert_eq!(out.len(), line.len());
        }
    }

    #[test]
    fn err_and_info() {
        let mut out = BytesMut::new();
        err(&mut out, "Stale Connection");
        info(&mut out, b"{}");
        assert_eq!(&out[..], b"-ERR 'Stale Connection'\r\nINFO {} \r\n");
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal(0).as_bytes(), b"0");
        assert_eq!(decimal(1048576).as_bytes(), b"1048576");
        assert_eq!(
            decimal(usize::MAX).as_bytes(),
            usize::MAX.to_string().as_bytes()
        );
    }
}
