//! The bookkeeping both stores share: messages by sequence (holding whatever the store
//! keeps for each, the message itself or where it lies on disk), the state counts, and
//! per-subject counts with first and last sequences. Each message links to the previous
//! and next message on its subject, so removing any of them keeps its subject's first
//! and last right in constant time.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::msg::{StreamState, SubjectState};

/// What the index knows of one message; `value` is the store's own.
#[derive(Debug, Clone)]
pub(crate) struct Entry<T> {
    pub subject: Arc<str>,
    pub size: u64,
    pub ts: i64,
    pub value: T,
    /// The previous and next message on the same subject; 0 for none.
    prev: u64,
    next: u64,
}

/// Messages by sequence. Sequences only grow, so they sit in a ring from the first held
/// on, a removed one leaving a hole until the holes reach the front.
#[derive(Debug)]
struct Slots<T> {
    /// The sequence of the first slot.
    base: u64,
    slots: VecDeque<Option<Entry<T>>>,
    held: usize,
}

impl<T> Slots<T> {
    fn get(&self, seq: u64) -> Option<&Entry<T>> {
        let at = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.slots.get(at)?.as_ref()
    }

    fn get_mut(&mut self, seq: u64) -> Option<&mut Entry<T>> {
        let at = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.slots.get_mut(at)?.as_mut()
    }

    /// Places a message at `seq`, past every one held.
    fn push(&mut self, seq: u64, entry: Entry<T>) {
        if self.slots.is_empty() {
            self.base = seq;
        }
        let end = self.base + self.slots.len() as u64;
        for _ in end..seq {
            self.slots.push_back(None);
        }
        self.slots.push_back(Some(entry));
        self.held += 1;
    }

    fn take(&mut self, seq: u64) -> Option<Entry<T>> {
        let at = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        let entry = self.slots.get_mut(at)?.take()?;
        self.held -= 1;
        while matches!(self.slots.front(), Some(None)) {
            self.slots.pop_front();
            self.base += 1;
        }
        Some(entry)
    }

    fn iter_from(&self, start: u64) -> impl Iterator<Item = (u64, &Entry<T>)> {
        let skip = usize::try_from(start.saturating_sub(self.base)).unwrap_or(usize::MAX);
        let base = self.base;
        self.slots
            .iter()
            .enumerate()
            .skip(skip)
            .filter_map(move |(at, slot)| slot.as_ref().map(|e| (base + at as u64, e)))
    }

    fn first(&self) -> Option<(u64, &Entry<T>)> {
        self.iter_from(0).next()
    }
}

#[derive(Debug)]
pub(crate) struct Index<T> {
    entries: Slots<T>,
    subjects: HashMap<Arc<str>, SubjectState>,
    bytes: u64,
    last_seq: u64,
    last_ts: i64,
    /// The first sequence still possible: messages below it were purged.
    floor: u64,
}

impl<T> Default for Index<T> {
    fn default() -> Self {
        Index {
            entries: Slots {
                base: 1,
                slots: VecDeque::new(),
                held: 0,
            },
            subjects: HashMap::new(),
            bytes: 0,
            last_seq: 0,
            last_ts: 0,
            floor: 1,
        }
    }
}

impl<T> Index<T> {
    pub fn next_seq(&self) -> u64 {
        self.last_seq + 1
    }

    /// Records a message; sequences only grow (one that does not is not taken: a valid
    /// log never holds one).
    pub fn insert(&mut self, seq: u64, subject: &str, size: u64, ts: i64, value: T) {
        if !self.entries.slots.is_empty()
            && seq < self.entries.base + self.entries.slots.len() as u64
        {
            return;
        }
        let subject = match self.subjects.get_key_value(subject) {
            Some((known, _)) => Arc::clone(known),
            None => Arc::from(subject),
        };
        let state = self
            .subjects
            .entry(Arc::clone(&subject))
            .or_insert(SubjectState {
                msgs: 0,
                first: seq,
                last: 0,
            });
        let prev = state.last;
        state.msgs += 1;
        state.last = seq;
        if let Some(before) = self.entries.get_mut(prev) {
            before.next = seq;
        }
        self.bytes += size;
        self.last_seq = self.last_seq.max(seq);
        self.last_ts = ts;
        self.entries.push(
            seq,
            Entry {
                subject,
                size,
                ts,
                value,
                prev,
                next: 0,
            },
        );
    }

    /// Fills an empty index from saved messages in ascending sequence order, each naming
    /// its subject by position in `subjects`: one hash per subject, not one per message.
    /// A message out of order or naming no subject is not taken.
    pub fn load_saved(
        &mut self,
        subjects: Vec<Arc<str>>,
        messages: impl Iterator<Item = (u64, u32, u64, i64, T)>,
    ) {
        let mut states: Vec<Option<SubjectState>> = vec![None; subjects.len()];
        for (seq, number, size, ts, value) in messages {
            let (Some(subject), Some(state)) = (
                subjects.get(number as usize),
                states.get_mut(number as usize),
            ) else {
                continue;
            };
            if seq <= self.last_seq && !self.entries.slots.is_empty() {
                continue;
            }
            let state = state.get_or_insert(SubjectState {
                msgs: 0,
                first: seq,
                last: 0,
            });
            let prev = state.last;
            state.msgs += 1;
            state.last = seq;
            if let Some(before) = self.entries.get_mut(prev) {
                before.next = seq;
            }
            self.bytes += size;
            self.last_seq = seq;
            self.last_ts = ts;
            self.entries.push(
                seq,
                Entry {
                    subject: Arc::clone(subject),
                    size,
                    ts,
                    value,
                    prev,
                    next: 0,
                },
            );
        }
        self.subjects.reserve(subjects.len());
        for (subject, state) in subjects.into_iter().zip(states) {
            if let Some(state) = state {
                self.subjects.insert(subject, state);
            }
        }
    }

