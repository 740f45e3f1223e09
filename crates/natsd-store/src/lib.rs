//! JetStream message stores, without an async runtime.
//!
//! - [`StreamStore`]: what a stream asks of its store: append a message and get its
//!   sequence, load by sequence or the last of a subject, remove, purge, and the state
//!   (counts, bytes, first and last, per-subject).
//! - [`MemStore`]: messages held in memory, the oracle the file store is checked against.
//! - [`FileStore`]: append-only blocks of checksummed records (see `record`) over a
//!   [`Storage`]; recovery scans the blocks, cuts a torn tail and drops (and reports)
//!   records whose checksum fails while keeping the ones after them. A clean close saves
//!   the index (see `snapshot`), so the next open scans only what came after it.
//! - [`Storage`]: the few file operations the file store needs, implemented on a
//!   directory ([`DirStorage`]) and on a simulated disk ([`SimStorage`]) that loses
//!   unsynced writes, tears the last one and flips bits, for the fault tests.
//! - `index`: the sequence and per-subject bookkeeping both stores share.

mod file;
mod index;
mod mem;
mod msg;
pub mod record;
mod snapshot;
mod storage;

pub use file::{FileStore, FileStoreConfig, Recovery};
pub use mem::MemStore;
pub use msg::{StoreError, StoredMsg, StreamState, SubjectState};
pub use storage::{DirStorage, SimStorage, Storage};

/// A stream's messages, however they are kept.
pub trait StreamStore {
    /// Appends a message (`headers` is the whole `NATS/1.0` block, or empty) stamped
    /// `ts` (Unix nanoseconds); returns its sequence.
    fn store(
        &mut self,
        subject: &str,
        headers: &[u8],
        payload: &[u8],
        ts: i64,
    ) -> Result<u64, StoreError>;

    /// The message at `seq`.
    fn load(&self, seq: u64) -> Result<StoredMsg, StoreError>;

    /// The newest message on `subject` (a literal subject).
    fn load_last(&self, subject: &str) -> Result<StoredMsg, StoreError>;

    /// The first message at or after `start` whose subject `filter` matches (wildcards
    /// allowed; empty matches every subject).
    fn load_next(&self, filter: &str, start: u64) -> Result<StoredMsg, StoreError>;

    /// Removes the message at `seq`; returns whether there was one.
    fn remove(&mut self, seq: u64) -> Result<bool, StoreError>;

    /// Removes every message; returns how many went. The next sequence is kept.
    fn purge(&mut self) -> Result<u64, StoreError>;

    fn state(&self) -> StreamState;

    /// Counts and bounds of one literal subject.
    fn subject_state(&self, subject: &str) -> Option<SubjectState>;

    /// Hands everything stored so far to the operating system, so that a crash of the
    /// process keeps it: what a caller acknowledges it must have flushed.
    fn flush(&mut self) -> Result<(), StoreError>;

    /// Makes everything stored so far survive a power loss too, as far as the store can.
    fn sync(&mut self) -> Result<(), StoreError>;
}
