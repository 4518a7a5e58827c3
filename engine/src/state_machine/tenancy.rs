//! The state machine's side of authority (`crate::authority`): the check before a command, the
//! owner records after it, and the facts the rules read.

use super::StateMachine;
use crate::authority::{self, Facts};
use crate::command::{Command, ObjectKind, Outcome, Principal, Rejection, Reply};
use crate::state_machine::{Bill, Coupon, Hold, Split};
use crate::types::Id;

impl StateMachine {
    /// Whether `principal` may submit `command` now: the rule table, then the creation rule
    /// (an existing id that is not the caller's answers `already_exists`, even when the body
    /// is the same: an idempotent repeat is its owner's only).
    pub(super) fn check_authority(&self, principal: &Principal, command: &Command) -> Result<(), Rejection> {
        // The admin's column of the table is "yes" in every row (a test pins it), and the admin
        // may repeat anyone's create: its commands need no lookup at all (the hot path of a
        // processor embedding kassa).
        if matches!(principal, Principal::Admin) {
            return Ok(());
        }
        authority::check(self, principal, command)?;
        if let Some((kind, id)) = authority::created_object(command)
            && self.exists(kind, id)
            && Facts::owner(self, kind, id) != Some(principal)
        {
            return Err(Rejection::AlreadyExists);
        }
        Ok(())
    }

    /// Records the owner of what an applied command created, and the app of a user it claimed.
    /// The admin's objects get no record (no record: only the admin reaches them).
    pub(super) fn record_owners(&mut self, principal: &Principal, command: &Command) {
        if matches!(principal, Principal::Admin) {
            return;
        }
        if let Some((kind, id)) = authority::created_object(command) {
            let owner = self.state.owners.entry((kind, id.clone())).or_insert_with(|| principal.clone());
            let owner = owner.clone();
            if kind == ObjectKind::Account {
                self.state.owned_accounts.entry(owner).or_default().insert(id.clone());
            } else {
                self.list_owned(&owner, kind, id);
            }
        }
        if let (Principal::App(_), Some(user)) = (principal, authority::acting_user(command)) {
            self.record_claim(user, principal);
            self.claim_made_here(user);
        }
    }

    /// Removes from a reply what its principal may not see: a bill's verification challenge is
    /// the user's (their app's, or the admin's); the merchant side that submits the bill gets
    /// the total and an empty challenge, on every listener.
    pub(super) fn redact(principal: &Principal, outcome: &mut Outcome) {
        if let Outcome::Applied(Reply::BillSubmitted { challenge, .. }) = outcome
            && !matches!(principal, Principal::Admin | Principal::App(_))
        {
            challenge.clear();
        }
    }

    fn exists(&self, kind: ObjectKind, id: &Id) -> bool {
        let state = &self.state;
        match kind {
            ObjectKind::Account => state.accounts.contains_key(id),
            ObjectKind::Hold => state.holds.contains_key(id),
            ObjectKind::Authorization => state.authorizations.contains_key(id),
            ObjectKind::Bill => state.bills.contains_key(id),
            ObjectKind::Split => state.splits.contains_key(id),
            _ => state.owners.contains_key(&(kind, id.clone())),
        }
    }
}

impl Facts for StateMachine {
    fn owner(&self, kind: ObjectKind, id: &Id) -> Option<&Principal> {
        // An account of another partition, as its partition answered (`transit/holds.rs`).
        if kind == ObjectKind::Account
            && let Some(answer) = self.checked_answer(id)
        {
            return answer.as_ref().ok().and_then(|found| found.owner.as_ref());
        }
        if kind == ObjectKind::User {
            // A user's claim: recorded here, answered by the user's partition while a command
            // applies again (`transit/claims.rs`), or tentatively made here for one elsewhere.
            let recorded = self.state.owners.get(&(kind, id.clone()));
            let answered = || self.claimed.as_ref().filter(|(user, _)| user == id).map(|(_, owner)| owner);
            return recorded.or_else(answered).or_else(|| self.state.transit.tentative_owner(id));
        }
        if self.state.owners.is_empty() {
            return None;
        }
        self.state.owners.get(&(kind, id.clone()))
    }

    fn merchant_account(&self, merchant: &Id) -> Option<&Id> {
        self.state.merchants.get(merchant).map(|merchant| &merchant.account)
    }

    fn terminal_merchant(&self, terminal: &Id) -> Option<&Id> {
        self.state.terminals.get(terminal).map(|terminal| &terminal.merchant)
    }

    fn settlement_terminal(&self, settlement: &Id) -> Option<&Id> {
        // A sale whose money is in flight is its terminal's already (a reversal may wait for it).
        let record = self.state.settlements.get(settlement).map(|record| &**record);
        record.or_else(|| self.state.transit.selling(settlement)).map(|record| &record.terminal)
    }

    fn pos_hold_terminal(&self, id: &Id) -> Option<&Id> {
        // Approved with a hold, or placing it while its money is in flight.
        let record = self.state.settlements.get(id).map(|record| &**record);
        let held = record.filter(|record| record.effect.as_ref().is_some_and(|effect| effect.held));
        let placing = || self.state.transit.selling(id).filter(|sale| sale.hold_until_ms.is_some());
        held.or_else(placing).map(|record| &record.terminal)
    }

    fn hold(&self, id: &Id) -> Option<&Hold> {
        self.state.holds.get(id)
    }

    fn bill(&self, id: &Id) -> Option<&Bill> {
        self.state.bills.get(id)
    }

    fn split(&self, id: &Id) -> Option<&Split> {
        self.state.splits.get(id)
    }

    fn coupon(&self, id: &Id) -> Option<&Coupon> {
        self.state.coupons.get(id).map(|coupon| &**coupon)
    }
}
