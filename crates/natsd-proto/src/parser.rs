//! Incremental parser for the operations a client sends.
//!
//! The parser consumes bytes from the front of a `BytesMut` read buffer and yields one
//! [`ClientOp`] at a time. Control-line arguments and payloads are `Bytes` slices split off the
//! read buffer, so nothing is copied unless the read buffer itself has to grow.
//!
//! The accepted language is the one of nats-server's byte state machine: verbs are recognised
//! byte by byte (so a bad verb is refused before its line ends), the arguments run to the next
//! `\n`, `max_control_line` bounds the argument text even before the line is complete, and a
//! payload must be followed by exactly `\r\n`.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ParseError;

/// One operation sent by a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp {
    /// `CONNECT <json>`: the JSON text, not yet decoded.
    Connect(Bytes),
    /// `INFO <json>`: clients may send it; the server checks it is JSON and ignores it.
    Info(Bytes),
    /// `PUB` or `HPUB` with its payload.
    Pub(Publish),
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        subject: Bytes,
        queue: Option<Bytes>,
        sid: Bytes,
    },
    /// `UNSUB <sid> [max]`; `max` is `None` when absent and `Some(None)` when it is not a
    /// valid number (nats-server then unsubscribes at once).
    Unsub {
        sid: Bytes,
        max: Option<Option<u64>>,
    },
    Ping,
    Pong,
    /// `+OK`, which the server ignores.
    Ok,
    /// `-ERR <text>`; the server logs it and closes the connection.
    Err(Bytes),
}

/// The control line of an op, without payload, as protocol traces show it.
impl std::fmt::Display for ClientOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
        let optional = |b: &Option<Bytes>| {
            b.as_ref()
                .map(|b| format!(" {}", text(b)))
                .unwrap_or_default()
        };
        match self {
            ClientOp::Connect(json) => write!(f, "CONNECT {}", text(json)),
            ClientOp::Info(json) => write!(f, "INFO {}", text(json)),
            ClientOp::Pub(p) => match p.header_len {
                None => write!(
                    f,
                    "PUB {}{} {}",
                    text(&p.subject),
                    optional(&p.reply),
                    text(&p.size_text)
                ),
                Some(_) => write!(
                    f,
                    "HPUB {}{} {} {}",
                    text(&p.subject),
                    optional(&p.reply),
                    text(&p.header_len_text),
                    text(&p.size_text)
                ),
            },
            ClientOp::Sub {
                subject,
                queue,
                sid,
            } => {
                write!(f, "SUB {}{} {}", text(subject), optional(queue), text(sid))
            }
            ClientOp::Unsub { sid, max } => match max {
                Some(Some(max)) => write!(f, "UNSUB {} {max}", text(sid)),
                _ => write!(f, "UNSUB {}", text(sid)),
            },
            ClientOp::Ping => f.write_str("PING"),
            ClientOp::Pong => f.write_str("PONG"),
            ClientOp::Ok => f.write_str("OK"),
            ClientOp::Err(message) => write!(f, "-ERR {}", text(message)),
        }
    }
}

/// A published message, as `PUB` or `HPUB` carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub subject: Bytes,
    pub reply: Option<Bytes>,
    /// Length of the header block for `HPUB` (which may be 0), `None` for `PUB`.
    pub header_len: Option<usize>,
    /// The header-length argument exactly as received (`HPUB` only).
    pub header_len_text: Bytes,
    /// The size argument exactly as received. nats-server repeats it verbatim in `MSG`, so
    /// `PUB foo 05` is delivered as `MSG foo 1 05`.
    pub size_text: Bytes,
    /// Header block followed by the body, without the trailing CRLF.
    pub payload: Bytes,
}

impl Publish {
    /// The header block (empty for `PUB` or `HPUB` with a zero header length).
    pub fn headers(&self) -> &[u8] {
        match self.header_len {
            Some(len) => self.payload.get(..len).unwrap_or_default(),
            None => &[],
        }
    }

    /// The message body after the header block.
    pub fn body(&self) -> Bytes {
        match self.header_len {
            Some(len) if len <= self.payload.len() => self.payload.slice(len..),
            _ => self.payload.clone(),
        }
    }

    /// Whether the message carries a header block that header-aware receivers get.
    pub fn has_headers(&self) -> bool {
        self.header_len.is_some_and(|len| len > 0)
    }
}

