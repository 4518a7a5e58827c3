//! The directory: which partition holds each hold, for the commands and reads that name only
//! the hold (`CaptureHold`, `VoidHold`, a repeated `PlaceHold`, `GET /v1/holds/{id}`).
//!
//! A hold lives with its payer (`partition.rs`), but a follow-up names only the hold's id, and
//! the router must pick a partition before any state is read (`docs/placement.md`). So:
//! - an entry is made when a placement is routed (a capture pipelined right behind it finds
//!   it; a placement never queued, `Busy`, takes it back), and made again by the executor when
//!   the placement applied; a POS settlement's hold (home partition, wherever its payer lives)
//!   is entered when it applied, or was sent to hold its payer's funds elsewhere, and one
//!   that would take the id of a hold entered elsewhere is refused `already_exists`
//!   (`TransitMessage::HoldElsewhere`);
//! - the executor keeps it while the placement waits for its payee's check on another
//!   partition, removes it when the placement was refused (at once, or when the check's answer
//!   came) and no hold of that id exists there, and once the hold left memory and that is
//!   durable: storage then says where it lives (the archived hold's payer);
//! - on open it is rebuilt from every partition's holds in memory.
//!
//! An id with no entry and nothing in storage routes to the home partition, which answers
//! `hold_not_found`; so do the ISO 8583 listener's ids (its pre-authorization holds live with
//! their POS settlements, on the home partition). Cost: one map entry (~48 bytes) per hold in
//! memory, bounded as the holds in memory are (`resolved_in_memory_ms`).
//!
//! One race is left, documented rather than locked away: while a placement that will be refused
//! is queued, another placement of the same id is routed to the same partition; if that one's
//! payer lives elsewhere it is refused `cross_partition` (a retry routes afresh), and a
//! capture sent before it is answered may find nothing. A client racing itself on one id sees
//! a refusal, never a duplicate hold.

use std::collections::HashMap;
use std::hash::BuildHasher;

use parking_lot::Mutex;

use crate::constants::ISO_SETTLEMENT_ID_PREFIX;
use crate::partition::{HOME_PARTITION, PartitionId, Placement};
use crate::state_machine::{Archived, ArchivedKind, StateMachine};
use crate::types::Id;
use crate::wal::{Wal, WalError};

/// Shards of the map, so that routers on many threads rarely wait for each other.
const SHARDS: usize = 16;

/// Hold id → the partition that holds it (see the module's documentation).
pub(crate) struct Directory {
    shards: Vec<Mutex<HashMap<Id, PartitionId>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Directory {
    /// An empty directory.
    pub(crate) fn new() -> Directory {
        Directory {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn shard(&self, id: &Id) -> &Mutex<HashMap<Id, PartitionId>> {
        &self.shards[(self.hasher.hash_one(id) as usize) % SHARDS]
    }

    /// Enters every hold `machine` (partition `partition`) keeps in memory (its payer lives
    /// there, or it is a POS settlement's there), and every placement there waiting for another
    /// partition: the directory after a restart. (A POS settlement on the home partition may
    /// have brought a resolved hold of its id back from storage: that one is not entered.)
    pub(crate) fn enter_all(&self, partition: PartitionId, machine: &StateMachine) {
        for (id, _) in machine.holds() {
            if machine.keeps_hold(id) {
                self.placed(id, partition);
            }
        }
        for id in machine.holds_placing() {
            self.placed(id, partition);
        }
    }

    /// The partition hold `id`'s entry names, if it has one.
    pub(crate) fn entry(&self, id: &Id) -> Option<PartitionId> {
        self.shard(id).lock().get(id).copied()
    }

    /// Hold `id` lives on `partition`.
    pub(crate) fn placed(&self, id: &Id, partition: PartitionId) {
        self.shard(id).lock().insert(id.clone(), partition);
    }

    /// A placement of `id` was refused on `partition` and no hold of that id is there: forget
    /// the entry if it still points there.
    pub(crate) fn refused(&self, id: &Id, partition: PartitionId) {
        let mut shard = self.shard(id).lock();
        if shard.get(id) == Some(&partition) {
            shard.remove(id);
        }
    }

    /// Hold `id` left memory and storage has it: storage answers where it lives from now on.
    pub(crate) fn archived(&self, id: &Id) {
        self.shard(id).lock().remove(id);
    }

    /// The partition of hold `id`: its entry, else where storage says it lives, else `new_on`
    /// (entered, for a placement: then `true`) or the home partition.
    pub(crate) fn find(
        &self,
        placement: &Placement,
        wal: &Wal,
        id: &Id,
        new_on: Option<PartitionId>,
    ) -> Result<(PartitionId, bool), WalError> {
        if id.as_str().starts_with(ISO_SETTLEMENT_ID_PREFIX) {
            return Ok((HOME_PARTITION, false));
        }
        if let Some(partition) = self.shard(id).lock().get(id) {
            return Ok((*partition, false));
        }
        let stored = wal.archived(&[(ArchivedKind::Hold, id.clone()), (ArchivedKind::Settlement, id.clone())])?;
        if let [Some(Archived::Hold(hold)), settlement] = &stored[..] {
            // A POS settlement's hold lives with it on the home partition, wherever its payer is.
            let of_settlement = matches!(settlement, Some(Archived::Settlement(sale))
                if sale.record.effect.as_ref().is_some_and(|effect| effect.held));
            let partition = if of_settlement { HOME_PARTITION } else { placement.of_account(&hold.hold.from) };
            return Ok((partition, false));
        }
        let Some(partition) = new_on else { return Ok((HOME_PARTITION, false)) };
        let mut shard = self.shard(id).lock();
        if let Some(existing) = shard.get(id) {
            return Ok((*existing, false));
        }
        shard.insert(id.clone(), partition);
        Ok((partition, true))
    }

    /// How many holds have an entry.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Id {
        Id::new(text).expect("a valid id")
    }

    #[test]
    fn refusal_forgets_only_an_entry_that_points_at_the_refusing_partition() {
        let directory = Directory::new();
        directory.placed(&id("h1"), 2);
        directory.refused(&id("h1"), 1);
        assert_eq!(directory.len(), 1, "another partition's entry stays");
        directory.refused(&id("h1"), 2);
        assert_eq!(directory.len(), 0);
        directory.placed(&id("h2"), 1);
        directory.archived(&id("h2"));
        assert_eq!(directory.len(), 0);
    }
}
