//! Bills whose account lives on another partition than the bill (the home partition).
//!
//! The bill, its challenge and its merchant's account live on the home partition; the charged
//! account may live anywhere. Opening the bill checks the account where it lives first
//! (`Checking::Bill`: owner, currency, closed) and then decides from the start, as an
//! authorization does. Confirming it charges the account by a move (`moves.rs`: the account's
//! partition debits it and pays the merchant by a credit back); a refund debits the merchant
//! here and pays the account by a credit. Until the answer comes the command is pending, and:
//! - a charged bill stays `submitted` (out of the expiry queue: it cannot expire while its
//!   money is in flight); approved, it is `paid`; refused, it is `submitted` again with the
//!   refusal as the confirmation's answer, as if the confirmation had never applied;
//! - every other command naming the bill (a repeated confirmation, an item, a submission, a
//!   cancellation, a refund) waits and applies, from the start and in the order it came, once
//!   the step is final: it decides as it would have right after the step on one partition (at
//!   most `BILL_WAITING_MAX` wait; past them one is refused as if the step had been approved).
//!
//! A confirmation with a coupon whose bill's account lives elsewhere is refused
//! `cross_partition` (the coupon lives on the home partition and is redeemed with the charge).
//! A refused command changes nothing: the payer's partition refunds a refused move itself, and a
//! refused refund comes back into the merchant's account here.

use serde::{Deserialize, Serialize};

use crate::command::{Change, Command, ObjectKind, Outcome, Refund, Rejection, Reply, Submission};
use crate::constants::BILL_WAITING_MAX;
use crate::partition::Paying;
use crate::state_machine::archive::ArchivedKind;
use crate::state_machine::bills::BillState;
use crate::state_machine::refunds::RefundEntry;
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::{Currency, Id, TimestampMs};

/// A bill's step whose money is in flight, and the commands naming the bill that wait for it
/// (the number each caller waits on, and the command).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BillStep {
    id: Id,
    money: BillMoney,
    waiting: Vec<(u64, Box<Submission>)>,
}

/// What a [`BillStep`] pays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum BillMoney {
    /// The bill's charge, of this amount.
    Charge(u64),
    /// A partial refund.
    Refund(RefundEntry),
}

/// The bill a command names, if it is one of a bill's follow-ups.
fn named_bill(command: &Command) -> Option<&Id> {
    match command {
        Command::AddBillItem(add) => Some(&add.bill),
        Command::SubmitBill(submit) => Some(&submit.bill),
        Command::ConfirmBill(confirm) => Some(&confirm.bill),
        Command::CancelBill { bill } => Some(bill),
        Command::RefundBill(refund) => Some(&refund.of),
        _ => None,
    }
}

impl StateMachine {
    /// A follow-up naming a bill whose charge or refund is in flight waits for it: the caller
    /// waits on a number of its own, and the command applies once the step is final. `None`:
    /// apply it now.
    pub(in crate::state_machine) fn wait_for_bill_step(&mut self, submission: &Submission) -> Option<Outcome> {
        let id = named_bill(&submission.command)?;
        let transit = &mut self.state.transit;
        let number = *transit.by_bill.get(id)?;
        let next = transit.last_number + 1;
        let step = transit.bill_steps.get_mut(&number)?;
        if step.waiting.len() >= BILL_WAITING_MAX {
            let busy = match submission.command {
                Command::RefundBill(_) => Rejection::NotReversible,
                _ => Rejection::BillNotOpen,
            };
            return Some(Outcome::Rejected(busy));
        }
        step.waiting.push((next, Box::new(submission.clone())));
        transit.last_number = next;
        self.pending = Some(next);
        Some(Outcome::Applied(Reply::Done))
    }

    /// Charges bill `id` (submitted, its challenge verified) from `account`, which lives
    /// elsewhere, to `merchant_account` here: pending until the account's partition answers.
    pub(in crate::state_machine) fn charge_across(
        &mut self,
        id: &Id,
        (account, merchant_account): (&Id, &Id),
        charged: u64,
        currency: Currency,
    ) {
        let number = self.send_move(Paying::Bill(id.clone()), account, merchant_account, charged, currency);
        let bill = &self.state.bills[id];
        let due = (bill.closes_at_ms, id.clone());
        assert!(self.state.bill_expiry.remove(&due), "a submitted bill is in the expiry index");
        self.bill_step_sent(number, id, BillMoney::Charge(charged));
    }

