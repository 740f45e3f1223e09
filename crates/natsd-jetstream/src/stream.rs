//! One stream as a state machine over its store, without I/O of its own: a message
//! published to it is checked (the `Nats-Expected-*` headers, de-duplication by
//! `Nats-Msg-Id`, roll-ups, sizes, `discard: new` limits), stored, and the limits applied
//! (`max_msgs`, `max_bytes`, `max_msgs_per_subject`, `max_age`).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

use natsd_proto::headers::HeaderBlock;
use natsd_store::{
    DirStorage, FileStore, FileStoreConfig, MemStore, StoreError, StoredMsg, StreamStore,
};

use crate::errors::ApiError;
use crate::types::{Discard, Retention, StreamConfig};

pub const MSG_ID: &str = "Nats-Msg-Id";
pub const EXPECTED_STREAM: &str = "Nats-Expected-Stream";
pub const EXPECTED_LAST_SEQ: &str = "Nats-Expected-Last-Sequence";
pub const EXPECTED_LAST_SUBJECT_SEQ: &str = "Nats-Expected-Last-Subject-Sequence";
pub const EXPECTED_LAST_SUBJECT_SEQ_SUBJECT: &str = "Nats-Expected-Last-Subject-Sequence-Subject";
pub const EXPECTED_LAST_MSG_ID: &str = "Nats-Expected-Last-Msg-Id";
pub const ROLLUP: &str = "Nats-Rollup";
pub const TTL: &str = "Nats-TTL";

/// The store of a stream, by its `storage`.
#[derive(Debug)]
pub enum Store {
    Memory(MemStore),
    File(Box<FileStore<DirStorage>>),
}

impl Store {
    fn get(&self) -> &dyn StreamStore {
        match self {
            Store::Memory(store) => store,
            Store::File(store) => store.as_ref(),
        }
    }

    fn get_mut(&mut self) -> &mut dyn StreamStore {
        match self {
            Store::Memory(store) => store,
            Store::File(store) => store.as_mut(),
        }
    }

    /// Opens the file store in `dir`, recovering what it holds.
    /// Syncing is the caller's: see [`Stream::sync_later`].
    pub fn open_file(dir: PathBuf) -> Result<Store, StoreError> {
        let storage = DirStorage::new(dir)?;
        let store = FileStore::open(storage, FileStoreConfig::default())?;
        Ok(Store::File(Box::new(store)))
    }

    /// Records found damaged on disk so far.
    pub fn damaged(&self) -> u64 {
        match self {
            Store::Memory(_) => 0,
            Store::File(store) => store.recovery().damaged,
        }
    }
}

/// What became of a message published to the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored at this sequence.
    At(u64),
    /// A duplicate of the message stored at this sequence, within the window.
    Duplicate(u64),
}

/// Message ids seen within the duplicate window, oldest first.
#[derive(Debug, Default)]
struct Dedupe {
    ids: HashMap<String, u64>,
    order: VecDeque<(i64, String)>,
}

impl Dedupe {
    fn prune(&mut self, now: i64, window: i64) {
        while let Some((ts, _)) = self.order.front() {
            if *ts > now - window {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                self.ids.remove(&id);
            }
        }
    }

    fn insert(&mut self, id: String, seq: u64, ts: i64) {
        self.ids.insert(id.clone(), seq);
        self.order.push_back((ts, id));
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.order.clear();
    }
}

/// The de-duplication state a clean close leaves, so that the next open need not read
/// every message in the window again. It holds only for the store it was taken from,
/// unchanged: `last_seq` tells.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SavedDedupe {
    last_seq: u64,
    last_msg_id: String,
    /// Message id, sequence and time, oldest first.
    ids: Vec<(String, u64, i64)>,
}

#[derive(Debug)]
pub struct Stream {
    pub config: StreamConfig,
    /// When it was created, in Unix nanoseconds.
    pub created: i64,
    store: Store,
    dedupe: Dedupe,
    last_msg_id: String,
}

/// A message on its way into a stream.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub subject: &'a str,
    /// The `NATS/1.0` header block, empty when there is none.
    pub headers: &'a [u8],
    pub payload: &'a [u8],
    /// The server's `max_payload`.
    pub max_payload: usize,
}

fn store_failed(error: StoreError) -> ApiError {
    ApiError::store_failed(error.to_string())
}

