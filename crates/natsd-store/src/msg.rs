//! What the stores hand out: messages, stream and subject state, errors.

use bytes::Bytes;

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMsg {
    pub seq: u64,
    pub subject: String,
    /// The `NATS/1.0` header block, empty when the message has none.
    pub headers: Bytes,
    pub payload: Bytes,
    /// When it was stored, in Unix nanoseconds.
    pub ts: i64,
}

/// A stream's state as a store keeps it, in nats-server's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamState {
    pub msgs: u64,
    /// The sizes of the messages held, as the store counts them.
    pub bytes: u64,
    /// The first sequence held; the next one to be stored when there are none.
    pub first_seq: u64,
    pub first_ts: i64,
    /// The last sequence stored, even if it was removed since.
    pub last_seq: u64,
    pub last_ts: i64,
    /// Sequences between the first and the last that are gone.
    pub num_deleted: u64,
    pub num_subjects: u64,
}

/// One subject's messages: how many, and its first and last sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectState {
    pub msgs: u64,
    pub first: u64,
    pub last: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no message found")]
    NotFound,
    /// The sequence is past the last one stored.
    #[error("no message found")]
    NotYetStored,
    #[error("store is closed")]
    Closed,
    #[error("a stored record is damaged: {0}")]
    Corrupt(String),
    #[error("store I/O: {0}")]
    Io(#[from] std::io::Error),
}
