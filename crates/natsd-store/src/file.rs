//! The file store: messages appended as checksummed records (see `record`) to numbered
//! block files, a new block once one is full. Removals and purges are records too, so a
//! block is only ever appended to. Opening scans every block: a torn tail is cut, damaged
//! records are skipped and counted in [`Recovery`], and what survives is indexed again.
//!
//! A purge or compaction is one record too: every message below a sequence is gone.
//!
//! A block that is mostly dead is rewritten with what still matters in it, all at once
//! under the same name; the streams of a Key-Value bucket, whose keys' older revisions
//! go one by one all through the stream, stay near the size of what they hold.
//!
//! A block goes once its messages are gone and its records no longer matter: the
//! removals it records concern only messages of blocks already gone, and a purge it
//! records has no older block left to clear. So the blocks of a stream under limits or
//! a work queue go as it ages messages out, and a purge takes every older block.
//!
//! Records gather in memory and go to the file in one write at [`StreamStore::flush`]
//! (or once 64 KB gathered): the caller flushes before it acknowledges what it stored,
//! so a crash of the process loses nothing acknowledged, and a batch of messages costs
//! one write. With `sync_always` each store is written and synced to the device before
//! it returns; otherwise [`StreamStore::sync`] does that when the caller decides.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::index::Index;
use crate::msg::{StoreError, StoredMsg, StreamState, SubjectState};
use crate::record::{self, Kind};
use crate::snapshot::{self, SavedBlock, SavedMessage, Snapshot};
use crate::storage::Storage;
use crate::{PendingSync, StreamStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStoreConfig {
    /// A block takes records until it holds this many bytes.
    pub block_size: u64,
    /// Sync each record to the device before the store returns.
    pub sync_always: bool,
}

impl Default for FileStoreConfig {
    fn default() -> Self {
        FileStoreConfig {
            block_size: 8 * 1024 * 1024,
            sync_always: false,
        }
    }
}

/// What the store found wrong on disk: opening it, or reading a message since (such a
/// message is removed at the next change to the store).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Stretches of bytes that held no valid record, each dropped, and messages found
    /// damaged when read.
    pub damaged: u64,
    pub damaged_bytes: u64,
    /// Bytes at the end of blocks that held no whole record, cut.
    pub torn_bytes: u64,
}

/// What one block's records amount to.
#[derive(Debug, Clone, Copy)]
struct Contents {
    /// Messages in it not removed, and their records' bytes.
    live: u64,
    live_bytes: u64,
    /// Its length, counting records still gathering for it.
    len: u64,
    /// The lowest sequence of a message record in it, removed or not.
    first_message: u64,
    /// The highest sequence a removal record in it names.
    last_removal: u64,
    /// It records a purge.
    purge: bool,
}

impl Default for Contents {
    fn default() -> Self {
        Contents {
            live: 0,
            live_bytes: 0,
            len: 0,
            first_message: u64::MAX,
            last_removal: 0,
            purge: false,
        }
    }
}

impl Contents {
    fn note(&mut self, kind: Kind, seq: u64) {
        match kind {
            Kind::Message => self.first_message = self.first_message.min(seq),
            Kind::Delete => self.last_removal = self.last_removal.max(seq),
            Kind::Purge => self.purge = true,
            Kind::Mark => {}
        }
    }
}

/// Where a message's record lies.
#[derive(Debug, Clone, Copy)]
struct Place {
    block: u64,
    offset: u64,
    len: u32,
}

/// A message's size as nats-server's file store counts it.
fn size(subject: &str, headers: &[u8], payload: &[u8]) -> u64 {
    let header_part = if headers.is_empty() {
        0
    } else {
        4 + headers.len()
    };
    (30 + subject.len() + header_part + payload.len()) as u64
}

/// Gathered records are written once they come to this many bytes.
const WRITE_AT: usize = 64 * 1024;

/// Where a clean close saves the index.
const INDEX: &str = "index.dat";

fn block_name(id: u64) -> String {
    format!("{id:010}.blk")
}

#[derive(Debug)]
pub struct FileStore<S: Storage> {
    storage: S,
    config: FileStoreConfig,
    index: Index<Place>,
    /// Block ids, oldest first; the last takes appends.
    blocks: Vec<u64>,
    /// Length of the last block, counting the records still gathering.
    active_len: u64,
    /// Records for the last block not yet written to it.
    pending: Vec<u8>,
    /// Blocks written since the last sync.
    unsynced: BTreeSet<u64>,
    /// Blocks handed to a [`PendingSync`] since the last full sync, which syncs them
    /// again: a pending sync dropped without running must not leave them unsynced.
    handed_out: BTreeSet<u64>,
    /// What each block holds, for deciding when it may go.
    contents: BTreeMap<u64, Contents>,
    recovery: Recovery,
    /// Messages a read found damaged, for the next change to remove.
    found_damaged: Mutex<Vec<u64>>,
    buffer: Vec<u8>,
}

