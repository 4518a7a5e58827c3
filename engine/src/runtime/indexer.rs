//! The history indexer: turns the events of durable batches into the event feed, per-account
//! history lines and the transfer index, off the acknowledgement path. All three are derived
//! from the WAL: the feed is written without RocksDB's log, history lines and index entries are
//! held in memory and ingested as whole table files; before a snapshot trims records, the
//! snapshotter has the indexer ingest what it holds and flushes the feed, and on recovery the
//! records after the lowest watermark are indexed again.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::held_history::{HELD_BYTES_MAX, Handover, HeldHistory};
use super::held_index::HeldEntries;
use crate::command::Event;
use crate::partition::PartitionId;
use crate::state_machine::IdHasher;
use crate::types::Id;
use crate::types::TimestampMs;
use crate::wal::{Derived, IndexedKind, Wal};

/// After this long without new batches, what the indexer holds is ingested.
const IDLE_INGEST_AFTER: Duration = Duration::from_secs(1);

/// Most batches indexed in one RocksDB write.
const COALESCE_BATCHES_MAX: usize = 256;

/// An indexer write stops growing past this many lines and events (~25 MB): the memory it
/// takes stays bounded.
const COALESCE_LINES_MAX: usize = 256 * 1024;

pub(super) enum IndexerMessage {
    /// The events of a durable batch.
    Batch { seq: u64, partition: PartitionId, now_ms: TimestampMs, events: Vec<Event> },
}

/// Transfer index entries not yet in table files, and how far ingestion got: shared by the
/// indexer (the only writer), the snapshotters (which need the index durable before they trim
/// the log) and lookups (which read the entries first: they are the newest).
#[derive(Default)]
pub(super) struct PendingTransfers {
    /// Sorted runs of entries, the newest position per key found first (`held_index.rs`).
    pub(super) entries: RwLock<HeldEntries>,
    /// Every record through this one has its index entries in table files.
    pub(super) ingested_seq: AtomicU64,
    /// A snapshotter needs the index in table files through this record.
    pub(super) wanted_seq: AtomicU64,
}

/// Entries held in memory before they are ingested as one table file (~64 MiB).
const PENDING_MAX: usize = 1 << 20;

/// When the indexer ingests the transfer index entries it holds (besides when they are many or
/// a snapshotter waits for them).
#[derive(Clone, Copy)]
enum Ingest {
    /// Only then.
    IfWanted,
    /// Also if it holds any (the engine is quiet).
    AnyHeld,
    /// Now, with the watermark, even with no entries (the engine stops).
    Everything,
}

/// Index entries held this long in log time are ingested with the write that ages them, before
/// the indexer says it has indexed that write: an id the id table forgot (after a day at least)
/// is always in table files, where the executor's one batched probe looks (`recall.rs`).
const HELD_MS_MAX: u64 = 3_600_000;

/// How long the indexer waits for a batch before it looks at what is waiting on it.
const POLL: Duration = Duration::from_millis(50);

pub(super) struct Indexer {
    pub(super) wal: Wal,
    pub(super) inbox: Receiver<IndexerMessage>,
    /// The last sequence number whose history is written.
    pub(super) indexed_seq: Arc<AtomicU64>,
    /// The transfer index's keys.
    pub(super) transfer_keys: IdHasher,
    /// The transfer index entries not ingested yet (and how far snapshotters want both ingested).
    pub(super) pending: Arc<PendingTransfers>,
    /// The history lines not ingested yet.
    pub(super) history: Arc<HeldHistory>,
    /// The `kassa-history` thread, which ingests them.
    pub(super) to_history: Sender<Handover>,
    /// The log time of the oldest batch whose index entries are held (not ingested).
    pub(super) held_since_ms: Cell<Option<TimestampMs>>,
}

