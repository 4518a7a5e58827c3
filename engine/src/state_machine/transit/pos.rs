//! POS steps whose money crosses partitions: a sale whose payer (the authorization's account)
//! lives elsewhere, and a reversal or refund paying such a payer back.
//!
//! The settlement, its authorization and the user's wrong-code window live on the user's
//! partition; the money moves where the accounts live. A sale debits its payer by a move
//! (`moves.rs`); a reversal or refund debits the merchant here and credits the payer by a
//! credit. Until the answer comes the command is pending, and:
//! - a sale's authorization is `Used` by it (a second sale with its code is `code_already_used`,
//!   a revocation refused); a refused sale makes it `Active` again, as if it had never been used,
//!   and records the refusal, as one partition records a refused settlement;
//! - the settlement is recorded, listed and its code window cleared only when the sale is final;
//! - one money step per settlement is in flight at a time: a repeat of it waits for the same
//!   answer; another reversal or refund of the settlement is `not_reversible` until it is final.
//!
//! A refused command changes nothing: the payer's partition refunds a refused move itself, and a
//! refused credit comes back into the merchant's account here.

use serde::{Deserialize, Serialize};

use crate::command::{Change, Event, ObjectKind, Outcome, Refund, Rejection, Reply, SettlePos, Submission};
use crate::partition::Paying;
use crate::state_machine::archive::ArchivedKind;
use crate::state_machine::authorizations::AuthorizationState;
use crate::state_machine::pos::SettlementRecord;
use crate::state_machine::refunds::RefundEntry;
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::{Currency, Id, TimestampMs};

/// A POS step waiting for its money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PosStep {
    /// A sale: its record as it will be if approved, the authorization it uses, the coupon it
    /// redeems if approved, and a reversal waiting for it to be final (the number its caller
    /// waits on, and the command).
    Sale {
        id: Id,
        record: Box<SettlementRecord>,
        authorization: Id,
        coupon: Option<Id>,
        reversal: Option<(u64, Box<Submission>)>,
    },
    /// A reversal of settlement `id`.
    Reversal { id: Id },
    /// A partial refund of settlement `id`.
    Refund { id: Id, entry: RefundEntry },
}

impl PosStep {
    fn settlement(&self) -> &Id {
        match self {
            PosStep::Sale { id, .. } | PosStep::Reversal { id } | PosStep::Refund { id, .. } => id,
        }
    }
}

