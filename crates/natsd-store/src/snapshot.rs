//! The file store's saved index, sans-IO: what a clean close leaves so that the next open
//! need not scan the blocks again. It names how long each block was when it was saved;
//! the next open takes it only when every block is still there and at least that long
//! (blocks only grow, so those bytes are as they were) and scans just what came after.
//!
//! Layout, little-endian: `magic (4) | crc32c of the rest (4) | body`. The body holds the
//! sequence floor, last sequence and time, the blocks (id, length, what they hold), the
//! subjects, and each message: sequence, subject number, size, time, block, offset,
//! length.

const MAGIC: [u8; 4] = *b"NNIX";

/// One block as saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SavedBlock {
    pub id: u64,
    pub len: u64,
    pub first_message: u64,
    pub last_removal: u64,
    pub purge: bool,
}

/// One message as saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SavedMessage {
    pub seq: u64,
    pub subject: u32,
    pub size: u64,
    pub ts: i64,
    pub block: u64,
    pub offset: u64,
    pub len: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub floor: u64,
    pub last_seq: u64,
    pub last_ts: i64,
    pub blocks: Vec<SavedBlock>,
    pub subjects: Vec<String>,
    pub messages: Vec<SavedMessage>,
}

struct Writer(Vec<u8>);

impl Writer {
    fn u64(&mut self, n: u64) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }
    fn u32(&mut self, n: u32) {
        self.0.extend_from_slice(&n.to_le_bytes());
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    /// A count of items of at least `each` bytes, refused when the rest cannot hold them.
    fn count(&mut self, each: usize) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n.checked_mul(each)? <= self.0.len()).then_some(n)
    }
}

pub(crate) fn encode(snapshot: &Snapshot) -> Vec<u8> {
    let mut body = Writer(Vec::with_capacity(64 + snapshot.messages.len() * 48));
    body.u64(snapshot.floor);
    body.u64(snapshot.last_seq);
    body.u64(snapshot.last_ts as u64);
    body.u64(snapshot.blocks.len() as u64);
    for block in &snapshot.blocks {
        body.u64(block.id);
        body.u64(block.len);
        body.u64(block.first_message);
        body.u64(block.last_removal);
        body.0.push(u8::from(block.purge));
    }
    body.u64(snapshot.subjects.len() as u64);
    for subject in &snapshot.subjects {
        body.u32(subject.len() as u32);
        body.0.extend_from_slice(subject.as_bytes());
    }
    body.u64(snapshot.messages.len() as u64);
    for message in &snapshot.messages {
        body.u64(message.seq);
        body.u32(message.subject);
        body.u64(message.size);
        body.u64(message.ts as u64);
        body.u64(message.block);
        body.u64(message.offset);
        body.u32(message.len);
    }
    let mut out = Vec::with_capacity(8 + body.0.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&crc32c::crc32c(&body.0).to_le_bytes());
    out.extend_from_slice(&body.0);
    out
}

/// The snapshot in `bytes`, unless they are not a whole, unchanged one.
pub(crate) fn decode(bytes: &[u8]) -> Option<Snapshot> {
    let (head, body) = (bytes.get(..8)?, bytes.get(8..)?);
    if head[..4] != MAGIC || u32::from_le_bytes(head[4..8].try_into().ok()?) != crc32c::crc32c(body)
    {
        return None;
    }
    let mut r = Reader(body);
    let mut snapshot = Snapshot {
        floor: r.u64()?,
        last_seq: r.u64()?,
        last_ts: r.u64()? as i64,
        ..Snapshot::default()
    };
    for _ in 0..r.count(33)? {
        snapshot.blocks.push(SavedBlock {
            id: r.u64()?,
            len: r.u64()?,
            first_message: r.u64()?,
            last_removal: r.u64()?,
            purge: match r.take(1)?[0] {
                0 => false,
                1 => true,
                _ => return None,
            },
        });
    }
    for _ in 0..r.count(4)? {
        let len = r.u32()? as usize;
        snapshot
            .subjects
            .push(String::from_utf8(r.take(len)?.to_vec()).ok()?);
    }
    for _ in 0..r.count(48)? {
        let message = SavedMessage {
            seq: r.u64()?,
            subject: r.u32()?,
            size: r.u64()?,
            ts: r.u64()? as i64,
            block: r.u64()?,
            offset: r.u64()?,
            len: r.u32()?,
        };
        if message.subject as usize >= snapshot.subjects.len() {
            return None;
        }
        snapshot.messages.push(message);
    }
    r.0.is_empty().then_some(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        Snapshot {
            floor: 3,
            last_seq: 9,
            last_ts: -5,
            blocks: vec![SavedBlock {
                id: 1,
                len: 400,
                first_message: 3,
                last_removal: 4,
                purge: true,
            }],
            subjects: vec!["a.b".into(), "c".into()],
            messages: vec![
                SavedMessage {
                    seq: 3,
                    subject: 1,
                    size: 40,
                    ts: 7,
                    block: 1,
                    offset: 0,
                    len: 50,
                },
                SavedMessage {
                    seq: 9,
                    subject: 0,
                    size: 41,
                    ts: 8,
                    block: 1,
                    offset: 50,
                    len: 51,
                },
            ],
        }
    }

    #[test]
    fn a_snapshot_decodes_as_it_was_encoded() {
        assert_eq!(decode(&encode(&sample())), Some(sample()));
    }

    proptest::proptest! {
        /// Whatever the bytes, decoding answers without panicking, and a snapshot it
        /// accepts encodes back to the same bytes.
        #[test]
        fn decoding_arbitrary_bytes_is_safe(mut bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            // Half the inputs carry a valid frame, so that the body is really parsed.
            if bytes.len() > 8 && bytes[0] % 2 == 0 {
                bytes[..4].copy_from_slice(&MAGIC);
                let crc = crc32c::crc32c(&bytes[8..]);
                bytes[4..8].copy_from_slice(&crc.to_le_bytes());
            }
            if let Some(snapshot) = decode(&bytes) {
                proptest::prop_assert_eq!(encode(&snapshot), bytes);
            }
        }
    }

    #[test]
    fn a_changed_or_cut_snapshot_is_refused() {
        let bytes = encode(&sample());
        for at in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[at] ^= 0x04;
            assert_eq!(decode(&changed), None, "byte {at} changed");
            assert_eq!(decode(&bytes[..at]), None, "cut at {at}");
        }
    }
}
