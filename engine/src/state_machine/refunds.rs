//! Refunds of POS settlements and paid bills, in part or whole (`RefundPos`, `RefundBill`), and
//! of completed splits, whole (`RefundSplit`).
//!
//! Money goes back from the merchant's account to the account that was charged; the refunds of
//! one settlement or bill never add up to more than it charged (a captured pre-authorization:
//! what was captured). Each refund keeps its id, amount and answer, at most [`REFUNDS_MAX`] per
//! object, so that a retry is answered as the first time and moves nothing. A reversal
//! (`ReversePos`) gives back what the refunds left, and nothing may be refunded after it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StateMachine;
use super::bills::BillState;
use super::holds::HoldState;
use super::splits::SplitState;
use super::transit::{InFlight, PosStep};
use crate::command::{Change, Event, ObjectKind, Outcome, PostingCause, Refund, Rejection, Reply};
use crate::constants::{AMOUNT_MINOR_MAX, REFUNDS_MAX};
use crate::types::Id;

/// One refund given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundEntry {
    /// Its id (scoped by the settlement or bill).
    pub refund: Id,
    /// Minor units given back.
    pub amount: u64,
    /// What could still be refunded right after it (a retry is answered this again).
    pub remaining: u64,
}

/// The sum of `refunds`.
pub(crate) fn refunded(refunds: &[RefundEntry]) -> u64 {
    refunds.iter().map(|entry| entry.amount).sum()
}

/// What a refund request comes to, before any money moves.
enum Decision {
    /// A retry of a refund given already: its first answer.
    Again(Reply),
    /// A new refund, leaving `remaining` to refund after it.
    Give { remaining: u64 },
}

/// Decides `request` against the `refunds` given so far out of `refundable` in all.
fn decide(refunds: &[RefundEntry], refundable: u64, request: &Refund) -> Result<Decision, Rejection> {
    if let Some(entry) = refunds.iter().find(|entry| entry.refund == request.refund) {
        return if entry.amount == request.amount {
            Ok(Decision::Again(Reply::Refunded { amount: entry.amount, remaining: entry.remaining }))
        } else {
            Err(Rejection::IdReused)
        };
    }
    if request.amount == 0 || request.amount > AMOUNT_MINOR_MAX {
        return Err(Rejection::InvalidAmount);
    }
    let left = refundable.saturating_sub(refunded(refunds));
    if request.amount > left {
        return Err(Rejection::RefundExceedsCharge);
    }
    if refunds.len() >= REFUNDS_MAX {
        return Err(Rejection::TooManyRefunds);
    }
    Ok(Decision::Give { remaining: left - request.amount })
}

impl StateMachine {
    /// Refunds part of an approved POS settlement.
    pub(super) fn refund_pos(&mut self, request: &Refund, events: &mut Vec<Event>) -> Outcome {
        match self.pos_in_flight(&request.of) {
            InFlight::Nothing => {}
            // A repeat of the refund in flight waits for the same answer.
            InFlight::Refund(number, entry) if Self::repeats(entry, request) => {
                self.pending = Some(number);
                return Outcome::Applied(Reply::Done);
            }
            InFlight::Sale(..) | InFlight::Reversal(_) | InFlight::Refund(..) => {
                return Outcome::Rejected(Rejection::NotReversible);
            }
        }
        let Some(record) = self.state.settlements.get(&request.of) else {
            return Outcome::Rejected(Rejection::SettlementNotFound);
        };
        // A declined settlement charged nothing.
        let Some(effect) = &record.effect else { return Outcome::Rejected(Rejection::NotReversible) };
        let refundable = if effect.reversed {
            refunded(&effect.refunds)
        } else if effect.held {
            match self.state.holds[&request.of].state {
                HoldState::Captured(captured) => captured,
                // Nothing is refundable before a capture is final.
                HoldState::Active | HoldState::Capturing(_) | HoldState::Voided | HoldState::Expired => 0,
            }
        } else {
            effect.charged
        };
        let remaining = match decide(&effect.refunds, refundable, request) {
            Err(rejection) => return Outcome::Rejected(rejection),
            Ok(Decision::Again(reply)) => return Outcome::Applied(reply),
            Ok(Decision::Give { remaining }) => remaining,
        };
        let (from, to) = (effect.merchant_account.clone(), effect.account.clone());
        let entry = RefundEntry { refund: request.refund.clone(), amount: request.amount, remaining };
        if !self.lives_here(&from) || !self.lives_here(&to) {
            let currency = record.currency;
            let step = PosStep::Refund { id: request.of.clone(), entry };
            return self.give_back_across(step, (&from, &to), request.amount, currency, events);
        }
        let cause = PostingCause::PosRefund(request.of.clone());
        if let Err(rejection) = self.give_back(&from, &to, request.amount, cause, events) {
            return Outcome::Rejected(rejection);
        }
        let record = self.state.settlements.get_mut(&request.of).expect("found above");
        record.effect.as_mut().expect("approved").refunds.push(entry);
        Self::changed(events, ObjectKind::Settlement, &request.of, Change::Refunded);
        Outcome::Applied(Reply::Refunded { amount: request.amount, remaining })
    }

