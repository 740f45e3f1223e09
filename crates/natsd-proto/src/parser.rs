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
            ClientOp::Pub(p) => {
                let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                let reply = p
                    .reply()
                    .map(|r| format!(" {}", lossy(r)))
                    .unwrap_or_default();
                let subject = lossy(p.subject());
                match p.header_len {
                    None => write!(f, "PUB {subject}{reply} {}", lossy(p.size_text())),
                    Some(_) => write!(
                        f,
                        "HPUB {subject}{reply} {} {}",
                        lossy(p.header_len_text()),
                        lossy(p.size_text())
                    ),
                }
            }
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

/// Where an argument sits in a control line (control lines are far below 4 GiB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span {
            start: clamp(start),
            end: clamp(end),
        }
    }

    fn of<'a>(&self, line: &'a [u8]) -> &'a [u8] {
        line.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }

    /// The argument as a shared slice of `line`.
    fn bytes_of(&self, line: &Bytes) -> Bytes {
        let (start, end) = (self.start as usize, self.end as usize);
        if start <= end && end <= line.len() {
            line.slice(start..end)
        } else {
            Bytes::new()
        }
    }
}

/// A payload inside a shared buffer: read it in place, or share it without copying.
#[derive(Debug, Clone, Copy)]
pub struct SharedSlice<'a> {
    buffer: &'a Bytes,
    start: usize,
    end: usize,
}

impl<'a> SharedSlice<'a> {
    /// All of `buffer`.
    pub fn whole(buffer: &'a Bytes) -> Self {
        SharedSlice {
            buffer,
            start: 0,
            end: buffer.len(),
        }
    }

    pub fn as_slice(&self) -> &'a [u8] {
        self.buffer.get(self.start..self.end).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A shared handle on the same bytes (a reference count, no copy).
    pub fn to_bytes(&self) -> Bytes {
        if self.start <= self.end && self.end <= self.buffer.len() {
            self.buffer.slice(self.start..self.end)
        } else {
            Bytes::new()
        }
    }

    /// The bytes from `offset` on (for the body after a header block).
    pub fn skip(&self, offset: usize) -> SharedSlice<'a> {
        SharedSlice {
            start: (self.start + offset).min(self.end),
            ..*self
        }
    }

    /// The first `len` bytes (for the header block).
    pub fn take(&self, len: usize) -> SharedSlice<'a> {
        SharedSlice {
            end: (self.start + len).min(self.end),
            ..*self
        }
    }
}

/// A published message, as `PUB` or `HPUB` carried it. The control line and the payload
/// stay in the one buffer they arrived in (split once from the read buffer, never copied);
/// accessors hand out slices of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    frame: Bytes,
    subject: Span,
    reply: Option<Span>,
    header_len_text: Span,
    size_text: Span,
    payload_start: usize,
    /// Length of the header block for `HPUB` (which may be 0), `None` for `PUB`.
    pub header_len: Option<usize>,
    /// Declared total size.
    pub size: usize,
}

impl Publish {
    fn span(&self, span: Span) -> &[u8] {
        span.of(&self.frame)
    }

    pub fn subject(&self) -> &[u8] {
        self.span(self.subject)
    }

    pub fn reply(&self) -> Option<&[u8]> {
        self.reply.map(|span| self.span(span))
    }

    /// The header-length argument exactly as received (empty for `PUB`).
    pub fn header_len_text(&self) -> &[u8] {
        self.span(self.header_len_text)
    }

    /// The size argument exactly as received. nats-server repeats it verbatim in `MSG`, so
    /// `PUB foo 05` is delivered as `MSG foo 1 05`.
    pub fn size_text(&self) -> &[u8] {
        self.span(self.size_text)
    }

    /// Header block followed by the body, without the trailing CRLF.
    pub fn payload(&self) -> SharedSlice<'_> {
        SharedSlice {
            buffer: &self.frame,
            start: self.payload_start,
            end: self.payload_start + self.size,
        }
    }

    /// The header block (empty for `PUB` or `HPUB` with a zero header length).
    pub fn headers(&self) -> &[u8] {
        self.payload().take(self.header_len.unwrap_or(0)).as_slice()
    }

    /// The message body after the header block.
    pub fn body(&self) -> &[u8] {
        self.payload().skip(self.header_len.unwrap_or(0)).as_slice()
    }

    /// Whether the message carries a header block that header-aware receivers get.
    pub fn has_headers(&self) -> bool {
        self.header_len.is_some_and(|len| len > 0)
    }
}

/// The arguments of `PUB`: subject, optional reply, size.
struct PubArgs {
    subject: Span,
    reply: Option<Span>,
    size_text: Span,
    size: usize,
}

