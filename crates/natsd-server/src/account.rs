//! Accounts: each owns its subscription index. Every connection and internal client belongs
//! to one; users without an account, and all clients when no accounts are configured,
//! belong to the global account `$G`.
//!
//! Accounts share subjects only through exports and imports: a stream import copies
//! messages published in the exporting account into the importing one (under a prefix or
//! another subject); a service import forwards requests the other way and routes each reply
//! back to the requester. Both are built from internal subscriptions (see `imports`).

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

/// What an export offers or an import takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareKind {
    Stream,
    Service,
}

/// How many responses a service request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseType {
    /// One response ends the request.
    #[default]
    Singleton,
    /// Any number of responses, until the request expires.
    Stream,
    /// Like a stream: one response sent in several parts.
    Chunked,
}

/// An `exports` entry: a subject (wildcards allowed) for the listed accounts, or for all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub kind: ShareKind,
    pub subject: String,
    /// `None` is public.
    pub accounts: Option<Vec<String>>,
    /// For services.
    pub response: ResponseType,
}

/// An `imports` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub kind: ShareKind,
    /// The exporting account.
    pub account: String,
    /// The subject in the exporting account.
    pub subject: String,
    /// Streams: where messages land in this account instead of `subject`. Services: the
    /// subject this account's clients send requests to.
    pub to: Option<String>,
    /// Streams: a prefix put in front of the subject.
    pub prefix: Option<String>,
}

/// One configured account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountConfig {
    pub name: String,
    pub exports: Vec<Export>,
    pub imports: Vec<Import>,
}

impl AccountConfig {
    /// The export that lets `importer` take `subject` of this kind, if any.
    pub fn export_for(&self, kind: ShareKind, subject: &str, importer: &str) -> Option<&Export> {
        self.exports.iter().find(|export| {
            export.kind == kind
                && natsd_subject::matches(export.subject.as_bytes(), subject.as_bytes())
                && export
                    .accounts
                    .as_ref()
                    .is_none_or(|names| names.iter().any(|n| n == importer))
        })
    }
}
