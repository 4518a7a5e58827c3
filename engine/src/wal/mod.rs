//! The write-ahead log: the only module that touches RocksDB.
//!
//! Column families:
//! - `wal`: key = batch sequence number (u64, big endian), value = `crc32c (u32 LE) ++ codec
//!   bytes` of [`WalRecord`] (`seq`, `now_ms`, the batch's commands). Replaying the records through
//!   `commit` rebuilds the state; outcomes are recomputed, never stored.
//! - `history`: one key per posting, `len(account) ++ account ++ seq ++ index`, and a watermark
//!   (the last record whose history is written). History is derived data: it is written off the
//!   acknowledgement path without RocksDB's own log, flushed before any snapshot trims the
//!   records it comes from, and rebuilt on recovery from the records after the watermark.
//! - `meta`: the secret key, and the latest snapshot (metadata plus 16 MiB chunks).
//!
//! Every append is one `WriteBatch` written with `sync = true` (unless the engine was opened
//! with the clearly named `Durability::UnsafeNoSync`): several executor batches waiting at once
//! are coalesced into one `WriteBatch`, so they share one fsync (group commit), and RocksDB
//! merges concurrent writers the same way.
//!
//! Recovery checks every record's checksum, version and sequence. A bad *last* record is a torn,
//! unacknowledged write (its batch was never answered) and is dropped; a bad record before the
//! tail refuses to open with an error naming its sequence number.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocksdb::{ColumnFamilyDescriptor, DB, DBRecoveryMode, IteratorMode, Options, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::command::{Command, Posting};
use crate::state_machine::State;
use crate::types::{Id, TimestampMs};

const CF_WAL: &str = "wal";
const CF_HISTORY: &str = "history";
const CF_META: &str = "meta";
const KEY_SECRET: &[u8] = b"secret_key";
const KEY_SNAPSHOT: &[u8] = b"snapshot";
const SNAPSHOT_CHUNK_BYTES: usize = 16 * 1024 * 1024;
/// The history watermark's key: no history key starts with 0 (they start with the id length).
const KEY_HISTORY_WATERMARK: &[u8] = b"\x00watermark";
/// Largest WAL record decoded on recovery.
const RECORD_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Whether appends are synced to disk before they are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every append is fsynced before any caller hears of it. The default, and the only mode
    /// that survives power loss.
    #[default]
    Sync,
    /// Appends reach the OS but are not fsynced: a crash of the process loses nothing, a power
    /// loss loses recent acknowledged commands. For tests and pipeline benchmarks only.
    UnsafeNoSync,
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// RocksDB failed.
    #[error("storage error: {0}")]
    Storage(#[from] rocksdb::Error),
    /// A record before the tail is damaged: kassa refuses to guess.
    #[error("WAL record {seq} is corrupt ({reason}); refusing to open")]
    CorruptRecord {
        /// The damaged record's sequence number.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The snapshot is damaged.
    #[error("snapshot is corrupt ({0}); refusing to open")]
    CorruptSnapshot(String),
    /// Metadata is damaged.
    #[error("metadata is corrupt: {0}")]
    CorruptMeta(String),
}

/// One logged batch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WalRecord {
    /// Sequence number, consecutive from 1.
    pub seq: u64,
    /// The `now` the batch was committed at.
    pub now_ms: TimestampMs,
    /// The batch.
    pub commands: Vec<Command>,
}

#[derive(Serialize)]
struct WalRecordRef<'a> {
    seq: u64,
    now_ms: TimestampMs,
    commands: &'a [Command],
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

#[derive(Debug, Serialize, Deserialize)]
struct SnapshotMeta {
    seq: u64,
    chunks: u32,
    bytes: u64,
    crc32c: u32,
}

/// An encoded batch ready to append.
pub struct EncodedRecord {
    /// Sequence number.
    pub seq: u64,
    /// `crc32c ++ codec bytes`.
    pub value: Vec<u8>,
}

/// An encoded snapshot of the state after record `seq`.
pub struct EncodedSnapshot {
    /// The last record it includes.
    pub seq: u64,
    /// Codec bytes of the state.
    pub bytes: Vec<u8>,
}

/// The write-ahead log over one RocksDB database.
#[derive(Clone)]
pub struct Wal {
    db: Arc<DB>,
    durability: Durability,
}

/// Encodes a batch as a WAL record value (checksum first).
pub fn encode_record(seq: u64, now_ms: TimestampMs, commands: &[Command]) -> Vec<u8> {
    let mut value = vec![0u8; 4];
    codec::encode_into(&WalRecordRef { seq, now_ms, commands }, &mut value);
    let checksum = crc32c::crc32c(&value[4..]);
    value[..4].copy_from_slice(&checksum.to_le_bytes());
    value
}

/// Decodes and verifies a WAL record value.
pub fn decode_record(value: &[u8]) -> Result<WalRecord, String> {
    if value.len() < 5 {
        return Err(format!("record of {} bytes is too short", value.len()));
    }
    let (checksum, body) = value.split_at(4);
    let expected = u32::from_le_bytes(checksum.try_into().expect("four bytes"));
    if crc32c::crc32c(body) != expected {
        return Err("checksum mismatch".into());
    }
    codec::decode_limited(body, RECORD_BYTES_MAX).map_err(|error| error.to_string())
}

