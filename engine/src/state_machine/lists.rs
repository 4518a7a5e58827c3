//! The indexes behind the paged lists of holds, authorizations, bills and splits (by the tenant
//! that created them), of POS settlements (by merchant) and of splits (by member). They are derived from what the state
//! stores (owner records, settlements and terminals), kept up to date by the commands that add
//! to them, and rebuilt by `StateMachine::from_state` (from a decoded snapshot) instead of being
//! stored in it.

use std::collections::BTreeSet;

use super::pos::{SettlementRecord, Terminal};
use super::split_map::SplitMap;
use super::{Map, Split, SplitState, State, StateMachine, queries::page_of};
use crate::command::{ObjectKind, Principal};
use crate::types::Id;

/// The kinds listed by the tenant that created them (accounts have their own list).
pub(super) const LISTED: [ObjectKind; 4] =
    [ObjectKind::Hold, ObjectKind::Authorization, ObjectKind::Bill, ObjectKind::Split];

type OwnedObjects = Map<(Principal, ObjectKind), BTreeSet<Id>>;

fn owned_objects(owners: &Map<(ObjectKind, Id), Principal>) -> OwnedObjects {
    let mut owned = OwnedObjects::default();
    for ((kind, id), owner) in owners {
        if LISTED.contains(kind) {
            owned.entry((owner.clone(), *kind)).or_default().insert(id.clone());
        }
    }
    owned
}

/// Settlements by the merchant of their terminal, and by terminal where it is not registered.
type SettlementLists = (Map<Id, BTreeSet<Id>>, Map<Id, BTreeSet<Id>>);

fn settlement_lists(settlements: &SplitMap<Box<SettlementRecord>>, terminals: &Map<Id, Terminal>) -> SettlementLists {
    let (mut by_merchant, mut orphans): SettlementLists = Default::default();
    for (id, record) in settlements.iter() {
        match terminals.get(&record.terminal) {
            Some(terminal) => by_merchant.entry(terminal.merchant.clone()).or_default().insert(id.clone()),
            None => orphans.entry(record.terminal.clone()).or_default().insert(id.clone()),
        };
    }
    (by_merchant, orphans)
}

fn member_splits(splits: &Map<Id, Split>) -> Map<Id, BTreeSet<Id>> {
    let mut lists: Map<Id, BTreeSet<Id>> = Map::default();
    for (id, split) in splits {
        for member in &split.members {
            lists.entry(member.user.clone()).or_default().insert(id.clone());
        }
    }
    lists
}

/// Per member account, its paid shares in open splits.
fn escrowed_shares(splits: &Map<Id, Split>) -> Map<Id, u32> {
    let mut shares: Map<Id, u32> = Map::default();
    let open = splits.values().filter(|split| split.state == SplitState::Open);
    for split in open {
        for (member, _) in split.members.iter().zip(&split.paid).filter(|(_, paid)| **paid) {
            *shares.entry(member.account.clone()).or_default() += 1;
        }
    }
    shares
}

impl State {
    /// Rebuilds the derived indexes (`StateMachine::from_state` does, for every decoded state).
    pub(super) fn derive_indexes(&mut self) {
        self.owned_objects = owned_objects(&self.owners);
        (self.merchant_settlements, self.orphan_settlements) = settlement_lists(&self.settlements, &self.terminals);
        self.member_splits = member_splits(&self.splits);
        self.escrowed_shares = escrowed_shares(&self.splits);
        self.code_failure_expiry = super::pos::code_failure_expiry(&self.code_failures);
        self.retired_expiry = super::authorizations::retired_expiry(&self.retired_authorizations);
    }

    /// Drops the paged lists' indexes (a replica's state: [`StateMachine::replica_of`]).
    pub(super) fn drop_lists(&mut self) {
        self.owned_objects = OwnedObjects::default();
        self.merchant_settlements = Map::default();
        self.orphan_settlements = Map::default();
        self.member_splits = Map::default();
    }