    /// Notes that `seq` was used without a message being kept (a record that did not
    /// survive), so that the next sequence stays past it.
    pub fn skip_to(&mut self, seq: u64, ts: i64) {
        if seq > self.last_seq {
            self.last_seq = seq;
            self.last_ts = ts;
        }
    }

    /// Every message the index holds, in sequence order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Entry<T>)> {
        self.entries.iter_from(0)
    }

    /// The purge floor, the last sequence and its time, as saved.
    pub fn bounds(&self) -> (u64, u64, i64) {
        (self.floor, self.last_seq, self.last_ts)
    }

    /// Takes saved bounds back.
    pub fn restore_bounds(&mut self, (floor, last_seq, last_ts): (u64, u64, i64)) {
        self.floor = floor;
        self.last_seq = last_seq;
        self.last_ts = last_ts;
    }

    /// What the store keeps of the message at `seq`, to change it.
    pub fn value_mut(&mut self, seq: u64) -> Option<&mut T> {
        self.entries.get_mut(seq).map(|e| &mut e.value)
    }

    /// The message at `seq`, or why there is none: not stored yet, or gone.
    pub fn entry(&self, seq: u64) -> Result<&Entry<T>, crate::msg::StoreError> {
        self.get(seq).ok_or(if seq > self.last_seq {
            crate::msg::StoreError::NotYetStored
        } else {
            crate::msg::StoreError::NotFound
        })
    }

    pub fn get(&self, seq: u64) -> Option<&Entry<T>> {
        self.entries.get(seq)
    }

    pub fn remove(&mut self, seq: u64) -> Option<Entry<T>> {
        let entry = self.entries.take(seq)?;
        self.bytes -= entry.size;
        if let Some(before) = self.entries.get_mut(entry.prev) {
            before.next = entry.next;
        }
        if let Some(after) = self.entries.get_mut(entry.next) {
            after.prev = entry.prev;
        }
        let emptied = match self.subjects.get_mut(&entry.subject) {
            Some(state) => {
                state.msgs -= 1;
                if state.first == seq {
                    state.first = entry.next;
                }
                if state.last == seq {
                    state.last = entry.prev;
                }
                state.msgs == 0
            }
            None => false,
        };
        if emptied {
            self.subjects.remove(&entry.subject);
        }
        Some(entry)
    }

    /// Removes every message below `seq`, returning what the store kept of each;
    /// sequences go on from `seq` when it is past the last.
    pub fn remove_below(&mut self, seq: u64) -> Vec<T> {
        let mut gone = Vec::new();
        while let Some((first, _)) = self.entries.first() {
            if first >= seq {
                break;
            }
            if let Some(entry) = self.remove(first) {
                gone.push(entry.value);
            }
        }
        self.floor = self.floor.max(seq);
        if seq > self.last_seq + 1 {
            self.last_seq = seq - 1;
        }
        gone
    }

    /// The first message at or after `start` whose subject `filter` matches.
    pub fn next_matching(&self, filter: &str, start: u64) -> Option<(u64, &Entry<T>)> {
        let matches = |subject: &str| {
            filter.is_empty()
                || filter == ">"
                || natsd_subject::matches(filter.as_bytes(), subject.as_bytes())
        };
        self.entries
            .iter_from(start)
            .find(|(_, e)| matches(&e.subject))
    }

    pub fn state(&self) -> StreamState {
        let msgs = self.entries.held as u64;
        let first = self.entries.first();
        let first_seq = first.map_or(self.floor.max(self.last_seq + 1), |(seq, _)| seq);
        let span = if msgs == 0 {
            0
        } else {
            self.last_seq - first_seq + 1
        };
        StreamState {
            msgs,
            bytes: self.bytes,
            first_seq,
            first_ts: first.map_or(0, |(_, e)| e.ts),
            last_seq: self.last_seq,
            last_ts: self.last_ts,
            num_deleted: span - msgs,
            num_subjects: self.subjects.len() as u64,
        }
    }

    pub fn subject_state(&self, subject: &str) -> Option<SubjectState> {
        self.subjects.get(subject).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Per-subject counts and bounds agree with counting the messages left, after
        /// any inserts and removals.
        #[test]
        fn subject_state_agrees_with_a_naive_count(
            ops in proptest::collection::vec((0u8..3, proptest::bool::ANY, 1u64..40), 1..120)
        ) {
            let mut index: Index<()> = Index::default();
            for (subject, insert, seq) in ops {
                if insert {
                    let next = index.next_seq();
                    index.insert(next, &format!("s{subject}"), 1, 0, ());
                } else {
                    index.remove(seq);
                }
            }
            for subject in ["s0", "s1", "s2"] {
                let held: Vec<u64> = index
                    .iter()
                    .filter(|(_, e)| &*e.subject == subject)
                    .map(|(seq, _)| seq)
                    .collect();
                let naive = (!held.is_empty()).then(|| SubjectState {
                    msgs: held.len() as u64,
                    first: held[0],
                    last: held[held.len() - 1],
                });
                proptest::prop_assert_eq!(index.subject_state(subject), naive);
            }
        }
    }
}
