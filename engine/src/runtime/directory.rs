//! The directory: which partition holds each hold, split, authorization, POS settlement and
//! bill, for the commands and reads that name only the object (`CaptureHold`, `VoidHold`, a
//! repeated `PlaceHold`, `GET /v1/holds/{id}`; `PaySplitShare`, `CancelSplit`, `RefundSplit`, a
//! repeated `RequestSplit`, `GET /v1/splits/{id}`; `RevokeAuthorization`, `ReversePos`,
//! `RefundPos`, a repeated `Authorize` or `SettlePos`; `AddBillItem`, `SubmitBill`,
//! `ConfirmBill`, `CancelBill`, `RefundBill`, a repeated `OpenBill`; their reads).
//!
//! A hold lives with its payer, a split with its requester, an authorization, a settlement and
//! a bill with their user (`partition.rs`), but a follow-up names only the object's id, and the router
//! must pick a partition before any state is read (`docs/placement.md`). So:
//! - an entry is made when a creation is routed (a follow-up pipelined right behind it finds
//!   it; a creation never queued, `Busy`, takes it back), and made again by the executor when
//!   the creation applied; a POS settlement placing a hold enters its hold too when it is
//!   routed (with the sale, on its user's partition, wherever its payer lives), unless a hold
//!   of its id has an entry: the sale is then refused `already_exists` where it applies
//!   (`TransitMessage::HoldElsewhere`);
//! - the executor keeps it while the creation waits for another partition's check, removes it
//!   when the creation was refused (at once, or when the check's answer came) and no object of
//!   that id exists there, and once the object left memory and that is durable: storage then
//!   says where it lives (the archived hold's payer or sale's user, the archived split's
//!   requester, the archived authorization's, settlement's or bill's user);
//! - on open it is rebuilt from every partition's objects in memory and creations waiting.
//!
//! An id with no entry and nothing in storage routes to the home partition, which answers
//! `hold_not_found`, `split_not_found` and so on. Cost: one map entry (~48 bytes) per object
//! in memory, bounded as those are (`resolved_in_memory_ms`).
//!
//! One race is left, documented rather than locked away: while a creation that will be refused
//! is queued, another creation of the same id is routed to the same partition; if that one's
//! payer (requester) lives elsewhere it is refused `cross_partition` (a retry routes afresh), and
//! a follow-up sent before it is answered may find nothing. A client racing itself on one id sees
//! a refusal, never a duplicate object.

use std::collections::HashMap;
use std::hash::BuildHasher;

use parking_lot::Mutex;

use crate::partition::{DirectoryKind, HOME_PARTITION, PartitionId, Placement};
use crate::state_machine::{Archived, ArchivedKind, StateMachine};
use crate::types::Id;
use crate::wal::{Wal, WalError};

/// Shards of the map, so that routers on many threads rarely wait for each other.
const SHARDS: usize = 16;

/// An object the directory places: its kind and id.
type Key = (DirectoryKind, Id);

/// Object (kind and id) → the partition that holds it (see the module's documentation).
pub(crate) struct Directory {
    shards: Vec<Mutex<HashMap<Key, PartitionId>>>,
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

    fn shard(&self, key: &Key) -> &Mutex<HashMap<Key, PartitionId>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// Enters every hold, split, authorization, settlement and bill `machine` (partition `partition`)
    /// keeps in memory (its payer, requester or user lives there, or it is a POS settlement's
    /// hold there), and every creation there waiting for another partition: the directory after
    /// a restart. (A POS settlement may have brought a resolved hold of its id back from
    /// storage: that one is not entered.)
    pub(crate) fn enter_all(&self, partition: PartitionId, machine: &StateMachine) {
        for (id, _) in machine.holds() {
            if machine.keeps_hold(id) {
                self.placed(DirectoryKind::Hold, id, partition);
            }
        }
        for id in machine.holds_placing() {
            self.placed(DirectoryKind::Hold, id, partition);
        }
        for id in machine.split_ids() {
            self.placed(DirectoryKind::Split, id, partition);
        }
        for (kind, id) in machine.pos_ids() {
            self.placed(kind, id, partition);
        }
        for id in machine.bill_ids() {
            self.placed(DirectoryKind::Bill, id, partition);
        }
    }

    /// The partition the entry of object `id` of `kind` names, if it has one.
    pub(crate) fn entry(&self, kind: DirectoryKind, id: &Id) -> Option<PartitionId> {
        let key = (kind, id.clone());
        self.shard(&key).lock().get(&key).copied()
    }

    /// Object `id` of `kind` lives on `partition`.
    pub(crate) fn placed(&self, kind: DirectoryKind, id: &Id, partition: PartitionId) {
        let key = (kind, id.clone());
        self.shard(&key).lock().insert(key, partition);
    }

    /// Object `id` of `kind` lives on `partition` unless it has an entry already; whether this
    /// entered it.
    pub(crate) fn place_if_absent(&self, kind: DirectoryKind, id: &Id, partition: PartitionId) -> bool {
        let key = (kind, id.clone());
        let mut shard = self.shard(&key).lock();
        if shard.contains_key(&key) {
            return false;
        }
        shard.insert(key, partition);
        true
    }

    /// A creation of `id` was refused on `partition` and no object of that id is there: forget
    /// the entry if it still points there.
    pub(crate) fn refused(&self, kind: DirectoryKind, id: &Id, partition: PartitionId) {
        let key = (kind, id.clone());
        let mut shard = self.shard(&key).lock();
        if shard.get(&key) == Some(&partition) {
            shard.remove(&key);
        }
    }

