//! Per-user permissions with nats-server's semantics:
//!
//! - publish: allowed when no allow list is set or a pattern of it matches the subject, and
//!   no deny pattern matches; deny wins.
//! - subscribe: the subscription's subject (wildcards and all) is matched against the
//!   patterns token by token, a wildcard in a pattern matching any token of the subject, as
//!   nats-server's index does. Entries written `"subject queue"` concern queue
//!   subscriptions: when such an allow entry matches, the queue must be one of those named;
//!   when such a deny entry matches, a named queue is refused.
//! - delivery: a wildcard or queue subscription may overlap a denied subject; messages on
//!   denied subjects are then not delivered.
//! - `allow_responses`: a client may publish to the reply subject of a request it received,
//!   up to `max_msgs` times within `expires`, without publish permission.

use std::time::Duration;

use natsd_subject::{has_wildcard, matches};

/// nats-server's defaults for `allow_responses: true`.
pub const DEFAULT_RESPONSE_MAX_MSGS: usize = 1;
pub const DEFAULT_RESPONSE_EXPIRES: Duration = Duration::from_secs(120);

/// One allow or deny entry: a subject pattern, and a queue for queue entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub subject: String,
    pub queue: Option<String>,
}

impl Entry {
    /// `"subject"` or `"subject queue"`.
    pub fn parse(text: &str) -> Entry {
        let mut parts = text.split_whitespace();
        let subject = parts.next().unwrap_or_default().to_owned();
        let queue = parts.next().map(str::to_owned);
        Entry { subject, queue }
    }
}

/// Allow and deny lists for publishing or subscribing; `None` means no list at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectRule {
    pub allow: Option<Vec<Entry>>,
    pub deny: Option<Vec<Entry>>,
}

