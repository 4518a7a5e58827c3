//! The transfer index: a transfer's id (as a 128-bit hash keyed from the server key) -> the
//! position in the event feed of the posting that debited its payer, and of a credit applied
//! apart from its debit (by another partition, or a refund); a local transfer's credit is the
//! event after its debit. Entries are fixed-size (no allocation per transfer), written sorted
//! with the history in one write, into a column family with an append-only memtable, bloom
//! filters and FIFO compaction: nothing is ever rewritten, and the newest
//! [`TRANSFER_INDEX_BYTES_MAX`](super::TRANSFER_INDEX_BYTES_MAX) of table files are kept.
//! A lookup checks the id against the posting it finds, so a hash collision can only hide an
//! older transfer, never show another.

use super::{CF_TRANSFERS, LineId, Wal, WalError};
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

fn lookup_key(key: &TransferKey, side: u8) -> [u8; ENTRY_KEY_BYTES] {
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

/// The index entries of a record's events: each transfer's debit, and each credit that does
/// not follow its debit in the same record.
pub(super) fn transfer_entries(
    seq: u64,
    events: &[Event],
    key_of: &impl Fn(&Id) -> TransferKey,
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
        let Some((id, delta)) = transfer_of(event) else { continue };
        let position = LineId { seq, index: u32::try_from(index).expect("events per batch fit u32") };
        if delta < 0 {
            entries.push(entry(&key_of(id), 0, position));
        } else {
            let after_its_debit = index
                .checked_sub(1)
                .and_then(|previous| transfer_of(&events[previous]))
                .is_some_and(|(previous, delta)| previous == id && delta < 0);
            if !after_its_debit {
                entries.push(entry(&key_of(id), 1, position));
            }
        }
    }
}

impl Wal {
    /// Transfer `id` (the newest with that id, while the index holds it), `key` being its
    /// index key.
    pub fn transfer(&self, key: &TransferKey, id: &Id) -> Result<Option<TransferLookup>, WalError> {
        let Some(index) = self.db.cf_handle(CF_TRANSFERS) else { return Ok(None) };
        let is_transfer = |line: &super::EventLine, debit: bool| match &line.record.event {
            Event::Posting(posting) => {
                posting.cause == PostingCause::Transfer(id.clone()) && (posting.posted_delta < 0) == debit
            }
            _ => false,
        };
        let Some(value) = self.db.get_cf(index, lookup_key(key, 0))? else { return Ok(None) };
        let Some(debit) = self.event_at(position_of(&value)?)?.filter(|line| is_transfer(line, true)) else {
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
        let credit = match self.db.get_cf(index, lookup_key(key, 1))? {
            Some(value) => {
                self.event_at(position_of(&value)?)?.filter(|line| line.id > debit.id && is_transfer(line, false))
            }
            None => None,
        };
        Ok(Some(TransferLookup { debit, credit }))
    }
}
