//! The event feed: the events of every durable record, one value per record keyed by its
//! sequence number (big endian; sequence numbers stay below 2^56, so every record key starts with
//! a zero byte), in a column family of its own. An event's position is `(seq, index)`: its record
//! and its place among the record's events. Keys arrive in order, so the memtable flushes make
//! non-overlapping table files and compaction only moves them; one key per record (not per
//! event) keeps the indexer's inserts few. The indexer writes events and history lines in one
//! write, so recovery rebuilds both from the records after the watermark, at the same positions.

use rocksdb::{Direction, IteratorMode};
use serde::{Deserialize, Serialize};

use super::{CF_EVENTS, LineId, Wal, WalError};
use crate::codec;
use crate::command::Event;
use crate::partition::PartitionId;
use crate::types::TimestampMs;

/// An event as the feed shows it.
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

/// A record's events as stored (written from a borrowed slice: the indexer copies nothing).
#[derive(Serialize)]
struct RecordEventsRef<'a> {
    at_ms: TimestampMs,
    partition: PartitionId,
    events: &'a [Event],
}

/// A record's events as read back.
#[derive(Deserialize)]
struct RecordEvents {
    at_ms: TimestampMs,
    partition: PartitionId,
    events: Vec<Event>,
}

/// The key and value of record `seq`'s events.
pub fn event_entry(seq: u64, partition: PartitionId, at_ms: TimestampMs, events: &[Event]) -> (Vec<u8>, Vec<u8>) {
    (seq.to_be_bytes().to_vec(), codec::encode(&RecordEventsRef { at_ms, partition, events }))
}

fn record_seq(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.try_into().ok()?;
    (bytes[0] == 0).then(|| u64::from_be_bytes(bytes))
}

/// Decodes a record's stored events (`kassa verify` decodes every one), each with its position.
pub(super) fn decode_events(key: &[u8], value: &[u8]) -> Result<Vec<EventLine>, WalError> {
    let seq = record_seq(key).ok_or_else(|| WalError::CorruptMeta(format!("event key {key:02x?}")))?;
    let stored: RecordEvents =
        codec::decode(value).map_err(|error| WalError::CorruptMeta(format!("events of record {seq}: {error}")))?;
    let RecordEvents { at_ms, partition, events } = stored;
    let lines = events.into_iter().enumerate().map(|(index, event)| EventLine {
        id: LineId { seq, index: u32::try_from(index).expect("events per record fit u32") },
        record: EventRecord { at_ms, partition, event },
    });
    Ok(lines.collect())
}

impl Wal {
    /// Up to `limit` events after position `after` (or from the first), oldest first, and
    /// whether more follow. Only events the indexer has written: see `Engine::events`.
    pub fn events_after(&self, after: Option<LineId>, limit: usize) -> Result<(Vec<EventLine>, bool), WalError> {
        let Some(family) = self.db.cf_handle(CF_EVENTS) else {
            return Ok((Vec::new(), false)); // A read-only open of a directory from before the feed.
        };
        let start = after.map_or(0, |position| position.seq);
        let mut lines = Vec::with_capacity(limit.min(1_024));
        let records = self.db.iterator_cf(family, IteratorMode::From(&start.to_be_bytes(), Direction::Forward));
        for item in records {
            let (key, value) = item?;
            if record_seq(&key).is_none() {
                break; // The watermark, after every record.
            }
            for line in decode_events(&key, &value)? {
                if after.is_some_and(|after| line.id <= after) {
                    continue;
                }
                if lines.len() == limit {
                    return Ok((lines, true));
                }
                lines.push(line);
            }
        }
        Ok((lines, false))
    }

    /// The event at `position`, if the feed holds it.
    pub(super) fn event_at(&self, position: LineId) -> Result<Option<EventLine>, WalError> {
        let Some(family) = self.db.cf_handle(CF_EVENTS) else { return Ok(None) };
        let key = position.seq.to_be_bytes();
        let Some(value) = self.db.get_cf(family, key)? else { return Ok(None) };
        let mut lines = decode_events(&key, &value)?;
        let index = usize::try_from(position.index).expect("u32 fits usize");
        Ok((index < lines.len()).then(|| lines.swap_remove(index)))
    }
}