impl Stream {
    /// A stream over `store`, its de-duplication state taken from `saved` when that was
    /// left by this store's last close, else rebuilt from the messages within the window.
    pub fn new(
        config: StreamConfig,
        created: i64,
        store: Store,
        now: i64,
        saved: Option<SavedDedupe>,
    ) -> Stream {
        let mut stream = Stream {
            config,
            created,
            store,
            dedupe: Dedupe::default(),
            last_msg_id: String::new(),
        };
        match saved {
            Some(saved) if saved.last_seq == stream.store.get().state().last_seq => {
                stream.last_msg_id = saved.last_msg_id;
                for (id, seq, ts) in saved.ids {
                    stream.dedupe.insert(id, seq, ts);
                }
                stream.dedupe.prune(now, stream.config.duplicate_window);
            }
            _ => stream.rebuild_dedupe(now),
        }
        stream
    }

    fn rebuild_dedupe(&mut self, now: i64) {
        let window = self.config.duplicate_window;
        let state = self.store.get().state();
        let mut found = Vec::new();
        let mut seq = state.last_seq;
        while seq >= state.first_seq.max(1) && seq > 0 {
            if let Ok(msg) = self.store.get().load(seq) {
                if msg.ts <= now - window {
                    break;
                }
                if let Some(id) = msg_id(&msg) {
                    if seq == state.last_seq {
                        self.last_msg_id.clone_from(&id);
                    }
                    found.push((id, seq, msg.ts));
                }
            }
            seq -= 1;
        }
        for (id, seq, ts) in found.into_iter().rev() {
            self.dedupe.insert(id, seq, ts);
        }
    }

    pub fn store(&self) -> &dyn StreamStore {
        self.store.get()
    }

    pub fn damaged(&self) -> u64 {
        self.store.damaged()
    }

    /// Checks and stores one message, then applies the limits.
    pub fn accept(&mut self, msg: Inbound<'_>, now: i64) -> Result<Stored, ApiError> {
        let cfg = &self.config;
        if cfg.sealed {
            return Err(ApiError::sealed());
        }
        let headers = if msg.headers.is_empty() {
            None
        } else {
            HeaderBlock::decode(msg.headers).ok()
        };
        let header = |name: &str| headers.as_ref().and_then(|h| h.get(name));
        let mut msg_id = None;
        let mut rollup = None;
        if headers.is_some() {
            if header(EXPECTED_STREAM).is_some_and(|name| name != cfg.name) {
                return Err(ApiError::expected_stream_mismatch());
            }
            if header(TTL).is_some() && !cfg.allow_msg_ttl {
                return Err(ApiError::message_ttl_disabled());
            }
            if let Some(expected) = header(EXPECTED_LAST_SUBJECT_SEQ) {
                let subject = header(EXPECTED_LAST_SUBJECT_SEQ_SUBJECT).unwrap_or(msg.subject);
                let last = self.last_of(subject);
                if expected.trim().parse::<u64>().ok() != Some(last) {
                    return Err(ApiError::wrong_last_sequence(last));
                }
            }
            if let Some(expected) = header(EXPECTED_LAST_SEQ) {
                let last = self.store.get().state().last_seq;
                if expected.trim().parse::<u64>().ok() != Some(last) {
                    return Err(ApiError::wrong_last_sequence(last));
                }
            }
            if let Some(id) = header(MSG_ID).filter(|id| !id.is_empty()) {
                self.dedupe.prune(now, cfg.duplicate_window);
                if let Some(seq) = self.dedupe.ids.get(id) {
                    return Ok(Stored::Duplicate(*seq));
                }
                msg_id = Some(id.to_owned());
            }
            if let Some(expected) = header(EXPECTED_LAST_MSG_ID) {
                if expected != self.last_msg_id {
                    return Err(ApiError::wrong_last_msg_id(&self.last_msg_id));
                }
            }
            if let Some(value) = header(ROLLUP) {
                if !cfg.allow_rollup_hdrs || cfg.deny_purge {
                    return Err(ApiError::rollup_failed("rollup not permitted"));
                }
                match value {
                    "sub" | "all" => rollup = Some(value == "all"),
                    other => {
                        return Err(ApiError::rollup_failed(format!(
                            "rollup value invalid: {other:?}"
                        )))
                    }
                }
            }
        }
        let (header_len, payload_len) = (msg.headers.len(), msg.payload.len());
        if header_len > msg.max_payload || payload_len > msg.max_payload - header_len {
            return Err(ApiError::message_exceeds_maximum());
        }
        if let Ok(max) = usize::try_from(cfg.max_msg_size) {
            if header_len > max || payload_len > max - header_len {
                return Err(ApiError::message_exceeds_maximum());
            }
        }
        if header_len > usize::from(u16::MAX) {
            return Err(ApiError::header_exceeds_maximum());
        }
        if cfg.discard == Discard::New {
            self.check_discard_new(msg, rollup.is_some())?;
        }
        let seq = self
            .store
            .get_mut()
            .store(msg.subject, msg.headers, msg.payload, now)
            .map_err(store_failed)?;
        if self.config.retention == Retention::Interest {
            // No consumer holds interest yet, so the message is not kept: its sequence
            // is used up, as nats-server skips it.
            self.store.get_mut().remove(seq).map_err(store_failed)?;
        }
        self.last_msg_id = msg_id.clone().unwrap_or_default();
        if let Some(id) = msg_id {
            self.dedupe.insert(id, seq, now);
        }
        match rollup {
            Some(true) => {
                self.store.get_mut().compact(seq).map_err(store_failed)?;
            }
            Some(false) => {
                self.store
                    .get_mut()
                    .purge_ex(msg.subject, seq, 0)
                    .map_err(store_failed)?;
            }
            None => {}
        }
        self.enforce_limits(Some(msg.subject), now)
            .map_err(store_failed)?;
        Ok(Stored::At(seq))
    }