/// Limits the parser enforces before it buffers anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// Longest argument text of a control line, in bytes.
    pub max_control_line: usize,
    /// Largest `PUB`/`HPUB` total size; `None` means no limit.
    pub max_payload: Option<usize>,
}

impl Default for ParserLimits {
    fn default() -> Self {
        ParserLimits {
            max_control_line: 4096,
            max_payload: Some(1024 * 1024),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Connect,
    Info,
    Pub,
    Hpub,
    Sub,
    Unsub,
    Ping,
    Pong,
    Ok,
    Err,
}

impl Verb {
    const ALL: [(Verb, &'static [u8]); 10] = [
        (Verb::Connect, b"CONNECT"),
        (Verb::Info, b"INFO"),
        (Verb::Pub, b"PUB"),
        (Verb::Hpub, b"HPUB"),
        (Verb::Sub, b"SUB"),
        (Verb::Unsub, b"UNSUB"),
        (Verb::Ping, b"PING"),
        (Verb::Pong, b"PONG"),
        (Verb::Ok, b"+OK"),
        (Verb::Err, b"-ERR"),
    ];

    /// Verbs whose arguments must be separated from the verb by a space or tab.
    fn needs_separator(self) -> bool {
        matches!(
            self,
            Verb::Pub | Verb::Hpub | Verb::Sub | Verb::Unsub | Verb::Err
        )
    }

    /// Verbs without arguments: everything up to the newline is ignored.
    fn ignores_rest(self) -> bool {
        matches!(self, Verb::Ping | Verb::Pong | Verb::Ok)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Matching a verb; `matched` bytes of it have been seen (and consumed).
    Verb { prefix: [u8; 7], matched: usize },
    /// The verb is complete; a space or tab must follow.
    Separator(Verb),
    /// Skipping spaces and tabs before the arguments.
    Spaces(Verb),
    /// Argument text is at the front of the buffer; `scanned` bytes hold no newline.
    Args { verb: Verb, scanned: usize },
    /// Ignoring bytes up to the newline that ends `PING`, `PONG` or `+OK`.
    Rest(Verb),
    /// Waiting for a payload of `publish.payload`'s declared size plus CRLF.
    Payload { publish: Box<Publish>, size: usize },
}

/// The incremental client-protocol parser. One per connection.
#[derive(Debug)]
pub struct Parser {
    state: State,
    limits: ParserLimits,
    headers: bool,
}

impl Parser {
    pub fn new(limits: ParserLimits) -> Self {
        Parser {
            state: State::Verb {
                prefix: [0; 7],
                matched: 0,
            },
            limits,
            headers: false,
        }
    }

    /// Whether `HPUB` is accepted (the client's CONNECT asked for headers and the server has
    /// them enabled).
    pub fn set_headers(&mut self, enabled: bool) {
        self.headers = enabled;
    }

    pub fn set_limits(&mut self, limits: ParserLimits) {
        self.limits = limits;
    }

    /// How many more bytes the current operation needs at least, so the caller can reserve
    /// room for a large payload in one step.
    pub fn bytes_wanted(&self, buffered: usize) -> usize {
        match &self.state {
            State::Payload { size, .. } => (size + 2).saturating_sub(buffered),
            _ => 0,
        }
    }

    /// Parses the next complete operation from the front of `buf`, consuming its bytes.
    /// Returns `Ok(None)` when `buf` holds no complete operation yet; the partial bytes stay
    /// buffered (verb bytes already matched are consumed).
    pub fn next_op(&mut self, buf: &mut BytesMut) -> Result<Option<ClientOp>, ParseError> {
        loop {
            match &mut self.state {
                State::Verb { prefix, matched } => {
                    let Some(&byte) = buf.first() else {
                        return Ok(None);
                    };
                    let upper = byte.to_ascii_uppercase();
                    let position = *matched;
                    let Some(slot) = prefix.get_mut(position) else {
                        return Err(ParseError::UnknownOperation);
                    };
                    *slot = upper;
                    let seen = &prefix[..=position];
                    let mut candidates =
                        Verb::ALL.iter().filter(|(_, name)| name.starts_with(seen));
                    let Some(&(verb, name)) = candidates.next() else {
                        return Err(ParseError::UnknownOperation);
                    };
                    buf.advance(1);
                    if name.len() == seen.len() {
                        self.state = if verb.ignores_rest() {
                            State::Rest(verb)
                        } else if verb.needs_separator() {
                            State::Separator(verb)
                        } else {
                            State::Spaces(verb)
                        };
                    } else {
                        *matched += 1;
                    }
                }
                State::Separator(verb) => {
                    let verb = *verb;
                    let Some(&byte) = buf.first() else {
                        return Ok(None);
                    };
                    if byte != b' ' && byte != b'\t' {
                        return Err(ParseError::UnknownOperation);
                    }
                    buf.advance(1);
                    self.state = State::Spaces(verb);
                }
                State::Spaces(verb) => {
                    let verb = *verb;
                    let skip = buf.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
                    buf.advance(skip);
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    // The first argument byte is taken whatever it is, as nats-server does,
                    // so the newline search starts after it.
                    self.state = State::Args { verb, scanned: 1 };
                }
                State::Rest(verb) => {
                    let verb = *verb;
                    match memchr::memchr(b'\n', buf) {
                        Some(end) => {
                            buf.advance(end + 1);
                            self.reset();
                            return Ok(Some(match verb {
                                Verb::Ping => ClientOp::Ping,
                                Verb::Pong => ClientOp::Pong,
                                _ => ClientOp::Ok,
                            }));
                        }
                        None => {
                            buf.clear();
                            return Ok(None);
                        }
                    }
                }
                State::Args { verb, scanned } => {
                    let verb = *verb;
                    let from = (*scanned).min(buf.len());
                    let Some(found) = memchr::memchr(b'\n', &buf[from..]) else {
                        *scanned = buf.len();
                        if arg_len(&buf[..]) > self.limits.max_control_line {
                            return Err(ParseError::MaxControlLine);
                        }
                        return Ok(None);
                    };
                    let end = from + found;
                    let line = buf.split_to(end + 1).freeze();
                    let arg_end = arg_len(&line[..end]);
                    if arg_end > self.limits.max_control_line {
                        return Err(ParseError::MaxControlLine);
                    }
                    let arg = line.slice(..arg_end);
                    match self.finish_args(verb, arg)? {
                        Some(op) => {
                            self.reset();
                            return Ok(Some(op));
                        }
                        None => continue,
                    }
                }
                State::Payload { size, .. } => {
                    let size = *size;
                    if buf.len() > size && buf[size] != b'\r' {
                        return Err(ParseError::UnknownOperation);
                    }
                    if buf.len() > size + 1 && buf[size + 1] != b'\n' {
                        return Err(ParseError::UnknownOperation);
                    }
                    if buf.len() < size + 2 {
                        return Ok(None);
                    }
                    let payload = buf.split_to(size).freeze();
                    buf.advance(2);
                    let state = std::mem::replace(
                        &mut self.state,
                        State::Verb {
                            prefix: [0; 7],
                            matched: 0,
                        },
                    );
                    if let State::Payload { mut publish, .. } = state {
                        publish.payload = payload;
                        return Ok(Some(ClientOp::Pub(*publish)));
                    }
                    return Err(ParseError::UnknownOperation);
                }
            }
        }
    }

    fn reset(&mut self) {
        self.state = State::Verb {
            prefix: [0; 7],
            matched: 0,
        };
    }

    /// Interprets a complete argument text. Returns the op, or `None` when a payload must
    /// follow (the state is then `Payload`).
    fn finish_args(&mut self, verb: Verb, arg: Bytes) -> Result<Option<ClientOp>, ParseError> {
        match verb {
            Verb::Connect => Ok(Some(ClientOp::Connect(arg))),
            Verb::Info => Ok(Some(ClientOp::Info(arg))),
            Verb::Err => Ok(Some(ClientOp::Err(arg))),
            Verb::Pub => {
                let mut args = split_args(&arg, b" \t");
                let (subject, reply, size_text) = match (args.next(), args.next(), args.next()) {
                    (Some(s), Some(n), None) if args.next().is_none() => (s, None, n),
                    (Some(s), Some(r), Some(n)) if args.next().is_none() => (s, Some(r), n),
                    _ => return Err(ParseError::Violation("PUB arguments")),
                };
                let size = parse_size(&size_text).ok_or(ParseError::Violation("PUB size"))?;
                self.check_payload(size)?;
                self.expect_payload(Publish {
                    subject,
                    reply,
                    header_len: None,
                    header_len_text: Bytes::new(),
                    size_text,
                    payload: Bytes::new(),
                });
                Ok(None)
            }
            Verb::Hpub => {
                if !self.headers {
                    return Err(ParseError::Violation("HPUB without headers support"));
                }
                let mut args = split_args(&arg, b" \t");
                let parts = (args.next(), args.next(), args.next(), args.next());
                let (subject, reply, header_text, size_text) = match parts {
                    (Some(s), Some(h), Some(n), None) => (s, None, h, n),
                    (Some(s), Some(r), Some(h), Some(n)) if args.next().is_none() => {
                        (s, Some(r), h, n)
                    }
                    _ => return Err(ParseError::Violation("HPUB arguments")),
                };
                let header_len =
                    parse_size(&header_text).ok_or(ParseError::Violation("HPUB header size"))?;
                let size = parse_size(&size_text).ok_or(ParseError::Violation("HPUB size"))?;
                if header_len > size {
                    return Err(ParseError::Violation("HPUB header size above total size"));
                }
                self.check_payload(size)?;
                self.expect_payload(Publish {
                    subject,
                    reply,
                    header_len: Some(header_len),
                    header_len_text: header_text,
                    size_text,
                    payload: Bytes::new(),
                });
                Ok(None)
            }
            Verb::Sub => {
                let mut args = split_args(&arg, b" \t\r\n");
                match (args.next(), args.next(), args.next(), args.next()) {
                    (Some(subject), Some(sid), None, None) => Ok(Some(ClientOp::Sub {
                        subject,
                        queue: None,
                        sid,
                    })),
                    (Some(subject), Some(queue), Some(sid), None) => Ok(Some(ClientOp::Sub {
                        subject,
                        queue: Some(queue),
                        sid,
                    })),
                    _ => Err(ParseError::Violation("SUB arguments")),
                }
            }
            Verb::Unsub => {
                let mut args = split_args(&arg, b" \t\r\n");
                match (args.next(), args.next(), args.next()) {
                    (Some(sid), None, None) => Ok(Some(ClientOp::Unsub { sid, max: None })),
                    (Some(sid), Some(max), None) => Ok(Some(ClientOp::Unsub {
                        sid,
                        max: Some(parse_size(&max).map(|n| n as u64)),
                    })),
                    _ => Err(ParseError::Violation("UNSUB arguments")),
                }
            }
            Verb::Ping | Verb::Pong | Verb::Ok => Err(ParseError::UnknownOperation),
        }
    }

    fn check_payload(&self, size: usize) -> Result<(), ParseError> {
        match self.limits.max_payload {
            Some(max) if size > max => Err(ParseError::MaxPayload { size, max }),
            _ => Ok(()),
        }
    }

    fn expect_payload(&mut self, publish: Publish) {
        let size = parse_size(&publish.size_text).unwrap_or(0);
        self.state = State::Payload {
            publish: Box::new(publish),
            size,
        };
    }
}

/// Length of the argument text in `line` (which excludes the newline): nats-server drops one
/// trailing byte when the text holds a carriage return, which for well-formed input is the
/// `\r` of the CRLF.
fn arg_len(line: &[u8]) -> usize {
    match line.last() {
        Some(b'\r') => line.len() - 1,
        Some(_) if memchr::memchr(b'\r', line).is_some() => line.len() - 1,
        _ => line.len(),
    }
}

/// Splits `arg` on any of `separators`, skipping runs of them; yields zero-copy slices.
fn split_args<'a>(arg: &'a Bytes, separators: &'a [u8]) -> impl Iterator<Item = Bytes> + 'a {
    let mut position = 0;
    std::iter::from_fn(move || {
        let rest = arg.get(position..)?;
        let start = position + rest.iter().position(|b| !separators.contains(b))?;
        let len = arg[start..]
            .iter()
            .position(|b| separators.contains(b))
            .unwrap_or(arg.len() - start);
        position = start + len;
        Some(arg.slice(start..start + len))
    })
}

/// Parses a size argument as nats-server does: 1 to 9 ASCII digits, nothing else.
pub fn parse_size(text: &[u8]) -> Option<usize> {
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    text.iter().try_fold(0usize, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + usize::from(b - b'0'))
    })
}
