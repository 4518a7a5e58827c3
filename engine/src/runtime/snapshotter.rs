//! The snapshotter: writes the snapshots the executor encodes, off the acknowledgement path.
//!
//! A snapshot after record `s` deletes the records `<= s`, so their history lines must be on
//! disk first (history is written without RocksDB's log). The snapshotter waits for the indexer
//! to pass `s`, flushes the history column family, then writes the snapshot and trims the log in
//! one RocksDB write. Meanwhile the writer keeps appending records after `s`: a snapshot never
//! stalls acknowledgements (it used to, for the seconds a flush of large memtables takes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::wal::{EncodedSnapshot, Wal};

/// Longest wait for the indexer to reach a snapshot's record; past it the snapshot is skipped
/// (the indexer failed; the next open rebuilds history from the log, which was not trimmed).
const INDEXER_WAIT_MAX: Duration = Duration::from_secs(60);

pub(super) struct Snapshotter {
    pub(super) wal: Wal,
    pub(super) inbox: Receiver<EncodedSnapshot>,
    pub(super) indexed_seq: Arc<AtomicU64>,
}

impl Snapshotter {
    pub(super) fn run(self) {
        while let Ok(snapshot) = self.inbox.recv() {
            let started = Instant::now();
            while self.indexed_seq.load(Ordering::Acquire) < snapshot.seq {
                if started.elapsed() > INDEXER_WAIT_MAX {
                    tracing::error!(seq = snapshot.seq, "history indexer is stuck; snapshot skipped");
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            if self.indexed_seq.load(Ordering::Acquire) < snapshot.seq {
                continue;
            }
            if let Err(error) = self.wal.flush_history() {
                tracing::error!(%error, seq = snapshot.seq, "history could not be flushed; snapshot skipped");
                continue;
            }
            match self.wal.write_snapshot(&snapshot) {
                Ok(()) => {
                    metrics::counter!("kassa_snapshots_total").increment(1);
                    metrics::histogram!("kassa_snapshot_write_seconds").record(started.elapsed().as_secs_f64());
                }
                // Nothing is lost: the log was not trimmed. The writer reports a failing disk.
                Err(error) => tracing::error!(%error, seq = snapshot.seq, "writing a snapshot failed"),
            }
        }
    }
}
