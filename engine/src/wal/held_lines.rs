//! History lines the indexer holds in memory until it writes them as one table file that
//! RocksDB ingests whole (`Wal::ingest_history`), as the transfer index is written: no memtable
//! to insert into, none to sort and flush. A history memtable took about 40 % of the embedded
//! rate on 2 vCPUs, its flushes alone a fifth of the CPU (BENCHMARKS.md, "History lines as
//! ingested table files").
//!
//! Lines are kept as sorted runs, one per indexer write, each in one buffer (no allocation per
//! line). Queries read the held lines first and storage after, and merge the two: a line in
//! both (ingested while the query ran) counts once.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::WalError;
use super::history::{HistoryLine, HistoryRecord, LineId, history_prefix, metadata_key};
use crate::codec;
use crate::command::{Posting, PostingCause};
use crate::metadata::{Metadata, MetadataKind};
use crate::types::{Id, TimestampMs};

/// Where one line is in its run's buffer.
#[derive(Debug, Clone, Copy)]
struct LineAt {
    start: u32,
    key_len: u32,
    value_len: u32,
}

impl LineAt {
    fn key<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        let start = self.start as usize;
        &bytes[start..start + self.key_len as usize]
    }

    fn value<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        let start = (self.start + self.key_len) as usize;
        &bytes[start..start + self.value_len as usize]
    }
}

/// History lines (and metadata entries) as keys and values in one buffer; sorted by key once
/// complete ([`LineRun::sort`]).
#[derive(Debug, Default)]
pub struct LineRun {
    bytes: Vec<u8>,
    lines: Vec<LineAt>,
}

/// A history line's value as written: the posting without what its key already says (the
/// account, and the record's sequence number), a quarter of the bytes of a line.
#[derive(Serialize)]
struct StoredLineRef<'a> {
    at_ms: TimestampMs,
    posted_delta: i64,
    held_delta: i64,
    posted_after: i64,
    held_after: u64,
    cause: &'a PostingCause,
}

/// A history line's value as read back ([`StoredLineRef`]).
#[derive(Deserialize)]
pub(super) struct StoredLine {
    at_ms: TimestampMs,
    posted_delta: i64,
    held_delta: i64,
    posted_after: i64,
    held_after: u64,
    cause: PostingCause,
}

impl LineRun {
    /// Adds the history line of `posting`, event `index` of record `seq`.
    pub fn push_posting(&mut self, seq: u64, index: u32, at_ms: TimestampMs, posting: &Posting) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(&history_prefix(&posting.account));
        self.bytes.extend_from_slice(&seq.to_be_bytes());
        self.bytes.extend_from_slice(&index.to_be_bytes());
        let key_len = self.bytes.len() - start;
        let Posting { account: _, posted_delta, held_delta, posted_after, held_after, cause } = posting;
        let stored = StoredLineRef {
            at_ms,
            posted_delta: *posted_delta,
            held_delta: *held_delta,
            posted_after: *posted_after,
            held_after: *held_after,
            cause,
        };
        codec::encode_into(&stored, &mut self.bytes);
        self.close(start, key_len);
    }

    /// Adds an entry (a metadata key and value).
    pub fn push(&mut self, key: &[u8], value: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        self.bytes.extend_from_slice(value);
        self.close(start, key.len());
    }

    fn close(&mut self, start: usize, key_len: usize) {
        let fits = |value: usize| u32::try_from(value).expect("a run of history lines stays below 4 GiB");
        let value_len = self.bytes.len() - start - key_len;
        self.lines.push(LineAt { start: fits(start), key_len: fits(key_len), value_len: fits(value_len) });
    }

    /// Sorts the entries by key; entries with equal keys keep their order (the later is newer).
    pub fn sort(&mut self) {
        let bytes = &self.bytes;
        self.lines = sort_by_key_bytes(std::mem::take(&mut self.lines), |line| line.key(bytes));
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Bytes of keys and values held.
    pub fn bytes(&self) -> usize {
        self.bytes.len()
    }

    /// The entries, in the order held.
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.lines.iter().map(|line| (line.key(&self.bytes), line.value(&self.bytes)))
    }

    /// The index of the first entry whose key is not below `key` (the run is sorted).
    fn first_at_or_above(&self, key: &[u8]) -> usize {
        self.lines.partition_point(|line| line.key(&self.bytes) < key)
    }
}

