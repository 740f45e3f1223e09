//! Message tracing (ADR-41): a message whose headers carry `Nats-Trace-Dest` makes the
//! server publish, on that subject, what it did with the message: where it came in and
//! each connection it went out to, in nats-server's JSON (`server`, `request`, `events`
//! of type `in`, `sm` where a subject mapping rewrote its subject, `eg`, and `se`/`si`
//! where a stream export or a service import took it into another account, where its
//! trace stops). With `Nats-Trace-Only: true` it is traced and not delivered; one the
//! server refuses is traced with the error in its `in` event. A message with a sampled W3C `traceparent` instead is traced
//! to its account's `msg_trace` destination, if the account has one.

use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use natsd_proto::headers::HeaderBlock;
use rand::Rng;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::account::Account;
use crate::server::ServerInner;
use crate::subscription::{Hop, Message, Refusal, Trace, TraceEvent, TRACE_DEST};
use crate::timefmt::rfc3339;

const TRACE_ONLY: &str = "Nats-Trace-Only";
/// A header of older servers' traces; a message carrying it is not traced.
const TRACE_ORIGIN_ACCOUNT: &str = "Nats-Trace-Origin-Account";
/// The W3C trace context header.
const TRACE_PARENT: &str = "traceparent";
/// nats-server's kind code for a client connection in trace events.
const KIND_CLIENT: u8 = 0;

/// Sequence numbers of the server descriptions in trace events.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A message's request to be traced.
#[derive(Debug)]
pub(super) struct TraceRequest {
    pub dest: Vec<u8>,
    pub only: bool,
    /// When the message came in.
    pub at: SystemTime,
    headers: HeaderBlock,
}

/// Where a traced message came in.
pub(super) struct Ingress {
    pub cid: u64,
    pub name: String,
    pub account: String,
    /// The subject it was published to, before any mapping.
    pub subject: Vec<u8>,
    /// Why the server refused it, if it did.
    pub error: Option<String>,
}

/// What a message's headers ask of tracing.
pub(super) enum Asked {
    Nothing,
    Trace(TraceRequest),
    /// A trace that cannot be made, of a trace-only message: it goes nowhere.
    Drop,
    /// Not to be traced here, nor anywhere it goes on to: it is delivered with its
    /// `Nats-Trace-Dest` set to `trace disabled`.
    Disable,
}

/// What a message (its payload, headers first) asks of tracing; the caller asks only for
/// messages with headers. A message without `Nats-Trace-Dest` but with a sampled W3C
/// `traceparent` is traced to the account's `msg_trace` destination, for the share of
/// messages its sampling sets; the others are disabled, as nats-server disables them.
pub(super) fn requested(
    payload: &[u8],
    header_len: usize,
    account: &Account,
    log: &crate::log::Logger,
) -> Asked {
    let Some(block) = payload.get(..header_len) else {
        return Asked::Nothing;
    };
    // Cheap refusal before decoding: most header blocks are not traced.
    if contains(block, TRACE_DEST.as_bytes()) {
        let Some((headers, dest)) = HeaderBlock::decode(block)
            .ok()
            .and_then(|h| h.get(TRACE_DEST).map(str::to_owned).map(|d| (h, d)))
        else {
            return Asked::Nothing;
        };
        let only = headers.get(TRACE_ONLY).is_some_and(|value| {
            ["1", "true", "on"]
                .iter()
                .any(|t| value.eq_ignore_ascii_case(t))
        });
        // An empty destination is no request at all, as nats-server reads it.
        if dest.is_empty() {
            return Asked::Nothing;
        }
        let untraced = if only { Asked::Drop } else { Asked::Nothing };
        if let Some(origin) = headers.get(TRACE_ORIGIN_ACCOUNT) {
            log.error(format_args!(
                "Message tracing disabled because of header {TRACE_ORIGIN_ACCOUNT:?} with value={origin:?}"
            ));
            return if only { Asked::Drop } else { Asked::Disable };
        }
        if !natsd_subject::is_valid_publish_subject(dest.as_bytes()) {
            log.error(format_args!(
                "Destination {dest:?} is not valid, won't be able to trace events"
            ));
            return untraced;
        }
        return Asked::Trace(TraceRequest {
            dest: dest.into_bytes(),
            only,
            at: SystemTime::now(),
            headers,
        });
    }
    if !block
        .windows(TRACE_PARENT.len())
        .any(|window| window.eq_ignore_ascii_case(TRACE_PARENT.as_bytes()))
    {
        return Asked::Nothing;
    }
    let Some(trace) = account.msg_trace() else {
        return Asked::Nothing;
    };
    let Ok(headers) = HeaderBlock::decode(block) else {
        return Asked::Nothing;
    };
    if !headers.values_ignoring_case(TRACE_PARENT).any(is_sampled) {
        return Asked::Nothing;
    }
    if !sampled(trace.sampling) {
        return Asked::Disable;
    }
    Asked::Trace(TraceRequest {
        dest: trace.dest.as_bytes().to_vec(),
        only: false,
        at: SystemTime::now(),
        headers,
    })
}