impl<S: Storage> FileStore<S> {
    /// Opens the store on `storage`, recovering whatever its blocks hold: from the index
    /// a clean close saved, and the bytes written after it, when it still fits the
    /// blocks; else by scanning every block.
    pub fn open(mut storage: S, config: FileStoreConfig) -> Result<Self, StoreError> {
        let mut blocks: Vec<u64> = storage
            .list()?
            .iter()
            .filter_map(|name| name.strip_suffix(".blk")?.parse().ok())
            .collect();
        blocks.sort_unstable();
        let mut index = Index::default();
        let mut contents: BTreeMap<u64, Contents> = BTreeMap::new();
        // Where scanning starts in each block: past what the saved index covers.
        let mut covered: BTreeMap<u64, u64> = BTreeMap::new();
        if let Some(saved) = saved_index(&storage, &blocks) {
            let subjects = saved.subjects.iter().map(|s| Arc::from(s.as_str()));
            let messages = saved.messages.iter().map(|message| {
                let place = Place {
                    block: message.block,
                    offset: message.offset,
                    len: message.len,
                };
                (
                    message.seq,
                    message.subject,
                    message.size,
                    message.ts,
                    place,
                )
            });
            index.load_saved(subjects.collect(), messages);
            index.restore_bounds((saved.floor, saved.last_seq, saved.last_ts));
            for block in &saved.blocks {
                covered.insert(block.id, block.len);
                let noted = contents.entry(block.id).or_default();
                noted.first_message = block.first_message;
                noted.last_removal = block.last_removal;
                noted.purge = block.purge;
            }
        }
        let mut recovery = Recovery::default();
        let mut active_len = 0;
        for &block in &blocks {
            let name = block_name(block);
            let from = covered.get(&block).copied().unwrap_or(0);
            let size = storage.size(&name)?;
            let bytes = if from == 0 {
                storage.read(&name)?
            } else {
                let len = usize::try_from(size - from).map_err(std::io::Error::other)?;
                storage.read_at(&name, from, len)?
            };
            let scan = record::scan(&bytes);
            for damaged in &scan.damaged {
                recovery.damaged += 1;
                recovery.damaged_bytes += (damaged.end - damaged.start) as u64;
            }
            let mut len = from + bytes.len() as u64;
            if let Some(torn) = scan.torn_at {
                recovery.torn_bytes += bytes.len() as u64 - torn as u64;
                len = from + torn as u64;
                storage.truncate(&name, len)?;
            }
            let noted = contents.entry(block).or_default();
            noted.len = len;
            for found in &scan.records {
                noted.note(found.kind, found.seq);
                apply(&mut index, (block, from), &bytes, found);
            }
            active_len = len;
        }
        if blocks.is_empty() {
            blocks.push(1);
        }
        for (_, entry) in index.iter() {
            let noted = contents.entry(entry.value.block).or_default();
            noted.live += 1;
            noted.live_bytes += u64::from(entry.value.len);
        }
        let mut store = FileStore {
            storage,
            config,
            index,
            blocks,
            active_len,
            pending: Vec::new(),
            unsynced: BTreeSet::new(),
            handed_out: BTreeSet::new(),
            contents,
            recovery,
            found_damaged: Mutex::new(Vec::new()),
            buffer: Vec::new(),
        };
        store.drop_dead_blocks()?;
        Ok(store)
    }

