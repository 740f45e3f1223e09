//! The memory store: every message held in process memory.

use bytes::Bytes;

use crate::index::Index;
use crate::msg::{StoreError, StoredMsg, StreamState, SubjectState};
use crate::StreamStore;

/// A message's size as nats-server's memory store counts it.
fn size(subject: &str, headers: &[u8], payload: &[u8]) -> u64 {
    (subject.len() + headers.len() + payload.len() + 16) as u64
}

#[derive(Debug, Default)]
pub struct MemStore {
    index: Index<(Bytes, Bytes)>,
}

impl MemStore {
    pub fn new() -> Self {
        MemStore::default()
    }

    fn message(&self, seq: u64) -> Result<StoredMsg, StoreError> {
        let entry = self.index.entry(seq)?;
        let (headers, payload) = &entry.value;
        Ok(StoredMsg {
            seq,
            subject: entry.subject.to_string(),
            headers: headers.clone(),
            payload: payload.clone(),
            ts: entry.ts,
        })
    }
}

impl StreamStore for MemStore {
    fn store(
        &mut self,
        subject: &str,
        headers: &[u8],
        payload: &[u8],
        ts: i64,
    ) -> Result<u64, StoreError> {
        let seq = self.index.next_seq();
        let value = (
            Bytes::copy_from_slice(headers),
            Bytes::copy_from_slice(payload),
        );
        let size = size(subject, headers, payload);
        self.index.insert(seq, subject, size, ts, value);
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
        Ok(self.index.remove(seq).is_some())
    }

    fn compact(&mut self, seq: u64) -> Result<u64, StoreError> {
        Ok(self.index.remove_below(seq).len() as u64)
    }

    fn state(&self) -> StreamState {
        self.index.state()
    }

    fn subject_state(&self, subject: &str) -> Option<SubjectState> {
        self.index.subject_state(subject)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
