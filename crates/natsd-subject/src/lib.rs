//! Sans-IO NATS subjects.
//!
//! - [`validate`]: subject rules exactly as nats-server applies them (tokens, `*`, `>`,
//!   whitespace), and literal-against-pattern matching.
//! - [`transform`]: [`SubjectTransform`], nats-server's subject rewriting: `$N` and
//!   mustache functions (wildcard, partition, split, slice, left/right, random).
//! - [`mapping`]: [`Mappings`], an account's weighted (and cluster-scoped) subject mappings
//!   built on transforms.
//! - [`sublist`]: [`Sublist`], the per-account subscription index: a token trie with wildcard
//!   branches, a bounded shared result cache, and a generation counter that per-connection
//!   caches compare against to know when their entries went stale.
//!
//! Queue groups come back from a match as whole groups; picking one member per group is the
//! caller's choice (the server picks at random).

pub mod mapping;
pub mod sublist;
pub mod transform;
pub mod validate;

pub use mapping::{MapDest, MappingError, Mappings};

pub use sublist::{QueueGroup, Sublist, SublistError, SublistResult, SublistStats};
pub use transform::{SubjectTransform, TransformError};
pub use validate::{
    has_wildcard, is_subset, is_valid_literal_subject, is_valid_publish_subject, is_valid_subject,
    matches,
};
