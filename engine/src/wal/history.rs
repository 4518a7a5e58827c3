//! History lines: one key per posting, `len(account) ++ account ++ seq ++ index`, written off
//! the acknowledgement path with a watermark (the last record indexed), read newest first in
//! pages whose cursor is a line's id.

use rocksdb::{IteratorMode, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

use super::{
    CF_EVENTS, CF_HISTORY, DERIVED, HISTORY_IDLE_FLUSH_BYTES_MIN, KEY_EVENTS_WATERMARK, KEY_HISTORY_WATERMARK, Wal,
    WalError, event_entry,
    transfers::{IndexedKind, TransferEntry, TransferKey, transfer_entries},
};
use crate::codec;
use crate::command::{Event, Posting};
use crate::metadata::{Metadata, MetadataKind};
use crate::partition::PartitionId;
use crate::types::{Id, TimestampMs};

/// Where a history line is: the record that made it and the posting's place in that record's
/// events. Written `"<seq>.<index>"` (the cursor of history pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineId {
    /// The record.
    pub seq: u64,
    /// The event's index in it.
    pub index: u32,
}

impl std::fmt::Display for LineId {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}.{}", self.seq, self.index)
    }
}

impl std::str::FromStr for LineId {
    type Err = String;

    fn from_str(text: &str) -> Result<LineId, String> {
        let malformed = || format!("{text:?} is not a history line id (<seq>.<index>)");
        let (seq, index) = text.split_once('.').ok_or_else(malformed)?;
        Ok(LineId { seq: seq.parse().map_err(|_| malformed())?, index: index.parse().map_err(|_| malformed())? })
    }
}

/// A history line and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryLine {
    /// Its id, the cursor of pages.
    pub id: LineId,
    /// The line.
    pub record: HistoryRecord,
}

/// A history line as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// Sequence number of the batch that made it.
    pub seq: u64,
    /// When that batch was committed.
    pub at_ms: TimestampMs,
    /// The balance change.
    pub posting: Posting,
}

/// What the indexer derives from records: history lines and events, as keys and values.
#[derive(Debug, Default)]
pub struct Derived {
    /// History lines (`history_entry`).
    pub lines: Vec<(Vec<u8>, Vec<u8>)>,
    /// Events of the feed, one entry per record (`event_entry`).
    pub events: Vec<(Vec<u8>, Vec<u8>)>,
    /// Entries of the transfer index (`transfers.rs`).
    pub transfers: Vec<TransferEntry>,
}

