//! The transfer index: a transfer's id (as a 128-bit hash keyed from the server key) -> the
//! position in the event feed of the posting that debited its payer, and of a credit applied
//! apart from its debit (by another partition, or a refund); a local transfer's credit is the
//! event after its debit. Deposit and withdrawal ids are indexed too, in a namespace of their
//! own (their one posting): the executor finds there the ids its id table no longer remembers. Entries are fixed-size (no allocation per transfer). The indexer keeps
//! the newest in memory and writes them as whole table files that RocksDB ingests (no memtable
//! to sort and flush: a memtable cost ~20 % of the embedded rate on 2 vCPUs, BENCHMARKS.md), with
//! bloom filters and FIFO compaction: nothing is ever rewritten, and the newest
//! [`TRANSFER_INDEX_BYTES_MAX`](super::TRANSFER_INDEX_BYTES_MAX) of table files are kept.
//! A lookup checks the id against the posting it finds, so a hash collision can only hide an
//! older transfer, never show another.

use std::path::Path;

use rocksdb::{IngestExternalFileOptions, Options, SstFileWriter};

use super::{CF_TRANSFERS, KEY_TRANSFERS_WATERMARK, LineId, TRANSFER_INDEX_BYTES_MAX, Wal, WalError};
use crate::command::{Event, PostingCause};
use crate::types::Id;

/// The index's key of a transfer id: a keyed 128-bit hash.
pub type TransferKey = [u8; 16];

/// Bytes of an index entry: the key, the side (0: debit, 1: a credit apart), the position.
const ENTRY_BYTES: usize = 16 + 1 + 12;

/// One index entry: `key ++ side` (the RocksDB key), then the position (its value).
pub type TransferEntry = [u8; ENTRY_BYTES];

/// Where an entry's RocksDB key ends and its value begins.
pub(super) const ENTRY_KEY_BYTES: usize = 17;

/// An entry's RocksDB key: the id's key and the side.
pub type TransferIndexKey = [u8; ENTRY_KEY_BYTES];

/// The index's column family options: FIFO compaction of ingested tables with bloom filters.
pub(super) fn options() -> Options {
    let mut options = Options::default();
    // For the table files written here (`history_options` says why).
    options.set_bytes_per_sync(super::TABLE_BYTES_PER_SYNC);
    options.set_write_buffer_size(16 * 1024 * 1024);
    options.set_compression_type(rocksdb::DBCompressionType::None);
    options.set_compaction_style(rocksdb::DBCompactionStyle::Fifo);
    let mut fifo = rocksdb::FifoCompactOptions::default();
    fifo.set_max_table_files_size(TRANSFER_INDEX_BYTES_MAX);
    options.set_fifo_compaction_options(&fifo);
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    options.set_block_based_table_factory(&table);
    options
}

/// An entry as its key and position.
pub fn split_entry(entry: &TransferEntry) -> (TransferIndexKey, LineId) {
    let (key, position) = entry.split_at(ENTRY_KEY_BYTES);
    (key.try_into().expect("17 bytes"), position_of(position).expect("12 bytes"))
}

/// `entries` sorted by key, one per key: the newest position (entries of later records, and
/// later in a record, win).
pub fn newest_per_key(mut entries: Vec<TransferEntry>) -> Vec<(TransferIndexKey, LineId)> {
    // The keys are keyed hashes: their first eight bytes order almost every pair, compared as
    // one number; the whole entry (key, then position) orders the rest.
    let leading = |entry: &TransferEntry| u64::from_be_bytes(entry[..8].try_into().expect("8 bytes"));
    entries.sort_unstable_by(|left, right| leading(left).cmp(&leading(right)).then_with(|| left.cmp(right)));
    let mut unique: Vec<(TransferIndexKey, LineId)> = Vec::with_capacity(entries.len());
    for entry in &entries {
        let (key, position) = split_entry(entry);
        match unique.last_mut() {
            Some(last) if last.0 == key => last.1 = position,
            _ => unique.push((key, position)),
        }
    }
    unique
}

/// A transfer found by id: the posting that debited its payer and, once applied, the one that
/// credited its payee (or refunded the payer, when the payee's partition refused it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferLookup {
    /// The debit.
    pub debit: super::EventLine,
    /// The credit or refund, once it happened.
    pub credit: Option<super::EventLine>,
}

fn entry(key: &TransferKey, side: u8, position: LineId) -> TransferEntry {
    let mut entry = [0u8; ENTRY_BYTES];
    entry[..16].copy_from_slice(key);
    entry[16] = side;
    entry[17..25].copy_from_slice(&position.seq.to_be_bytes());
    entry[25..].copy_from_slice(&position.index.to_be_bytes());
    entry
}

