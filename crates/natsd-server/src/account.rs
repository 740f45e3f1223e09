//! Accounts: each owns its subscription index, and is the only way in or out of it.
//! Every connection and internal client belongs to one; users without an account, and all
//! clients when no accounts are configured, belong to the global account `$G`.
//!
//! Adding or removing a subscription goes through [`Account::subscribe`] and
//! [`Account::unsubscribe`], which keep count of interest by subject and queue and tell the
//! account's [`InterestObserver`]s when interest in one appears or goes: routes and leaf
//! nodes propagate it from there.
//!
//! Accounts share subjects only through exports and imports (see `imports`), built from
//! internal subscriptions; what an account is configured with is in `account_config`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use natsd_subject::{Mappings, Sublist, SublistError, SublistResult, SublistStats};
use parking_lot::{Mutex, RwLock};
use rand::Rng;

pub use crate::account_config::*;
use crate::subscription::SubRef;

/// Told when an account's interest in a subject (or a queue group on it) appears or goes.
/// It runs under the account's interest lock, in order: keep it quick.
pub trait InterestObserver: Send + Sync {
    fn interest_changed(&self, account: &Account, change: InterestChange<'_>);
}

/// One change of interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterestChange<'a> {
    pub subject: &'a [u8],
    pub queue: Option<&'a [u8]>,
    /// Whether interest appeared (the first subscription) or went (the last one left).
    pub present: bool,
}

type InterestKey = (Bytes, Option<Bytes>);

/// Subscriptions a closing connection removes under one lock of the index.
pub(crate) const UNSUBSCRIBE_BATCH: usize = 1024;

pub struct Account {
    pub name: String,
    sublist: Sublist<SubRef>,
    /// Subscriptions by subject and queue, to tell when interest appears or goes.
    interest: Mutex<HashMap<InterestKey, usize>>,
    observers: RwLock<Vec<Arc<dyn InterestObserver>>>,
    /// Replaced when an account JWT is updated.
    limits: RwLock<AccountLimits>,
    /// Replaced with the limits.
    msg_trace: RwLock<Option<Arc<MsgTraceConfig>>>,
    /// Subject mappings, replaced with the limits; `has_mappings` lets the publish path
    /// skip the lock when there are none.
    mappings: RwLock<Arc<Mappings>>,
    has_mappings: AtomicBool,
    /// Client connections bound to the account now.
    connections: AtomicUsize,
    /// The internal subscriptions serving this account's imports, with the account each
    /// lives in, so that an updated account JWT can replace them.
    import_subscriptions: Mutex<Vec<(Weak<Account>, SubRef)>>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account").field("name", &self.name).finish()
    }
}

impl Account {
    pub fn new(name: &str, sublist_cache: bool) -> Self {
        Account {
            name: name.to_owned(),
            sublist: Sublist::new(sublist_cache),
            interest: Mutex::new(HashMap::new()),
            observers: RwLock::new(Vec::new()),
            limits: RwLock::new(AccountLimits::default()),
            msg_trace: RwLock::new(None),
            mappings: RwLock::new(Arc::default()),
            has_mappings: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            import_subscriptions: Mutex::new(Vec::new()),
        }
    }

    pub fn limits(&self) -> AccountLimits {
        *self.limits.read()
    }

    pub(crate) fn set_limits(&self, limits: AccountLimits) {
        *self.limits.write() = limits;
    }

    /// Takes the limits, message tracing and mappings of a (new or changed) account
    /// config.
    pub(crate) fn configure(&self, config: &AccountConfig) {
        self.set_limits(config.limits);
        *self.msg_trace.write() = config.msg_trace.clone().map(Arc::new);
        let mappings = config.subject_mappings();
        self.has_mappings
            .store(!mappings.is_empty(), Ordering::Release);
        *self.mappings.write() = Arc::new(mappings);
    }

    pub(crate) fn has_mappings(&self) -> bool {
        self.has_mappings.load(Ordering::Acquire)
    }

    /// The subject a client's publish to `subject` goes to instead, if a mapping takes
    /// it; empty when the mapping's weights drop the message.
    pub(crate) fn mapped_subject(&self, subject: &[u8]) -> Option<Vec<u8>> {
        let mut rng = rand::rng();
        self.mappings
            .read()
            .select(subject, "", &mut || rng.random())
    }

    pub(crate) fn mappings(&self) -> Arc<Mappings> {
        Arc::clone(&self.mappings.read())
    }

