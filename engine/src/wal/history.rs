//! History lines: one key per posting, `len(account) ++ account ++ seq ++ index`, derived off
//! the acknowledgement path, held by the indexer ([`HeldLines`]) and ingested as whole table
//! files with a watermark (the last record they cover), read newest first in pages whose cursor
//! is a line's id.

use rocksdb::{IngestExternalFileOptions, IteratorMode, Options, SstFileWriter, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

use super::{
    CF_EVENTS, CF_HISTORY, DERIVED, KEY_EVENTS_WATERMARK, KEY_HISTORY_WATERMARK, Wal, WalError, event_entry,
    held_lines::{HeldLines, LineRun, decode_line, decode_metadata},
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

/// A history line as read (stored without the account and the sequence number its key holds:
/// `held_lines::StoredLine`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// Sequence number of the batch that made it.
    pub seq: u64,
    /// When that batch was committed.
    pub at_ms: TimestampMs,
    /// The balance change.
    pub posting: Posting,
}

/// What the indexer derives from records: history lines, events and transfer index entries.
#[derive(Debug, Default)]
pub struct Derived {
    /// History lines and metadata entries, in record order (sorted before they are held).
    pub lines: LineRun,
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
                Event::Posting(posting) => self.lines.push_posting(seq, index, at_ms, posting),
                Event::Annotated { kind, id, metadata, .. } => {
                    self.lines.push(&metadata_key(*kind, id), &codec::encode(metadata));
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

impl Wal {
    /// Writes the event feed's entries of `derived` and moves its watermark to `through_seq`,
    /// in one write without RocksDB's log (rebuilt from WAL records after the watermark on
    /// recovery). History lines and transfer index entries are held and ingested as table
    /// files instead: [`Wal::ingest_history`], [`Wal::ingest_transfers`].
    pub fn append_events(&self, derived: &Derived, through_seq: u64) -> Result<(), WalError> {
        // Sized up front: growing a batch of tens of megabytes copies it again and again.
        let bytes: usize = derived.events.iter().map(|(k, v)| k.len() + v.len() + 16).sum();
        let mut batch = WriteBatch::with_capacity_bytes(bytes + 64);
        let family = self.cf(CF_EVENTS);
        for (key, value) in &derived.events {
            batch.put_cf(family, key, value);
        }
        batch.put_cf(family, KEY_EVENTS_WATERMARK, through_seq.to_be_bytes());
        let mut options = WriteOptions::default();
        options.disable_wal(true);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    /// Writes the history lines (and metadata) `held` and the history watermark `through_seq`
    /// as one table file, and has RocksDB ingest it (synced). Lines that storage has already
    /// (written again after a crash) are replaced by the same bytes.
    pub fn ingest_history(&self, held: &HeldLines, through_seq: u64) -> Result<(), WalError> {
        let path = self.db.path().join(format!("history-{through_seq}.sst"));
        let options = history_options();
        let mut writer = SstFileWriter::create(&options);
        writer.open(&path)?;
        // Below every history key (they start with an id's length) and metadata key (0xfe).
        writer.put(KEY_HISTORY_WATERMARK, through_seq.to_be_bytes())?;
        for (key, value) in held.merged() {
            writer.put(key, value)?;
        }
        writer.finish()?;
        let mut ingest = IngestExternalFileOptions::default();
        ingest.set_move_files(true);
        let result = self.db.ingest_external_file_cf_opts(self.cf(CF_HISTORY), &ingest, vec![&path]);
        if path.exists() {
            let _ = std::fs::remove_file(&path);
        }
        result?;
        Ok(())
    }

    /// The last record whose history lines, events and transfer index entries are all written
    /// (0: none). Each column family keeps its own watermark, written with its entries: the
    /// feed's without RocksDB's log (its memtable flushes on its own, so it may lose its newest
    /// part in a crash), the others with the table files they are in; recovery derives
    /// everything after the lowest one again.
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

    /// The metadata of object `id` of `kind` (the newest such object's) in table files: the
    /// caller looks in the held lines first ([`HeldLines::metadata`]).
    pub fn metadata(&self, kind: MetadataKind, id: &Id) -> Result<Option<Metadata>, WalError> {
        let Some(bytes) = self.db.get_cf(self.cf(CF_HISTORY), metadata_key(kind, id))? else { return Ok(None) };
        decode_metadata(kind, id, &bytes).map(Some)
    }

    /// Makes the written event feed durable (before a snapshot trims the records it comes
    /// from); history and the transfer index are durable once ingested.
    pub fn flush_events(&self) -> Result<(), WalError> {
        self.db.flush_cf(self.cf(CF_EVENTS))?;
        Ok(())
    }

    /// The newest `limit` history lines of `account`, oldest first; `held`: the lines the
    /// indexer holds ([`HeldLines::lines_of`]).
    pub fn history(&self, account: &Id, limit: usize, held: Vec<HistoryLine>) -> Result<Vec<HistoryRecord>, WalError> {
        let (page, _) = self.history_page(account, limit, None, held)?;
        Ok(page.into_iter().rev().map(|line| line.record).collect())
    }

    /// Up to `limit` history lines of `account`, newest first, starting after the line
    /// `starting_after` (older than it) or with the newest; and whether older lines remain.
    /// `held`: the lines of that page the indexer holds ([`HeldLines::lines_of`], read before
    /// storage is: a line ingested meanwhile is in both, and counts once).
    pub fn history_page(
        &self,
        account: &Id,
        limit: usize,
        starting_after: Option<LineId>,
        held: Vec<HistoryLine>,
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
        let mut lines = held;
        let mut stored = 0;
        for item in iterator {
            let (key, value) = item?;
            if !key.starts_with(&prefix) || key.len() != prefix.len() + 12 {
                if key.as_ref() == KEY_HISTORY_WATERMARK {
                    continue;
                }
                break;
            }
            if stored > limit {
                break;
            }
            lines.push(decode_line(account, &key[prefix.len()..], &value)?);
            stored += 1;
        }
        // Newest first, each line once: the page, and whether a line is left after it.
        lines.sort_by_key(|line| std::cmp::Reverse(line.id));
        lines.dedup_by_key(|line| line.id);
        let more = lines.len() > limit;
        lines.truncate(limit);
        Ok((lines, more))
    }
}

/// The history column family's options, for its table files too. Lines arrive under random
/// account keys, two per transfer, and reach storage only as ingested table files (no
/// memtable): no compression, fewer and larger compactions.
pub(super) fn history_options() -> Options {
    let mut options = Options::default();
    // The table files kassa writes itself reach the disk a megabyte at a time, as RocksDB's own
    // do (`Wal::open`): a 64 MiB file synced at once queues the log's fsyncs behind it.
    options.set_bytes_per_sync(super::TABLE_BYTES_PER_SYNC);
    options.set_compression_type(rocksdb::DBCompressionType::None);
    options.set_level_zero_file_num_compaction_trigger(8);
    options.set_max_bytes_for_level_base(1024 * 1024 * 1024);
    options
}
