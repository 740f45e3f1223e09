//! The file store's records, sans-IO: how one is laid out, and how a block's bytes are
//! scanned back into records when the store opens.
//!
//! A record is `magic (4) | length (4) | crc32c (4) | body`, little-endian, where the
//! length counts the checksum and the body, and the checksum covers the body. The body
//! is `kind (1) | seq (8) | ts (8) | subject length (2) | header length (4) | subject |
//! headers | payload`. A delete is a record of kind 2 naming the sequence it removes; a
//! purge or compaction, of kind 3, names the first sequence that may remain; a mark, of
//! kind 4, the last sequence used, once the records that showed it are gone.
//!
//! Scanning never trusts a length it cannot check: a record whose checksum fails is
//! reported and skipped by looking for the next magic that starts a record whose
//! checksum holds, so the records after a damaged one are kept. Bytes at the end that
//! hold no whole record are a torn tail (the last write before a crash), reported apart.

const MAGIC: [u8; 4] = *b"NNRS";
/// Magic, length and checksum.
const FRAME: usize = 12;
/// Kind, sequence, timestamp, subject and header lengths.
const FIXED_BODY: usize = 1 + 8 + 8 + 2 + 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Message = 1,
    Delete = 2,
    Purge = 3,
    /// Sequences got this far, and the time of the last (the records that said so are
    /// gone).
    Mark = 4,
}

/// A record as scanning finds it; the byte fields are ranges into the scanned block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    pub seq: u64,
    pub ts: i64,
    /// Where the record starts in the block, and its whole length.
    pub offset: usize,
    pub len: usize,
    pub subject: std::ops::Range<usize>,
    pub headers: std::ops::Range<usize>,
    pub payload: std::ops::Range<usize>,
}

/// What a block's bytes held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub records: Vec<Record>,
    /// Byte ranges that held no valid record, in order.
    pub damaged: Vec<std::ops::Range<usize>>,
    /// Where a torn tail starts, if the bytes end in one.
    pub torn_at: Option<usize>,
}

/// Appends one record to `out`.
pub fn encode(
    out: &mut Vec<u8>,
    kind: Kind,
    (seq, ts): (u64, i64),
    subject: &str,
    headers: &[u8],
    payload: &[u8],
) {
    let body_len = FIXED_BODY + subject.len() + headers.len() + payload.len();
    out.reserve(FRAME + body_len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&((4 + body_len) as u32).to_le_bytes());
    let crc_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let body_at = out.len();
    out.push(kind as u8);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.extend_from_slice(&(subject.len() as u16).to_le_bytes());
    out.extend_from_slice(&(headers.len() as u32).to_le_bytes());
    out.extend_from_slice(subject.as_bytes());
    out.extend_from_slice(headers);
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[body_at..]);
    out[crc_at..body_at].copy_from_slice(&crc.to_le_bytes());
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Why the bytes at an offset are not a record.
enum NotARecord {
    /// They run past the end: a torn tail, unless a valid record follows.
    Short,
    Damaged,
}

/// The record starting at `at`, if a valid one does.
fn record_at(bytes: &[u8], at: usize) -> Result<Record, NotARecord> {
    let frame = bytes.get(at..at + FRAME).ok_or(NotARecord::Short)?;
    if frame[..4] != MAGIC {
        return Err(NotARecord::Damaged);
    }
    let len = u32_at(frame, 4).ok_or(NotARecord::Damaged)? as usize;
    if len < 4 + FIXED_BODY {
        return Err(NotARecord::Damaged);
    }
    let body = bytes
        .get(at + FRAME..at + 8 + len)
        .ok_or(NotARecord::Short)?;
    let crc = u32_at(frame, 8).ok_or(NotARecord::Damaged)?;
    if crc32c::crc32c(body) != crc {
        return Err(NotARecord::Damaged);
    }
    let kind = match body[0] {
        1 => Kind::Message,
        2 => Kind::Delete,
        3 => Kind::Purge,
        4 => Kind::Mark,
        _ => return Err(NotARecord::Damaged),
    };
    let seq = u64_at(body, 1).ok_or(NotARecord::Damaged)?;
    let ts = u64_at(body, 9).ok_or(NotARecord::Damaged)? as i64;
    let subject_len = u16::from_le_bytes([body[17], body[18]]) as usize;
    let headers_len = u32_at(body, 19).ok_or(NotARecord::Damaged)? as usize;
    let start = at + FRAME + FIXED_BODY;
    let end = at + 8 + len;
    let subject_end = start + subject_len;
    let headers_end = subject_end + headers_len;
    if headers_end > end || std::str::from_utf8(&bytes[start..subject_end]).is_err() {
        return Err(NotARecord::Damaged);
    }
    Ok(Record {
        kind,
        seq,
        ts,
        offset: at,
        len: 8 + len,
        subject: start..subject_end,
        headers: subject_end..headers_end,
        payload: headers_end..end,
    })
}

