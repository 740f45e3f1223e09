//! A client's permissions as delivery and publishing consult them, with the replies it may
//! send under `allow_responses`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use natsd_auth::{Permissions, ResponsePermission};
use parking_lot::{Mutex, RwLock};

/// Tracked replies below which nothing is pruned.
const PRUNE_FLOOR: usize = 4096;

/// The permissions in force for one client; the flag spares unrestricted clients the lock.
#[derive(Debug, Default)]
pub(crate) struct Permits {
    permissions: RwLock<Option<Arc<Permissions>>>,
    restricted: AtomicBool,
    /// Boxed: most clients never answer under `allow_responses`.
    replies: Mutex<Option<Box<ReplyPermits>>>,
}

impl Permits {
    pub(crate) fn set(&self, permissions: Option<Permissions>) {
        let permissions = permissions.map(Arc::new);
        self.restricted
            .store(permissions.is_some(), Ordering::Release);
        *self.permissions.write() = permissions;
    }

    /// The permissions in force, for reporting.
    pub(crate) fn get(&self) -> Option<Arc<Permissions>> {
        self.permissions.read().clone()
    }

    fn allowed_by(&self, check: impl FnOnce(&Permissions) -> bool) -> bool {
        if !self.restricted.load(Ordering::Acquire) {
            return true;
        }
        self.permissions.read().as_deref().is_none_or(check)
    }

    /// Whether the client may publish to `subject`, or answer a request received on it.
    #[inline]
    pub(crate) fn may_publish(&self, subject: &[u8]) -> bool {
        self.allowed_by(|permissions| {
            permissions.can_publish(subject)
                || permissions.allow_responses.is_some_and(|allowed| {
                    self.replies
                        .lock()
                        .as_mut()
                        .is_some_and(|replies| replies.answer(subject, &allowed, Instant::now()))
                })
        })
    }

    /// Whether the permissions let the client publish to `subject`, leaving aside the
    /// responses it may send (and using none of them up).
    pub(crate) fn may_publish_by_rule(&self, subject: &[u8]) -> bool {
        self.allowed_by(|permissions| permissions.can_publish(subject))
    }

    pub(crate) fn may_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        self.allowed_by(|permissions| permissions.can_subscribe(subject, queue))
    }

    /// Whether a message may be delivered: not on a subject the subscribe permissions deny.
    /// A request the client may answer under `allow_responses` is noted.
    pub(crate) fn accepts_delivery(&self, subject: &[u8], reply: &[u8]) -> bool {
        self.allowed_by(|permissions| {
            if permissions.delivery_denied(subject) {
                return false;
            }
            if let Some(allowed) = permissions.allow_responses.filter(|_| !reply.is_empty()) {
                self.replies
                    .lock()
                    .get_or_insert_with(Box::default)
                    .request(reply, &allowed, Instant::now());
            }
            true
        })
    }
}

/// Reply subjects a client may answer, with when the request arrived and how many
/// responses went out.
#[derive(Debug)]
pub(crate) struct ReplyPermits {
    replies: HashMap<Bytes, (Instant, usize)>,
    /// The size at which used-up and expired entries are next swept out. It doubles past
    /// what a sweep leaves, so sweeping costs O(1) per request however many stay live.
    prune_at: usize,
    /// Entries visited by sweeps, to keep their cost honest.
    swept: u64,
}

impl Default for ReplyPermits {
    fn default() -> Self {
        ReplyPermits {
            replies: HashMap::new(),
            prune_at: PRUNE_FLOOR,
            swept: 0,
        }
    }
}

impl ReplyPermits {
    /// Notes a request received with `reply`, which the client may now answer.
    pub(crate) fn request(&mut self, reply: &[u8], allowed: &ResponsePermission, now: Instant) {
        if self.replies.len() >= self.prune_at {
            self.swept += self.replies.len() as u64;
            let expires = allowed.expires;
            self.replies
                .retain(|_, (at, _)| expires.is_zero() || now.duration_since(*at) <= expires);
            self.prune_at = (self.replies.len() * 2).max(PRUNE_FLOOR);
        }
        self.replies.insert(Bytes::copy_from_slice(reply), (now, 0));
    }

    /// Whether a publish to `subject` answers a request received, within `allowed`; an
    /// entry is dropped once it has given all the responses it allows, or expired.
    pub(crate) fn answer(
        &mut self,
        subject: &[u8],
        allowed: &ResponsePermission,
        now: Instant,
    ) -> bool {
        let Some((at, sent)) = self.replies.get_mut(subject) else {
            return false;
        };
        if !allowed.expires.is_zero() && now.duration_since(*at) > allowed.expires {
            self.replies.remove(subject);
            return false;
        }
        *sent += 1;
        if allowed.max_msgs > 0 && *sent >= allowed.max_msgs {
            self.replies.remove(subject);
        }
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.replies.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn allowing(max_msgs: usize, expires: Duration) -> ResponsePermission {
        ResponsePermission { max_msgs, expires }
    }

    #[test]
    fn sweeping_stays_linear_when_every_reply_stays_live() {
        let mut permits = ReplyPermits::default();
        let allowed = allowing(1, Duration::ZERO);
        let now = Instant::now();
        let requests = 100_000;
        for i in 0..requests {
            permits.request(format!("_INBOX.{i}").as_bytes(), &allowed, now);
        }
        assert_eq!(permits.len(), requests);
        // Sweeps at 4096, 8192, ... visit fewer than twice the entries in all.
        assert!(
            permits.swept < 2 * requests as u64,
            "swept {} entries for {requests} requests",
            permits.swept
        );
    }

    #[test]
    fn expired_and_used_up_replies_are_swept() {
        let mut permits = ReplyPermits::default();
        let allowed = allowing(0, Duration::from_secs(1));
        let start = Instant::now();
        for i in 0..PRUNE_FLOOR {
            permits.request(format!("old.{i}").as_bytes(), &allowed, start);
        }
        let later = start + Duration::from_secs(5);
        permits.request(b"new", &allowed, later);
        assert_eq!(permits.len(), 1);
        assert!(permits.answer(b"new", &allowed, later));
        assert!(!permits.answer(b"old.1", &allowed, later));
    }

    #[test]
    fn a_reply_gives_as_many_responses_as_allowed() {
        let mut permits = ReplyPermits::default();
        let allowed = allowing(2, Duration::ZERO);
        let now = Instant::now();
        permits.request(b"r", &allowed, now);
        assert!(permits.answer(b"r", &allowed, now));
        assert!(permits.answer(b"r", &allowed, now));
        assert!(!permits.answer(b"r", &allowed, now));
        assert!(!permits.answer(b"unknown", &allowed, now));
    }
}