/// The index key of transfer key `key`'s debit (`side` 0) or credit apart (`side` 1).
pub fn lookup_key(key: &TransferKey, side: u8) -> TransferIndexKey {
    let mut bytes = [0u8; ENTRY_KEY_BYTES];
    bytes[..16].copy_from_slice(key);
    bytes[16] = side;
    bytes
}

fn position_of(value: &[u8]) -> Result<LineId, WalError> {
    let bytes: [u8; 12] =
        value.try_into().map_err(|_| WalError::CorruptMeta(format!("transfer index entry {value:02x?}")))?;
    let (seq, index) = bytes.split_at(8);
    Ok(LineId {
        seq: u64::from_be_bytes(seq.try_into().expect("8 bytes")),
        index: u32::from_be_bytes(index.try_into().expect("4 bytes")),
    })
}

/// The two namespaces of the index: transfer ids, and deposit and withdrawal ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexedKind {
    /// A transfer's id.
    Transfer,
    /// A deposit's or withdrawal's id (they share one namespace, as in the id table).
    Movement,
}

/// The index entries of a record's events: each transfer's debit, each credit that does not
/// follow its debit in the same record, and each deposit's and withdrawal's posting.
pub(super) fn transfer_entries(
    seq: u64,
    events: &[Event],
    key_of: &impl Fn(IndexedKind, &Id) -> TransferKey,
    entries: &mut Vec<TransferEntry>,
) {
    fn transfer_of(event: &Event) -> Option<(&Id, i64)> {
        match event {
            Event::Posting(posting) => match &posting.cause {
                PostingCause::Transfer(id) => Some((id, posting.posted_delta)),
                _ => None,
            },
            _ => None,
        }
    }
    for (index, event) in events.iter().enumerate() {
        let position = LineId { seq, index: u32::try_from(index).expect("events per batch fit u32") };
        if let Event::Posting(posting) = event
            && let PostingCause::Deposit(id) | PostingCause::Withdrawal(id) = &posting.cause
        {
            entries.push(entry(&key_of(IndexedKind::Movement, id), 0, position));
            continue;
        }
        let Some((id, delta)) = transfer_of(event) else { continue };
        if delta < 0 {
            entries.push(entry(&key_of(IndexedKind::Transfer, id), 0, position));
        } else {
            let after_its_debit = index
                .checked_sub(1)
                .and_then(|previous| transfer_of(&events[previous]))
                .is_some_and(|(previous, delta)| previous == id && delta < 0);
            if !after_its_debit {
                entries.push(entry(&key_of(IndexedKind::Transfer, id), 1, position));
            }
        }
    }
}

impl Wal {
    /// Writes `entries` (sorted by key, one per key: [`newest_per_key`]) and the watermark
    /// `through_seq` as one table file, and has RocksDB ingest it (synced) into the index.
    pub fn ingest_transfers(&self, entries: &[(TransferIndexKey, LineId)], through_seq: u64) -> Result<(), WalError> {
        let path = self.db.path().join(format!("transfers-{through_seq}.sst"));
        let options = options();
        let mut writer = SstFileWriter::create(&options);
        writer.open(&path)?;
        let mut watermark_written = false;
        let watermark = through_seq.to_be_bytes();
        for (key, position) in entries {
            if !watermark_written && KEY_TRANSFERS_WATERMARK < &key[..] {
                writer.put(KEY_TRANSFERS_WATERMARK, watermark)?;
                watermark_written = true;
            }
            writer.put(key, position_value(*position))?;
        }
        if !watermark_written {
            writer.put(KEY_TRANSFERS_WATERMARK, watermark)?;
        }
        writer.finish()?;
        let mut ingest = IngestExternalFileOptions::default();
        ingest.set_move_files(true);
        let result = self.db.ingest_external_file_cf_opts(self.cf(CF_TRANSFERS), &ingest, vec![&path]);
        remove_if_left(&path);
        result?;
        Ok(())
    }