    /// Object `id` of `kind` left memory and storage has it: storage answers where it lives
    /// from now on.
    pub(crate) fn archived(&self, kind: DirectoryKind, id: &Id) {
        let key = (kind, id.clone());
        self.shard(&key).lock().remove(&key);
    }

    /// The partition of object `id` of `kind`: its entry, else where storage says it lives, else
    /// `new_on` (entered, for a creation: then `true`) or the home partition.
    pub(crate) fn find(
        &self,
        (placement, wal): (&Placement, &Wal),
        kind: DirectoryKind,
        id: &Id,
        new_on: Option<PartitionId>,
    ) -> Result<(PartitionId, bool), WalError> {
        let key = (kind, id.clone());
        if let Some(partition) = self.shard(&key).lock().get(&key) {
            return Ok((*partition, false));
        }
        // A follow-up of a hold that is neither entered nor stored: where a sale of its id is,
        // if one is (its terminal hears `hold_not_found` there, as on one partition).
        let sale_of_hold = kind == DirectoryKind::Hold && new_on.is_none();
        if let Some(partition) = stored_partition(placement, wal, (kind, id), sale_of_hold)? {
            return Ok((partition, false));
        }
        if sale_of_hold && let Some(partition) = self.entry(DirectoryKind::Settlement, id) {
            return Ok((partition, false));
        }
        let Some(partition) = new_on else { return Ok((HOME_PARTITION, false)) };
        let mut shard = self.shard(&key).lock();
        if let Some(existing) = shard.get(&key) {
            return Ok((*existing, false));
        }
        shard.insert(key, partition);
        Ok((partition, true))
    }

    /// How many objects have an entry.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().len()).sum()
    }
}

/// Where storage says object `id` of `kind` lives, if it left memory: a hold with its payer (a
/// POS settlement's with the settlement), a split with its requester, an authorization, a
/// settlement and a bill with their user. With `sale_of_hold`, a hold that storage does not have is where
/// a settlement of its id is.
fn stored_partition(
    placement: &Placement,
    wal: &Wal,
    (kind, id): (DirectoryKind, &Id),
    sale_of_hold: bool,
) -> Result<Option<PartitionId>, WalError> {
    // Objects placed with a user: the archived copy names it.
    let with_user = |kind: ArchivedKind| -> Result<Option<PartitionId>, WalError> {
        let stored = wal.archived(&[(kind, id.clone())])?.pop().flatten();
        Ok(stored.as_ref().and_then(placing_user).map(|user| placement.of_user(user)))
    };
    Ok(match kind {
        DirectoryKind::Split => with_user(ArchivedKind::Split)?,
        DirectoryKind::Authorization => with_user(ArchivedKind::Authorization)?,
        DirectoryKind::Bill => with_user(ArchivedKind::Bill)?,
        DirectoryKind::Settlement => with_user(ArchivedKind::Settlement)?,
        DirectoryKind::Hold => {
            let stored = wal.archived(&[(ArchivedKind::Hold, id.clone()), (ArchivedKind::Settlement, id.clone())])?;
            let held = |sale: &crate::state_machine::ArchivedSettlement| {
                sale.record.effect.as_ref().is_some_and(|effect| effect.held)
            };
            // A POS settlement's hold lives with it, on its user's partition.
            match &stored[..] {
                [Some(Archived::Hold(_)), Some(Archived::Settlement(sale))] if held(sale) => {
                    Some(placement.of_user(&sale.record.user))
                }
                [Some(Archived::Hold(hold)), _] => Some(placement.of_account(&hold.hold.from)),
                [None, Some(Archived::Settlement(sale))] if sale_of_hold => Some(placement.of_user(&sale.record.user)),
                _ => None,
            }
        }
    })
}

/// The user an archived split (its requester), authorization, settlement or bill is placed
/// with.
fn placing_user(archived: &Archived) -> Option<&Id> {
    match archived {
        Archived::Split(split) => Some(&split.split.requester),
        Archived::Authorization(authorization) => Some(&authorization.authorization.user),
        Archived::Settlement(sale) => Some(&sale.record.user),
        Archived::Bill(bill) => Some(&bill.bill.user),
        _ => None,
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
        let (directory, hold) = (Directory::new(), DirectoryKind::Hold);
        directory.placed(hold, &id("h1"), 2);
        directory.refused(hold, &id("h1"), 1);
        assert_eq!(directory.len(), 1, "another partition's entry stays");
        directory.refused(hold, &id("h1"), 2);
        assert_eq!(directory.len(), 0);
        directory.placed(hold, &id("h2"), 1);
        directory.archived(hold, &id("h2"));
        assert_eq!(directory.len(), 0);
    }

    #[test]
    fn a_hold_and_a_split_of_one_id_have_their_own_entries() {
        let directory = Directory::new();
        directory.placed(DirectoryKind::Hold, &id("x"), 1);
        directory.placed(DirectoryKind::Split, &id("x"), 2);
        assert_eq!(directory.entry(DirectoryKind::Hold, &id("x")), Some(1));
        assert_eq!(directory.entry(DirectoryKind::Split, &id("x")), Some(2));
        directory.refused(DirectoryKind::Split, &id("x"), 2);
        assert_eq!(directory.entry(DirectoryKind::Hold, &id("x")), Some(1), "the hold's entry stays");
        assert_eq!(directory.entry(DirectoryKind::Split, &id("x")), None);
    }
}
