//! The history indexer: turns the events of durable batches into per-account history lines and
//! the event feed, off the acknowledgement path. History is derived from the WAL, so it is written without
//! RocksDB's log; before a snapshot trims records, the snapshotter waits for the indexer and
//! flushes, and on
//! recovery the records after its watermark are indexed again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::command::Event;
use crate::partition::PartitionId;
use crate::state_machine::IdHasher;
use crate::types::TimestampMs;
use crate::wal::{Derived, Wal};

/// After this long without new batches, the history memtables are flushed.
const IDLE_FLUSH_AFTER: Duration = Duration::from_secs(1);

/// Most batches indexed in one RocksDB write.
const COALESCE_BATCHES_MAX: usize = 256;

/// A RocksDB write of history stops growing past this many lines and events (~25 MB): long sorted runs
/// make the memtable flush cheap, and the memory a write takes stays bounded.
const COALESCE_LINES_MAX: usize = 256 * 1024;

pub(super) enum IndexerMessage {
    /// The events of a durable batch.
    Batch { seq: u64, partition: PartitionId, now_ms: TimestampMs, events: Vec<Event> },
}

pub(super) struct Indexer {
    pub(super) wal: Wal,
    pub(super) inbox: Receiver<IndexerMessage>,
    /// The last sequence number whose history is written.
    pub(super) indexed_seq: Arc<AtomicU64>,
    /// The transfer index's keys.
    pub(super) transfer_keys: IdHasher,
}

impl Indexer {
    pub(super) fn run(self) {
        let mut unflushed = false;
        loop {
            let first = match self.inbox.recv_timeout(IDLE_FLUSH_AFTER) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => {
                    // Quiet: move the history memtables to table files in the background, so
                    // that queries stop sorting them (see `Wal::flush_history_soon`).
                    if std::mem::take(&mut unflushed)
                        && let Err(error) = self.wal.flush_history_soon()
                    {
                        tracing::warn!(%error, "history flush after a quiet second failed");
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            unflushed = true;
            let mut derived = Derived::default();
            let mut through = None;
            let mut next = Some(first);
            let mut batches = 0;
            while let Some(message) = next.take() {
                match message {
                    IndexerMessage::Batch { seq, partition, now_ms, events } => {
                        derived.add(seq, partition, now_ms, &events, &|id| self.transfer_keys.index_key(id));
                        through = Some(seq);
                        batches += 1;
                    }
                }
                if batches >= COALESCE_BATCHES_MAX || derived.len() >= COALESCE_LINES_MAX {
                    break;
                }
                next = self.inbox.try_recv().ok();
            }
            // Sorted runs make the flush's sort of the append-only vector memtable far cheaper:
            // without this sort the batched embedded rate fell from ~450k to ~330k/s (2026-11-26).
            // Events arrive in key order already; the transfer index is sorted the same way.
            derived.lines.sort_unstable_by(|left, right| left.0.cmp(&right.0));
            // Whole entries (key, then position): of two entries for one id, the newer is put
            // last and wins.
            derived.transfers.sort_unstable();
            if let Some(seq) = through {
                if let Err(error) = self.wal.append_history(&derived, seq) {
                    tracing::error!(%error, "writing history failed; it will be rebuilt on recovery");
                } else {
                    self.indexed_seq.store(seq, Ordering::Release);
                }
            }
        }
    }
}