impl Indexer {
    pub(super) fn run(self) {
        let mut quiet = Duration::ZERO;
        loop {
            let first = match self.inbox.recv_timeout(POLL) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => {
                    quiet += POLL;
                    let when = if quiet >= IDLE_INGEST_AFTER { Ingest::AnyHeld } else { Ingest::IfWanted };
                    self.ingest(when, self.indexed_seq.load(Ordering::Acquire));
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Last: everything indexed goes into table files, so that a snapshotter
                    // still finishing (it may ask after this thread is gone) finds it there.
                    self.ingest(Ingest::Everything, self.indexed_seq.load(Ordering::Acquire));
                    break;
                }
            };
            quiet = Duration::ZERO;
            self.index(first);
            self.ingest(Ingest::IfWanted, self.indexed_seq.load(Ordering::Acquire));
        }
    }

    /// Indexes `first` and the batches waiting behind it, in one write.
    fn index(&self, first: IndexerMessage) {
        let mut derived = Derived::default();
        let mut through = None;
        let mut next = Some(first);
        let (mut batches, mut latest_ms) = (0, 0);
        let key_of = |kind: IndexedKind, id: &Id| self.transfer_keys.index_key_for(kind, id);
        while let Some(message) = next.take() {
            match message {
                IndexerMessage::Batch { seq, partition, now_ms, events } => {
                    let entries_before = derived.transfers.len();
                    derived.add(seq, partition, now_ms, &events, &key_of);
                    if derived.transfers.len() > entries_before && self.held_since_ms.get().is_none() {
                        self.held_since_ms.set(Some(now_ms));
                    }
                    (through, latest_ms) = (Some(seq), latest_ms.max(now_ms));
                    batches += 1;
                }
            }
            if batches >= COALESCE_BATCHES_MAX || derived.len() >= COALESCE_LINES_MAX {
                break;
            }
            next = self.inbox.try_recv().ok();
        }
        let Some(seq) = through else { return };
        // Held as a sorted run: queries search it, ingestion merges the runs.
        let mut lines = std::mem::take(&mut derived.lines);
        lines.sort();
        self.history.push(lines);
        self.history.wait_if_far_behind();
        if !derived.transfers.is_empty() {
            // Sorted and merged outside the lock; only this thread changes the runs.
            let held = self.pending.entries.read().clone();
            let runs = held.with(std::mem::take(&mut derived.transfers));
            self.pending.entries.write().replace(runs);
        }
        if let Err(error) = self.wal.append_events(&derived, seq) {
            tracing::error!(%error, "writing the event feed failed; it will be rebuilt on recovery");
            return;
        }
        if self.held_since_ms.get().is_some_and(|since| latest_ms.saturating_sub(since) >= HELD_MS_MAX) {
            self.ingest(Ingest::AnyHeld, seq);
        }
        self.indexed_seq.store(seq, Ordering::Release);
    }

    /// Ingests the held history lines and the pending transfer index entries, each with its
    /// watermark, as table files: when a snapshotter waits for them, when they are many, and as
    /// `when` says; `through` is the last record indexed.
    fn ingest(&self, when: Ingest, through: u64) {
        self.ingest_history(when, through);
        self.ingest_transfers(when, through);
    }

    /// Hands the held history lines over to the `kassa-history` thread; when the engine stops,
    /// waits until they are ingested.
    fn ingest_history(&self, when: Ingest, through: u64) {
        if matches!(when, Ingest::Everything) {
            self.history.wait_for_handover();
        }
        if through <= self.history.ingested_seq.load(Ordering::Acquire) || self.history.in_flight() {
            return;
        }
        let held = self.history.held_bytes();
        let wanted =
            self.pending.wanted_seq.load(Ordering::Acquire) > self.history.ingested_seq.load(Ordering::Acquire);
        let now = match when {
            Ingest::Everything => true,
            Ingest::AnyHeld => held > 0,
            Ingest::IfWanted => false,
        };
        if (now || wanted || held >= HELD_BYTES_MAX)
            && self.history.hand_over(through, &self.to_history)
            && matches!(when, Ingest::Everything)
        {
            self.history.wait_for_handover();
        }
    }

    fn ingest_transfers(&self, when: Ingest, through: u64) {
        let ingested = self.pending.ingested_seq.load(Ordering::Acquire);
        if through <= ingested {
            return;
        }
        let held = self.pending.entries.read().len();
        let wanted = self.pending.wanted_seq.load(Ordering::Acquire) > ingested;
        let now = match when {
            Ingest::Everything => true,
            Ingest::AnyHeld => held > 0,
            Ingest::IfWanted => false,
        };
        if !(now || wanted || held >= PENDING_MAX) {
            return;
        }
        let held = self.pending.entries.read().clone();
        let entries = held.merged();
        match self.wal.ingest_transfers(&entries, through) {
            Ok(()) => {
                // Only this thread adds entries, so nothing arrived since the copy.
                self.pending.entries.write().clear();
                self.pending.ingested_seq.store(through, Ordering::Release);
                self.held_since_ms.set(None);
            }
            Err(error) => tracing::error!(%error, "ingesting the transfer index failed; recovery rebuilds it"),
        }
    }
}
