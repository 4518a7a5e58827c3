//! Queries of the state: what embedders and the adapters' views read (between batches, through
//! `Engine::read`), never what a command decides with.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use super::{
    Account, Authorization, Bill, Coupon, Hold, Merchant, Operator, SettlementSummary, Split, StateMachine, Terminal,
    Totals, accounts, idempotency,
};
use crate::command::{Outcome, Principal, Rejection};
use crate::types::{Currency, Id};

impl StateMachine {
    /// Records committed on this partition so far (each `commit` is one record): where its state
    /// stands in the partition's own log, whichever engine applied them. An engine that follows
    /// the partition's owner skips a record at or below it (`Engine::follow`).
    pub fn position(&self) -> u64 {
        self.state.position
    }

    /// Deposits and withdrawals per currency.
    pub fn totals(&self) -> &BTreeMap<Currency, Totals> {
        &self.state.totals
    }

    /// An account.
    pub fn account(&self, id: &Id) -> Option<&Account> {
        self.state.accounts.get(id)
    }

    /// Whether this exact transfer (id and body) was applied: `Some(true)`; its id was applied
    /// with another body: `Some(false)`; never applied: `None`.
    pub fn transfer_applied(&self, transfer: &crate::command::Transfer) -> Option<bool> {
        let hash = self.config.id_hasher.hash(idempotency::IdKind::Transfer, &transfer.id);
        let fingerprint = self.state.ids.get(hash)?;
        Some(fingerprint == accounts::transfer_fingerprint(transfer))
    }

    /// A POS settlement: what it was asked and answered.
    pub fn settlement_summary(&self, id: &Id) -> Option<SettlementSummary> {
        self.state.settlements.get(id).map(|record| record.summary())
    }

    /// The answer given to a POS settlement.
    pub fn settlement(&self, id: &Id) -> Option<&Outcome> {
        self.state.settlements.get(id).map(|record| &record.outcome)
    }

    /// A hold.
    pub fn hold(&self, id: &Id) -> Option<&Hold> {
        self.state.holds.get(id)
    }

    /// Whether a placement of hold `id` waits for its payee's check on another partition, or a
    /// POS sale placing it for its payer's funds there.
    pub fn placing_hold(&self, id: &Id) -> bool {
        let transit = &self.state.transit;
        transit.placing(id).is_some()
            || transit.selling(id).is_some_and(|sale| sale.hold_until_ms.is_some())
            || transit.sale_checking(id)
            || transit.holds_priced().any(|priced| priced == id)
    }

    /// The holds whose placement waits for another partition (see [`Self::placing_hold`]).
    pub fn holds_placing(&self) -> impl Iterator<Item = &Id> {
        let transit = &self.state.transit;
        transit.placing_ids().chain(transit.pos_holds_placing()).chain(transit.holds_priced())
    }

    /// The holds in memory (active, and resolved within the last window), with their ids.
    pub fn holds(&self) -> impl Iterator<Item = (&Id, &Hold)> {
        self.state.holds.iter()
    }

    /// A bill.
    pub fn bill(&self, id: &Id) -> Option<&Bill> {
        self.state.bills.get(id)
    }

    /// A split.
    pub fn split(&self, id: &Id) -> Option<&Split> {
        self.state.splits.get(id)
    }

    /// Whether split `id` is being requested here: its accounts on other partitions are being
    /// checked.
    pub fn requesting_split(&self, id: &Id) -> bool {
        self.state.transit.creating(&crate::partition::Checking::Split(id.clone())).is_some()
    }

    /// The authorizations in memory here (retired ones included: their codes answer here),
    /// the settlements, and the authorizations and sales being decided (waiting for a check, a
    /// coupon's price or their money): what the engine's directory places here.
    pub fn pos_ids(&self) -> impl Iterator<Item = (crate::partition::DirectoryKind, &Id)> {
        use crate::partition::DirectoryKind::{Authorization, Settlement};
        let transit = &self.state.transit;
        let authorizations = self.state.authorizations.keys().chain(self.state.retired_authorizations.keys());
        let sales = self.state.settlements.keys().chain(transit.sales_in_flight()).chain(transit.sales_priced());
        let checking = transit.pos_checking().map(|id| {
            let kind = if self.state.transit.creating_authorization(id) { Authorization } else { Settlement };
            (kind, id)
        });
        authorizations.map(|id| (Authorization, id)).chain(sales.map(|id| (Settlement, id))).chain(checking)
    }

    /// Whether POS object `id` of `kind` is here, or its creation waits here for a check, a
    /// coupon's price or its money (see [`Self::pos_ids`]); a bill, as [`Self::keeps_bill`].
    pub fn keeps_pos_object(&self, kind: crate::partition::DirectoryKind, id: &Id) -> bool {
        let transit = &self.state.transit;
        match kind {
            crate::partition::DirectoryKind::Authorization => {
                self.state.authorizations.contains_key(id)
                    || self.state.retired_authorizations.contains_key(id)
                    || transit.creating_authorization(id)
            }
            crate::partition::DirectoryKind::Bill => self.keeps_bill(id),
            _ => {
                self.state.settlements.get(id).is_some()
                    || !matches!(self.pos_in_flight(id), super::transit::InFlight::Nothing)
                    || transit.sale_checking(id)
                    || transit.sale_priced(id)
            }
        }
    }