    /// Where messages with a sampled `traceparent` are traced, if anywhere.
    pub(crate) fn msg_trace(&self) -> Option<Arc<MsgTraceConfig>> {
        self.msg_trace.read().clone()
    }

    /// Counts a connection in, unless the account is at its limit.
    pub(crate) fn bind_connection(&self) -> bool {
        let max = self.limits().max_connections.unwrap_or(usize::MAX);
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    pub(crate) fn unbind_connection(&self) {
        let _ = self
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Notes a subscription made in `home` for one of this account's imports.
    pub(crate) fn add_import_subscription(&self, home: &Arc<Account>, sub: SubRef) {
        self.import_subscriptions
            .lock()
            .push((Arc::downgrade(home), sub));
    }

    /// Removes every subscription serving this account's imports.
    pub(crate) fn remove_import_subscriptions(&self) {
        let subscriptions = std::mem::take(&mut *self.import_subscriptions.lock());
        for (home, sub) in subscriptions {
            if let Some(home) = home.upgrade() {
                home.unsubscribe(&sub);
            }
        }
    }

    /// Adds a subscription to the index.
    pub fn subscribe(&self, sub: SubRef) -> Result<(), SublistError> {
        let (subject, queue) = (sub.subject.clone(), sub.queue.clone());
        self.sublist.insert(&subject, queue.as_deref(), sub)?;
        let mut interest = self.interest.lock();
        let count = interest
            .entry((subject.clone(), queue.clone()))
            .or_insert(0);
        *count += 1;
        if *count == 1 {
            self.tell(&subject, queue.as_ref(), true);
        }
        Ok(())
    }

    /// Removes a subscription from the index and marks it closed; returns false when it
    /// was already gone.
    pub fn unsubscribe(&self, sub: &SubRef) -> bool {
        if !sub.close() || !self.sublist.remove(&sub.subject, sub.queue.as_deref(), sub) {
            return false;
        }
        self.forget_interest(&sub.subject, sub.queue.as_ref());
        true
    }

    /// Removes many subscriptions (a closing connection's), a batch at a time: each batch
    /// takes the index's lock once, and matching for other clients goes on in between.
    pub fn unsubscribe_all(&self, subs: impl IntoIterator<Item = SubRef>) {
        let mut subs = subs.into_iter().filter(|sub| sub.close()).peekable();
        while subs.peek().is_some() {
            let batch: Vec<SubRef> = subs.by_ref().take(UNSUBSCRIBE_BATCH).collect();
            let removed = self.sublist.remove_batch(
                batch
                    .iter()
                    .map(|sub| (&sub.subject[..], sub.queue.as_deref(), sub)),
            );
            for (sub, _) in batch.iter().zip(removed).filter(|(_, removed)| *removed) {
                self.forget_interest(&sub.subject, sub.queue.as_ref());
            }
        }
    }

    fn forget_interest(&self, subject: &Bytes, queue: Option<&Bytes>) {
        let mut interest = self.interest.lock();
        let key = (subject.clone(), queue.cloned());
        let Some(count) = interest.get_mut(&key) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            interest.remove(&key);
            self.tell(subject, queue, false);
        }
    }

    /// Starts telling `observer` about changes of interest; it is first told of every
    /// subject and queue with interest now.
    pub fn observe_interest(&self, observer: Arc<dyn InterestObserver>) {
        let interest = self.interest.lock();
        for (subject, queue) in interest.keys() {
            observer.interest_changed(
                self,
                InterestChange {
                    subject,
                    queue: queue.as_deref(),
                    present: true,
                },
            );
        }
        self.observers.write().push(observer);
    }

    fn tell(&self, subject: &[u8], queue: Option<&Bytes>, present: bool) {
        let observers = self.observers.read();
        for observer in observers.iter() {
            observer.interest_changed(
                self,
                InterestChange {
                    subject,
                    queue: queue.map(|q| &q[..]),
                    present,
                },
            );
        }
    }

    /// Everything a message published to the literal `subject` reaches.
    pub fn matches(&self, subject: &[u8]) -> Arc<SublistResult<SubRef>> {
        self.sublist.matches(subject)
    }

    /// Changes whenever the account's subscriptions change, for caches of matches.
    pub fn generation(&self) -> u64 {
        self.sublist.generation()
    }

    /// The subscription index's figures.
    pub fn sublist_stats(&self) -> SublistStats {
        self.sublist.stats()
    }
}