impl Derived {
    /// Adds the history lines, events and transfer index entries of record `seq` of
    /// `partition`, committed at `at_ms`; `key_of` gives an id's index key.
    pub fn add(
        &mut self,
        seq: u64,
        partition: PartitionId,
        at_ms: TimestampMs,
        events: &[Event],
        key_of: &impl Fn(IndexedKind, &Id) -> TransferKey,
    ) {
        if events.is_empty() {
            return;
        }
        for (index, event) in events.iter().enumerate() {
            let index = u32::try_from(index).expect("events per batch fit u32");
            match event {
                Event::Posting(posting) => self.lines.push(history_entry(seq, index, at_ms, posting)),
                Event::Annotated { kind, id, metadata, .. } => {
                    self.lines.push((metadata_key(*kind, id), codec::encode(metadata)));
                }
                _ => {}
            }
        }
        self.events.push(event_entry(seq, partition, at_ms, events));
        transfer_entries(seq, events, key_of, &mut self.transfers);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.lines.len() + self.events.len() + self.transfers.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The first byte of a metadata key in the history column family: above every history key's
/// (an id's length, at most 64) and the watermark's (0).
const METADATA_KEY_TAG: u8 = 0xfe;

/// The key of an object's metadata, stored with the history: `0xfe ++ kind ++ id`.
pub(super) fn metadata_key(kind: MetadataKind, id: &Id) -> Vec<u8> {
    let bytes = id.as_str().as_bytes();
    let mut key = Vec::with_capacity(2 + bytes.len());
    key.extend_from_slice(&[METADATA_KEY_TAG, kind as u8]);
    key.extend_from_slice(bytes);
    key
}

/// Whether a history column family key is a metadata key.
pub(super) fn is_metadata_key(key: &[u8]) -> bool {
    key.first() == Some(&METADATA_KEY_TAG)
}

/// The history key prefix of an account.
pub(super) fn history_prefix(account: &Id) -> Vec<u8> {
    let bytes = account.as_str().as_bytes();
    let mut key = Vec::with_capacity(1 + bytes.len() + 12);
    key.push(u8::try_from(bytes.len()).expect("ids are at most 64 bytes"));
    key.extend_from_slice(bytes);
    key
}

/// The history key and value of one posting.
pub fn history_entry(seq: u64, index: u32, at_ms: TimestampMs, posting: &Posting) -> (Vec<u8>, Vec<u8>) {
    let mut key = history_prefix(&posting.account);
    key.extend_from_slice(&seq.to_be_bytes());
    key.extend_from_slice(&index.to_be_bytes());
    let value = codec::encode(&HistoryRecord { seq, at_ms, posting: posting.clone() });
    (key, value)
}

impl Wal {
    /// Writes history lines and events and moves their watermarks to `through_seq`, in one
    /// write without RocksDB's log (both are rebuilt from WAL records after the watermark on
    /// recovery). The transfer index entries of `derived` are not written here: see
    /// [`Wal::ingest_transfers`].
    pub fn append_history(&self, derived: &Derived, through_seq: u64) -> Result<(), WalError> {
        let parts = [(CF_HISTORY, &derived.lines), (CF_EVENTS, &derived.events)];
        // Sized up front: growing a batch of tens of megabytes copies it again and again.
        let bytes: usize =
            parts.iter().flat_map(|(_, entries)| entries.iter()).map(|(k, v)| k.len() + v.len() + 16).sum();
        let mut batch = WriteBatch::with_capacity_bytes(bytes + 64);
        for (name, entries) in parts {
            let family = self.cf(name);
            for (key, value) in entries {
                batch.put_cf(family, key, value);
            }
        }

        // The transfer index has a watermark of its own, moved when its entries are ingested.
        for (name, watermark) in [(CF_HISTORY, KEY_HISTORY_WATERMARK), (CF_EVENTS, KEY_EVENTS_WATERMARK)] {
            batch.put_cf(self.cf(name), watermark, through_seq.to_be_bytes());
        }
        let mut options = WriteOptions::default();
        options.disable_wal(true);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    /// The last record whose history lines, events and transfer index entries are all written
    /// (0: none). Each column family keeps its own watermark, written with its entries: they are
    /// written without RocksDB's log and their memtables flush on their own, so any may lose its
    /// newest part in a crash; recovery derives everything after the lowest one again.
    pub fn history_watermark(&self) -> Result<u64, WalError> {
        let mut lowest = u64::MAX;
        for (name, key) in DERIVED {
            let watermark = match self.db.cf_handle(name) {
                Some(family) => self.watermark_in(family, key)?,
                None => 0,
            };
            lowest = lowest.min(watermark);
        }
        Ok(lowest)
    }

    fn watermark_in(&self, family: &rocksdb::ColumnFamily, key: &[u8]) -> Result<u64, WalError> {
        match self.db.get_cf(family, key)? {
            None => Ok(0),
            Some(bytes) => Ok(u64::from_be_bytes(
                bytes.as_slice().try_into().map_err(|_| WalError::CorruptMeta("derived data watermark".into()))?,
            )),
        }
    }

    /// The metadata of object `id` of `kind` (the newest such object's), as far as history is
    /// written.
    pub fn metadata(&self, kind: MetadataKind, id: &Id) -> Result<Option<Metadata>, WalError> {
        let Some(bytes) = self.db.get_cf(self.cf(CF_HISTORY), metadata_key(kind, id))? else { return Ok(None) };
        let metadata = codec::decode(&bytes).map_err(|error| {
            WalError::CorruptMeta(format!("metadata of {} {id} does not decode: {error}", kind.name()))
        })?;
        Ok(Some(metadata))
    }

    /// Starts a flush of the history memtables without waiting for it, if they hold at least
    /// [`HISTORY_IDLE_FLUSH_BYTES_MIN`]. The history column family keeps its memtables in append
    /// order (sorted only when flushed), so a query has to sort whatever is still in memory;
    /// after a load, this makes queries cheap again.
    pub fn flush_history_soon(&self) -> Result<(), WalError> {
        // A small memtable sorts quickly: flushing it would only make tiny table files.
        let in_memory = self.db.property_int_value_cf(self.cf(CF_HISTORY), "rocksdb.cur-size-all-mem-tables")?;
        if in_memory.unwrap_or(u64::MAX) < HISTORY_IDLE_FLUSH_BYTES_MIN {
            return Ok(());
        }
        let mut options = rocksdb::FlushOptions::default();
        options.set_wait(false);
        let families = DERIVED.map(|(name, _)| self.cf(name));
        self.db.flush_cfs_opt(&families.iter().collect::<Vec<_>>(), &options)?;
        Ok(())
    }

    /// Makes written history durable (before a snapshot trims the records it comes from).
    pub fn flush_history(&self) -> Result<(), WalError> {
        let families = DERIVED.map(|(name, _)| self.cf(name));
        self.db.flush_cfs_opt(&families.iter().collect::<Vec<_>>(), &rocksdb::FlushOptions::default())?;
        Ok(())
    }

    /// The newest `limit` history lines of `account`, oldest first.
    pub fn history(&self, account: &Id, limit: usize) -> Result<Vec<HistoryRecord>, WalError> {
        let (page, _) = self.history_page(account, limit, None)?;
        Ok(page.into_iter().rev().map(|line| line.record).collect())
    }

    /// Up to `limit` history lines of `account`, newest first, starting after the line
    /// `starting_after` (older than it) or with the newest; and whether older lines remain.
    pub fn history_page(
        &self,
        account: &Id,
        limit: usize,
        starting_after: Option<LineId>,
    ) -> Result<(Vec<HistoryLine>, bool), WalError> {
        let prefix = history_prefix(account);
        let mut from = prefix.clone();
        match starting_after {
            // Just below the cursor's key: the line before it, in reverse.
            Some(LineId { seq, index }) => match index.checked_sub(1) {
                Some(before) => from.extend_from_slice(&[&seq.to_be_bytes()[..], &before.to_be_bytes()].concat()),
                None if seq == 0 => return Ok((Vec::new(), false)),
                None => from.extend_from_slice(&[&(seq - 1).to_be_bytes()[..], &u32::MAX.to_be_bytes()].concat()),
            },
            None => from.extend_from_slice(&[0xff; 12]),
        }
        let iterator = self.db.iterator_cf(self.cf(CF_HISTORY), IteratorMode::From(&from, rocksdb::Direction::Reverse));
        let mut lines = Vec::new();
        for item in iterator {
            let (key, value) = item?;
            if !key.starts_with(&prefix) || key.len() != prefix.len() + 12 {
                if key.as_ref() == KEY_HISTORY_WATERMARK {
                    continue;
                }
                break;
            }
            if lines.len() == limit {
                return Ok((lines, true));
            }
            let (seq, index) = key[prefix.len()..].split_at(8);
            let id = LineId {
                seq: u64::from_be_bytes(seq.try_into().expect("8 bytes")),
                index: u32::from_be_bytes(index.try_into().expect("4 bytes")),
            };
            let record: HistoryRecord =
                codec::decode(&value).map_err(|error| WalError::CorruptMeta(format!("history line: {error}")))?;
            lines.push(HistoryLine { id, record });
        }
        Ok((lines, false))
    }
}
