//! History lines between the indexer and storage: the indexer holds each write's lines as a
//! sorted run; past a size (or when a snapshotter needs them, or when the engine is quiet) it
//! hands everything held to the `kassa-history` thread, which writes it as one table file and
//! has RocksDB ingest it. Writing a file of tens of megabytes takes a while on a small machine:
//! on the indexer's thread it stopped the indexer, whose queue then stopped the writer, and the
//! acknowledgements with it (pauses near a second).
//!
//! A line moves from `newest` to `ingesting` to storage, each time written to its new place
//! before it leaves the old one, and queries read in that order (under one lock for the two in
//! memory), so a query never misses a line; it may see one twice, and counts it once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::RwLock;

use crate::metadata::{Metadata, MetadataKind};
use crate::types::Id;
use crate::wal::{HeldLines, HistoryLine, LineId, LineRun, Wal, WalError};

/// Held lines past this many bytes are handed over for ingestion (about 600,000 lines).
pub(super) const HELD_BYTES_MAX: usize = 64 * 1024 * 1024;

/// While a file is being written and this much more is held, the indexer waits for it. With
/// the file's own lines (at most about as many), history holds about twice this in memory when
/// storage falls behind.
const HELD_BYTES_WAIT: usize = 4 * HELD_BYTES_MAX;

/// History lines not yet in table files.
#[derive(Debug, Default)]
pub(super) struct InMemory {
    /// Lines the indexer wrote since the last handover.
    newest: HeldLines,
    /// Lines handed over and not yet ingested (older than `newest`'s).
    ingesting: Option<HeldLines>,
}

impl InMemory {
    /// The lines of `account` these hold for a page ([`HeldLines::lines_of`]; up to
    /// `limit + 1` from each part, merged by the caller).
    pub(super) fn lines_of(
        &self,
        account: &Id,
        limit: usize,
        starting_after: Option<LineId>,
    ) -> Result<Vec<HistoryLine>, WalError> {
        let mut lines = self.newest.lines_of(account, limit, starting_after)?;
        if let Some(ingesting) = &self.ingesting {
            lines.extend(ingesting.lines_of(account, limit, starting_after)?);
        }
        Ok(lines)
    }

    /// The newest metadata of object `id` of `kind` held.
    pub(super) fn metadata(&self, kind: MetadataKind, id: &Id) -> Result<Option<Metadata>, WalError> {
        if let Some(metadata) = self.newest.metadata(kind, id)? {
            return Ok(Some(metadata));
        }
        match &self.ingesting {
            Some(ingesting) => ingesting.metadata(kind, id),
            None => Ok(None),
        }
    }
}

/// What the indexer, the history thread, the snapshotters and queries share.
#[derive(Debug, Default)]
pub(super) struct HeldHistory {
    /// The lines in memory.
    pub(super) lines: RwLock<InMemory>,
    /// Every record through this one has its history lines in table files.
    pub(super) ingested_seq: AtomicU64,
    /// A handover is being written.
    in_flight: AtomicBool,
}

impl HeldHistory {
    /// Adds the sorted run of one indexer write.
    pub(super) fn push(&self, run: LineRun) {
        self.lines.write().newest.push(run);
    }

    /// Bytes held that were not handed over yet.
    pub(super) fn newest_bytes(&self) -> usize {
        self.lines.read().newest.bytes()
    }

    /// Bytes held, handed over or not.
    pub(super) fn held_bytes(&self) -> usize {
        let memory = self.lines.read();
        memory.newest.bytes() + memory.ingesting.as_ref().map_or(0, HeldLines::bytes)
    }

    /// Whether a handover is being written.
    pub(super) fn in_flight(&self) -> bool {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Hands everything held through record `through` to the history thread (with what a
    /// failed handover left), unless one is in flight; whether it did.
    pub(super) fn hand_over(&self, through: u64, to: &Sender<Handover>) -> bool {
        if self.in_flight() {
            return false;
        }
        let lines = {
            let mut memory = self.lines.write();
            let mut lines = memory.ingesting.take().unwrap_or_default();
            lines.append(std::mem::take(&mut memory.newest));
            memory.ingesting = Some(lines.clone());
            lines
        };
        self.in_flight.store(true, Ordering::Release);
        if to.send(Handover { lines, through }).is_err() {
            self.in_flight.store(false, Ordering::Release);
            return false;
        }
        true
    }

    /// Waits while a handover is being written and the indexer holds `HELD_BYTES_WAIT` more.
    pub(super) fn wait_if_far_behind(&self) {
        while self.in_flight() && self.newest_bytes() >= HELD_BYTES_WAIT {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits until no handover is being written.
    pub(super) fn wait_for_handover(&self) {
        while self.in_flight() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Lines to write as one table file, and the last record they cover.
pub(super) struct Handover {
    lines: HeldLines,
    through: u64,
}

/// The `kassa-history` thread: writes each handover as a table file that RocksDB ingests.
pub(super) fn ingest_handovers(wal: Wal, inbox: Receiver<Handover>, held: Arc<HeldHistory>) {
    for Handover { lines, through } in inbox {
        match wal.ingest_history(&lines, through) {
            Ok(()) => {
                held.lines.write().ingesting = None;
                held.ingested_seq.fetch_max(through, Ordering::AcqRel);
            }
            // The lines stay in memory and go with the next handover; recovery rebuilds them.
            Err(error) => tracing::error!(%error, "ingesting history lines failed"),
        }
        held.in_flight.store(false, Ordering::Release);
    }
}