/// The next offset after `from` where a valid record starts.
fn next_valid(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(found) = bytes
        .get(at..)?
        .windows(MAGIC.len())
        .position(|w| w == MAGIC)
    {
        let candidate = at + found;
        if record_at(bytes, candidate).is_ok() {
            return Some(candidate);
        }
        at = candidate + 1;
    }
    None
}

/// Every record in a block's bytes, with what is damaged or torn.
pub fn scan(bytes: &[u8]) -> Scan {
    let mut scan = Scan::default();
    let mut at = 0;
    while at < bytes.len() {
        match record_at(bytes, at) {
            Ok(record) => {
                at += record.len;
                scan.records.push(record);
            }
            Err(why) => match next_valid(bytes, at + 1) {
                Some(next) => {
                    scan.damaged.push(at..next);
                    at = next;
                }
                None => {
                    match why {
                        NotARecord::Short => scan.torn_at = Some(at),
                        NotARecord::Damaged => {
                            scan.damaged.push(at..bytes.len());
                        }
                    }
                    break;
                }
            },
        }
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(messages: &[(&str, &[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, (subject, headers, payload)) in messages.iter().enumerate() {
            let seq = i as u64 + 1;
            encode(
                &mut out,
                Kind::Message,
                (seq, 100 + seq as i64),
                subject,
                headers,
                payload,
            );
        }
        out
    }

    fn payloads<'a>(bytes: &'a [u8], scan: &Scan) -> Vec<&'a [u8]> {
        scan.records
            .iter()
            .map(|r| &bytes[r.payload.clone()])
            .collect()
    }

    #[test]
    fn records_scan_back_as_written() {
        let bytes = block(&[("a", b"", b"one"), ("b.c", b"NATS/1.0\r\n\r\n", b"two")]);
        let scan = scan(&bytes);
        assert_eq!(payloads(&bytes, &scan), [&b"one"[..], b"two"]);
        let second = &scan.records[1];
        assert_eq!(
            (second.seq, second.ts, second.kind),
            (2, 102, Kind::Message)
        );
        assert_eq!(&bytes[second.subject.clone()], b"b.c");
        assert_eq!(&bytes[second.headers.clone()], b"NATS/1.0\r\n\r\n");
        assert_eq!(second.offset + second.len, bytes.len());
        assert!(scan.damaged.is_empty() && scan.torn_at.is_none());
    }

    #[test]
    fn a_torn_tail_is_cut_at_the_last_whole_record() {
        let bytes = block(&[("a", b"", b"one"), ("a", b"", b"two")]);
        let whole = scan(&bytes).records[1].offset;
        for cut in whole + 1..bytes.len() {
            let scan = scan(&bytes[..cut]);
            assert_eq!(payloads(&bytes, &scan), [&b"one"[..]], "cut at {cut}");
            assert_eq!(scan.torn_at, Some(whole), "cut at {cut}");
        }
    }

    #[test]
    fn a_damaged_record_is_skipped_and_the_next_ones_kept() {
        let bytes = block(&[("a", b"", b"one"), ("a", b"", b"two"), ("a", b"", b"three")]);
        let second = scan(&bytes).records[1].clone();
        for flip in second.offset..second.offset + second.len {
            let mut damaged = bytes.clone();
            damaged[flip] ^= 0x40;
            let scan = scan(&damaged);
            assert_eq!(
                payloads(&damaged, &scan),
                [&b"one"[..], b"three"],
                "flipped byte {flip}"
            );
            assert_eq!(scan.damaged.len(), 1, "flipped byte {flip}");
        }
    }

    proptest::proptest! {
        /// Whatever the bytes, scanning returns only records whose checksum holds, in
        /// order, and never panics.
        #[test]
        fn scanning_arbitrary_bytes_is_safe(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let scan = scan(&bytes);
            let mut end = 0;
            for record in &scan.records {
                proptest::prop_assert!(record.offset >= end);
                end = record.offset + record.len;
                proptest::prop_assert!(end <= bytes.len());
            }
        }
    }
}