/// What a repeat of a settlement's POS command finds in flight.
pub(crate) enum InFlight<'a> {
    /// Nothing: decide it.
    Nothing,
    /// Its sale, pending on `number`, with the record it will have.
    Sale(u64, &'a SettlementRecord),
    /// Its reversal, pending on `number`.
    Reversal(u64),
    /// A refund, pending on `number`.
    Refund(u64, &'a RefundEntry),
}

impl super::Transit {
    /// The settlements whose sale, reversal or refund is in flight.
    pub(in crate::state_machine) fn sales_in_flight(&self) -> impl Iterator<Item = &Id> {
        self.by_settlement.keys()
    }

    /// Whether the creation of authorization `id` waits for its account's check.
    pub(in crate::state_machine) fn creating_authorization(&self, id: &Id) -> bool {
        self.by_authorization.contains_key(id)
    }

    /// The record sale `id` will have, while its money is in flight.
    pub(in crate::state_machine) fn selling(&self, id: &Id) -> Option<&SettlementRecord> {
        match &self.pos_steps[self.by_settlement.get(id)?] {
            PosStep::Sale { record, .. } => Some(record),
            PosStep::Reversal { .. } | PosStep::Refund { .. } => None,
        }
    }
}

impl StateMachine {
    /// The money step of settlement `id` in flight, if one is.
    pub(in crate::state_machine) fn pos_in_flight(&self, id: &Id) -> InFlight<'_> {
        let transit = &self.state.transit;
        let Some(number) = transit.by_settlement.get(id) else { return InFlight::Nothing };
        match &transit.pos_steps[number] {
            PosStep::Sale { record, .. } => InFlight::Sale(*number, record),
            PosStep::Reversal { .. } => InFlight::Reversal(*number),
            PosStep::Refund { entry, .. } => InFlight::Refund(*number, entry),
        }
    }

    /// Pays `amount` from `from` to `to` where one of them lives elsewhere: a payer here is
    /// checked and debited into the transit and the payee credited by a credit; a payer
    /// elsewhere is asked by a move. The command is pending on the returned number.
    pub(in crate::state_machine) fn pay_across(
        &mut self,
        paying: Paying,
        (from, to): (&Id, &Id),
        amount: u64,
        currency: Currency,
        events: &mut Vec<Event>,
    ) -> Result<u64, Rejection> {
        if self.config.placement.of_account(from) != self.config.partition {
            return Ok(self.send_move(paying, from, to, amount, currency));
        }
        self.usable_account(from, currency, Rejection::AccountNotFound)?.can_debit(amount)?;
        if amount > 0 {
            let delta = i64::try_from(amount).expect("amounts are at most AMOUNT_MINOR_MAX");
            self.post(from, -delta, 0, paying.cause(), events);
        }
        Ok(self.send_credit(from, paying, to, amount, currency))
    }

    /// A sale's money is on its way (number `number`): its authorization is used by it until
    /// the answer comes.
    pub(in crate::state_machine) fn sale_sent(
        &mut self,
        number: u64,
        settle: &SettlePos,
        record: SettlementRecord,
        authorization_id: &Id,
    ) {
        let authorization = self.state.authorizations.get_mut(authorization_id).expect("found by the sale");
        authorization.state = AuthorizationState::Used(settle.id.clone());
        let due = (authorization.expires_at_ms, authorization_id.clone());
        assert!(self.state.authorization_expiry.remove(&due), "an active authorization is in the expiry index");
        // A coupon of another partition is kept there until the sale's end (`coupons.rs`).
        let coupon = settle.coupon.clone().filter(|coupon| self.coupon_lives_here(coupon));
        if let Some(coupon) = &coupon {
            self.state.transit.coupons_in_flight.insert(coupon.clone(), number);
        }
        let step = PosStep::Sale {
            id: settle.id.clone(),
            record: Box::new(record),
            authorization: authorization_id.clone(),
            coupon,
            reversal: None,
        };
        self.pos_step_sent(number, step);
    }

    /// A reversal's or refund's money is on its way (number `number`).
    pub(in crate::state_machine) fn pos_step_sent(&mut self, number: u64, step: PosStep) {
        let transit = &mut self.state.transit;
        transit.by_settlement.insert(step.settlement().clone(), number);
        transit.pos_steps.insert(number, step);
    }

    /// A reversal of sale `number`, still in flight: the caller waits on a number of its own,
    /// and the reversal applies from the start once the sale is final (a repeat waits with it).
    pub(in crate::state_machine) fn defer_reversal(&mut self, number: u64, submission: &Submission) -> Outcome {
        let transit = &mut self.state.transit;
        let next = transit.last_number + 1;
        let Some(PosStep::Sale { reversal, .. }) = transit.pos_steps.get_mut(&number) else {
            unreachable!("a sale in flight has its step")
        };
        let waiting = match reversal {
            Some((waiting, _)) => *waiting,
            None => {
                *reversal = Some((next, Box::new(submission.clone())));
                transit.last_number = next;
                next
            }
        };
        self.pending = Some(waiting);
        Outcome::Applied(Reply::Done)
    }

    /// The answer to a POS step's money (its payer refunded already if it was refused): the
    /// step's final outcome.
    pub(super) fn pos_step_settled(
        &mut self,
        now: TimestampMs,
        number: u64,
        refused: Option<Rejection>,
        output: &mut CommitOutput,
    ) -> Outcome {
        let transit = &mut self.state.transit;
        let step = transit.pos_steps.remove(&number).expect("an open POS move or credit has its step");
        transit.by_settlement.remove(step.settlement());
        let events = &mut output.events;
        match (step, refused) {
            (PosStep::Sale { id, record, authorization, coupon, reversal }, refused) => {
                if let Some(coupon) = coupon {
                    self.state.transit.coupons_in_flight.remove(&coupon);
                    if refused.is_none() {
                        self.redeem_coupon_for_payment(now, &coupon, events);
                    }
                }
                let outcome = self.sale_settled(&id, *record, &authorization, refused, &mut output.events);
                if let Some((waiting, submission)) = reversal {
                    self.reverse_deferred(now, waiting, &submission, output);
                }
                self.release_waiting(now, number, output);
                outcome
            }
            (_, Some(rejection)) => Outcome::Rejected(rejection),
            (PosStep::Reversal { id }, None) => {
                let record = self.state.settlements.get_mut(&id).expect("a settlement with a step in flight stays");
                record.effect.as_mut().expect("approved").reversed = true;
                Self::changed(events, ObjectKind::Settlement, &id, Change::Cancelled);
                Outcome::Applied(Reply::Done)
            }
            (PosStep::Refund { id, entry }, None) => {
                let reply = Reply::Refunded { amount: entry.amount, remaining: entry.remaining };
                let record = self.state.settlements.get_mut(&id).expect("a settlement with a step in flight stays");
                record.effect.as_mut().expect("approved").refunds.push(entry);
                Self::changed(events, ObjectKind::Settlement, &id, Change::Refunded);
                Outcome::Applied(reply)
            }
        }
    }

    /// Applies a reversal that waited for its sale, answering its caller (on `waiting`) now or
    /// when the reversal's own money is final.
    fn reverse_deferred(&mut self, now: TimestampMs, waiting: u64, submission: &Submission, output: &mut CommitOutput) {
        let outcome = self.apply(now, submission, &mut output.events);
        match self.pending.take() {
            Some(number) => drop(self.state.transit.aliases.insert(number, waiting)),
            None => output.completed.push((waiting, outcome)),
        }
    }

    /// A sale's last step: approved, its authorization is used and the user's wrong codes are
    /// forgotten; refused, its authorization is active again. Either way it is recorded.
    fn sale_settled(
        &mut self,
        id: &Id,
        mut record: SettlementRecord,
        authorization_id: &Id,
        refused: Option<Rejection>,
        events: &mut Vec<Event>,
    ) -> Outcome {
        match refused {
            None => {
                self.open_pos_hold((id, authorization_id), &record, events);
                self.forget_code_failures_of(&record.user);
                Self::changed(events, ObjectKind::Authorization, authorization_id, Change::Used);
                self.resolved(ArchivedKind::Authorization, authorization_id);
            }
            Some(rejection) => {
                let authorization = self.state.authorizations.get_mut(authorization_id).expect("used by the sale");
                authorization.state = AuthorizationState::Active;
                self.state.authorization_expiry.insert((authorization.expires_at_ms, authorization_id.clone()));
                record.outcome = Outcome::Rejected(rejection);
                record.effect = None;
            }
        }
        let outcome = record.outcome.clone();
        self.list_settlement(&record.terminal, id);
        self.state.settlements.insert(id.clone(), Box::new(record));
        self.resolved(ArchivedKind::Settlement, id);
        outcome
    }

    /// A reversal or refund of settlement `id` where its merchant or payer lives elsewhere:
    /// give `amount` back from `merchant_account` to `account`, pending until it is final.
    pub(in crate::state_machine) fn give_back_across(
        &mut self,
        step: PosStep,
        (merchant_account, account): (&Id, &Id),
        amount: u64,
        currency: Currency,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let paying = match &step {
            PosStep::Reversal { id } => Paying::Reversal(id.clone()),
            PosStep::Refund { id, .. } => Paying::Refund(id.clone()),
            PosStep::Sale { .. } => unreachable!("a sale pays the merchant"),
        };
        match self.pay_across(paying, (merchant_account, account), amount, currency, events) {
            Ok(number) => {
                self.pos_step_sent(number, step);
                Outcome::Applied(Reply::Done)
            }
            Err(rejection) => Outcome::Rejected(rejection),
        }
    }

    /// Whether a refund request repeats the refund in flight (same id and amount).
    pub(in crate::state_machine) fn repeats(entry: &RefundEntry, request: &Refund) -> bool {
        entry.refund == request.refund && entry.amount == request.amount
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod merchants;