    /// The last sequence of `subject` (which may be a wildcard), 0 when it has none.
    fn last_of(&self, subject: &str) -> u64 {
        if natsd_subject::has_wildcard(subject.as_bytes()) {
            return self.store.get().filtered_state(subject, 0).last;
        }
        self.store
            .get()
            .subject_state(subject)
            .map_or(0, |s| s.last)
    }

    /// `discard: new`: refuse what would go over a limit instead of dropping old messages.
    fn check_discard_new(&self, msg: Inbound<'_>, rollup: bool) -> Result<(), ApiError> {
        let cfg = &self.config;
        let store = self.store.get();
        let state = store.state();
        let subject = store.subject_state(msg.subject);
        let at_subject_limit = cfg.max_msgs_per_subject > 0
            && subject.is_some_and(|s| s.msgs >= cfg.max_msgs_per_subject as u64);
        if at_subject_limit && cfg.discard_new_per_subject && !rollup {
            return Err(ApiError::store_failed(
                "maximum messages per subject exceeded",
            ));
        }
        if cfg.max_msgs > 0 && state.msgs >= cfg.max_msgs as u64 && !at_subject_limit {
            return Err(ApiError::store_failed("maximum messages exceeded"));
        }
        let size = store.message_size(msg.subject, msg.headers, msg.payload);
        if cfg.max_bytes > 0 && state.bytes + size > cfg.max_bytes as u64 {
            let replaced = subject
                .filter(|_| at_subject_limit)
                .and_then(|s| store.load(s.first).ok())
                .map(|old| store.message_size(&old.subject, &old.headers, &old.payload));
            if replaced.is_none_or(|old| old < size) {
                return Err(ApiError::store_failed("maximum bytes exceeded"));
            }
        }
        Ok(())
    }

    /// Drops what the limits no longer allow: the oldest of a subject over its limit, the
    /// oldest over `max_msgs` or `max_bytes`, and whatever is older than `max_age`.
    pub fn enforce_limits(&mut self, subject: Option<&str>, now: i64) -> Result<(), StoreError> {
        let cfg = &self.config;
        let store = self.store.get_mut();
        if let (Some(subject), true) = (subject, cfg.max_msgs_per_subject > 0) {
            let limit = cfg.max_msgs_per_subject as u64;
            while let Some(state) = store.subject_state(subject).filter(|s| s.msgs > limit) {
                store.remove(state.first)?;
            }
        }
        if cfg.max_msgs > 0 {
            let limit = cfg.max_msgs as u64;
            while store.state().msgs > limit {
                let first = store.state().first_seq;
                store.remove(first)?;
            }
        }
        if cfg.max_bytes > 0 {
            let limit = cfg.max_bytes as u64;
            while store.state().bytes > limit {
                let first = store.state().first_seq;
                store.remove(first)?;
            }
        }
        if cfg.max_age > 0 {
            let cutoff = now - cfg.max_age;
            loop {
                let state = store.state();
                if state.msgs == 0 || state.first_ts > cutoff {
                    break;
                }
                store.remove(state.first_seq)?;
            }
        }
        Ok(())
    }

