//! The writer: numbers the batches every partition committed, encodes them as WAL records,
//! coalesces whatever is waiting into one synced RocksDB write (group commit: the fsyncs do not
//! grow with partitions), and only then hands the group's answers to the answerer thread (one
//! message per group). Batches are written in the order they arrive: the executors send
//! their messages to other partitions once a batch is queued here, not once it is durable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::Receiver;
use tokio::sync::oneshot;

use crossbeam_channel::Sender;

use super::OutcomeSink;
use super::indexer::IndexerMessage;
use super::replica::{Replica, ReplicaRecord};
use super::snapshotter::DurableRecord;
use crate::command::{Event, Outcome, Submission};
use crate::partition::{Outgoing, PartitionId, TransitMessage};
use crate::state_machine::Archived;
use crate::types::TimestampMs;
use crate::wal::{EncodedRecord, RecordBody, Wal, encode_record};

/// Most committed batches coalesced into one synced write.
const COALESCE_BATCHES_MAX: usize = 64;

/// An answer to deliver once its batch is durable.
pub(super) enum Ready {
    One(OutcomeSink, Outcome),
    Many(oneshot::Sender<Vec<Outcome>>, Vec<Outcome>),
    Deliver(Box<dyn FnOnce() + Send>),
}

impl Ready {
    fn deliver(self) {
        // A caller that gave up waiting is not an error.
        match self {
            Ready::One(sink, outcome) => sink.deliver(outcome),
            Ready::Many(reply, outcomes) => drop(reply.send(outcomes)),
            Ready::Deliver(deliver) => deliver(),
        }
    }
}

/// What a partition committed in one batch.
pub(super) struct Committed {
    pub(super) partition: PartitionId,
    pub(super) now_ms: TimestampMs,
    pub(super) messages: Vec<TransitMessage>,
    pub(super) commands: Vec<Submission>,
    pub(super) events: Vec<Event>,
    /// The partition's count of batches, this one included.
    pub(super) number: u64,
    /// The objects the batch took out of memory: written to storage with its record (shared
    /// with the executor's `Restorer` until then).
    pub(super) archived: Arc<Vec<Archived>>,
    /// The partition's count of records through this one (`StateMachine::position`).
    pub(super) position: u64,
    /// Whether it is a followed partition's record, logged by its owner elsewhere: the replica
    /// does not get it (`following.rs`).
    pub(super) followed: bool,
}

/// A committed batch, or only answers when it committed nothing.
pub(super) struct DurableBatch {
    pub(super) record: Option<Committed>,
    pub(super) ready: Vec<Ready>,
    /// Its messages to other partitions, when they leave once it is durable (with a log
    /// replica; otherwise the executor sent them when it queued the batch).
    pub(super) outgoing: Vec<Outgoing>,
}

pub(super) enum WriterMessage {
    Batch(DurableBatch),
    Shutdown,
}

pub(super) struct Writer {
    pub(super) wal: Wal,
    pub(super) inbox: Receiver<WriterMessage>,
    pub(super) failed: Arc<AtomicBool>,
    pub(super) indexer: Sender<IndexerMessage>,
    /// The last sequence number known durable (the next record is numbered after it).
    pub(super) durable_seq: Arc<std::sync::atomic::AtomicU64>,
    /// Durable records, for each partition's snapshotter replica.
    pub(super) snapshotters: Vec<Sender<DurableRecord>>,
    /// Executors still running (each sends `Shutdown` once).
    pub(super) executors: usize,
    /// Each partition's last durable batch (its `Committed::number`), for its restorer.
    pub(super) durable_batches: Vec<Arc<AtomicU64>>,
    /// The answers of each durable group, in one message, to the answerer thread.
    pub(super) answers: Sender<Vec<Ready>>,
    /// A second durable copy of the log each group waits for (cluster mode).
    pub(super) replica: Option<Replica>,
    /// Every partition's inbox of messages, for the messages that leave once durable.
    pub(super) transit_out: Vec<Sender<TransitMessage>>,
}

/// The answerer: wakes the callers of each durable group (oneshot replies, `submit_with`
/// callbacks such as the TCP server's), so the writer hands a group over with one message and
/// starts the next synced write at once instead of waking callers one by one.
pub(super) fn answer(groups: Receiver<Vec<Ready>>) {
    for group in groups {
        for ready in group {
            ready.deliver();
        }
    }
}

impl Writer {
    /// Copies the group's records of owned partitions to the replica, if there is one, and
    /// waits for it (a group of followed records alone confirms its reads instead).
    fn replicate(&self, batches: &[DurableBatch], records: &[EncodedRecord]) -> Result<(), String> {
        let Some(Replica(replica)) = &self.replica else { return Ok(()) };
        let committed = batches.iter().filter_map(|batch| batch.record.as_ref());
        let copies: Vec<ReplicaRecord<'_>> = committed
            .zip(records)
            .filter(|(committed, _)| !committed.followed)
            .map(|(committed, record)| ReplicaRecord {
                partition: committed.partition,
                seq: record.seq,
                position: committed.position,
                bytes: &record.value,
            })
            .collect();
        if copies.is_empty() {
            return if self.confirm_reads(batches) { Ok(()) } else { Err("the log is no longer this engine's".into()) };
        }
        replica.replicate(&copies)
    }