/// Sorted runs of history lines, oldest first (cloned cheaply: the runs are shared).
#[derive(Debug, Default, Clone)]
pub struct HeldLines {
    runs: Vec<Arc<LineRun>>,
    bytes: usize,
}

impl HeldLines {
    /// Adds a sorted run (newer than every run held).
    pub fn push(&mut self, run: LineRun) {
        if !run.is_empty() {
            self.bytes += run.bytes();
            self.runs.push(Arc::new(run));
        }
    }

    /// Adds the runs of `newer`, after this one's.
    pub fn append(&mut self, newer: HeldLines) {
        self.bytes += newer.bytes;
        self.runs.extend(newer.runs);
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether no line is held.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Forgets every run (once they are in table files).
    pub fn clear(&mut self) {
        self.runs.clear();
        self.bytes = 0;
    }

    /// Every entry once, in key order; of entries with equal keys, the newest (a metadata key
    /// written again). What a table file of them holds.
    pub fn merged(&self) -> Vec<(&[u8], &[u8])> {
        // Concatenated oldest run first, so a stable sort keeps equal keys oldest first; the
        // runs are sorted already, which the sort finds and merges.
        let entries: Vec<(&[u8], &[u8])> = self.runs.iter().flat_map(|run| run.entries()).collect();
        let mut unique: Vec<(&[u8], &[u8])> = Vec::with_capacity(entries.len());
        for (key, value) in sort_by_key_bytes(entries, |entry| entry.0) {
            match unique.last_mut() {
                Some(last) if last.0 == key => *last = (key, value),
                _ => unique.push((key, value)),
            }
        }
        unique
    }

    /// The newest `limit + 1` lines of `account` held, newest first, older than `starting_after`
    /// (or the newest): enough for a page merged with storage's.
    pub fn lines_of(
        &self,
        account: &Id,
        limit: usize,
        starting_after: Option<LineId>,
    ) -> Result<Vec<HistoryLine>, WalError> {
        let prefix = history_prefix(account);
        let mut below = prefix.clone();
        match starting_after {
            Some(LineId { seq, index }) => {
                below.extend_from_slice(&seq.to_be_bytes());
                below.extend_from_slice(&index.to_be_bytes());
            }
            None => below.push(0xff),
        }
        let mut lines = Vec::new();
        for run in &self.runs {
            let (from, to) = (run.first_at_or_above(&prefix), run.first_at_or_above(&below));
            for line in run.lines[from..to].iter().rev().take(limit.saturating_add(1)) {
                let key = line.key(&run.bytes);
                if key.len() != prefix.len() + 12 {
                    continue; // Not a history line: none is, since the id's length leads the key.
                }
                lines.push(decode_line(account, &key[prefix.len()..], line.value(&run.bytes))?);
            }
        }
        lines.sort_by_key(|line| std::cmp::Reverse(line.id));
        lines.truncate(limit.saturating_add(1));
        Ok(lines)
    }

    /// The metadata of object `id` of `kind`, if a held entry has it (the newest).
    pub fn metadata(&self, kind: MetadataKind, id: &Id) -> Result<Option<Metadata>, WalError> {
        let key = metadata_key(kind, id);
        for run in self.runs.iter().rev() {
            let end = run.first_at_or_above(&key);
            let found = run.lines[end..].iter().take_while(|line| line.key(&run.bytes) == key.as_slice()).last();
            if let Some(line) = found {
                return decode_metadata(kind, id, line.value(&run.bytes)).map(Some);
            }
        }
        Ok(None)
    }
}

/// `items` sorted by the bytes `key_of` gives (stable: equal keys keep their order).
///
/// Keys are compared sixteen bytes at a time as integers kept beside the items, so a comparison
/// reads no key from memory, and the bytes all keys of a group share are skipped: ids often
/// share a long prefix (`lg1733412345678-a12`, `acct_...`). A plain comparison sort of the keys,
/// reading each from its buffer, took a quarter of the CPU under load (BENCHMARKS.md).
pub(super) fn sort_by_key_bytes<'k, T>(items: Vec<T>, key_of: impl Fn(&T) -> &'k [u8]) -> Vec<T> {
    let mut keyed: Vec<(u128, T)> = items.into_iter().map(|item| (0, item)).collect();
    sort_from(&mut keyed, 0, &key_of);
    keyed.into_iter().map(|(_, item)| item).collect()
}

