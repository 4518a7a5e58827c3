//! The write-ahead log: the only module that touches RocksDB.
//!
//! Column families:
//! - `wal`: key = batch sequence number (u64, big endian), value = `crc32c (u32 LE) ++ codec
//!   bytes` of [`WalRecord`] (`seq`, `now_ms`, the batch's commands). Replaying the records through
//!   `commit` rebuilds the state; outcomes are recomputed, never stored.
//! - `history`: one key per posting, `len(account) ++ account ++ seq ++ index`, the metadata
//!   callers attached to what their commands created (`0xfe ++ kind ++ id`), and a watermark
//!   (the last record whose history is written). History is derived data: the indexer holds
//!   its lines off the acknowledgement path and has RocksDB ingest them as whole table files
//!   ([`held_lines`]), before any snapshot trims the records they come from at the latest;
//!   recovery rebuilds them from the records after the watermark.
//! - `events`: the events of every record, one value per record keyed by `seq` (the event feed,
//!   [`events`]), derived off the acknowledgement path and written without RocksDB's own log,
//!   flushed before a snapshot trims the records.
//! - `transfers`: transfer id -> the position of its debit (and of a credit another partition
//!   applied), the index behind lookups of transfers by id; derived from the events too, but
//!   ingested as whole sorted table files ([`transfers`]) with a watermark of its own.
//! - `meta`: the secret key, and the latest snapshot (metadata plus 16 MiB chunks).
//!
//! Every append is one `WriteBatch` written with `sync = true` (unless the engine was opened
//! with the clearly named `Durability::UnsafeNoSync`): several executor batches waiting at once
//! are coalesced into one `WriteBatch`, so they share one fsync (group commit), and RocksDB
//! merges concurrent writers the same way.
//!
//! Recovery, and what it does with damage:
//! - RocksDB's own log (`NNNNNN.log`, where every synced write lands first) is replayed with
//!   `DBRecoveryMode::TolerateCorruptedTailRecords`: bytes at the end of the last log that do not
//!   form a complete record are a torn write and are dropped. Such a write was never
//!   acknowledged: the writer answers only after the fsync of the whole `WriteBatch`, and RocksDB
//!   applies a batch all or nothing. Anything else (a complete record failing its checksum, the
//!   last one included) refuses to open, and [`rocks_log`] names the file and byte offset.
//!   RocksDB's default, `PointInTime`, would instead stop replay at the damage and silently drop
//!   every write after it, acknowledged ones included.
//! - What a checksum cannot decide, at the very end of the last log only: a last record whose
//!   *length field* is damaged so that it seems to run past the end of the file looks exactly
//!   like a torn write, and is dropped as one (only a replica could tell). Conversely, a torn write
//!   that left garbage instead of a short file or zeros (a power cut can; a killed process
//!   cannot) fails its checksum and refuses to open: kassa errs towards the operator, never
//!   towards dropping a record that might have been acknowledged.
//! - A table file (`.sst`) that is missing refuses to open (RocksDB opens them all); one with a
//!   bad block refuses when recovery reads that block (the secret key, the snapshot, the records
//!   after it). [`verify`] reads every block.
//! - Every kassa record's checksum, version and sequence is checked. A bad kassa record is damage
//!   wherever it is, the last one included: a torn write cannot produce one, since RocksDB
//!   drops torn batches whole. So are a gap in the sequence, a damaged or incomplete snapshot,
//!   and a missing secret key next to existing data.
//! - A refused open writes nothing of kassa's own, so the damage stays for an operator to see
//!   (RocksDB may still reorganize its files: a read-write open rewrites its MANIFEST and
//!   flushes its log into a table; the keys and values stay the same).

mod archive;
mod checkpoint;
pub mod dir;
mod events;
mod format;
mod held_lines;
mod history;
pub mod rocks_log;
mod snapshots;
mod transfers;
pub mod verify;