    /// When the oldest message will be older than `max_age`, if it ages out at all.
    pub fn next_expiry(&self) -> Option<i64> {
        let state = self.store.get().state();
        (self.config.max_age > 0 && state.msgs > 0).then(|| state.first_ts + self.config.max_age)
    }

    /// Makes what was stored so far survive a crash of the process.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.store.get_mut().flush()
    }

    /// Flushes, and takes the sync that makes what was stored survive a power loss.
    pub fn sync_later(&mut self) -> Result<natsd_store::PendingSync, StoreError> {
        self.store.get_mut().sync_later()
    }

    pub fn load(&self, seq: u64) -> Result<StoredMsg, StoreError> {
        self.store.get().load(seq)
    }

    pub fn remove(&mut self, seq: u64) -> Result<bool, StoreError> {
        self.store.get_mut().remove(seq)
    }

    /// A purge as `STREAM.PURGE` asks it; returns how many messages went.
    pub fn purge(&mut self, filter: &str, seq: u64, keep: u64) -> Result<u64, StoreError> {
        let purged = self.store.get_mut().purge_ex(filter, seq, keep)?;
        if filter.is_empty() && seq == 0 && keep == 0 {
            self.dedupe.clear();
        }
        Ok(purged)
    }

    /// Replaces the configuration after an update, applying tighter limits at once.
    pub fn update(&mut self, config: StreamConfig, now: i64) -> Result<(), StoreError> {
        self.config = config;
        self.enforce_limits(None, now)?;
        let subjects: Vec<String> = if self.config.max_msgs_per_subject > 0 {
            self.subjects_matching(">").into_keys().collect()
        } else {
            Vec::new()
        };
        for subject in subjects {
            self.enforce_limits(Some(&subject), now)?;
        }
        Ok(())
    }

    /// Each subject `filter` matches, with how many messages it has.
    pub fn subjects_matching(&self, filter: &str) -> std::collections::BTreeMap<String, u64> {
        let store = self.store.get();
        let mut found = std::collections::BTreeMap::new();
        let mut next = store.state().first_seq;
        while let Some(seq) = store.next_match(filter, next) {
            next = seq + 1;
            if let Ok(msg) = store.load(seq) {
                if let std::collections::btree_map::Entry::Vacant(entry) = found.entry(msg.subject)
                {
                    let count = store.subject_state(entry.key()).map_or(0, |s| s.msgs);
                    entry.insert(count);
                }
            }
        }
        found
    }

    /// Sequences between the first and the last that hold no message.
    pub fn deleted(&self) -> Vec<u64> {
        let store = self.store.get();
        let state = store.state();
        let mut gone = Vec::new();
        let mut expected = state.first_seq;
        let mut next = state.first_seq;
        while let Some(seq) = store.next_match("", next) {
            gone.extend(expected..seq);
            expected = seq + 1;
            next = seq + 1;
        }
        gone
    }

    /// Closes the store cleanly (a file store saves its index); returns the
    /// de-duplication state for the next open.
    pub fn close(mut self) -> Result<SavedDedupe, StoreError> {
        let dedupe = std::mem::take(&mut self.dedupe);
        let saved = SavedDedupe {
            last_seq: self.store.get().state().last_seq,
            last_msg_id: std::mem::take(&mut self.last_msg_id),
            ids: dedupe
                .order
                .into_iter()
                .filter_map(|(ts, id)| dedupe.ids.get(&id).map(|seq| (id, *seq, ts)))
                .collect(),
        };
        if let Store::File(store) = self.store {
            (*store).close()?;
        }
        Ok(saved)
    }
}

fn msg_id(msg: &StoredMsg) -> Option<String> {
    if msg.headers.is_empty() {
        return None;
    }
    let headers = HeaderBlock::decode(&msg.headers).ok()?;
    headers.get(MSG_ID).map(str::to_owned)
}