    /// Refunds part of a paid bill.
    pub(super) fn refund_bill(&mut self, request: &Refund, events: &mut Vec<Event>) -> Outcome {
        let Some(bill) = self.state.bills.get(&request.of) else {
            return Outcome::Rejected(Rejection::BillNotFound);
        };
        let BillState::Paid { charged, .. } = bill.state else { return Outcome::Rejected(Rejection::NotReversible) };
        let remaining = match decide(&bill.refunds, charged, request) {
            Err(rejection) => return Outcome::Rejected(rejection),
            Ok(Decision::Again(reply)) => return Outcome::Applied(reply),
            Ok(Decision::Give { remaining }) => remaining,
        };
        let Some(merchant) = self.state.merchants.get(&bill.merchant) else {
            return Outcome::Rejected(Rejection::MerchantNotFound);
        };
        let (from, to) = (merchant.account.clone(), bill.account.clone());
        let entry = RefundEntry { refund: request.refund.clone(), amount: request.amount, remaining };
        if !self.lives_here(&from) || !self.lives_here(&to) {
            let currency = bill.currency;
            return self.refund_bill_across(request, entry, (&from, &to), currency, events);
        }
        let cause = PostingCause::BillRefund(request.of.clone());
        if let Err(rejection) = self.give_back(&from, &to, request.amount, cause, events) {
            return Outcome::Rejected(rejection);
        }
        self.state.bills.get_mut(&request.of).expect("found above").refunds.push(entry);
        Self::changed(events, ObjectKind::Bill, &request.of, Change::Refunded);
        Outcome::Applied(Reply::Refunded { amount: request.amount, remaining })
    }

    /// Refunds a completed split whole: the requester's account pays each member's account back
    /// the share it paid, all or nothing. A retry answers the same and moves nothing.
    pub(super) fn refund_completed_split(&mut self, id: &Id, events: &mut Vec<Event>) -> Outcome {
        let Some(split) = self.state.splits.get(id) else { return Outcome::Rejected(Rejection::SplitNotFound) };
        let total: u64 = split.shares.iter().sum();
        match split.state {
            SplitState::Completed => {}
            SplitState::Refunded => return Outcome::Applied(Reply::Refunded { amount: total, remaining: 0 }),
            SplitState::Open | SplitState::Cancelled | SplitState::Expired => {
                return Outcome::Rejected(Rejection::NotReversible);
            }
        }
        let from = split.requester_account.clone();
        let back: Vec<(Id, u64)> =
            split.members.iter().zip(&split.shares).map(|(member, share)| (member.account.clone(), *share)).collect();
        if !self.lives_here(&from) || back.iter().any(|(account, _)| !self.lives_here(account)) {
            return self.refund_split_across(id, events);
        }
        if let Err(rejection) = self.check_split_refund(&from, &back, total) {
            return Outcome::Rejected(rejection);
        }
        for (account, share) in back.into_iter().filter(|(_, share)| *share > 0) {
            self.move_money(&from, &account, share, PostingCause::SplitRefund(id.clone()), events);
        }
        self.state.splits.get_mut(id).expect("found above").state = SplitState::Refunded;
        Self::changed(events, ObjectKind::Split, id, Change::Refunded);
        Outcome::Applied(Reply::Refunded { amount: total, remaining: 0 })
    }

    /// Whether the requester's account `from` can pay `total` back and every member's account
    /// take its share (summed per account: two members may pay from one account).
    fn check_split_refund(&self, from: &Id, back: &[(Id, u64)], total: u64) -> Result<(), Rejection> {
        let mut credits: BTreeMap<&Id, u64> = BTreeMap::new();
        for (account, share) in back {
            *credits.entry(account).or_default() += share;
        }
        if self.state.accounts[from].closed || credits.keys().any(|account| self.state.accounts[*account].closed) {
            return Err(Rejection::AccountClosed);
        }
        self.check_debit(from, total)?;
        credits.into_iter().try_for_each(|(account, amount)| self.check_credit(account, amount))
    }

    /// Moves a refund from the merchant's account `from` back to the charged account `to`, if
    /// both can take it (the merchant must still hold the money; neither may be closed).
    fn give_back(
        &mut self,
        from: &Id,
        to: &Id,
        amount: u64,
        cause: PostingCause,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejection> {
        if self.state.accounts[from].closed || self.state.accounts[to].closed {
            return Err(Rejection::AccountClosed);
        }
        self.check_debit(from, amount)?;
        self.check_credit(to, amount)?;
        self.move_money(from, to, amount, cause, events);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
