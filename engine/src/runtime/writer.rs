//! The writer: encodes committed batches as WAL records, coalesces whatever is waiting into one
//! synced RocksDB write (group commit), and only then answers the callers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Receiver;
use tokio::sync::oneshot;

use crossbeam_channel::Sender;

use super::OutcomeSink;
use super::indexer::IndexerMessage;
use super::snapshotter::DurableRecord;
use crate::command::{Event, Outcome, Submission};
use crate::types::TimestampMs;
use crate::wal::{EncodedRecord, Wal, encode_record};

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

/// A committed batch (`seq`, `now`, commands, events), or only answers when it committed nothing.
pub(super) struct DurableBatch {
    pub(super) record: Option<(u64, TimestampMs, Vec<Submission>, Vec<Event>)>,
    pub(super) ready: Vec<Ready>,
}

pub(super) enum WriterMessage {
    Batch(DurableBatch),
    Shutdown,
}

pub(super) struct Writer {
    wal: Wal,
    inbox: Receiver<WriterMessage>,
    failed: Arc<AtomicBool>,
    indexer: Sender<IndexerMessage>,
    /// The last sequence number known durable.
    durable_seq: Arc<std::sync::atomic::AtomicU64>,
    /// Durable records, for the snapshotter's replica.
    snapshotter: Sender<DurableRecord>,
}

impl Writer {
    pub(super) fn new(
        wal: Wal,
        inbox: Receiver<WriterMessage>,
        failed: Arc<AtomicBool>,
        indexer: Sender<IndexerMessage>,
        durable_seq: Arc<std::sync::atomic::AtomicU64>,
        snapshotter: Sender<DurableRecord>,
    ) -> Writer {
        Writer { wal, inbox, failed, indexer, durable_seq, snapshotter }
    }

    pub(super) fn run(self) {
        while let Ok(first) = self.inbox.recv() {
            let mut batches = Vec::new();
            let mut shutdown = false;
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    WriterMessage::Batch(batch) => batches.push(batch),
                    WriterMessage::Shutdown => {
                        shutdown = true;
                        break;
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

    /// Makes `batches` durable then answers them and passes them on to the indexer and the
    /// snapshotter. Returns false on a storage failure (nobody is answered).
    fn write(&self, batches: Vec<DurableBatch>) -> bool {
        let records: Vec<EncodedRecord> = batches
            .iter()
            .filter_map(|batch| batch.record.as_ref())
            .map(|(seq, now_ms, commands, _)| EncodedRecord {
                seq: *seq,
                value: encode_record(*seq, *now_ms, commands),
            })
            .collect();
        if !records.is_empty() {
            match self.wal.append(&records) {
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
        }
        if let Some(last) = records.last() {
            self.durable_seq.store(last.seq, Ordering::Release);
        }
        for batch in batches {
            for ready in batch.ready {
                ready.deliver();
            }
            if let Some((seq, now_ms, commands, events)) = batch.record {
                // Bounded: a slow indexer slows the writer down rather than growing memory.
                let _ = self.indexer.send(IndexerMessage::Batch { seq, now_ms, events });
                let _ = self.snapshotter.send(DurableRecord { seq, now_ms, commands });
            }
        }
        true
    }
}