impl PubArgs {
    fn parse(arg: &[u8]) -> Result<PubArgs, ParseError> {
        let (spans, count) =
            split_spans::<3>(arg, false).ok_or(ParseError::Violation("PUB arguments"))?;
        let (subject, reply, size_text) = match count {
            2 => (spans[0], None, spans[1]),
            3 => (spans[0], Some(spans[1]), spans[2]),
            _ => return Err(ParseError::Violation("PUB arguments")),
        };
        let size = parse_size(size_text.of(arg)).ok_or(ParseError::Violation("PUB size"))?;
        Ok(PubArgs {
            subject,
            reply,
            size_text,
            size,
        })
    }
}

/// What is known of a publish while its payload is awaited: its control line is at the
/// front of the read buffer.
#[derive(Debug, Clone, Copy)]
struct PendingPublish {
    line_len: usize,
    subject: Span,
    reply: Option<Span>,
    header_len_text: Span,
    size_text: Span,
    header_len: Option<usize>,
    size: usize,
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

    /// The state once the verb's name has been read.
    fn after_name(self) -> State {
        if self.ignores_rest() {
            State::Rest(self)
        } else if self.needs_separator() {
            State::Separator(self)
        } else {
            State::Spaces(self)
        }
    }
}

/// The hot verbs, matched from their first four bytes at once: the state after them (a
/// space or tab after `PUB` and `SUB` is taken as their separator).
fn common_verb(head: &[u8]) -> Option<State> {
    let [a, b, c, d] = <[u8; 4]>::try_from(head).ok()?;
    let upper = [a, b, c].map(|x| x.to_ascii_uppercase());
    let separator = d == b' ' || d == b'\t';
    match (&upper, d.to_ascii_uppercase()) {
        (b"PUB", _) if separator => Some(State::Spaces(Verb::Pub)),
        (b"SUB", _) if separator => Some(State::Spaces(Verb::Sub)),
        (b"HPU", b'B') => Some(Verb::Hpub.after_name()),
        (b"PIN", b'G') => Some(Verb::Ping.after_name()),
        (b"PON", b'G') => Some(Verb::Pong.after_name()),
        _ => None,
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
    /// Waiting for the payload plus CRLF of the publish held in `Parser::pending`.
    Payload,
}

/// The incremental client-protocol parser. One per connection.
#[derive(Debug)]
pub struct Parser {
    state: State,
    /// The publish whose payload is awaited; kept out of `State` so state changes stay
    /// small copies.
    pending: Option<PendingPublish>,
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
            pending: None,
            limits,
            headers: false,
        }
    }

    /// Whether `HPUB` is accepted (the client's CONNECT asked for headers and the server has
    /// them enabled).
    pub fn set_headers(&mut self, enabled: bool) {
        self.headers = enabled;
    }

    /// Whether the next byte starts a new operation.
    pub fn at_op_start(&self) -> bool {
        matches!(self.state, State::Verb { matched: 0, .. })
    }

    pub fn set_limits(&mut self, limits: ParserLimits) {
        self.limits = limits;
    }

    /// How many more bytes the current operation needs at least, so the caller can reserve
    /// room for a large payload in one step.
    pub fn bytes_wanted(&self, buffered: usize) -> usize {
        match &self.state {
            State::Payload => self
                .pending
                .map_or(0, |p| (p.line_len + p.size + 2).saturating_sub(buffered)),
            _ => 0,
        }
    }

    /// Parses the next complete operation from the front of `buf`, consuming its bytes.
    /// Returns `Ok(None)` when `buf` holds no complete operation yet; the partial bytes stay
    /// buffered (verb bytes already matched are consumed).
    pub fn next_op(&mut self, buf: &mut BytesMut) -> Result<Option<ClientOp>, ParseError> {
        if let Some(publish) = self.whole_publish(buf) {
            return Ok(Some(ClientOp::Pub(publish)));
        }
        loop {
            match &mut self.state {
                State::Verb { prefix, matched } => {
                    // Whole common verbs are recognised in one step when the bytes are there.
                    if *matched == 0 {
                        if let Some(next) = buf.get(..4).and_then(common_verb) {
                            buf.advance(4);
                            self.state = next;
                            continue;
                        }
                    }
                    let Some(&byte) = buf.first() else {
                        return Ok(None);
                    };
                    let position = *matched;
                    let Some(slot) = prefix.get_mut(position) else {
                        return Err(ParseError::UnknownOperation);
                    };
                    *slot = byte.to_ascii_uppercase();
                    let seen = &prefix[..=position];
                    let Some(&(verb, name)) =
                        Verb::ALL.iter().find(|(_, name)| name.starts_with(seen))
                    else {
                        return Err(ParseError::UnknownOperation);
                    };
                    buf.advance(1);
                    if name.len() == seen.len() {
                        self.state = verb.after_name();
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
                    let arg_end = arg_len(&buf[..end]);
                    if arg_end > self.limits.max_control_line {
                        return Err(ParseError::MaxControlLine);
                    }
                    if matches!(verb, Verb::Pub | Verb::Hpub) {
                        // The line stays buffered until the payload is there; then line and
                        // payload leave the buffer as one frame.
                        self.start_publish(verb, &buf[..arg_end], end + 1)?;
                        continue;
                    }
                    // One split per control line; truncating and freezing it are free.
                    let mut line = buf.split_to(end + 1);
                    line.truncate(arg_end);
                    let arg = line.freeze();
                    match self.finish_args(verb, arg)? {
                        Some(op) => {
                            self.reset();
                            return Ok(Some(op));
                        }
                        None => continue,
                    }
                }
                State::Payload => {
                    let pending = self.pending.ok_or(ParseError::UnknownOperation)?;
                    let trailer = pending.line_len + pending.size;
                    if buf.len() > trailer && buf[trailer] != b'\r' {
                        return Err(ParseError::UnknownOperation);
                    }
                    if buf.len() > trailer + 1 && buf[trailer + 1] != b'\n' {
                        return Err(ParseError::UnknownOperation);
                    }
                    if buf.len() < trailer + 2 {
                        return Ok(None);
                    }
                    let frame = buf.split_to(trailer + 2).freeze();
                    self.pending = None;
                    self.reset();
                    return Ok(Some(ClientOp::Pub(Publish {
                        frame,
                        subject: pending.subject,
                        reply: pending.reply,
                        header_len_text: pending.header_len_text,
                        size_text: pending.size_text,
                        payload_start: pending.line_len,
                        header_len: pending.header_len,
                        size: pending.size,
                    })));
                }
            }
        }
    }

    /// The fast path: a well-formed `PUB` whose line and payload are both buffered is taken
    /// in one pass. Anything else (partial, unusual or erroneous input) is left untouched for
    /// the state machine, which yields the same op or the exact error.
    fn whole_publish(&mut self, buf: &mut BytesMut) -> Option<Publish> {
        if !matches!(self.state, State::Verb { matched: 0, .. }) {
            return None;
        }
        let head = buf.get(..4)?;
        if !head[..3].eq_ignore_ascii_case(b"PUB") || !matches!(head[3], b' ' | b'\t') {
            return None;
        }
        let arg_start = 4 + buf[4..]
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if matches!(buf.get(arg_start)?, b'\r' | b'\n') {
            return None;
        }
        let newline = arg_start + 1 + memchr::memchr(b'\n', buf.get(arg_start + 1..)?)?;
        let arg_end = arg_start + arg_len(&buf[arg_start..newline]);
        if arg_end - arg_start > self.limits.max_control_line {
            return None;
        }
        let PubArgs {
            subject,
            reply,
            size_text,
            size,
        } = PubArgs::parse(&buf[arg_start..arg_end]).ok()?;
        self.check_payload(size).ok()?;
        let line_len = newline + 1 - arg_start;
        let trailer = newline + 1 + size;
        if buf.get(trailer..trailer + 2)? != b"\r\n" {
            return None;
        }
        buf.advance(arg_start);
        let frame = buf.split_to(line_len + size + 2).freeze();
        Some(Publish {
            frame,
            subject,
            reply,
            header_len_text: Span::default(),
            size_text,
            payload_start: line_len,
            header_len: None,
            size,
        })
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
            Verb::Sub => {
                let (spans, count) =
                    split_spans::<3>(&arg, true).ok_or(ParseError::Violation("SUB arguments"))?;
                let slice = |span: Span| span.bytes_of(&arg);
                match count {
                    2 => Ok(Some(ClientOp::Sub {
                        subject: slice(spans[0]),
                        queue: None,
                        sid: slice(spans[1]),
                    })),
                    3 => Ok(Some(ClientOp::Sub {
                        subject: slice(spans[0]),
                        queue: Some(slice(spans[1])),
                        sid: slice(spans[2]),
                    })),
                    _ => Err(ParseError::Violation("SUB arguments")),
                }
            }
            Verb::Unsub => {
                let (spans, count) =
                    split_spans::<2>(&arg, true).ok_or(ParseError::Violation("UNSUB arguments"))?;
                let sid = spans[0].bytes_of(&arg);
                match count {
                    1 => Ok(Some(ClientOp::Unsub { sid, max: None })),
                    2 => Ok(Some(ClientOp::Unsub {
                        sid,
                        max: Some(parse_size(spans[1].of(&arg)).map(|n| n as u64)),
                    })),
                    _ => Err(ParseError::Violation("UNSUB arguments")),
                }
            }
            Verb::Pub | Verb::Hpub | Verb::Ping | Verb::Pong | Verb::Ok => {
                Err(ParseError::UnknownOperation)
            }
        }
    }

    /// Reads the arguments of `PUB`/`HPUB` from `arg` (the line is `line_len` bytes at the
    /// front of the buffer) and waits for the payload.
    fn start_publish(&mut self, verb: Verb, arg: &[u8], line_len: usize) -> Result<(), ParseError> {
        let pending = if verb == Verb::Hpub {
            if !self.headers {
                return Err(ParseError::Violation("HPUB without headers support"));
            }
            let (spans, count) =
                split_spans::<4>(arg, false).ok_or(ParseError::Violation("HPUB arguments"))?;
            let (subject, reply, header_len_text, size_text) = match count {
                3 => (spans[0], None, spans[1], spans[2]),
                4 => (spans[0], Some(spans[1]), spans[2], spans[3]),
                _ => return Err(ParseError::Violation("HPUB arguments")),
            };
            let header_len = parse_size(header_len_text.of(arg))
                .ok_or(ParseError::Violation("HPUB header size"))?;
            let size = parse_size(size_text.of(arg)).ok_or(ParseError::Violation("HPUB size"))?;
            if header_len > size {
                return Err(ParseError::Violation("HPUB header size above total size"));
            }
            PendingPublish {
                line_len,
                subject,
                reply,
                header_len_text,
                size_text,
                header_len: Some(header_len),
                size,
            }
        } else {
            let PubArgs {
                subject,
                reply,
                size_text,
                size,
            } = PubArgs::parse(arg)?;
            PendingPublish {
                line_len,
                subject,
                reply,
                header_len_text: Span::default(),
                size_text,
                header_len: None,
                size,
            }
        };
        self.check_payload(pending.size)?;
        self.state = State::Payload;
        self.pending = Some(pending);
        Ok(())
    }

    fn check_payload(&self, size: usize) -> Result<(), ParseError> {
        match self.limits.max_payload {
            Some(max) if size > max => Err(ParseError::MaxPayload { size, max }),
            _ => Ok(()),
        }
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

/// Splits `arg` at runs of spaces and tabs (and CR/LF when `line_breaks`), as nats-server
/// does. Returns the spans of up to `N` arguments and how many there were, or `None` when
/// there are more than `N`.
fn split_spans<const N: usize>(arg: &[u8], line_breaks: bool) -> Option<([Span; N], usize)> {
    let mut spans = [Span::default(); N];
    let mut count = 0;
    let mut token_start = 0;
    let mut in_token = false;
    for (index, &byte) in arg.iter().enumerate() {
        let separator =
            byte == b' ' || byte == b'\t' || (line_breaks && (byte == b'\r' || byte == b'\n'));
        if separator {
            if in_token {
                *spans.get_mut(count)? = Span::new(token_start, index);
                count += 1;
                in_token = false;
            }
        } else if !in_token {
            token_start = index;
            in_token = true;
        }
    }
    if in_token {
        *spans.get_mut(count)? = Span::new(token_start, arg.len());
        count += 1;
    }
    Some((spans, count))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(arg: &[u8], line_breaks: bool) -> Vec<Vec<u8>> {
        arg.split(|&b| b == b' ' || b == b'\t' || (line_breaks && (b == b'\r' || b == b'\n')))
            .filter(|token| !token.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    proptest! {
        #[test]
        fn splitting_matches_a_naive_split(
            arg in proptest::collection::vec(
                prop_oneof![Just(b' '), Just(b'\t'), Just(b'\r'), Just(b'\n'), Just(b'a'), any::<u8>()],
                0..40,
            ),
            line_breaks in any::<bool>(),
        ) {
            let want = naive(&arg, line_breaks);
            let tokens = want.len();
            match split_spans::<64>(&arg, line_breaks) {
                Some((spans, count)) => {
                    let got: Vec<Vec<u8>> =
                        spans[..count].iter().map(|s| s.of(&arg).to_vec()).collect();
                    prop_assert_eq!(got, want);
                }
                None => prop_assert!(tokens > 64),
            }
            prop_assert_eq!(split_spans::<2>(&arg, line_breaks).is_none(), tokens > 2);
        }
    }
}