    /// Refunds `entry` of bill `id` from `merchant_account` to `account` where one of them
    /// lives elsewhere: pending until it is final.
    pub(in crate::state_machine) fn refund_bill_across(
        &mut self,
        request: &Refund,
        entry: RefundEntry,
        (merchant_account, account): (&Id, &Id),
        currency: Currency,
        events: &mut Vec<crate::command::Event>,
    ) -> Outcome {
        let paying = Paying::BillRefund(request.of.clone());
        match self.pay_across(paying, (merchant_account, account), request.amount, currency, events) {
            Ok(number) => {
                self.bill_step_sent(number, &request.of, BillMoney::Refund(entry));
                Outcome::Applied(Reply::Done)
            }
            Err(rejection) => Outcome::Rejected(rejection),
        }
    }

    fn bill_step_sent(&mut self, number: u64, id: &Id, money: BillMoney) {
        let transit = &mut self.state.transit;
        transit.by_bill.insert(id.clone(), number);
        transit.bill_steps.insert(number, BillStep { id: id.clone(), money, waiting: Vec::new() });
    }

    /// The answer to a bill step's money (its payer refunded already if it was refused): the
    /// step's final outcome; then the commands that waited for it apply.
    pub(super) fn bill_step_settled(
        &mut self,
        now: TimestampMs,
        number: u64,
        refused: Option<Rejection>,
        output: &mut CommitOutput,
    ) -> Outcome {
        let transit = &mut self.state.transit;
        let BillStep { id, money, waiting } = transit.bill_steps.remove(&number).expect("an open bill step");
        transit.by_bill.remove(&id);
        let events = &mut output.events;
        let bill = self.state.bills.get_mut(&id).expect("a bill with a step in flight stays");
        let outcome = match (money, refused) {
            (BillMoney::Charge(_), Some(rejection)) => {
                self.state.bill_expiry.insert((bill.closes_at_ms, id.clone()));
                Outcome::Rejected(rejection)
            }
            (BillMoney::Refund(_), Some(rejection)) => Outcome::Rejected(rejection),
            (BillMoney::Charge(charged), None) => {
                bill.state = BillState::Paid { charged, discount: 0 };
                Self::changed(events, ObjectKind::Bill, &id, Change::Completed);
                self.resolved(ArchivedKind::Bill, &id);
                Outcome::Applied(Reply::BillPaid { charged, discount: 0 })
            }
            (BillMoney::Refund(entry), None) => {
                let reply = Reply::Refunded { amount: entry.amount, remaining: entry.remaining };
                bill.refunds.push(entry);
                Self::changed(events, ObjectKind::Bill, &id, Change::Refunded);
                Outcome::Applied(reply)
            }
        };
        self.apply_waiting(now, waiting, output);
        outcome
    }

    /// Applies the commands that waited for a bill step, in order, answering each caller now or
    /// when its own money is final; those behind a step that one of them sent wait for that one.
    fn apply_waiting(&mut self, now: TimestampMs, waiting: Vec<(u64, Box<Submission>)>, output: &mut CommitOutput) {
        for (caller, submission) in waiting {
            let transit = &mut self.state.transit;
            let behind = named_bill(&submission.command).and_then(|id| transit.by_bill.get(id));
            if let Some(step) = behind.and_then(|number| transit.bill_steps.get_mut(number)) {
                step.waiting.push((caller, submission));
                continue;
            }
            let outcome = self.apply(now, &submission, &mut output.events);
            match self.pending.take() {
                Some(number) => drop(self.state.transit.aliases.insert(number, caller)),
                None => output.completed.push((caller, outcome)),
            }
        }
    }

    /// Whether bill `id` has a charge or refund in flight (it stays in memory until it is final).
    pub(in crate::state_machine) fn bill_in_flight(&self, id: &Id) -> bool {
        let transit = &self.state.transit;
        transit.by_bill.get(id).is_some_and(|number| transit.bill_steps.contains_key(number))
    }
}

#[cfg(test)]
mod tests;