impl SubjectRule {
    pub fn is_empty(&self) -> bool {
        self.allow.is_none() && self.deny.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsePermission {
    /// Responses allowed per request; 0 is no limit.
    pub max_msgs: usize,
    /// How long after the request responses are allowed; zero is no limit.
    pub expires: Duration,
}

impl Default for ResponsePermission {
    fn default() -> Self {
        ResponsePermission {
            max_msgs: DEFAULT_RESPONSE_MAX_MSGS,
            expires: DEFAULT_RESPONSE_EXPIRES,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish: SubjectRule,
    pub subscribe: SubjectRule,
    pub allow_responses: Option<ResponsePermission>,
}

/// Whether a plain entry matches, and the queue names of the queue entries that do.
fn matching<'a>(entries: &'a [Entry], subject: &[u8]) -> (bool, Vec<&'a str>) {
    let mut plain = false;
    let mut queues = Vec::new();
    for entry in entries {
        if matches(entry.subject.as_bytes(), subject) {
            match &entry.queue {
                None => plain = true,
                Some(queue) => queues.push(queue.as_str()),
            }
        }
    }
    (plain, queues)
}

/// A queue named exactly, or matched by a wildcard queue name.
fn queue_named(queue: &[u8], names: &[&str]) -> bool {
    names.iter().any(|name| {
        name.as_bytes() == queue
            || (has_wildcard(name.as_bytes()) && matches(name.as_bytes(), queue))
    })
}

impl Permissions {
    pub fn can_publish(&self, subject: &[u8]) -> bool {
        let rule = &self.publish;
        let allowed = rule
            .allow
            .as_ref()
            .is_none_or(|allow| allow.iter().any(|e| matches(e.subject.as_bytes(), subject)));
        allowed
            && rule
                .deny
                .as_ref()
                .is_none_or(|deny| !deny.iter().any(|e| matches(e.subject.as_bytes(), subject)))
    }

    pub fn can_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let rule = &self.subscribe;
        let mut allowed = true;
        if let Some(allow) = &rule.allow {
            let (plain, queues) = matching(allow, subject);
            allowed = plain;
            if let Some(queue) = queue.filter(|_| !queues.is_empty()) {
                allowed = queue_named(queue, &queues);
            }
        }
        if allowed {
            if let Some(deny) = &rule.deny {
                let (plain, queues) = matching(deny, subject);
                allowed = !plain;
                if let Some(queue) = queue.filter(|_| allowed && !queues.is_empty()) {
                    allowed = !queue_named(queue, &queues);
                }
            }
        }
        allowed
    }

    /// Whether a message on the literal `subject` must not reach this user's subscriptions
    /// (it overlaps a subscribe deny entry).
    pub fn delivery_denied(&self, subject: &[u8]) -> bool {
        self.subscribe.deny.as_ref().is_some_and(|deny| {
            deny.iter()
                .any(|e| e.queue.is_none() && matches(e.subject.as_bytes(), subject))
        })
    }

    /// Whether deliveries need [`Permissions::delivery_denied`] at all.
    pub fn filters_deliveries(&self) -> bool {
        self.subscribe
            .deny
            .as_ref()
            .is_some_and(|deny| deny.iter().any(|e| e.queue.is_none()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[&str]) -> Option<Vec<Entry>> {
        Some(list.iter().map(|e| Entry::parse(e)).collect())
    }

    fn perms(
        pub_allow: &[&str],
        pub_deny: &[&str],
        sub_allow: &[&str],
        sub_deny: &[&str],
    ) -> Permissions {
        let list = |l: &[&str]| if l.is_empty() { None } else { entries(l) };
        Permissions {
            publish: SubjectRule {
                allow: list(pub_allow),
                deny: list(pub_deny),
            },
            subscribe: SubjectRule {
                allow: list(sub_allow),
                deny: list(sub_deny),
            },
            allow_responses: None,
        }
    }

    #[test]
    fn publish_allow_and_deny() {
        let p = perms(&["orders.>", "_INBOX.>"], &["orders.secret"], &[], &[]);
        assert!(p.can_publish(b"orders.new"));
        assert!(p.can_publish(b"orders.a.b"));
        assert!(!p.can_publish(b"orders.secret"));
        assert!(!p.can_publish(b"billing"));
        let deny_only = perms(&[], &["admin.*"], &[], &[]);
        assert!(deny_only.can_publish(b"anything"));
        assert!(!deny_only.can_publish(b"admin.x"));
        assert!(deny_only.can_publish(b"admin.x.y"));
    }

    #[test]
    fn subscribe_matches_subjects_token_by_token() {
        let p = perms(&[], &[], &["foo.*", "bar.>"], &["bar.secret"]);
        assert!(p.can_subscribe(b"foo.a", None));
        assert!(p.can_subscribe(b"foo.*", None));
        // As in nats-server, a `*` pattern matches a `>` token too.
        assert!(p.can_subscribe(b"foo.>", None));
        assert!(!p.can_subscribe(b"foo", None));
        assert!(p.can_subscribe(b"bar.>", None));
        assert!(!p.can_subscribe(b"bar.secret", None));
        // A wildcard that overlaps a denied subject is allowed; deliveries are filtered.
        assert!(p.can_subscribe(b"bar.*", None));
        assert!(p.delivery_denied(b"bar.secret"));
        assert!(!p.delivery_denied(b"bar.public"));
        assert!(p.filters_deliveries());
    }

    #[test]
    fn queue_entries() {
        let p = perms(
            &[],
            &[],
            &["jobs.* workers", "jobs.*", "tasks.> w.*"],
            &["jobs.x bad"],
        );
        assert!(p.can_subscribe(b"jobs.a", Some(b"workers")));
        // A queue entry matches: only the named queues are allowed.
        assert!(!p.can_subscribe(b"jobs.a", Some(b"others")));
        assert!(p.can_subscribe(b"jobs.a", None));
        assert!(p.can_subscribe(b"tasks.a", Some(b"w.1")));
        assert!(!p.can_subscribe(b"tasks.a", Some(b"v.1")));
        assert!(!p.can_subscribe(b"tasks.a", None));
        assert!(!p.can_subscribe(b"jobs.x", Some(b"bad")));
        assert!(!p.filters_deliveries());
    }

    #[test]
    fn no_lists_allow_everything() {
        let p = Permissions::default();
        assert!(p.can_publish(b"x"));
        assert!(p.can_subscribe(b">", Some(b"q")));
        assert!(!p.delivery_denied(b"x"));
        assert_eq!(
            Entry::parse(" a.b  q "),
            Entry {
                subject: "a.b".into(),
                queue: Some("q".into())
            }
        );
    }
}