pub use checkpoint::WeakWal;
pub use events::{EventLine, EventRecord, event_entry};
pub use format::STORAGE_FORMAT;
pub use held_lines::{HeldLines, LineRun};
pub use history::{Derived, HistoryLine, HistoryRecord, LineId};
pub use snapshots::EncodedSnapshot;
pub use transfers::{
    IndexedKind, TransferEntry, TransferIndexKey, TransferKey, TransferLookup, lookup_key, newest_per_key, split_entry,
};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocksdb::{ColumnFamilyDescriptor, DB, DBRecoveryMode, IteratorMode, Options, WriteBatch, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::command::Submission;
use crate::partition::{PartitionId, TransitMessage};
use crate::types::TimestampMs;

const CF_WAL: &str = "wal";
const CF_HISTORY: &str = "history";
const CF_META: &str = "meta";
const CF_EVENTS: &str = "events";
const CF_TRANSFERS: &str = "transfers";
/// Every column family, in the order they are opened.
const FAMILIES: [&str; 6] = [CF_WAL, CF_HISTORY, CF_META, CF_EVENTS, CF_TRANSFERS, archive::CF_ARCHIVE];
/// The column families derived from records by the indexer, each with its watermark key.
const DERIVED: [(&str, &[u8]); 3] =
    [(CF_HISTORY, KEY_HISTORY_WATERMARK), (CF_EVENTS, KEY_EVENTS_WATERMARK), (CF_TRANSFERS, KEY_TRANSFERS_WATERMARK)];
const KEY_SECRET: &[u8] = b"secret_key";

/// The transfer index keeps its newest table files up to this size (FIFO): about 100 million
/// transfers. Older transfers are no longer found by id (their history lines remain).
pub const TRANSFER_INDEX_BYTES_MAX: u64 = 8 * 1024 * 1024 * 1024;

/// Table files are handed to the disk this many bytes at a time as they are written.
const TABLE_BYTES_PER_SYNC: u64 = 1024 * 1024;

/// The history watermark's key: no history key starts with 0 (they start with the id length).
const KEY_HISTORY_WATERMARK: &[u8] = b"\x00watermark";
/// The event feed's watermark: after every record key (8 bytes of a sequence number far below
/// 2^56, so starting with a zero byte), and of another length.
const KEY_EVENTS_WATERMARK: &[u8] = b"\xffwatermark";
/// The transfer index's watermark (no id starts with a zero byte).
const KEY_TRANSFERS_WATERMARK: &[u8] = b"\x00watermark";
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
    Storage(rocksdb::Error),
    /// The data directory was written by a kassa with another storage format.
    #[error("{0}")]
    Format(String),
    /// RocksDB found damage while reading: a table file block failing its checksum (the error
    /// names the file and offset), a file gone.
    #[error("storage is damaged: {0}")]
    Damaged(rocksdb::Error),
    /// RocksDB refused to open the database (a missing or damaged file, most often).
    #[error("RocksDB refused to open the database in {}: {source}", dir.display())]
    Open {
        /// The data directory.
        dir: PathBuf,
        /// RocksDB's reason (it names the file when one is missing or damaged).
        source: rocksdb::Error,
    },
    /// A table file that RocksDB's MANIFEST lists is gone.
    #[error("table file {} is missing; refusing to open (RocksDB: {rocksdb})", file.display())]
    MissingTable {
        /// The missing file.
        file: PathBuf,
        /// RocksDB's own error.
        rocksdb: String,
    },
    /// A complete record in RocksDB's own log fails its checksum: damage, not a torn write.
    #[error(
        "RocksDB log {} is damaged at byte {offset} ({reason}); acknowledged commands may be in or \
         after it, so kassa refuses to open rather than drop them (RocksDB: {rocksdb})",
        file.display()
    )]
    DamagedLog {
        /// The log file.
        file: PathBuf,
        /// Where the damaged fragment starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
        /// RocksDB's own error.
        rocksdb: String,
    },
    /// A record is damaged: kassa refuses to guess.
    #[error("WAL record {seq} is corrupt ({reason}); refusing to open")]
    CorruptRecord {
        /// The damaged record's sequence number.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Records are missing from the sequence.
    #[error("WAL records {from}..={to} are missing ({reason}); refusing to open")]
    MissingRecords {
        /// The first missing sequence number.
        from: u64,
        /// The last missing sequence number.
        to: u64,
        /// Where the log resumes, or which snapshot it should follow.
        reason: String,
    },
    /// The snapshot is damaged.
    #[error("snapshot is corrupt ({0}); refusing to open")]
    CorruptSnapshot(String),
    /// Metadata is damaged.
    #[error("metadata is corrupt: {0}")]
    CorruptMeta(String),
}