    /// Syncs everything and saves the index, so that the next open need not scan what
    /// is stored now.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.sync()?;
        let mut subjects: Vec<String> = Vec::new();
        let mut numbers: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        let mut messages = Vec::new();
        for (seq, entry) in self.index.iter() {
            let number = *numbers.entry(&entry.subject).or_insert_with(|| {
                subjects.push(entry.subject.to_string());
                (subjects.len() - 1) as u32
            });
            messages.push(SavedMessage {
                seq,
                subject: number,
                size: entry.size,
                ts: entry.ts,
                block: entry.value.block,
                offset: entry.value.offset,
                len: entry.value.len,
            });
        }
        let mut blocks = Vec::new();
        for &id in &self.blocks {
            // The block an empty store opened with may never have been written.
            let len = match self.storage.size(&block_name(id)) {
                Ok(len) => len,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error.into()),
            };
            let contents = self.contents.get(&id).copied().unwrap_or_default();
            blocks.push(SavedBlock {
                id,
                len,
                first_message: contents.first_message,
                last_removal: contents.last_removal,
                purge: contents.purge,
            });
        }
        let (floor, last_seq, last_ts) = self.index.bounds();
        let saved = Snapshot {
            floor,
            last_seq,
            last_ts,
            blocks,
            subjects,
            messages,
        };
        self.storage.replace(INDEX, &snapshot::encode(&saved))?;
        Ok(())
    }

    /// Removes the blocks that hold no message and whose records no longer matter. A
    /// removal or purge record only ever concerns messages of its own or older blocks;
    /// once no older block holds a message it names, nothing depends on it. The block
    /// taking appends always stays.
    fn drop_dead_blocks(&mut self) -> Result<(), StoreError> {
        let last = self.blocks.len().saturating_sub(1);
        // The lowest message sequence in the blocks kept so far, older first.
        let mut kept_first = u64::MAX;
        let mut kept_any = false;
        let mut gone = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            let contents = self.contents.get(block).copied().unwrap_or_default();
            let droppable = i < last
                && contents.live == 0
                && contents.last_removal < kept_first
                && (!contents.purge || !kept_any);
            if droppable {
                gone.push(*block);
            } else {
                kept_first = kept_first.min(contents.first_message);
                kept_any = true;
            }
        }
        let dropped = !gone.is_empty();
        for block in gone {
            // A block that was never written has no file.
            match self.storage.remove(&block_name(block)) {
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
            self.blocks.retain(|b| *b != block);
            self.contents.remove(&block);
            self.unsynced.remove(&block);
            self.handed_out.remove(&block);
        }
        if dropped {
            self.mark_last_sequence()?;
        }
        Ok(())
    }

    /// Records how far sequences got, when the records that showed it may have gone
    /// with a dropped or rewritten block: when the last sequence is not a message held.
    fn mark_last_sequence(&mut self) -> Result<(), StoreError> {
        let (_, last, last_ts) = self.index.bounds();
        if last == 0 || self.index.get(last).is_some() {
            return Ok(());
        }
        self.buffer.clear();
        record::encode(&mut self.buffer, Kind::Mark, (last, last_ts), "", b"", b"");
        self.append(Kind::Mark, last)?;
        Ok(())
    }

    /// What opening found damaged or torn.
    pub fn recovery(&self) -> Recovery {
        self.recovery
    }

    fn active(&self) -> u64 {
        self.blocks.last().copied().unwrap_or(1)
    }

    /// Adds the record in `buffer` (of `kind`, naming `seq`) to the active block (a
    /// new one when it is full); returns where it goes.
    fn append(&mut self, kind: Kind, seq: u64) -> Result<Place, StoreError> {
        let len = self.buffer.len() as u64;
        if self.active_len > 0 && self.active_len + len > self.config.block_size {
            self.write_pending()?;
            self.blocks.push(self.active() + 1);
            self.active_len = 0;
        }
        let block = self.active();
        self.pending.extend_from_slice(&self.buffer);
        let noted = self.contents.entry(block).or_default();
        noted.note(kind, seq);
        noted.len += len;
        let place = Place {
            block,
            offset: self.active_len,
            len: u32::try_from(len).map_err(|_| StoreError::Corrupt("record too long".into()))?,
        };
        self.active_len += len;
        if self.config.sync_always {
            self.write_pending()?;
            self.storage.sync(&block_name(block))?;
            self.unsynced.remove(&block);
        } else if self.pending.len() >= WRITE_AT {
            self.write_pending()?;
        }
        Ok(place)
    }

    /// Counts a removed message out of its block.
    fn forget(&mut self, place: Place) {
        if let Some(contents) = self.contents.get_mut(&place.block) {
            contents.live = contents.live.saturating_sub(1);
            contents.live_bytes = contents.live_bytes.saturating_sub(u64::from(place.len));
        }
    }

    /// Rewrites a block that is mostly dead (not the one taking appends): its live
    /// messages stay, as do the removals of messages in other blocks and the purges;
    /// the rest goes. The new block replaces the old all at once, under the same id.
    fn maybe_rewrite(&mut self, block: u64) -> Result<(), StoreError> {
        let Some(contents) = self.contents.get(&block).copied() else {
            return Ok(());
        };
        let worth_it = block != self.active()
            && contents.live > 0
            && contents.live_bytes * 2 < contents.len
            && contents.len >= self.config.block_size / 2;
        if !worth_it {
            return Ok(());
        }
        let name = block_name(block);
        let bytes = self.storage.read(&name)?;
        let scan = record::scan(&bytes);
        let own: std::collections::HashSet<u64> = scan
            .records
            .iter()
            .filter(|r| r.kind == Kind::Message)
            .map(|r| r.seq)
            .collect();
        let mut kept = Vec::with_capacity(contents.live_bytes as usize);
        let mut fresh = Contents::default();
        let mut moved = Vec::new();
        for found in &scan.records {
            let keep = match found.kind {
                Kind::Message => self.index.get(found.seq).is_some_and(|e| {
                    e.value.block == block && e.value.offset == found.offset as u64
                }),
                Kind::Delete => !own.contains(&found.seq),
                Kind::Purge | Kind::Mark => true,
            };
            if !keep {
                continue;
            }
            if found.kind == Kind::Message {
                moved.push((found.seq, kept.len() as u64));
                fresh.live += 1;
                fresh.live_bytes += found.len as u64;
            }
            fresh.note(found.kind, found.seq);
            kept.extend_from_slice(&bytes[found.offset..found.offset + found.len]);
        }
        fresh.len = kept.len() as u64;
        // A saved index trusts the bytes it covers not to change: it must go first.
        match self.storage.remove(INDEX) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
        self.storage.replace(&name, &kept)?;
        for (seq, offset) in moved {
            if let Some(place) = self.index.value_mut(seq) {
                place.offset = offset;
            }
        }
        self.contents.insert(block, fresh);
        self.unsynced.remove(&block);
        self.handed_out.remove(&block);
        self.mark_last_sequence()
    }

    /// Writes the gathered records to the active block.
    fn write_pending(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let block = self.active();
        self.storage.append(&block_name(block), &self.pending)?;
        self.pending.clear();
        self.unsynced.insert(block);
        Ok(())
    }

    /// A record's bytes, from the records still gathering when it is one of them.
    fn record_bytes(&self, place: Place) -> Result<Vec<u8>, StoreError> {
        let written = self.active_len - self.pending.len() as u64;
        if place.block == self.active() && place.offset >= written {
            let start = usize::try_from(place.offset - written).map_err(std::io::Error::other)?;
            let end = start + place.len as usize;
            return self
                .pending
                .get(start..end)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| StoreError::Corrupt("record past the gathered ones".into()));
        }
        let name = block_name(place.block);
        Ok(self
            .storage
            .read_at(&name, place.offset, place.len as usize)?)
    }

    fn message(&self, seq: u64) -> Result<StoredMsg, StoreError> {
        let entry = self.index.entry(seq)?;
        let bytes = self.record_bytes(entry.value)?;
        // A record is checked again as it is read: what was damaged since is not served.
        let scan = record::scan(&bytes);
        let found = scan
            .records
            .first()
            .filter(|r| r.seq == seq && r.kind == Kind::Message)
            .ok_or_else(|| {
                self.found_damaged
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(seq);
                StoreError::Corrupt(format!("message {seq}"))
            })?;
        Ok(StoredMsg {
            seq,
            subject: entry.subject.to_string(),
            headers: Bytes::copy_from_slice(&bytes[found.headers.clone()]),
            payload: Bytes::copy_from_slice(&bytes[found.payload.clone()]),
            ts: found.ts,
        })
    }
}

