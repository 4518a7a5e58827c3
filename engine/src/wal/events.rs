//! The event feed: every event of every durable record, keyed by its position in the log
//! (`seq ++ index`, big endian; sequence numbers stay below 2^56, so every position key starts
//! with a zero byte), in a column family of its own. Keys arrive in order, so its
//! memtable flushes make non-overlapping table files and compaction only moves them. The
//! indexer writes events and history lines in one write under one watermark, so recovery
//! rebuilds both from the records after it, with the same positions.

use rocksdb::{Direction, IteratorMode};
use serde::{Deserialize, Serialize};

use super::{CF_EVENTS, CF_TRANSFERS, LineId, Wal, WalError};
use crate::codec;
use crate::command::{Event, PostingCause};
use crate::partition::PartitionId;
use crate::types::{Id, TimestampMs};

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// When its batch was committed.
    pub at_ms: TimestampMs,
    /// The partition whose batch made it.
    pub partition: PartitionId,
    /// What happened.
    pub event: Event,
}

/// An event and its position, the feed's cursor (`"<seq>.<index>"`, like history lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    /// Its position: the record and the event's index among the record's events.
    pub id: LineId,
    /// The event.
    pub record: EventRecord,
}

/// The key and value of event `index` of record `seq`.
pub fn event_entry(seq: u64, index: u32, record: &EventRecord) -> (Vec<u8>, Vec<u8>) {
    (position_key(LineId { seq, index }), codec::encode(record))
}

pub(super) fn position_key(id: LineId) -> Vec<u8> {
    [&id.seq.to_be_bytes()[..], &id.index.to_be_bytes()].concat()
}

fn position_of(key: &[u8]) -> Option<LineId> {
    let (seq, index) = (key.get(..8)?, key.get(8..12)?);
    (key.len() == 12).then(|| LineId {
        seq: u64::from_be_bytes(seq.try_into().expect("8 bytes")),
        index: u32::from_be_bytes(index.try_into().expect("4 bytes")),
    })
}

/// Decodes a stored event (`kassa verify` decodes every one).
pub(super) fn decode_event(key: &[u8], value: &[u8]) -> Result<EventLine, WalError> {
    let id = position_of(key).ok_or_else(|| WalError::CorruptMeta(format!("event key {key:02x?}")))?;
    let record = codec::decode(value).map_err(|error| WalError::CorruptMeta(format!("event {id}: {error}")))?;
    Ok(EventLine { id, record })
}

impl Wal {
    /// Up to `limit` events after position `after` (or from the first), oldest first, and
    /// whether more follow. Only events the indexer has written: see `Engine::events`.
    pub fn events_after(&self, after: Option<LineId>, limit: usize) -> Result<(Vec<EventLine>, bool), WalError> {
        let Some(family) = self.db.cf_handle(CF_EVENTS) else {
            return Ok((Vec::new(), false)); // A read-only open of a directory from before the feed.
        };
        let start = match after {
            Some(LineId { seq, index }) => match index.checked_add(1) {
                Some(next) => position_key(LineId { seq, index: next }),
                None => position_key(LineId { seq: seq.saturating_add(1), index: 0 }),
            },
            None => Vec::new(),
        };
        let mut lines = Vec::with_capacity(limit.min(1_024));
        for item in self.db.iterator_cf(family, IteratorMode::From(&start, Direction::Forward)) {
            let (key, value) = item?;
            if key.first() != Some(&0) {
                break; // The watermark, after every position.
            }
            if lines.len() == limit {
                return Ok((lines, true));
            }
            lines.push(decode_event(&key, &value)?);
        }
        Ok((lines, false))
    }
}

/// A transfer found by id: the posting that debited its payer and, once applied, the one that
/// credited its payee (or refunded the payer, when the payee's partition refused it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferLookup {
    /// The debit.
    pub debit: EventLine,
    /// The credit or refund, once it happened.
    pub credit: Option<EventLine>,
}

/// The transfer index's key of transfer `id`'s debit (`side` 0) or of a credit applied apart
/// from its debit (`side` 1: by another partition, or a refund).
pub(super) fn transfer_key(id: &Id, side: u8) -> Vec<u8> {
    let bytes = id.as_str().as_bytes();
    let mut key = Vec::with_capacity(bytes.len() + 1);
    key.extend_from_slice(bytes);
    key.push(side);
    key
}

/// The transfer index entries of a record's events: each transfer's debit, and each credit that
/// does not follow its debit in the same record (a local transfer's credit is the next event).
pub(super) fn transfer_entries(seq: u64, events: &[Event], entries: &mut Vec<(Vec<u8>, Vec<u8>)>) {
    let transfer_of = |event: &Event| match event {
        Event::Posting(posting) => match &posting.cause {
            PostingCause::Transfer(id) => Some((id.clone(), posting.posted_delta)),
            _ => None,
        },
        _ => None,
    };
    for (index, event) in events.iter().enumerate() {
        let Some((id, delta)) = transfer_of(event) else { continue };
        let position = position_key(LineId { seq, index: u32::try_from(index).expect("events per batch fit u32") });
        if delta < 0 {
            entries.push((transfer_key(&id, 0), position));
        } else {
            let after_its_debit = index
                .checked_sub(1)
                .and_then(|previous| transfer_of(&events[previous]))
                .is_some_and(|(previous, delta)| previous == id && delta < 0);
            if !after_its_debit {
                entries.push((transfer_key(&id, 1), position));
            }
        }
    }
}

impl Wal {
    /// The event at `position`, if the feed holds it.
    fn event_at(&self, position: &[u8]) -> Result<Option<EventLine>, WalError> {
        let Some(family) = self.db.cf_handle(CF_EVENTS) else { return Ok(None) };
        match self.db.get_cf(family, position)? {
            Some(value) => decode_event(position, &value).map(Some),
            None => Ok(None),
        }
    }

    /// Transfer `id` (the newest with that id), found by the index the indexer keeps.
    pub fn transfer(&self, id: &Id) -> Result<Option<TransferLookup>, WalError> {
        let Some(index) = self.db.cf_handle(CF_TRANSFERS) else { return Ok(None) };
        let Some(debit_position) = self.db.get_cf(index, transfer_key(id, 0))? else { return Ok(None) };
        let Some(debit) = self.event_at(&debit_position)? else { return Ok(None) };
        let is_credit = |line: &EventLine| match &line.record.event {
            Event::Posting(posting) => posting.cause == PostingCause::Transfer(id.clone()) && posting.posted_delta > 0,
            _ => false,
        };
        let next = LineId { seq: debit.id.seq, index: debit.id.index + 1 };
        if let Some(line) = self.event_at(&position_key(next))?
            && is_credit(&line)
        {
            return Ok(Some(TransferLookup { debit, credit: Some(line) }));
        }
        // Applied by another partition (or refunded): its own entry, if newer than the debit
        // (an older one is from an earlier transfer that had the same id).
        let credit = match self.db.get_cf(index, transfer_key(id, 1))? {
            Some(position) => self.event_at(&position)?.filter(|line| line.id > debit.id && is_credit(line)),
            None => None,
        };
        Ok(Some(TransferLookup { debit, credit }))
    }
}