    /// The bills in memory here, and those being opened (waiting for their account's check):
    /// what the engine's directory places here.
    pub fn bill_ids(&self) -> impl Iterator<Item = &Id> {
        self.state.bills.keys().chain(self.state.transit.bills_opening())
    }

    /// Whether bill `id` is here, or its opening waits here for its account's check.
    pub fn keeps_bill(&self, id: &Id) -> bool {
        self.state.bills.contains_key(id) || self.state.transit.opening_bill(id)
    }

    /// The splits in memory here, and those being requested.
    pub fn split_ids(&self) -> impl Iterator<Item = &Id> {
        self.state.splits.keys().chain(self.state.transit.splits_requesting())
    }

    /// Money held in the escrows of this partition's splits, per currency (paid shares of open
    /// splits not yet paid out or given back).
    pub fn escrowed(&self) -> BTreeMap<Currency, u64> {
        let mut sums = BTreeMap::new();
        for split in self.state.splits.values().filter(|split| split.escrow > 0) {
            *sums.entry(split.currency).or_default() += split.escrow;
        }
        sums
    }

    /// A coupon.
    pub fn coupon(&self, id: &Id) -> Option<&Coupon> {
        self.state.coupons.get(id).map(|coupon| &**coupon)
    }

    /// An authorization (its code is not kept, only a keyed hash).
    pub fn authorization(&self, id: &Id) -> Option<&Authorization> {
        self.state.authorizations.get(id).map(|authorization| &**authorization)
    }

    /// A merchant.
    pub fn merchant(&self, id: &Id) -> Option<&Merchant> {
        self.state.merchants.get(id)
    }

    /// A terminal.
    pub fn terminal(&self, id: &Id) -> Option<&Terminal> {
        self.state.terminals.get(id)
    }

    /// An operator.
    pub fn operator(&self, id: &Id) -> Option<&Operator> {
        self.state.operators.get(id)
    }

    /// Up to `limit` of the accounts `owner` opened (on this partition), in id order, after
    /// `starting_after`; and whether more remain.
    pub fn accounts_owned(&self, owner: &Principal, limit: usize, starting_after: Option<&Id>) -> (Vec<Id>, bool) {
        page_of(self.state.owned_accounts.get(owner), limit, starting_after)
    }

    /// Up to `limit` of the coupons `user` holds (any state, rewards included), in id order,
    /// after `starting_after`; and whether more remain.
    pub fn coupons_held(&self, user: &Id, limit: usize, starting_after: Option<&Id>) -> (Vec<Id>, bool) {
        page_of(self.state.holdings.get(user), limit, starting_after)
    }

    /// The coupons in `user`'s share pool.
    pub fn pool(&self, user: &Id) -> impl Iterator<Item = &Id> {
        self.state.pools.get(user).into_iter().flatten()
    }

    /// The coupons shared by `user`'s contacts, which `user` may claim.
    pub fn claimable_coupons(&self, user: &Id) -> Vec<Id> {
        let mut claimable = Vec::new();
        for contact in self.state.contacts.get(user).into_iter().flatten() {
            claimable.extend(self.pool(contact).cloned());
        }
        claimable
    }

    /// `user`'s contacts.
    pub fn contacts(&self, user: &Id) -> impl Iterator<Item = &Id> {
        self.state.contacts.get(user).into_iter().flatten()
    }

    /// Number of accounts.
    pub fn account_count(&self) -> usize {
        self.state.accounts.len()
    }

    /// Whether `principal` may make `read` now (`crate::authority`): call it in the same
    /// [`Engine::read`](crate::Engine::read) as the read it guards. A rule that reads a user's
    /// claim this partition does not know for sure refuses here: such reads go through
    /// [`Engine::read_checked`](crate::Engine::read_checked), which takes it from the user's
    /// partition ([`StateMachine::read_verdict`]).
    pub fn check_read(&self, principal: &Principal, read: &crate::authority::Read) -> Result<(), Rejection> {
        self.read_verdict(principal, read, &[], &[]).decided().unwrap_or(Err(Rejection::Forbidden))
    }
}

/// Up to `limit` ids of an ordered set after `starting_after`, and whether more remain.
pub(super) fn page_of(set: Option<&BTreeSet<Id>>, limit: usize, starting_after: Option<&Id>) -> (Vec<Id>, bool) {
    let Some(set) = set else { return (Vec::new(), false) };
    let mut after = match starting_after {
        Some(cursor) => set.range::<Id, _>((Bound::Excluded(cursor), Bound::Unbounded)),
        None => set.range::<Id, _>(..),
    };
    let page: Vec<Id> = after.by_ref().take(limit).cloned().collect();
    (page, after.next().is_some())
}
