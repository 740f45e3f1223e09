//! Fan-out of one published message to what its subject matched, on the publisher's task:
//! every plain subscription, and one member of each queue group. Each subscriber decides
//! whether it takes the message and frames it itself (see [`crate::subscription::Deliver`]).
//! A traced message (`Nats-Trace-Dest`) notes each connection it reaches in a [`Trace`],
//! and with `Nats-Trace-Only` reaches none of them.

use std::time::SystemTime;

use natsd_subject::SublistResult;
use rand::Rng;

use crate::account::Account;
use crate::conn::Flusher;
use crate::subscription::{Egress, Message, Refusal, SubRef, Trace, TraceEvent};

/// Delivers `message` to every plain subscription and one member of every queue group in
/// `result`, noting each in `trace` when it is traced. Returns whether anything received
/// it.
pub(crate) fn deliver(
    account: &Account,
    result: &SublistResult<SubRef>,
    message: &Message<'_>,
    flusher: &mut Flusher,
    mut trace: Option<&mut Trace>,
) -> bool {
    let mut delivered = false;
    for sub in &result.plain {
        delivered |= deliver_to(account, sub, message, flusher, trace.as_deref_mut());
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
            if deliver_to(account, sub, message, flusher, trace.as_deref_mut()) {
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
    message: &Message<'_>,
    flusher: &mut Flusher,
    trace: Option<&mut Trace>,
) -> bool {
    if let Some(trace) = trace {
        return deliver_traced_to(account, sub, message, flusher, trace);
    }
    if sub.is_closed() || sub.target.accepts(message).is_err() {
        return false;
    }
    let Some(last) = sub.take_delivery() else {
        auto_unsubscribe(account, sub);
        return false;
    };
    sub.target.write(sub, message, flusher);
    if last {
        auto_unsubscribe(account, sub);
    }
    true
}

/// [`deliver_to`] for a traced message, noting where it went, or did not go and why; a
/// trace-only message is noted and not delivered, unless an import carries its trace on.
#[inline(never)]
fn deliver_traced_to(
    account: &Account,
    sub: &SubRef,
    message: &Message<'_>,
    flusher: &mut Flusher,
    trace: &mut Trace,
) -> bool {
    let accepted = if sub.is_closed() {
        Err(Refusal::SubscriptionClosed)
    } else {
        sub.target.accepts(message)
    };
    if let Err(refusal) = accepted {
        note(trace, sub, message, Some(refusal));
        return false;
    }
    note(trace, sub, message, None);
    let follows = sub.target.forwards_traces();
    if trace.only {
        if follows {
            sub.target.write_traced(sub, message, flusher, trace);
        }
        return true;
    }
    let Some(last) = sub.take_delivery() else {
        if let Some(TraceEvent::Egress(egress)) = trace.events.last_mut() {
            egress.error = Some(Refusal::AutoUnsubscribeExceeded);
        }
        auto_unsubscribe(account, sub);
        return false;
    };
    if follows {
        sub.target.write_traced(sub, message, flusher, trace);
    } else {
        sub.target.write(sub, message, flusher);
    }
    if last {
        auto_unsubscribe(account, sub);
    }
    true
}

/// Notes in `trace` the connection `sub` takes a message to (or, with `refusal`, does
/// not), or the import it crosses.
fn note(trace: &mut Trace, sub: &SubRef, message: &Message<'_>, refusal: Option<Refusal>) {
    if let (Some(cid), Some(name)) = (sub.target.cid(), sub.target.name()) {
        trace.events.push(TraceEvent::Egress(Egress {
            at: SystemTime::now(),
            cid,
            name,
            subject: sub.subject.clone(),
            queue: sub.queue.clone(),
            account: None,
            error: refusal,
        }));
        return;
    }
    if refusal.is_none() {
        if let Some(hop) = sub.target.hop(message.subject) {
            trace.events.push(TraceEvent::Hop {
                at: SystemTime::now(),
                hop,
            });
        }
    }
}

/// Removes a subscription that reached its auto-unsubscribe limit.
fn auto_unsubscribe(account: &Account, sub: &SubRef) {
    account.unsubscribe(sub);
    sub.target.forget(sub);
}
