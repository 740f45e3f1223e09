//! Accounts: each owns its subscription index. Every connection and internal client belongs
//! to one; until accounts are configured that is the global account `$G`.

use natsd_subject::Sublist;

use crate::subscription::SubRef;

pub const GLOBAL_ACCOUNT: &str = "$G";

#[derive(Debug)]
pub struct Account {
    pub name: String,
    pub sublist: Sublist<SubRef>,
}

impl Account {
    pub fn new(name: &str, sublist_cache: bool) -> Self {
        Account {
            name: name.to_owned(),
            sublist: Sublist::new(sublist_cache),
        }
    }

    /// Removes a subscription from the index and marks it closed.
    pub fn remove_subscription(&self, sub: &SubRef) {
        if sub.close() {
            self.sublist.remove(&sub.subject, sub.queue.as_deref(), sub);
        }
    }
}