/// The history key prefix of an account.
fn history_prefix(account: &Id) -> Vec<u8> {
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
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path, durability: Durability) -> Result<Wal, WalError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // RocksDB's own log: drop a torn tail, keep everything before it.
        options.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
        options.set_max_background_jobs(2);
        options.set_max_total_wal_size(256 * 1024 * 1024);
        let mut wal_options = Options::default();
        wal_options.set_write_buffer_size(128 * 1024 * 1024);
        // History lines arrive under random account keys; 16 MiB memtables (not the 64 MiB
        // default) keep the skiplist walk mostly in cache: the indexer's inserts were the
        // engine's largest CPU cost (BENCHMARKS.md: 2 MiB stalled on flushes, 16 MiB was best).
        let mut history_options = Options::default();
        history_options.set_write_buffer_size(16 * 1024 * 1024);
        history_options.set_max_write_buffer_number(4);
        let families = vec![
            ColumnFamilyDescriptor::new(CF_WAL, wal_options),
            ColumnFamilyDescriptor::new(CF_HISTORY, history_options),
            ColumnFamilyDescriptor::new(CF_META, Options::default()),
        ];
        let db = DB::open_cf_descriptors(&options, dir, families)?;
        Ok(Wal { db: Arc::new(db), durability })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("column families are created on open")
    }

    fn write_options(&self) -> WriteOptions {
        let mut options = WriteOptions::default();
        options.set_sync(self.durability == Durability::Sync);
        options
    }

    /// The stored secret key, or `generate()`'s, stored durably first.
    pub fn secret_key(&self, generate: impl FnOnce() -> [u8; 32]) -> Result<[u8; 32], WalError> {
        if let Some(bytes) = self.db.get_cf(self.cf(CF_META), KEY_SECRET)? {
            return bytes.as_slice().try_into().map_err(|_| WalError::CorruptMeta("secret key is not 32 bytes".into()));
        }
        let key = generate();
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.put_cf_opt(self.cf(CF_META), KEY_SECRET, key, &options)?;
        Ok(key)
    }

    /// The latest snapshot, if any: the sequence number it covers and the state.
    pub fn load_snapshot(&self) -> Result<Option<(u64, State)>, WalError> {
        let meta = self.cf(CF_META);
        let Some(meta_bytes) = self.db.get_cf(meta, KEY_SNAPSHOT)? else { return Ok(None) };
        let info: SnapshotMeta =
            codec::decode(&meta_bytes).map_err(|error| WalError::CorruptSnapshot(format!("metadata: {error}")))?;
        let mut bytes = Vec::with_capacity(usize::try_from(info.bytes).unwrap_or(0).min(1 << 34));
        for chunk in 0..info.chunks {
            let chunk_bytes = self
                .db
                .get_cf(meta, snapshot_chunk_key(chunk))?
                .ok_or_else(|| WalError::CorruptSnapshot(format!("chunk {chunk} of {} is missing", info.chunks)))?;
            bytes.extend_from_slice(&chunk_bytes);
        }
        if bytes.len() as u64 != info.bytes || crc32c::crc32c(&bytes) != info.crc32c {
            return Err(WalError::CorruptSnapshot(format!("checksum mismatch in snapshot at record {}", info.seq)));
        }
        let state: State =
            codec::decode_snapshot(&bytes).map_err(|error| WalError::CorruptSnapshot(error.to_string()))?;
        Ok(Some((info.seq, state)))
    }

    /// Replays every record after `after_seq` in order through `apply`. Returns the last
    /// sequence number (or `after_seq` if there is none).
    pub fn replay(&self, after_seq: u64, mut apply: impl FnMut(WalRecord)) -> Result<u64, WalError> {
        let wal = self.cf(CF_WAL);
        let mut iterator = self.db.iterator_cf(wal, IteratorMode::Start).peekable();
        let mut expected = after_seq + 1;
        while let Some(item) = iterator.next() {
            let (key, value) = item?;
            let seq =
                key_seq(&key).ok_or_else(|| WalError::CorruptRecord { seq: expected, reason: "bad key".into() })?;
            if seq <= after_seq {
                continue; // Covered by the snapshot; trimmed at the next snapshot.
            }
            let is_last = iterator.peek().is_none();
            let problem = if seq != expected {
                Some(format!("expected record {expected}, found {seq}"))
            } else {
                match decode_record(&value) {
                    Ok(record) if record.seq == seq => {
                        apply(record);
                        None
                    }
                    Ok(record) => Some(format!("record says it is {}", record.seq)),
                    Err(reason) => Some(reason),
                }
            };
            if let Some(reason) = problem {
                if is_last && seq == expected {
                    tracing::warn!(seq, %reason, "dropping a torn, unacknowledged last WAL record");
                    self.db.delete_cf_opt(wal, key, &self.write_options())?;
                    return Ok(expected - 1);
                }
                return Err(WalError::CorruptRecord { seq, reason });
            }
            expected += 1;
        }
        Ok(expected - 1)
    }

    /// Appends records and their history in one `WriteBatch` (one fsync). Returns the time the
    /// synced write took.
    pub fn append(&self, records: &[EncodedRecord]) -> Result<Duration, WalError> {
        let mut batch = WriteBatch::default();
        let wal = self.cf(CF_WAL);
        for record in records {
            batch.put_cf(wal, record.seq.to_be_bytes(), &record.value);
        }
        let started = Instant::now();
        self.db.write_opt(batch, &self.write_options())?;
        Ok(started.elapsed())
    }

    /// Writes history lines and moves the watermark to `through_seq`, without RocksDB's log
    /// (history is rebuilt from WAL records after the watermark on recovery).
    pub fn append_history(&self, lines: &[(Vec<u8>, Vec<u8>)], through_seq: u64) -> Result<(), WalError> {
        let history = self.cf(CF_HISTORY);
        let mut batch = WriteBatch::default();
        for (key, value) in lines {
            batch.put_cf(history, key, value);
        }
        batch.put_cf(history, KEY_HISTORY_WATERMARK, through_seq.to_be_bytes());
        let mut options = WriteOptions::default();
        options.disable_wal(true);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    /// The last record whose history lines are written (0: none).
    pub fn history_watermark(&self) -> Result<u64, WalError> {
        match self.db.get_cf(self.cf(CF_HISTORY), KEY_HISTORY_WATERMARK)? {
            None => Ok(0),
            Some(bytes) => Ok(u64::from_be_bytes(
                bytes.as_slice().try_into().map_err(|_| WalError::CorruptMeta("history watermark".into()))?,
            )),
        }
    }

    /// Makes written history durable (before a snapshot trims the records it comes from).
    pub fn flush_history(&self) -> Result<(), WalError> {
        self.db.flush_cf(self.cf(CF_HISTORY))?;
        Ok(())
    }

    /// Writes a snapshot and trims the records it covers, atomically and synced.
    pub fn write_snapshot(&self, snapshot: &EncodedSnapshot) -> Result<(), WalError> {
        let meta = self.cf(CF_META);
        let mut batch = WriteBatch::default();
        let chunks = snapshot.bytes.chunks(SNAPSHOT_CHUNK_BYTES).count().max(1);
        for (index, chunk) in snapshot.bytes.chunks(SNAPSHOT_CHUNK_BYTES).enumerate() {
            batch.put_cf(meta, snapshot_chunk_key(u32::try_from(index).expect("chunk count fits u32")), chunk);
        }
        let info = SnapshotMeta {
            seq: snapshot.seq,
            chunks: u32::try_from(chunks).expect("chunk count fits u32"),
            bytes: snapshot.bytes.len() as u64,
            crc32c: crc32c::crc32c(&snapshot.bytes),
        };
        batch.put_cf(meta, KEY_SNAPSHOT, codec::encode(&info));
        batch.delete_range_cf(self.cf(CF_WAL), 0u64.to_be_bytes(), (snapshot.seq + 1).to_be_bytes());
        let mut options = WriteOptions::default();
        options.set_sync(self.durability == Durability::Sync);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    /// The newest `limit` history lines of `account`, oldest first.
    pub fn history(&self, account: &Id, limit: usize) -> Result<Vec<HistoryRecord>, WalError> {
        let prefix = history_prefix(account);
        let mut upper = prefix.clone();
        upper.extend_from_slice(&[0xff; 12]);
        let iterator =
            self.db.iterator_cf(self.cf(CF_HISTORY), IteratorMode::From(&upper, rocksdb::Direction::Reverse));
        let mut lines = Vec::new();
        for item in iterator {
            let (key, value) = item?;
            if !key.starts_with(&prefix) || key.len() != prefix.len() + 12 {
                if key.as_ref() == KEY_HISTORY_WATERMARK {
                    continue;
                }
                break;
            }
            let record: HistoryRecord =
                codec::decode(&value).map_err(|error| WalError::CorruptMeta(format!("history line: {error}")))?;
            lines.push(record);
            if lines.len() >= limit {
                break;
            }
        }
        lines.reverse();
        Ok(lines)
    }

    /// Number of WAL records currently stored (after trimming).
    pub fn record_count(&self) -> Result<u64, WalError> {
        let mut count = 0;
        for item in self.db.iterator_cf(self.cf(CF_WAL), IteratorMode::Start) {
            item?;
            count += 1;
        }
        Ok(count)
    }

    /// Flushes memtables to SST files (used before a clean shutdown, to make reopening fast).
    pub fn flush(&self) -> Result<(), WalError> {
        for name in [CF_WAL, CF_HISTORY, CF_META] {
            self.db.flush_cf(self.cf(name))?;
        }
        Ok(())
    }
}

fn snapshot_chunk_key(chunk: u32) -> Vec<u8> {
    let mut key = b"snapshot/".to_vec();
    key.extend_from_slice(&chunk.to_be_bytes());
    key
}

fn key_seq(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

#[cfg(test)]
mod tests;