    /// With a replica, a group of reads alone is answered only once the log is shown to be
    /// still this engine's ([`super::replica::LogReplica::confirm`]). False: it is not, and
    /// the engine stops.
    fn confirm_reads(&self, batches: &[DurableBatch]) -> bool {
        let Some(Replica(replica)) = &self.replica else { return true };
        if batches.iter().all(|batch| batch.ready.is_empty()) {
            return true;
        }
        let Err(error) = replica.confirm() else { return true };
        tracing::error!(%error, "the log is no longer this engine's: it answers nothing more");
        self.failed.store(true, Ordering::Relaxed);
        false
    }

    pub(super) fn run(mut self) {
        while let Ok(first) = self.inbox.recv() {
            let mut batches = Vec::new();
            let mut shutdown = false;
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    WriterMessage::Batch(batch) => batches.push(batch),
                    WriterMessage::Shutdown => {
                        self.executors -= 1;
                        shutdown = self.executors == 0;
                        if shutdown {
                            break;
                        }
                    }
                }
                if batches.len() >= COALESCE_BATCHES_MAX {
                    break;
                }
                next = self.inbox.try_recv().ok();
            }
            if !self.write(batches) {
                self.failed.store(true, Ordering::Relaxed);
                tracing::error!("kassa engine stopped: the write-ahead log cannot be written");
                return; // Dropping the inbox stops the executor; waiting callers get StorageFailed.
            }
            if shutdown {
                return;
            }
        }
    }

    /// Makes `batches` durable then answers them, sends their messages on and passes them to
    /// the indexer and the snapshotters. Returns false on a storage failure (nobody is answered).
    fn write(&self, mut batches: Vec<DurableBatch>) -> bool {
        let first_seq = self.durable_seq.load(Ordering::Relaxed) + 1;
        let records: Vec<EncodedRecord> = batches
            .iter()
            .filter_map(|batch| batch.record.as_ref())
            .zip(first_seq..)
            .map(|(committed, seq)| {
                let Committed { now_ms, partition, position, ref messages, ref commands, .. } = *committed;
                let body = RecordBody { now_ms, partition, position, messages, commands };
                EncodedRecord { seq, value: encode_record(seq, &body) }
            })
            .collect();
        if !records.is_empty() {
            let archived = batches
                .iter()
                .filter_map(|batch| batch.record.as_ref())
                .flat_map(|committed| committed.archived.iter());
            match self.wal.append_with_archived(&records, archived) {
                Ok(sync_time) => {
                    metrics::histogram!("kassa_fsync_seconds").record(sync_time.as_secs_f64());
                    metrics::histogram!("kassa_records_per_fsync").record(records.len() as f64);
                }
                Err(error) => {
                    tracing::error!(%error, "appending to the write-ahead log failed");
                    // Before the batches are dropped: their `submit_with` callbacks then report
                    // StorageFailed (may or may not be durable), not ShuttingDown.
                    self.failed.store(true, Ordering::Relaxed);
                    return false;
                }
            }
            if let Err(error) = self.replicate(&batches, &records) {
                tracing::error!(%error, "copying the write-ahead log to its replica failed");
                self.failed.store(true, Ordering::Relaxed);
                return false;
            }
        } else if !self.confirm_reads(&batches) {
            return false;
        }
        // Durable everywhere: the messages leave before any answer of their batches is given
        // (a command sent after an answer finds what the batch sent on).
        for Outgoing { destination, message } in
            batches.iter_mut().flat_map(|batch| std::mem::take(&mut batch.outgoing))
        {
            let _ = self.transit_out[usize::from(destination)].send(message);
        }
        if let Some(last) = records.last() {
            self.durable_seq.store(last.seq, Ordering::Release);
        }
        let group: Vec<Ready> = batches.iter_mut().flat_map(|batch| std::mem::take(&mut batch.ready)).collect();
        if !group.is_empty() {
            // Bounded: an answerer that falls behind slows the writer down.
            let _ = self.answers.send(group);
        }
        let mut seq = first_seq;
        for batch in batches {
            if let Some(committed) = batch.record {
                let Committed { partition, now_ms, messages, commands, events, number, .. } = committed;
                self.durable_batches[usize::from(partition)].store(number, Ordering::Release);
                // Bounded: a slow indexer slows the writer down rather than growing memory.
                let _ = self.indexer.send(IndexerMessage::Batch { seq, partition, now_ms, events });
                let record = DurableRecord { seq, now_ms, messages, commands };
                let _ = self.snapshotters[usize::from(partition)].send(record);
                seq += 1;
            }
        }
        true
    }
}
