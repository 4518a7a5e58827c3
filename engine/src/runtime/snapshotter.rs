//! The snapshotter of one partition: keeps a replica of the partition's state by applying every
//! durable record of it through the same `commit` (as recovery does), and encodes and writes
//! snapshots from it, so the executor never stops for a snapshot.
//!
//! The replica costs the state's memory a second time (less the paged lists' indexes, which it
//! does not keep: [`StateMachine::replica_of`]) and a fraction of a core (a transfer applies in
//! ~100 ns; BENCHMARKS.md measures what it takes from the throughput); in exchange a snapshot
//! of millions of accounts, which takes seconds to encode, delays no acknowledgement.
//!
//! A snapshot after record `s` deletes the records `<= s`, so their history lines must be on
//! disk first (history is written without RocksDB's log): the snapshotter waits for the indexer
//! to pass `s` and to ingest the transfer index through `s`, flushes the history and events
//! column families, then writes the snapshot and trims the log in one RocksDB write, while the
//! writer goes on appending.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::command::Submission;
use crate::partition::{PartitionId, TransitMessage};
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::TimestampMs;
use crate::wal::{EncodedSnapshot, Wal};

use super::held_history::HeldHistory;
use super::indexer::PendingTransfers;
use super::state_hashes::StateHashes;

/// Longest wait for the indexer to reach a snapshot's record; past it the snapshot is skipped
/// (the indexer failed; the next open rebuilds history from the log, which was not trimmed).
const INDEXER_WAIT_MAX: Duration = Duration::from_secs(60);

/// A partition whose snapshot is this many records older than another partition's newest one
/// takes a snapshot too: the log is trimmed only below the oldest partition's snapshot.
const LAGGING_RECORDS: u64 = 1_024;

/// Whether a partition takes a snapshot after record `seq`: `commands_since` its last one
/// reached `every_commands`, or it lags: another partition's newest snapshot covers records
/// more than [`LAGGING_RECORDS`] after its own, and its own is that far behind `seq` too. The
/// second condition keeps a partition whose records are far apart in the shared numbering (little
/// of the load, or a replica behind) from encoding its whole state after every record while
/// the others' snapshots move on: it snapshots at most once per [`LAGGING_RECORDS`] records.
fn snapshot_due((commands_since, every_commands): (u64, u64), (seq, snapshot_seq): (u64, u64), newest: u64) -> bool {
    let lagging = newest > snapshot_seq + LAGGING_RECORDS && seq >= snapshot_seq + LAGGING_RECORDS;
    commands_since >= every_commands || lagging
}

/// A record the writer made durable: what the replica applies.
pub(super) struct DurableRecord {
    pub(super) seq: u64,
    pub(super) now_ms: TimestampMs,
    pub(super) messages: Vec<TransitMessage>,
    pub(super) commands: Vec<Submission>,
}

pub(super) struct Snapshotter {
    pub(super) wal: Wal,
    pub(super) inbox: Receiver<DurableRecord>,
    pub(super) indexed_seq: Arc<AtomicU64>,
    /// The transfer index entries the indexer holds, and how far it ingested them.
    pub(super) pending_transfers: Arc<PendingTransfers>,
    /// The history lines the indexer holds.
    pub(super) held_history: Arc<HeldHistory>,
    /// The state after record `seq`.
    pub(super) replica: StateMachine,
    /// Where the replica's state is hashed (`state_hashes.rs`).
    pub(super) hashes: StateHashes,
    pub(super) partition: PartitionId,
    pub(super) partitions: u16,
    pub(super) seq: u64,
    /// The record this partition's latest snapshot covers.
    pub(super) snapshot_seq: u64,
    /// The newest record any partition's snapshot covers.
    pub(super) newest_snapshot_seq: Arc<AtomicU64>,
    pub(super) every_commands: u64,
    pub(super) commands_since: u64,
}

impl Snapshotter {
    pub(super) fn run(mut self) {
        let mut output = CommitOutput::default();
        while let Ok(record) = self.inbox.recv() {
            output.clear();
            self.replica.commit_with_messages(record.now_ms, &record.messages, &record.commands, &mut output);
            self.hashes.applied(record.seq, &self.replica);
            self.seq = record.seq;
            self.commands_since += record.commands.len() as u64;
            let newest = self.newest_snapshot_seq.load(Ordering::Relaxed);
            if snapshot_due((self.commands_since, self.every_commands), (self.seq, self.snapshot_seq), newest) {
                self.commands_since = 0;
                self.snapshot();
            }
        }
    }

    /// Encodes the replica and writes it as the snapshot after record `self.seq`.
    fn snapshot(&mut self) {
        // Also when it fails: the next try waits for the next trigger, not the next record.
        self.snapshot_seq = self.seq;
        let started = Instant::now();
        let snapshot =
            EncodedSnapshot { partition: self.partition, seq: self.seq, bytes: self.replica.encode_snapshot() };
        metrics::histogram!("kassa_snapshot_encode_seconds").record(started.elapsed().as_secs_f64());
        while self.indexed_seq.load(Ordering::Acquire) < snapshot.seq {
            if started.elapsed() > INDEXER_WAIT_MAX {
                tracing::error!(seq = snapshot.seq, "history indexer is stuck; snapshot skipped");
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // History and the transfer index are written in whole table files: have the indexer
        // ingest what it holds through this record (the log below it is about to go).
        self.pending_transfers.wanted_seq.fetch_max(snapshot.seq, Ordering::AcqRel);
        while self.pending_transfers.ingested_seq.load(Ordering::Acquire) < snapshot.seq
            || self.held_history.ingested_seq.load(Ordering::Acquire) < snapshot.seq
        {
            if started.elapsed() > INDEXER_WAIT_MAX {
                tracing::error!(seq = snapshot.seq, "history or the transfer index was not ingested; snapshot skipped");
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if let Err(error) = self.wal.flush_events() {
            tracing::error!(%error, seq = snapshot.seq, "the event feed could not be flushed; snapshot skipped");
            return;
        }
        match self.wal.write_snapshot(&snapshot, self.partitions) {
            Ok(()) => {
                self.newest_snapshot_seq.fetch_max(snapshot.seq, Ordering::Relaxed);
                metrics::counter!("kassa_snapshots_total").increment(1);
                metrics::histogram!("kassa_snapshot_write_seconds").record(started.elapsed().as_secs_f64());
            }
            // Nothing is lost: the log was not trimmed. The writer reports a failing disk.
            Err(error) => tracing::error!(%error, seq = snapshot.seq, "writing a snapshot failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LAGGING_RECORDS, snapshot_due};

    #[test]
    fn a_lagging_partition_snapshots_once_per_lagging_records_not_after_every_record() {
        let every = (0, 100_000);
        // Its own commands reached the threshold: due.
        assert!(snapshot_due((100_000, 100_000), (10, 5), 0));
        // Another partition's snapshot is far ahead, and this one's is far behind its record: due.
        assert!(snapshot_due(every, (5_000, 1_000), 6_000));
        // Just snapshotted at 5,000 while the others are at 9,000: its next records, even far
        // apart, wait until 1,024 records have passed since (before, each was a whole snapshot).
        assert!(!snapshot_due(every, (5_001, 5_000), 9_000));
        assert!(!snapshot_due(every, (5_000 + LAGGING_RECORDS - 1, 5_000), 9_000));
        assert!(snapshot_due(every, (5_000 + LAGGING_RECORDS, 5_000), 9_000));
        // Not lagging: the others' newest snapshot is near its own.
        assert!(!snapshot_due(every, (9_000, 5_000), 5_000 + LAGGING_RECORDS));
    }
}
