//! Objects brought back from storage (`state_machine/archive.rs`): before a batch commits, the
//! executor looks for every settlement, authorization, hold, bill, split, coupon and redemption the batch names that
//! its machine does not hold, and puts each one found in the batch as a [`TransitMessage::Restored`], logged
//! with it, so the machine decides as if the object had never left memory, and replay alike.
//!
//! An object leaves memory in a batch and reaches storage when the writer makes that batch
//! durable (same `WriteBatch` as its record), while the executor already commits the next
//! ones. So the executor keeps what its own batches archived until the writer reports them
//! durable, and looks there first: no command ever misses an object that left memory a moment
//! before.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::directory::Directory;
use crate::command::Submission;
use crate::partition::{DirectoryKind, TransitMessage};
use crate::state_machine::{Archived, ArchivedKind, StateMachine};
use crate::types::Id;
use crate::wal::Wal;

/// What one batch not yet durable took out of memory: its objects (shared with the writer, which
/// stores them; none until the batch has committed, when they are still the machine's), and
/// where each key of theirs is among them.
struct InFlight {
    number: u64,
    objects: Option<Arc<Vec<Archived>>>,
    index: HashMap<(ArchivedKind, Id), usize>,
}

/// The executor's side of the archive.
pub(super) struct Restorer {
    wal: Wal,
    /// Number of the last batch of this partition the writer made durable.
    durable: Arc<AtomicU64>,
    /// The batches of this partition that archived something and that the writer has not made
    /// durable yet, oldest first (an object archived again after a restore: the newest wins).
    in_flight: VecDeque<InFlight>,
    /// Whether storage may hold anything (false until something is archived: no lookups).
    used: bool,
    /// Where each hold lives, with several partitions: a hold's entry goes once storage has it.
    directory: Option<Arc<Directory>>,
}

impl Restorer {
    pub(super) fn new(wal: Wal, durable: Arc<AtomicU64>, directory: Option<Arc<Directory>>) -> Restorer {
        let used = wal.has_archived().unwrap_or(true);
        Restorer { wal, durable, in_flight: VecDeque::new(), used, directory }
    }

    /// Appends to `messages` a `Restored` for each object `batch` names that `machine` does not
    /// hold and that left memory (in this batch's start or another not yet durable, or before),
    /// and for what each brings along (a POS settlement's hold, a hold's settlement).
    pub(super) fn restore(&mut self, machine: &StateMachine, batch: &[Submission], messages: &mut Vec<TransitMessage>) {
        let mut wanted = machine.objects_to_restore(batch);
        wanted.extend(machine.coupons_to_restore(messages));
        if wanted.is_empty() {
            return;
        }
        self.forget_durable();
        let mut found = self.find(machine, wanted);
        let companions: Vec<(ArchivedKind, Id)> = found
            .iter()
            .filter_map(Archived::companion)
            .filter(|(kind, id)| {
                !machine.holds_object(*kind, id)
                    && !found.iter().any(|object| object.kind() == *kind && object.id() == id)
            })
            .collect();
        if !companions.is_empty() {
            found.extend(self.find(machine, companions));
        }
        metrics::counter!("kassa_objects_restored_total").increment(found.len() as u64);
        // First: a message of the batch may name one (a coupon asked by another partition).
        let restored = found.into_iter().map(|object| TransitMessage::Restored(Box::new(object)));
        messages.splice(0..0, restored);
    }

    /// The objects of `wanted` that left memory: from the batches not yet durable (this one,
    /// whose objects `machine` still holds, included), then storage (one batched read).
    fn find(&self, machine: &StateMachine, wanted: Vec<(ArchivedKind, Id)>) -> Vec<Archived> {
        let mut found = Vec::new();
        let mut from_storage = Vec::new();
        for key in wanted {
            let newest = self.in_flight.iter().rev().find_map(|batch| Some((batch, *batch.index.get(&key)?)));
            match newest {
                Some((batch, at)) => {
                    let objects = batch.objects.as_deref().map_or(machine.archived_in_batch(), Vec::as_slice);
                    found.push(objects[at].clone());
                }
                None => from_storage.push(key),
            }
        }
        if !from_storage.is_empty() && self.used {
            match self.wal.archived(&from_storage) {
                Ok(stored) => found.extend(stored.into_iter().flatten()),
                // The commands apply as if storage held nothing; a storage that fails reads
                // fails the batch's write too.
                Err(error) => tracing::warn!(%error, "reading archived objects failed"),
            }
        }
        // A coupon may be asked for by its id and by its code: bring it back once.
        let mut seen = std::collections::HashSet::new();
        found.retain(|object| seen.insert((object.kind(), object.id().clone())));
        found
    }

    /// Notes what batch `number` takes out of memory as it starts (all it ever does; the
    /// machine holds the objects until the batch commits, [`Restorer::committed`]), kept until
    /// the writer reports the batch durable. Call it before [`Restorer::restore`].
    pub(super) fn archived(&mut self, number: u64, archived: &[Archived]) {
        self.forget_durable();
        if archived.is_empty() {
            return;
        }
        self.used = true;
        let mut index = HashMap::with_capacity(archived.len() * 2);
        for (at, object) in archived.iter().enumerate() {
            for key in object.keys() {
                index.insert(key, at);
            }
        }
        self.in_flight.push_back(InFlight { number, objects: None, index });
        metrics::counter!("kassa_objects_archived_total").increment(archived.len() as u64);
    }

    /// Takes over the objects batch `number` archived, as it hands them to the writer (in the
    /// order [`Restorer::archived`] saw them).
    pub(super) fn committed(&mut self, number: u64, objects: &Arc<Vec<Archived>>) {
        if let Some(batch) = self.in_flight.back_mut()
            && batch.number == number
        {
            debug_assert!(batch.index.values().all(|at| *at < objects.len()));
            batch.objects = Some(objects.clone());
        }
    }

    /// Drops what the writer made durable (storage answers for it now).
    fn forget_durable(&mut self) {
        let durable = self.durable.load(Ordering::Acquire);
        while self.in_flight.front().is_some_and(|batch| batch.number <= durable) {
            let batch = self.in_flight.pop_front().expect("checked above");
            if let Some(directory) = &self.directory {
                for (kind, id) in batch.index.keys() {
                    match kind {
                        ArchivedKind::Hold => directory.archived(DirectoryKind::Hold, id),
                        ArchivedKind::Split => directory.archived(DirectoryKind::Split, id),
                        ArchivedKind::Bill => directory.archived(DirectoryKind::Bill, id),
                        ArchivedKind::Authorization => directory.archived(DirectoryKind::Authorization, id),
                        ArchivedKind::Settlement => directory.archived(DirectoryKind::Settlement, id),
                        _ => {}
                    }
                }
            }
        }
    }
}