/// A store dropped without [`FileStore::close`] still writes what gathered (a crash, of
/// course, does not).
impl<S: Storage> Drop for FileStore<S> {
    fn drop(&mut self) {
        let _ = self.write_pending();
    }
}

/// The index a clean close saved, if it fits the blocks there are: each block it covers
/// is still there and at least as long, and no block it does not cover is older than one
/// it does. Blocks are only appended to, so what it covers is as it was; rewriting a
/// block removes the saved index first.
fn saved_index<S: Storage>(storage: &S, blocks: &[u64]) -> Option<Snapshot> {
    let saved = snapshot::decode(&storage.read(INDEX).ok()?)?;
    let newest = saved.blocks.iter().map(|b| b.id).max().unwrap_or(0);
    let fits = saved.blocks.iter().all(|b| {
        blocks.contains(&b.id)
            && storage
                .size(&block_name(b.id))
                .is_ok_and(|len| len >= b.len)
    }) && blocks
        .iter()
        .all(|id| *id > newest || saved.blocks.iter().any(|b| b.id == *id));
    fits.then_some(saved)
}

/// Replays one recovered record into the index; `from` is where in `block` the scanned
/// bytes start.
fn apply(
    index: &mut Index<Place>,
    (block, from): (u64, u64),
    bytes: &[u8],
    found: &record::Record,
) {
    match found.kind {
        Kind::Message => {
            let subject = std::str::from_utf8(&bytes[found.subject.clone()]).unwrap_or_default();
            let headers = &bytes[found.headers.clone()];
            let payload = &bytes[found.payload.clone()];
            let place = Place {
                block,
                offset: from + found.offset as u64,
                len: found.len as u32,
            };
            let size = size(subject, headers, payload);
            index.insert(found.seq, subject, size, found.ts, place);
        }
        Kind::Delete => {
            index.remove(found.seq);
            // Even when the message's own record did not survive, its sequence was used.
            index.skip_to(found.seq, found.ts);
        }
        Kind::Purge => {
            index.remove_below(found.seq);
        }
        Kind::Mark => index.skip_to(found.seq, found.ts),
    }
}