    /// Asserts that the derived indexes are what the stored state derives (invariant checks);
    /// the paged lists' are empty where they are not kept.
    pub(super) fn check_indexes(&self, keeps_lists: bool) {
        if keeps_lists {
            assert!(owned_objects(&self.owners) == self.owned_objects, "the owner lists match the owner records");
            let (by_merchant, orphans) = settlement_lists(&self.settlements, &self.terminals);
            assert!(by_merchant == self.merchant_settlements, "the settlement lists match the settlements");
            assert!(orphans == self.orphan_settlements, "settlements at unregistered terminals are set aside");
            assert!(member_splits(&self.splits) == self.member_splits, "every member lists its splits");
        } else {
            let lists = [&self.merchant_settlements, &self.orphan_settlements, &self.member_splits];
            assert!(
                self.owned_objects.is_empty() && lists.iter().all(|list| list.is_empty()),
                "a replica lists nothing"
            );
        }
        assert!(escrowed_shares(&self.splits) == self.escrowed_shares, "every paid open share is counted");
        let expiry = super::pos::code_failure_expiry(&self.code_failures);
        assert!(expiry == self.code_failure_expiry, "every wrong-code window is queued for its end");
    }
}

impl StateMachine {
    /// A copy of `machine` that applies the same records and encodes the same snapshots but
    /// keeps none of the paged lists' indexes (`lists.rs`): a snapshotter's replica, which
    /// answers no query. The lists are derived, never in a snapshot; keeping them cost the
    /// replica a tenth of its time on POS sales (a B-tree insertion per authorization and sale).
    pub fn replica_of(machine: &StateMachine) -> StateMachine {
        let mut state = machine.state.clone();
        state.drop_lists();
        StateMachine { keeps_lists: false, ..StateMachine::with_state(machine.config.clone(), state) }
    }

    /// Lists `id` (of `kind`, just created by `owner`) under its owner, if its kind is listed.
    pub(super) fn list_owned(&mut self, owner: &Principal, kind: ObjectKind, id: &Id) {
        if self.keeps_lists && LISTED.contains(&kind) {
            self.state.owned_objects.entry((owner.clone(), kind)).or_default().insert(id.clone());
        }
    }

    /// Lists settlement `id`, just recorded at `terminal`, under the terminal's merchant (or
    /// aside, when no terminal has that id).
    pub(super) fn list_settlement(&mut self, terminal: &Id, id: &Id) {
        if !self.keeps_lists {
            return;
        }
        let state = &mut self.state;
        match state.terminals.get(terminal) {
            Some(known) => state.merchant_settlements.entry(known.merchant.clone()).or_default().insert(id.clone()),
            None => state.orphan_settlements.entry(terminal.clone()).or_default().insert(id.clone()),
        };
    }

    /// Lists split `id`, just requested, under each of its members.
    pub(super) fn list_split_members(&mut self, id: &Id) {
        if !self.keeps_lists {
            return;
        }
        let split = &self.state.splits[id];
        for member in &split.members {
            self.state.member_splits.entry(member.user.clone()).or_default().insert(id.clone());
        }
    }

    /// Lists the settlements tried at `terminal` before it was registered under `merchant`.
    pub(super) fn adopt_settlements(&mut self, terminal: &Id, merchant: &Id) {
        if let Some(tried) = self.state.orphan_settlements.remove(terminal) {
            self.state.merchant_settlements.entry(merchant.clone()).or_default().extend(tried);
        }
    }

    /// Up to `limit` of the objects of `kind` (holds, authorizations, bills, splits) `owner`
    /// created, in id order, after `starting_after`; and whether more remain.
    pub fn objects_owned(
        &self,
        owner: &Principal,
        kind: ObjectKind,
        limit: usize,
        starting_after: Option<&Id>,
    ) -> (Vec<Id>, bool) {
        page_of(self.state.owned_objects.get(&(owner.clone(), kind)), limit, starting_after)
    }

    /// Up to `limit` of the splits `user` is a member of (any state), in id order, after
    /// `starting_after`; and whether more remain.
    pub fn splits_of_member(&self, user: &Id, limit: usize, starting_after: Option<&Id>) -> (Vec<Id>, bool) {
        page_of(self.state.member_splits.get(user), limit, starting_after)
    }

    /// Up to `limit` of the POS settlements made at `merchant`'s terminals (approved or
    /// declined), in id order, after `starting_after`; and whether more remain.
    pub fn settlements_at(&self, merchant: &Id, limit: usize, starting_after: Option<&Id>) -> (Vec<Id>, bool) {
        page_of(self.state.merchant_settlements.get(merchant), limit, starting_after)
    }
}