/// Whether a `traceparent` value (`version-trace_id-parent_id-flags`) has its sampled flag.
fn is_sampled(value: &str) -> bool {
    let fields: Vec<&str> = value.split('-').collect();
    match fields.as_slice() {
        [_, _, _, flags] if flags.len() == 2 => {
            u8::from_str_radix(flags, 16).is_ok_and(|flags| flags & 1 == 1)
        }
        _ => false,
    }
}

/// Whether this message falls in the `sampling` percent traced, by nats-server's draw
/// (which takes one in a hundred more than the percentage says).
fn sampled(sampling: u8) -> bool {
    sampling >= 100 || rand::rng().random_range(0..100u8) <= sampling
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[derive(Serialize, Default)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind_of_event: &'static str,
    ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cid: Option<u64>,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    acc: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subj: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// The trace event's JSON for `message`, which came in at `ingress` and did what `trace`
/// noted.
pub(super) fn event(
    server: &ServerInner,
    request: &TraceRequest,
    ingress: &Ingress,
    message: &Message<'_>,
    trace: &Trace,
) -> Vec<u8> {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let mut events = vec![Event {
        kind_of_event: "in",
        ts: rfc3339(request.at),
        kind: Some(KIND_CLIENT),
        cid: Some(ingress.cid),
        name: &ingress.name,
        acc: Some(&ingress.account),
        subj: Some(text(&ingress.subject)),
        error: ingress.error.as_deref(),
        ..Event::default()
    }];
    events.extend(trace.events.iter().map(|event| match event {
        TraceEvent::Mapping { at, to } => Event {
            kind_of_event: "sm",
            ts: rfc3339(*at),
            to: Some(text(to)),
            ..Event::default()
        },
        TraceEvent::Egress(egress) => Event {
            kind_of_event: "eg",
            ts: rfc3339(egress.at),
            kind: Some(KIND_CLIENT),
            cid: Some(egress.cid),
            name: &egress.name,
            acc: egress.account.as_deref(),
            sub: Some(text(&egress.subject)),
            queue: egress.queue.as_deref().map(text),
            error: egress.error.map(Refusal::text),
            ..Event::default()
        },
        TraceEvent::Hop {
            at,
            hop: Hop::StreamExport { account, to },
        } => Event {
            kind_of_event: "se",
            ts: rfc3339(*at),
            acc: Some(account),
            to: Some(text(to)),
            ..Event::default()
        },
        TraceEvent::Hop {
            at,
            hop: Hop::ServiceImport { account, from, to },
        } => Event {
            kind_of_event: "si",
            ts: rfc3339(*at),
            acc: Some(account),
            from: Some(text(from)),
            to: Some(text(to)),
            ..Event::default()
        },
    }));
    // Header names with every value, as Go's http.Header marshals (names in order).
    let mut header = Map::new();
    for (name, value) in &request.headers.entries {
        let values = header
            .entry(name.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = values {
            values.push(Value::String(value.clone()));
        }
    }
    let report = Report {
        server: crate::monitor::server_brief(server, &SEQUENCE),
        request: TracedRequest {
            header,
            msgsize: message.payload.as_slice().len(),
        },
        events,
    };
    serde_json::to_vec(&report).unwrap_or_default()
}

/// A trace event's JSON, its fields in nats-server's order.
#[derive(Serialize)]
struct Report<'a> {
    server: Value,
    request: TracedRequest,
    events: Vec<Event<'a>>,
}

#[derive(Serialize)]
struct TracedRequest {
    header: Map<String, Value>,
    msgsize: usize,
}
