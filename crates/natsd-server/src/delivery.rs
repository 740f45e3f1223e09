//! Fan-out of one published message to what its subject matched, on the publisher's task:
//! every plain subscription, and one member of each queue group. Each subscriber decides
//! whether it takes the message and frames it itself (see [`crate::subscription::Deliver`]).

use natsd_subject::SublistResult;
use rand::Rng;

use crate::account::Account;
use crate::conn::Flusher;
use crate::subscription::{Message, SubRef};

/// Delivers `message` to every plain subscription and one member of every queue group in
/// `result`. Returns whether anything received it.
pub(crate) fn deliver(
    account: &Account,
    result: &SublistResult<SubRef>,
    message: &Message<'_>,
    flusher: &mut Flusher,
) -> bool {
    let mut delivered = false;
    for sub in &result.plain {
        delivered |= deliver_to(account, sub, message, flusher);
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
            if deliver_to(account, sub, message, flusher) {
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
) -> bool {
    if sub.is_closed() || !sub.target.accepts(message) {
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

/// Removes a subscription that reached its auto-unsubscribe limit.
fn auto_unsubscribe(account: &Account, sub: &SubRef) {
    account.unsubscribe(sub);
    sub.target.forget(sub);
}
