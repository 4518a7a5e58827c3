//! The machine's global invariants, checked after every batch by the tests (and by debug
//! checks of the runtime).

use std::collections::{BTreeMap, BTreeSet};

use super::{HoldState, Map, StateMachine};
use crate::command::ObjectKind;
use crate::types::{Currency, Id};

impl StateMachine {
    /// Checks the global invariants, panicking on the first broken one. Tests call it after
    /// every batch; it is O(state), so the runtime calls it only in debug checks.
    ///
    /// - conservation: per currency, the sum of posted balances plus money in split escrow
    ///   equals deposits minus withdrawals;
    /// - every account's available balance is at least minus its overdraft limit;
    /// - every account's held amount equals the sum of its active holds (less what a capture in
    ///   flight to another partition took out of it).
    pub fn check_invariants(&self) {
        let mut sums: BTreeMap<Currency, i128> = BTreeMap::new();
        for (id, account) in &self.state.accounts {
            *sums.entry(account.currency).or_default() += i128::from(account.posted);
            let available = i128::from(account.posted) - i128::from(account.held) - i128::from(account.reserved);
            assert!(available >= -i128::from(account.overdraft_limit), "account {id} below its overdraft limit");
        }
        self.check_held_and_reserved();
        for split in self.state.splits.values() {
            *sums.entry(split.currency).or_default() += i128::from(split.escrow);
        }
        let owned: usize = self.state.owned_accounts.values().map(BTreeSet::len).sum();
        let account_owners = self.state.owners.keys().filter(|(kind, _)| *kind == ObjectKind::Account).count();
        assert_eq!(owned, account_owners, "every tenant's account is listed once");
        self.state.check_indexes(self.keeps_lists);
        self.check_archive();
        if self.config.placement.count() > 1 {
            let state = &self.state;
            let registered = state.merchants.len() + state.terminals.len() + state.operators.len();
            let through = usize::try_from(state.reference.applied_through()).expect("fits");
            assert_eq!(through, registered, "every merchant, terminal and operator is one reference");
        }
        let held: usize = self.state.holdings.values().map(BTreeSet::len).sum();
        assert_eq!(held, self.state.coupons.len(), "every coupon is held by one user");
        for (id, coupon) in self.state.coupons.iter() {
            let listed = self.state.holdings.get(&coupon.holder).is_some_and(|held| held.contains(id));
            assert!(listed, "coupon {id} is listed under its holder");
        }
        for (currency, in_flight) in self.state.transit.in_flight() {
            *sums.entry(currency).or_default() += i128::try_from(in_flight).expect("fits");
        }
        // What entered minus what left this partition: deposits, withdrawals, and credits from
        // and to other partitions.
        let mut expected: BTreeMap<Currency, i128> = self.state.transit.net_inflow();
        for (currency, totals) in &self.state.totals {
            *expected.entry(*currency).or_default() +=
                i128::try_from(totals.deposited).expect("fits") - i128::try_from(totals.withdrawn).expect("fits");
        }
        for currency in sums.keys().chain(expected.keys()) {
            let (sum, expected) =
                (sums.get(currency).copied().unwrap_or(0), expected.get(currency).copied().unwrap_or(0));
            assert_eq!(sum, expected, "money not conserved in {currency}");
        }
    }

    /// Every account's reserved funds equal its funds reservations (linked batches elsewhere),
    /// and its held amount the sum of its active holds (less a capture in flight) and of the
    /// funds held here for POS holds kept on another partition.
    fn check_held_and_reserved(&self) {
        let mut reserved: Map<&Id, u64> = Map::default();
        for (account, amount) in self.state.transit.funds_reserved() {
            let sum = reserved.entry(account).or_default();
            *sum = sum.checked_add(amount).expect("an account's reservations fit u64");
        }
        let mut held: Map<&Id, u128> = Map::default();
        for (id, account) in &self.state.accounts {
            let expected = reserved.get(id).copied().unwrap_or_default();
            assert_eq!(account.reserved, expected, "account {id} reserved != its funds reservations");
            held.entry(id).or_default();
        }
        for hold in self.state.holds.values() {
            let holding = match hold.state {
                HoldState::Active => hold.amount,
                HoldState::Capturing(captured) => hold.amount - captured,
                HoldState::Captured(_) | HoldState::Voided | HoldState::Expired => 0,
            };
            // A POS hold's payer elsewhere has its funds held there (`transit/pos_holds.rs`).
            if holding > 0 && self.lives_here(&hold.from) {
                *held.get_mut(&hold.from).expect("hold payer exists") += u128::from(holding);
            }
        }
        for (account, amount) in self.state.transit.funds_held() {
            *held.get_mut(account).expect("a payer with funds held exists") += u128::from(amount);
        }
        for (id, account) in &self.state.accounts {
            assert_eq!(u128::from(account.held), held[id], "account {id} held != sum of its active holds");
        }
    }
}