impl From<rocksdb::Error> for WalError {
    fn from(error: rocksdb::Error) -> WalError {
        match error.kind() {
            rocksdb::ErrorKind::Corruption => WalError::Damaged(error),
            _ => WalError::Storage(error),
        }
    }
}

/// One logged batch of one partition.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WalRecord {
    /// Sequence number, consecutive from 1 across all partitions.
    pub seq: u64,
    /// The `now` the batch was committed at.
    pub now_ms: TimestampMs,
    /// The partition that committed it.
    pub partition: PartitionId,
    /// Its partition's count of records through it (`StateMachine::position`): its number in
    /// the partition's own log, the same in every engine that applies it. Recovery refuses a
    /// partition whose records do not count on one by one.
    pub position: u64,
    /// Messages from other partitions, applied before the commands.
    pub messages: Vec<TransitMessage>,
    /// The batch.
    pub commands: Vec<Submission>,
}

impl WalRecord {
    /// The record encoded again, as the log stores it (for copies of the log: a replica, a
    /// standby, a test comparing logs).
    pub fn encode(&self) -> EncodedRecord {
        let body = RecordBody {
            now_ms: self.now_ms,
            partition: self.partition,
            position: self.position,
            messages: &self.messages,
            commands: &self.commands,
        };
        EncodedRecord { seq: self.seq, value: encode_record(self.seq, &body) }
    }
}

/// A committed batch to encode as a record.
pub struct RecordBody<'a> {
    /// The `now` it was committed at.
    pub now_ms: TimestampMs,
    /// The partition that committed it.
    pub partition: PartitionId,
    /// Its partition's count of records through it ([`WalRecord::position`]).
    pub position: u64,
    /// Messages from other partitions it applied first.
    pub messages: &'a [TransitMessage],
    /// Its commands.
    pub commands: &'a [Submission],
}

#[derive(Serialize)]
struct WalRecordRef<'a> {
    seq: u64,
    now_ms: TimestampMs,
    partition: PartitionId,
    position: u64,
    messages: &'a [TransitMessage],
    commands: &'a [Submission],
}

/// An encoded batch ready to append.
pub struct EncodedRecord {
    /// Sequence number.
    pub seq: u64,
    /// `crc32c ++ codec bytes`.
    pub value: Vec<u8>,
}

/// The write-ahead log over one RocksDB database.
#[derive(Clone)]
pub struct Wal {
    db: Arc<DB>,
    durability: Durability,
}