    /// Transfer `id` (the newest with that id, while the index holds it), `key` being its
    /// index key and `pending` the entries not yet ingested (newer than the table files').
    pub fn transfer(
        &self,
        key: &TransferKey,
        id: &Id,
        pending: &dyn Fn(&TransferIndexKey) -> Option<LineId>,
    ) -> Result<Option<TransferLookup>, WalError> {
        let Some(index) = self.db.cf_handle(CF_TRANSFERS) else { return Ok(None) };
        let find = |side: u8| -> Result<Option<LineId>, WalError> {
            let key = lookup_key(key, side);
            if let Some(position) = pending(&key) {
                return Ok(Some(position));
            }
            self.db.get_cf(index, key)?.map(|value| position_of(&value)).transpose()
        };
        let is_transfer = |line: &super::EventLine, debit: bool| match &line.record.event {
            Event::Posting(posting) => {
                posting.cause == PostingCause::Transfer(id.clone()) && (posting.posted_delta < 0) == debit
            }
            _ => false,
        };
        let Some(debit_position) = find(0)? else { return Ok(None) };
        let Some(debit) = self.event_at(debit_position)?.filter(|line| is_transfer(line, true)) else {
            return Ok(None); // A hash collision, or an event the feed no longer holds.
        };
        let next = LineId { seq: debit.id.seq, index: debit.id.index + 1 };
        if let Some(line) = self.event_at(next)?
            && is_transfer(&line, false)
        {
            return Ok(Some(TransferLookup { debit, credit: Some(line) }));
        }
        // Applied by another partition (or refunded): its own entry, if newer than the debit
        // (an older one is from an earlier transfer that had the same id).
        let credit = match find(1)? {
            Some(position) => self.event_at(position)?.filter(|line| line.id > debit.id && is_transfer(line, false)),
            None => None,
        };
        Ok(Some(TransferLookup { debit, credit }))
    }
}

impl Wal {
    /// Which of `keys` (sorted) the index's table files hold: one batched lookup (RocksDB's
    /// MultiGet probes each file's bloom filter for all the keys at once), for the executor's
    /// question "was any of these ids applied before?".
    pub fn indexed(&self, keys: &[TransferIndexKey]) -> Result<Vec<bool>, WalError> {
        let Some(index) = self.db.cf_handle(CF_TRANSFERS) else { return Ok(vec![false; keys.len()]) };
        let mut options = rocksdb::ReadOptions::default();
        options.fill_cache(false);
        let found = self.db.batched_multi_get_cf_opt(index, keys, true, &options);
        found.into_iter().map(|value| Ok(value?.is_some())).collect()
    }

    /// Calls `found` with the id key of every entry the index's table files hold (debits and
    /// movements: side 0), in key order, until it answers `false`. For filling the executor's
    /// filter on open.
    pub fn for_each_indexed_key(&self, mut found: impl FnMut(&TransferKey) -> bool) -> Result<(), WalError> {
        let Some(index) = self.db.cf_handle(CF_TRANSFERS) else { return Ok(()) };
        let mut options = rocksdb::ReadOptions::default();
        options.fill_cache(false);
        for item in self.db.iterator_cf_opt(index, options, rocksdb::IteratorMode::Start) {
            let (key, _) = item?;
            if key.len() == ENTRY_KEY_BYTES && key[16] == 0 && !found(key[..16].try_into().expect("16 bytes")) {
                break;
            }
        }
        Ok(())
    }

    /// The posting of deposit or withdrawal `id` (index key `key`), if the index holds it.
    pub fn movement(
        &self,
        key: &TransferKey,
        id: &Id,
        pending: &dyn Fn(&TransferIndexKey) -> Option<LineId>,
    ) -> Result<Option<super::EventLine>, WalError> {
        let Some(index) = self.db.cf_handle(CF_TRANSFERS) else { return Ok(None) };
        let key = lookup_key(key, 0);
        let position = match pending(&key) {
            Some(position) => Some(position),
            None => self.db.get_cf(index, key)?.map(|value| position_of(&value)).transpose()?,
        };
        let Some(position) = position else { return Ok(None) };
        let is_movement = |line: &super::EventLine| match &line.record.event {
            Event::Posting(posting) => {
                matches!(&posting.cause, PostingCause::Deposit(found) | PostingCause::Withdrawal(found) if found == id)
            }
            _ => false,
        };
        // A hash collision, or an event the feed no longer holds: not found.
        Ok(self.event_at(position)?.filter(is_movement))
    }
}

/// The file RocksDB moved (or copied, where it could not link it) into its directory.
fn remove_if_left(path: &Path) {
    if path.exists() {
        let _ = std::fs::remove_file(path);
    }
}

fn position_value(position: LineId) -> [u8; 12] {
    let mut value = [0u8; 12];
    value[..8].copy_from_slice(&position.seq.to_be_bytes());
    value[8..].copy_from_slice(&position.index.to_be_bytes());
    value
}