/// Sorts `items`, whose keys all share their first `depth` bytes.
fn sort_from<'k, T>(items: &mut [(u128, T)], depth: usize, key_of: &impl Fn(&T) -> &'k [u8]) {
    if items.len() < 2 {
        return;
    }
    let tail = |item: &T| -> &'k [u8] { key_of(item).get(depth..).unwrap_or(&[]) };
    // The bytes every key shares from `depth` on: compared for nothing.
    let first = tail(&items[0].1);
    let mut shared = first.len();
    for (_, item) in items.iter() {
        let other = tail(item);
        shared = shared.min(first.iter().zip(other).take_while(|(left, right)| left == right).count());
        if shared == 0 {
            break;
        }
    }
    let depth = depth + shared;
    for (window, item) in items.iter_mut() {
        *window = window_at(key_of(item), depth);
    }
    items.sort_by_key(|(window, _)| *window);
    // Equal windows: the keys differ further on, or end within the window (where the zeros
    // that pad a shorter key could tie it with a longer one: compared whole).
    let mut start = 0;
    while start < items.len() {
        let window = items[start].0;
        let end = start + items[start..].iter().take_while(|(other, _)| *other == window).count();
        let group = &mut items[start..end];
        if group.len() > 1 {
            if group.iter().all(|(_, item)| key_of(item).len() <= depth + 16) {
                group.sort_by(|(_, left), (_, right)| key_of(left).cmp(key_of(right)));
            } else {
                sort_from(group, depth + 16, key_of);
            }
        }
        start = end;
    }
}

/// Bytes `depth..depth + 16` of `key` (zeros past its end) as a big-endian number.
fn window_at(key: &[u8], depth: usize) -> u128 {
    let mut bytes = [0u8; 16];
    let tail = key.get(depth..).unwrap_or(&[]);
    let length = tail.len().min(16);
    bytes[..length].copy_from_slice(&tail[..length]);
    u128::from_be_bytes(bytes)
}

/// A history line from its key's `seq ++ index` and its value.
pub(super) fn decode_line(account: &Id, position: &[u8], value: &[u8]) -> Result<HistoryLine, WalError> {
    let bytes: [u8; 12] =
        position.try_into().map_err(|_| WalError::CorruptMeta(format!("history key ends {position:02x?}")))?;
    let (seq, index) = bytes.split_at(8);
    let id = LineId {
        seq: u64::from_be_bytes(seq.try_into().expect("8 bytes")),
        index: u32::from_be_bytes(index.try_into().expect("4 bytes")),
    };
    let StoredLine { at_ms, posted_delta, held_delta, posted_after, held_after, cause } =
        codec::decode(value).map_err(|error| WalError::CorruptMeta(format!("history line: {error}")))?;
    let posting = Posting { account: account.clone(), posted_delta, held_delta, posted_after, held_after, cause };
    Ok(HistoryLine { id, record: HistoryRecord { seq: id.seq, at_ms, posting } })
}

/// Metadata as stored.
pub(super) fn decode_metadata(kind: MetadataKind, id: &Id, value: &[u8]) -> Result<Metadata, WalError> {
    codec::decode(value)
        .map_err(|error| WalError::CorruptMeta(format!("metadata of {} {id} does not decode: {error}", kind.name())))
}

#[cfg(test)]
mod tests {
    use super::sort_by_key_bytes;
    use proptest::prelude::*;

    /// Keys from a small alphabet with zeros, shared prefixes of 0-40 bytes and lengths of
    /// 0-60: ties in every window, keys ending inside a window, equal keys.
    fn keys() -> impl Strategy<Value = Vec<Vec<u8>>> {
        (
            0usize..40,
            prop::collection::vec(prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', 0xff]), 0..20), 0..200),
        )
            .prop_map(|(shared, tails)| {
                tails
                    .into_iter()
                    .map(|tail| {
                        let mut key = vec![b'p'; shared];
                        key.extend(tail);
                        key
                    })
                    .collect()
            })
    }

    proptest! {
        #[test]
        fn sorts_as_a_stable_byte_order_sort(keys in keys()) {
            let numbered: Vec<(usize, &[u8])> = keys.iter().map(Vec::as_slice).enumerate().collect();
            let mut expected = numbered.clone();
            expected.sort_by(|left, right| left.1.cmp(right.1));
            prop_assert_eq!(sort_by_key_bytes(numbered, |entry| entry.1), expected);
        }
    }
}