/// Encodes a batch as WAL record `seq` (checksum first).
pub fn encode_record(seq: u64, body: &RecordBody<'_>) -> Vec<u8> {
    let mut value = vec![0u8; 4];
    let RecordBody { now_ms, partition, position, messages, commands } = *body;
    codec::encode_into(&WalRecordRef { seq, now_ms, partition, position, messages, commands }, &mut value);
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

/// The RocksDB options of a kassa database.
fn db_options() -> Options {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    // RocksDB's own log: drop a torn (incomplete, never acknowledged) tail; refuse any other
    // damage. `PointInTime` would stop at damage and silently drop the acknowledged writes
    // after it (see the module documentation).
    options.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
    options.set_paranoid_checks(true);
    options
}

/// Names the damage behind a refused open: RocksDB reports a damaged log only as "Corruption:
/// checksum mismatch", without the file.
fn open_error(dir: &Path, error: rocksdb::Error) -> WalError {
    if error.kind() == rocksdb::ErrorKind::Corruption
        && let Ok(Some(scan)) = rocks_log::first_damage(dir)
        && let rocks_log::LogEnd::Damaged { offset, reason } = scan.end
    {
        return WalError::DamagedLog { file: scan.path, offset, reason, rocksdb: error.into_string() };
    }
    // RocksDB names a missing table file inside a longer message: check the names it mentions.
    let message = error.to_string();
    let missing = message
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
        .filter(|word| word.ends_with(".sst"))
        .map(PathBuf::from)
        .find(|path| path.is_absolute() && !path.exists());
    if let Some(file) = missing {
        return WalError::MissingTable { file, rocksdb: error.into_string() };
    }
    WalError::Open { dir: dir.to_path_buf(), source: error }
}

impl Wal {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path, durability: Durability) -> Result<Wal, WalError> {
        let mut options = db_options();
        options.set_max_background_jobs(2);
        options.set_max_total_wal_size(256 * 1024 * 1024);
        // Table files (flushes, compactions) are handed to the disk a megabyte at a time as they
        // are written, not as one burst of tens of megabytes when each is finished: the log's
        // synced writes, which every acknowledgement waits on, queue behind such a burst
        // (13-23 ms fsyncs seen under load; BENCHMARKS.md, "bytes_per_sync").
        options.set_bytes_per_sync(TABLE_BYTES_PER_SYNC);
        let mut wal_options = Options::default();
        wal_options.set_write_buffer_size(128 * 1024 * 1024);
        // History lines arrive under random account keys, two per transfer: with RocksDB's
        // skiplist memtable and leveled defaults, the indexer's inserts plus the flushes and
        // compactions of those lines took ~65 % of all CPU; with an append-only vector memtable
        // (sorted at flush) still ~40 % of the embedded rate. They are now held by the indexer
        // and ingested as whole table files (`held_lines.rs`, BENCHMARKS.md).
        let history_options = history::history_options();
        // Snapshot chunks arrive 16 MiB at a time without RocksDB's log: room for a few hundred
        // megabytes before a memtable switch could stall the write queue the records share.
        let mut meta_options = Options::default();
        meta_options.set_write_buffer_size(256 * 1024 * 1024);
        meta_options.set_max_write_buffer_number(4);
        // The synced log records and the indexer's unlogged history writes share this
        // database's write queue: pipelined, a group's log append and sync no longer wait for
        // the previous group's memtable inserts (a history write can hold thousands of lines).
        // Same durability: a write returns once it is synced and in its memtable (BENCHMARKS.md,
        // "Pipelined writes").
        options.set_enable_pipelined_write(true);
        // Events arrive in key order, so the flushed tables do not overlap and compaction only
        // moves them.
        let mut events_options = Options::default();
        events_options.set_write_buffer_size(64 * 1024 * 1024);
        events_options.set_max_write_buffer_number(4);
        // LZ4 halves the feed's bytes on disk (566 -> 254 MB in a 30 s run at 120k transfers/s),
        // bytes whose writeback the log's fsyncs otherwise wait behind (BENCHMARKS.md, "The event
        // feed compressed").
        events_options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Transfers by id: mostly SST files the indexer ingests whole (`transfers.rs`).
        let transfers_options = transfers::options();
        let families = vec![
            ColumnFamilyDescriptor::new(CF_WAL, wal_options),
            ColumnFamilyDescriptor::new(CF_HISTORY, history_options),
            ColumnFamilyDescriptor::new(CF_META, meta_options),
            ColumnFamilyDescriptor::new(CF_EVENTS, events_options),
            ColumnFamilyDescriptor::new(CF_TRANSFERS, transfers_options),
            ColumnFamilyDescriptor::new(archive::CF_ARCHIVE, archive::options()),
        ];
        let db = DB::open_cf_descriptors(&options, dir, families).map_err(|error| open_error(dir, error))?;
        Ok(Wal { db: Arc::new(db), durability })
    }

    /// Opens the database in `dir` read-only, changing nothing on disk (RocksDB replays its log
    /// in memory, with the same recovery rules): for offline checks. Writes fail.
    pub fn open_read_only(dir: &Path) -> Result<Wal, WalError> {
        // A directory written before the event feed has no `events` or `transfers` family: open
        // what exists.
        let existing = DB::list_cf(&Options::default(), dir).unwrap_or_default();
        let families = FAMILIES
            .into_iter()
            .filter(|name| {
                ![CF_EVENTS, CF_TRANSFERS, archive::CF_ARCHIVE].contains(name)
                    || existing.iter().any(|family| family == name)
            })
            .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = DB::open_cf_descriptors_read_only(&db_options(), dir, families, false)
            .map_err(|error| open_error(dir, error))?;
        Ok(Wal { db: Arc::new(db), durability: Durability::Sync })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("column families are created on open")
    }

    fn write_options(&self) -> WriteOptions {
        let mut options = WriteOptions::default();
        options.set_sync(self.durability == Durability::Sync);
        options
    }

    /// The stored secret key, or `generate()`'s, stored durably first. A missing key next to
    /// existing records or a snapshot is damage: a new key would change every derived code.
    pub fn secret_key(&self, generate: impl FnOnce() -> [u8; 32]) -> Result<[u8; 32], WalError> {
        if let Some(key) = self.stored_secret_key()? {
            return Ok(key);
        }
        let key = generate();
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db.put_cf_opt(self.cf(CF_META), KEY_SECRET, key, &options)?;
        Ok(key)
    }

    /// The stored secret key, if any (never writes). A missing key next to existing records or
    /// a snapshot is damage.
    pub fn stored_secret_key(&self) -> Result<Option<[u8; 32]>, WalError> {
        if let Some(bytes) = self.db.get_cf(self.cf(CF_META), KEY_SECRET)? {
            let key =
                bytes.as_slice().try_into().map_err(|_| WalError::CorruptMeta("secret key is not 32 bytes".into()))?;
            return Ok(Some(key));
        }
        let has_snapshot = self.has_snapshot()?;
        let has_records = self.db.iterator_cf(self.cf(CF_WAL), IteratorMode::Start).next().transpose()?.is_some();
        if has_snapshot || has_records {
            return Err(WalError::CorruptMeta(
                "the secret key is missing but the data directory holds records or a snapshot; refusing to open \
                 (a new key would change every secure code)"
                    .into(),
            ));
        }
        Ok(None)
    }

    /// Replays every record after `after_seq` in order through `apply`. Returns the last
    /// sequence number (or `after_seq` if there is none). Any damaged record, the last one
    /// included, and any gap is an error: RocksDB has already dropped a torn, unacknowledged
    /// batch whole, so a bad record here is damage to an acknowledged one. Never writes.
    pub fn replay(&self, after_seq: u64, mut apply: impl FnMut(WalRecord)) -> Result<u64, WalError> {
        let wal = self.cf(CF_WAL);
        let mut expected = after_seq + 1;
        for item in self.db.iterator_cf(wal, IteratorMode::Start) {
            let (key, value) = item?;
            let seq = key_seq(&key)
                .ok_or_else(|| WalError::CorruptRecord { seq: expected, reason: format!("bad key {key:02x?}") })?;
            if seq <= after_seq {
                continue; // Covered by the snapshot; trimmed at the next snapshot.
            }
            if seq != expected {
                let reason = if expected == 1 {
                    format!("the log starts at record {seq} and no snapshot covers the records before it")
                } else if expected == after_seq + 1 {
                    format!("the snapshot covers records up to {after_seq}, the log resumes at record {seq}")
                } else {
                    format!("the log jumps from record {} to record {seq}", expected - 1)
                };
                return Err(WalError::MissingRecords { from: expected, to: seq - 1, reason });
            }
            match decode_record(&value) {
                Ok(record) if record.seq == seq => apply(record),
                Ok(record) => {
                    return Err(WalError::CorruptRecord { seq, reason: format!("record says it is {}", record.seq) });
                }
                Err(reason) => return Err(WalError::CorruptRecord { seq, reason }),
            }
            expected += 1;
        }
        Ok(expected - 1)
    }

    /// Appends records in one `WriteBatch` (one fsync). Returns the time the synced write took.
    pub fn append(&self, records: &[EncodedRecord]) -> Result<Duration, WalError> {
        self.append_with_archived(records, [])
    }

    /// Appends records, and the objects their batches took out of memory, in one `WriteBatch`
    /// (one fsync). Returns the time the synced write took.
    pub fn append_with_archived<'a>(
        &self,
        records: &[EncodedRecord],
        archived: impl IntoIterator<Item = &'a crate::state_machine::Archived>,
    ) -> Result<Duration, WalError> {
        let mut batch = WriteBatch::default();
        let wal = self.cf(CF_WAL);
        for record in records {
            batch.put_cf(wal, record.seq.to_be_bytes(), &record.value);
        }
        self.put_archived(&mut batch, archived);
        let started = Instant::now();
        self.db.write_opt(batch, &self.write_options())?;
        Ok(started.elapsed())
    }

    /// The sequence number of the log's last record (`None` if it holds none).
    pub fn last_record_seq(&self) -> Result<Option<u64>, WalError> {
        let Some(item) = self.db.iterator_cf(self.cf(CF_WAL), IteratorMode::End).next() else { return Ok(None) };
        let (key, _) = item?;
        let seq =
            key_seq(&key).ok_or_else(|| WalError::CorruptRecord { seq: 0, reason: format!("bad key {key:02x?}") })?;
        Ok(Some(seq))
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

    /// Reads every key and value of every column family, so that RocksDB checks the checksum of
    /// every block it reads; decodes every history line. For offline checks.
    pub fn scan_all(&self) -> Result<StoredKeys, WalError> {
        let mut stored = StoredKeys::default();
        for (name, count) in [
            (CF_WAL, &mut stored.wal),
            (CF_HISTORY, &mut stored.history),
            (CF_META, &mut stored.meta),
            (CF_EVENTS, &mut stored.events),
            (CF_TRANSFERS, &mut stored.transfers),
        ] {
            let Some(family) = self.db.cf_handle(name) else { continue };
            let mut options = rocksdb::ReadOptions::default();
            options.set_verify_checksums(true);
            options.fill_cache(false);
            for item in self.db.iterator_cf_opt(family, options, IteratorMode::Start) {
                let (key, value) = item?;
                if name == CF_HISTORY && history::is_metadata_key(&key) {
                    codec::decode::<crate::metadata::Metadata>(&value).map_err(|error| {
                        WalError::CorruptMeta(format!("metadata {key:02x?} does not decode: {error}"))
                    })?;
                } else if name == CF_HISTORY && key.as_ref() != KEY_HISTORY_WATERMARK {
                    codec::decode::<held_lines::StoredLine>(&value).map_err(|error| {
                        WalError::CorruptMeta(format!("history line {key:02x?} does not decode: {error}"))
                    })?;
                }
                if name == CF_EVENTS && key.as_ref() != KEY_EVENTS_WATERMARK {
                    events::decode_events(&key, &value)?;
                }
                *count += 1;
            }
        }
        Ok(stored)
    }

    /// Flushes memtables to SST files (used before a clean shutdown, to make reopening fast).
    pub fn flush(&self) -> Result<(), WalError> {
        for name in FAMILIES {
            self.db.flush_cf(self.cf(name))?;
        }
        Ok(())
    }
}

/// Keys per column family, as counted by [`Wal::scan_all`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredKeys {
    /// WAL records.
    pub wal: u64,
    /// History lines (and the watermark).
    pub history: u64,
    /// Metadata keys (secret key, snapshot metadata and chunks).
    pub meta: u64,
    /// Records' events in the feed (one entry per record).
    pub events: u64,
    /// Entries of the transfer index.
    pub transfers: u64,
}

fn key_seq(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

#[cfg(test)]
mod tests;
