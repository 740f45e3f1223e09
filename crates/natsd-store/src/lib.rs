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
pub use storage::{DeferredSync, DirStorage, SimStorage, Storage};

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

    /// How many bytes a message counts for in [`StreamState::bytes`] (each store
    /// counts as nats-server's store of its kind does), for limits checked before storing.
    fn message_size(&self, subject: &str, headers: &[u8], payload: &[u8]) -> u64;

    /// The message at `seq`.
    fn load(&self, seq: u64) -> Result<StoredMsg, StoreError>;

    /// The newest message on `subject` (a literal subject).
    fn load_last(&self, subject: &str) -> Result<StoredMsg, StoreError> {
        let last = self
            .subject_state(subject)
            .ok_or(StoreError::NotFound)?
            .last;
        self.load(last)
    }

    /// The sequence of the first message at or after `start` whose subject `filter`
    /// matches (wildcards allowed; empty matches every subject), without loading it.
    fn next_match(&self, filter: &str, start: u64) -> Option<u64>;

    /// The first message at or after `start` whose subject `filter` matches.
    fn load_next(&self, filter: &str, start: u64) -> Result<StoredMsg, StoreError> {
        let seq = self.next_match(filter, start).ok_or(StoreError::NotFound)?;
        self.load(seq)
    }

    /// Removes the message at `seq`; returns whether there was one.
    fn remove(&mut self, seq: u64) -> Result<bool, StoreError>;

    /// Removes every message; returns how many went. The next sequence is kept.
    fn purge(&mut self) -> Result<u64, StoreError> {
        let next = self.state().last_seq + 1;
        self.compact(next)
    }

    /// Removes every message below `seq`; returns how many went. Past the last
    /// sequence, the stream goes on from `seq`.
    fn compact(&mut self, seq: u64) -> Result<u64, StoreError>;

    /// nats-server's filtered purge: the messages `filter` matches (every one when it
    /// is empty or `>`), below `seq` when it is not 0, but for the `keep` newest of them
    /// when it is not 0. Returns how many went.
    fn purge_ex(&mut self, filter: &str, seq: u64, keep: u64) -> Result<u64, StoreError> {
        let state = self.state();
        if filter.is_empty() || filter == ">" {
            return match (seq, keep) {
                (0, 0) => self.purge(),
                (seq, _) if seq > 1 => self.compact(seq),
                (_, keep) if keep > 0 && state.msgs > keep => {
                    // The newest `keep` stay: compact below the first of them, found
                    // past the `msgs - keep` oldest without loading any.
                    let mut first_kept = state.first_seq;
                    for _ in 0..state.msgs - keep {
                        match self.next_match("", first_kept) {
                            Some(seq) => first_kept = seq + 1,
                            None => break,
                        }
                    }
                    let first_kept = self.next_match("", first_kept).unwrap_or(first_kept);
                    self.compact(first_kept)
                }
                _ => Ok(0),
            };
        }
        let filtered = self.filtered_state(filter, 1);
        if filtered.msgs == 0 || keep >= filtered.msgs && keep > 0 {
            return Ok(0);
        }
        let to_remove = filtered.msgs - keep;
        let last = if seq > 1 { seq - 1 } else { filtered.last };
        let mut purged = 0;
        let mut next = filtered.first;
        while purged < to_remove {
            let Some(found) = self.next_match(filter, next).filter(|found| *found <= last) else {
                break;
            };
            next = found + 1;
            if self.remove(found)? {
                purged += 1;
            }
        }
        Ok(purged)
    }

    /// How many messages at or after `start` `filter` matches, and the first and last of
    /// them (0 when there are none).
    fn filtered_state(&self, filter: &str, start: u64) -> SubjectState {
        let literal = !filter.is_empty() && !natsd_subject::has_wildcard(filter.as_bytes());
        if literal && start <= self.state().first_seq {
            return self.subject_state(filter).unwrap_or(SubjectState {
                msgs: 0,
                first: 0,
                last: 0,
            });
        }
        let mut found = SubjectState {
            msgs: 0,
            first: 0,
            last: 0,
        };
        let mut next = start;
        while let Some(seq) = self.next_match(filter, next) {
            if found.msgs == 0 {
                found.first = seq;
            }
            found.msgs += 1;
            found.last = seq;
            next = seq + 1;
        }
        found
    }

    fn state(&self) -> StreamState;

    /// Counts and bounds of one literal subject.
    fn subject_state(&self, subject: &str) -> Option<SubjectState>;

    /// Hands everything stored so far to the operating system, so that a crash of the
    /// process keeps it: what a caller acknowledges it must have flushed.
    fn flush(&mut self) -> Result<(), StoreError>;

    /// Makes everything stored so far survive a power loss too, as far as the store can.
    fn sync(&mut self) -> Result<(), StoreError>;

    /// [`StreamStore::sync`] in two halves: this one flushes and takes what was written
    /// since the last sync or `sync_later`; running the [`PendingSync`], on any thread,
    /// does the waiting. Run in the order taken, each makes durable all stored before it
    /// was taken; meanwhile the store takes more messages, for the next one.
    fn sync_later(&mut self) -> Result<PendingSync, StoreError> {
        self.sync()?;
        Ok(PendingSync::default())
    }
}

/// Syncs taken from a store by [`StreamStore::sync_later`].
#[derive(Default)]
pub struct PendingSync(Vec<DeferredSync>);

impl PendingSync {
    pub(crate) fn new(syncs: Vec<DeferredSync>) -> Self {
        PendingSync(syncs)
    }

    /// Waits until what was stored before the syncs were taken survives a power loss.
    pub fn run(self) -> std::io::Result<()> {
        self.0.into_iter().try_for_each(|sync| sync())
    }
}

impl std::fmt::Debug for PendingSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PendingSync({} files)", self.0.len())
    }
}
