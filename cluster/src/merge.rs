//! The partitions' streams merged back into the engine's one numbering of records, pure.
//!
//! Each stream holds its partition's records in order, but the records of one group commit
//! land in several streams at once, so a reader of all streams sees them out of order, and an
//! owner that died in the middle of a group may have left a gap: some of the group's records
//! landed, one before them did not. Records are handed out only once every record before them
//! is in. A new owner appends a [cut](crate::EntryKind::Cut) to every stream before its first
//! record: records of earlier epochs numbered after the cut are the dead owner's unacknowledged
//! tail, and are dropped.

use std::collections::BTreeMap;

use bytes::Bytes;
use kassa_engine::wal::{EncodedRecord, WalRecord, decode_record};

use crate::chain::EntryKind;
use crate::log::Entry;

/// Why merging stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// An entry is not what the protocol writes.
    #[error("partition {partition}, sequence {sequence}: {reason}")]
    Malformed {
        /// The stream.
        partition: u16,
        /// The entry.
        sequence: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A cut voids records this reader already handed out (records of an earlier epoch
    /// numbered after it): its state went past what the cluster kept and must be rebuilt from
    /// the streams.
    #[error("a cut after record {cut} voids records through {applied} that were already applied")]
    Voided {
        /// Where the log goes on.
        cut: u64,
        /// The last record handed out.
        applied: u64,
    },
}

/// Records handed out, in order: as the log stores them, and decoded (each decoded once, when
/// it was read).
#[derive(Default)]
pub struct Ready {
    /// Encoded, for the local log.
    pub records: Vec<EncodedRecord>,
    /// The same, decoded, for `commit`.
    pub decoded: Vec<WalRecord>,
}

impl Ready {
    /// Whether nothing is handed out.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// The streams' records merged in the engine's numbering.
#[derive(Debug, Default)]
pub struct Merge {
    /// The last record handed out.
    applied: u64,
    /// Records read but not handed out yet, by number: `(epoch, encoded, decoded)`.
    pending: BTreeMap<u64, (u64, Bytes, WalRecord)>,
    /// Every cut read: `(epoch, after)`.
    cuts: Vec<(u64, u64)>,
    /// Where each epoch's records begin among those handed out: `(first record, epoch)`.
    /// Epochs only grow along the numbering: a new owner numbers on after its cut.
    epochs: Vec<(u64, u64)>,
}

impl Merge {
    /// A merge that hands out records after `applied` (those through it are applied already).
    pub fn after(applied: u64) -> Merge {
        Merge { applied, ..Merge::default() }
    }

    /// The last record handed out.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Records read and waiting for one before them.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// The epoch of handed-out record `seq` (`None`: not handed out, or before this merge).
    fn epoch_of(&self, seq: u64) -> Option<u64> {
        if seq > self.applied {
            return None;
        }
        let index = self.epochs.partition_point(|(first, _)| *first <= seq);
        index.checked_sub(1).map(|index| self.epochs[index].1)
    }

    /// Takes an entry of partition `partition`'s stream, read in order.
    pub fn push(&mut self, partition: u16, entry: &Entry) -> Result<(), MergeError> {
        let malformed = |reason: String| MergeError::Malformed { partition, sequence: entry.sequence, reason };
        match entry.kind {
            EntryKind::Takeover => Ok(()),
            EntryKind::Cut => {
                let after = <[u8; 8]>::try_from(entry.payload.as_ref())
                    .map(u64::from_be_bytes)
                    .map_err(|_| malformed(format!("a cut of {} bytes", entry.payload.len())))?;
                if self.epoch_of(after + 1).is_some_and(|epoch| epoch < entry.epoch) {
                    return Err(MergeError::Voided { cut: after, applied: self.applied });
                }
                self.cuts.push((entry.epoch, after));
                self.pending.retain(|seq, (epoch, ..)| !(*epoch < entry.epoch && *seq > after));
                Ok(())
            }
            EntryKind::Record => {
                let record = decode_record(&entry.payload).map_err(malformed)?;
                if record.partition != partition {
                    return Err(malformed(format!("a record of partition {}", record.partition)));
                }
                let void = self.cuts.iter().any(|(epoch, after)| entry.epoch < *epoch && record.seq > *after);
                if record.seq <= self.applied || void {
                    return Ok(());
                }
                match self.pending.get(&record.seq) {
                    // Read again (a stream read over after a NATS error).
                    Some((epoch, payload, _)) if *epoch == entry.epoch && *payload == entry.payload => return Ok(()),
                    Some((epoch, ..)) => return Err(malformed(format!("record {} also in epoch {epoch}", record.seq))),
                    None => {}
                }
                self.pending.insert(record.seq, (entry.epoch, entry.payload.clone(), record));
                Ok(())
            }
        }
    }

    /// The records that follow the last one handed out without a gap, in order.
    pub fn ready(&mut self) -> Ready {
        let mut ready = Ready::default();
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() != self.applied + 1 {
                break;
            }
            let (seq, (epoch, payload, decoded)) = entry.remove_entry();
            if self.epochs.last().is_none_or(|(_, last)| *last != epoch) {
                self.epochs.push((seq, epoch));
            }
            ready.records.push(EncodedRecord { seq, value: payload.to_vec() });
            ready.decoded.push(decoded);
            self.applied = seq;
        }
        ready
    }
}

#[cfg(test)]
mod tests;
