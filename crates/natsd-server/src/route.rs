//! Fan-out of one published message to what its subject matched, on the publisher's task.

use std::sync::Arc;

use bytes::Bytes;
use natsd_proto::encode::{self, MsgLine, Sizes};
use natsd_proto::SharedSlice;
use natsd_subject::SublistResult;
use rand::Rng;

use crate::account::Account;
use crate::outbound::{ClientShared, Flusher};
use crate::subscription::{InternalMsg, SubRef, Target};

/// A message on its way to subscribers.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
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

/// Delivers `message` to every plain subscription and one member of every queue group in
/// `result`. `publisher` is the publishing connection's id, for `echo: false`. Returns
/// whether anything received it.
pub(crate) fn deliver(
    account: &Account,
    result: &SublistResult<SubRef>,
    publisher: Option<u64>,
    message: &Message<'_>,
    flusher: &mut Flusher,
) -> bool {
    let mut delivered = false;
    for sub in &result.plain {
        delivered |= deliver_to(account, sub, publisher, message, flusher);
    }
    if result.queues.is_empty() {
        return delivered;
    }
    let mut rng = rand::rng();
    for group in &result.queues {
        let members = group.members.len();
        if members == 0 {
            continue;
        }
        let start = rng.random_range(0..members);
        for offset in 0..members {
            let sub = &group.members[(start + offset) % members];
            if deliver_to(account, sub, publisher, message, flusher) {
                delivered = true;
                break;
            }
        }
    }
    delivered
}

fn deliver_to(
    account: &Account,
    sub: &SubRef,
    publisher: Option<u64>,
    message: &Message<'_>,
    flusher: &mut Flusher,
) -> bool {
    if sub.is_closed() {
        return false;
    }
    if let Target::Client(client) = &sub.target {
        if Some(client.cid) == publisher && !client.echo.load(std::sync::atomic::Ordering::Relaxed)
        {
            return false;
        }
        if client.is_closed() || !client.accepts_delivery(message.subject, message.reply) {
            return false;
        }
    }
    let Some(last) = sub.take_delivery() else {
        unsubscribe(account, sub);
        return false;
    };
    match &sub.target {
        Target::Client(client) => {
            write_frame(client, &sub.sid, message);
            flusher.mark(client);
        }
        Target::Internal(handler) => {
            handler(InternalMsg {
                subject: Bytes::copy_from_slice(message.subject),
                reply: (!message.reply.is_empty()).then(|| Bytes::copy_from_slice(message.reply)),
                headers: message.payload.take(message.header_len).to_bytes(),
                body: message.payload.skip(message.header_len).to_bytes(),
                publisher,
            });
        }
    }
    if last {
        unsubscribe(account, sub);
    }
    true
}

/// Removes a subscription that reached its auto-unsubscribe limit.
fn unsubscribe(account: &Account, sub: &SubRef) {
    account.remove_subscription(sub);
    if let Target::Client(client) = &sub.target {
        let mut subs = client.subs.lock();
        if subs.get(&sub.sid).is_some_and(|s| s == sub) {
            subs.remove(&sub.sid);
        }
    }
}

/// Queues `MSG`/`HMSG` for one subscriber. Header blocks go only to clients that asked for
/// headers; others get `MSG` with the body alone.
fn write_frame(client: &Arc<ClientShared>, sid: &[u8], message: &Message<'_>) {
    let line = |sizes| MsgLine {
        subject: message.subject,
        sid,
        reply: message.reply,
        sizes,
    };
    if message.header_len == 0 {
        client.queue_message(line(Sizes::Plain(message.size_text)), message.payload);
    } else if client.headers.load(std::sync::atomic::Ordering::Relaxed) {
        let sizes = Sizes::WithHeaders(message.header_len_text, message.size_text);
        client.queue_message(line(sizes), message.payload);
    } else {
        let body = message.payload.skip(message.header_len);
        let size = encode::decimal(body.len());
        client.queue_message(line(Sizes::Plain(size.as_bytes())), body);
    }
}
