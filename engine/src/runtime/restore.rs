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

use crate::command::Submission;
use crate::partition::TransitMessage;
use crate::state_machine::{Archived, ArchivedKind, StateMachine};
use crate::types::Id;
use crate::wal::Wal;

/// The executor's side of the archive.
pub(super) struct Restorer {
    wal: Wal,
    /// Number of the last batch of this partition the writer made durable.
    durable: Arc<AtomicU64>,
    /// The objects of this partition's batches the writer has not made durable yet, by
    /// (kind, id), with the number of the batch that archived them (the newest wins).
    in_flight: HashMap<(ArchivedKind, Id), (u64, Archived)>,
    /// Those batches, oldest first, with what each archived.
    batches: VecDeque<(u64, Vec<(ArchivedKind, Id)>)>,
    /// Whether storage may hold anything (false until something is archived: no lookups).
    used: bool,
}

impl Restorer {
    pub(super) fn new(wal: Wal, durable: Arc<AtomicU64>) -> Restorer {
        let used = wal.has_archived().unwrap_or(true);
        Restorer { wal, durable, in_flight: HashMap::new(), batches: VecDeque::new(), used }
    }

    /// Appends to `messages` a `Restored` for each object `batch` names that `machine` does not
    /// hold and that left memory (in this batch's start or another not yet durable, or before),
    /// and for what each brings along (a POS settlement's hold, a hold's settlement).
    pub(super) fn restore(&mut self, machine: &StateMachine, batch: &[Submission], messages: &mut Vec<TransitMessage>) {
        let wanted = machine.objects_to_restore(batch);
        if wanted.is_empty() {
            return;
        }
        self.forget_durable();
        let mut found = self.find(wanted);
        let companions: Vec<(ArchivedKind, Id)> = found
            .iter()
            .filter_map(Archived::companion)
            .filter(|(kind, id)| {
                !machine.holds_object(*kind, id)
                    && !found.iter().any(|object| object.kind() == *kind && object.id() == id)
            })
            .collect();
        if !companions.is_empty() {
            found.extend(self.find(companions));
        }
        metrics::counter!("kassa_objects_restored_total").increment(found.len() as u64);
        messages.extend(found.into_iter().map(|object| TransitMessage::Restored(Box::new(object))));
    }

    /// The objects of `wanted` that left memory: from the batches not yet durable (this one
    /// included), then storage (one batched read).
    fn find(&self, wanted: Vec<(ArchivedKind, Id)>) -> Vec<Archived> {
        let mut found = Vec::new();
        let mut from_storage = Vec::new();
        for (kind, id) in wanted {
            match self.in_flight.get(&(kind, id.clone())) {
                Some((_, object)) => found.push(object.clone()),
                None => from_storage.push((kind, id)),
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

    /// Notes what batch `number` takes out of memory as it starts (all it ever does), kept
    /// until the writer reports the batch durable. Call it before [`Restorer::restore`].
    pub(super) fn archived(&mut self, number: u64, archived: &[Archived]) {
        self.forget_durable();
        if archived.is_empty() {
            return;
        }
        self.used = true;
        let mut keys = Vec::with_capacity(archived.len());
        for object in archived {
            for key in object.keys() {
                keys.push(key.clone());
                self.in_flight.insert(key, (number, object.clone()));
            }
        }
        self.batches.push_back((number, keys));
        metrics::counter!("kassa_objects_archived_total").increment(archived.len() as u64);
    }

    /// Drops what the writer made durable (storage answers for it now).
    fn forget_durable(&mut self) {
        let durable = self.durable.load(Ordering::Acquire);
        while let Some((number, _)) = self.batches.front()
            && *number <= durable
        {
            let (number, keys) = self.batches.pop_front().expect("looked at above");
            for key in keys {
                // A newer batch may have archived it again (after a restore): keep that one.
                if self.in_flight.get(&key).is_some_and(|(archived_by, _)| *archived_by == number) {
                    self.in_flight.remove(&key);
                }
            }
        }
    }
}