impl<S: Storage> StreamStore for FileStore<S> {
    fn store(
        &mut self,
        subject: &str,
        headers: &[u8],
        payload: &[u8],
        ts: i64,
    ) -> Result<u64, StoreError> {
        self.settle_damaged()?;
        let seq = self.index.next_seq();
        self.buffer.clear();
        record::encode(
            &mut self.buffer,
            Kind::Message,
            (seq, ts),
            subject,
            headers,
            payload,
        );
        let place = self.append(Kind::Message, seq)?;
        let size = size(subject, headers, payload);
        let noted = self.contents.entry(place.block).or_default();
        noted.live += 1;
        noted.live_bytes += u64::from(place.len);
        self.index.insert(seq, subject, size, ts, place);
        Ok(seq)
    }

    fn message_size(&self, subject: &str, headers: &[u8], payload: &[u8]) -> u64 {
        size(subject, headers, payload)
    }

    fn load(&self, seq: u64) -> Result<StoredMsg, StoreError> {
        self.message(seq)
    }

    fn next_match(&self, filter: &str, start: u64) -> Option<u64> {
        self.index.next_matching(filter, start).map(|(seq, _)| seq)
    }

    fn remove(&mut self, seq: u64) -> Result<bool, StoreError> {
        self.settle_damaged()?;
        self.remove_message(seq)
    }

    fn compact(&mut self, seq: u64) -> Result<u64, StoreError> {
        self.settle_damaged()?;
        self.buffer.clear();
        record::encode(&mut self.buffer, Kind::Purge, (seq, 0), "", b"", b"");
        self.append(Kind::Purge, seq)?;
        let gone = self.index.remove_below(seq);
        for place in &gone {
            self.forget(*place);
        }
        self.drop_dead_blocks()?;
        Ok(gone.len() as u64)
    }

    fn state(&self) -> StreamState {
        self.index.state()
    }

    fn subject_state(&self, subject: &str) -> Option<SubjectState> {
        self.index.subject_state(subject)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.settle_damaged()?;
        self.write_pending()
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.settle_damaged()?;
        self.write_pending()?;
        let mut blocks = std::mem::take(&mut self.unsynced);
        blocks.append(&mut self.handed_out);
        for block in blocks {
            self.storage.sync(&block_name(block))?;
        }
        Ok(())
    }

    fn sync_later(&mut self) -> Result<PendingSync, StoreError> {
        self.flush()?;
        let blocks = std::mem::take(&mut self.unsynced);
        let syncs = blocks
            .iter()
            .map(|block| self.storage.deferred_sync(&block_name(*block)))
            .collect::<Result<Vec<_>, _>>()?;
        self.handed_out.extend(blocks);
        Ok(PendingSync::new(syncs))
    }
}

impl<S: Storage> FileStore<S> {
    /// Removes the messages reads found damaged, each counted in [`Recovery`].
    fn settle_damaged(&mut self) -> Result<(), StoreError> {
        // Held exclusively here, so no lock is taken: the store path pays nothing.
        let found = self
            .found_damaged
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if found.is_empty() {
            return Ok(());
        }
        for seq in std::mem::take(found) {
            if self.remove_message(seq)? {
                self.recovery.damaged += 1;
            }
        }
        Ok(())
    }

    fn remove_message(&mut self, seq: u64) -> Result<bool, StoreError> {
        if self.index.get(seq).is_none() {
            return Ok(false);
        }
        self.buffer.clear();
        record::encode(&mut self.buffer, Kind::Delete, (seq, 0), "", b"", b"");
        self.append(Kind::Delete, seq)?;
        if let Some(entry) = self.index.remove(seq) {
            self.forget(entry.value);
            self.drop_dead_blocks()?;
            self.maybe_rewrite(entry.value.block)?;
        }
        Ok(true)
    }
}
