//! Bills whose account lives on another partition than the bill (the home partition).
//!
//! The bill and its challenge live on the home partition; the charged account and the
//! merchant's account may live anywhere. Opening the bill checks the account where it lives first
//! (`Checking::Bill`: owner, currency, closed) and then decides from the start, as an
//! authorization does (its merchant's account too, when it lives elsewhere). Confirming it
//! charges the account by a move (`moves.rs`: the account's partition debits it and pays the
//! merchant's account by a credit), or, the account here, debits it and pays the merchant's
//! account by a credit; a refund debits the merchant's account (by a move when it lives
//! elsewhere) and pays the account. Until the answer comes the command is pending, and:
//! - a charged bill stays `submitted` (out of the expiry queue: it cannot expire while its
//!   money is in flight); approved, it is `paid`; refused, it is `submitted` again with the
//!   refusal as the confirmation's answer, as if the confirmation had never applied;
//! - every other command naming the bill (a repeated confirmation, an item, a submission, a
//!   cancellation, a refund) waits for the step and then applies from the start
//!   (`waiting.rs`);
//! - a coupon the confirmation uses is quoted when it is sent and redeemed if the charge is
//!   approved; until then every command naming the coupon waits too.
//!
//! A refused command changes nothing: the payer's partition refunds a refused move itself, and a
//! refused refund comes back into the merchant's account here.

use serde::{Deserialize, Serialize};

use crate::command::{Change, ObjectKind, Outcome, Refund, Rejection, Reply};
use crate::partition::Paying;
use crate::state_machine::archive::ArchivedKind;
use crate::state_machine::bills::BillState;
use crate::state_machine::refunds::RefundEntry;
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::{Currency, Id, TimestampMs};

/// A bill's step whose money is in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BillStep {
    id: Id,
    money: BillMoney,
}

/// What a [`BillStep`] pays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum BillMoney {
    /// The bill's charge, with the coupon it redeems if approved.
    Charge { charged: u64, discount: u64, coupon: Option<Id> },
    /// A partial refund.
    Refund(RefundEntry),
}

/// A bill's charge across partitions: what is charged, and the coupon it redeems if approved
/// (with its discount).
pub(crate) struct Charge<'a> {
    pub(crate) charged: u64,
    pub(crate) discount: u64,
    pub(crate) coupon: Option<&'a Id>,
    pub(crate) currency: Currency,
}

impl StateMachine {
    /// Charges bill `id` (submitted, its challenge verified, its coupon quoted) from `account`
    /// to `merchant_account`, one of which lives elsewhere: pending until the merchant's
    /// account is paid or the charge refused; the coupon is kept for it meanwhile. An account
    /// here that cannot pay refuses it at once.
    pub(in crate::state_machine) fn charge_across(
        &mut self,
        id: &Id,
        (account, merchant_account): (&Id, &Id),
        charge: Charge<'_>,
        events: &mut Vec<crate::command::Event>,
    ) -> Result<(), Rejection> {
        let Charge { charged, discount, coupon, currency } = charge;
        let paying = Paying::Bill(id.clone());
        let number = self.pay_across(paying, (account, merchant_account), charged, currency, events)?;
        let bill = &self.state.bills[id];
        let due = (bill.closes_at_ms, id.clone());
        assert!(self.state.bill_expiry.remove(&due), "a submitted bill is in the expiry index");
        if let Some(coupon) = coupon {
            self.state.transit.coupons_in_flight.insert(coupon.clone(), number);
        }
        let coupon = coupon.cloned();
        self.bill_step_sent(number, id, BillMoney::Charge { charged, discount, coupon });
        Ok(())
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
        transit.bill_steps.insert(number, BillStep { id: id.clone(), money });
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
        let BillStep { id, money } = transit.bill_steps.remove(&number).expect("an open bill step");
        transit.by_bill.remove(&id);
        let events = &mut output.events;
        let bill = self.state.bills.get_mut(&id).expect("a bill with a step in flight stays");
        let outcome = match (money, refused) {
            (BillMoney::Charge { coupon, .. }, Some(rejection)) => {
                self.state.bill_expiry.insert((bill.closes_at_ms, id.clone()));
                if let Some(coupon) = coupon {
                    self.state.transit.coupons_in_flight.remove(&coupon);
                }
                Outcome::Rejected(rejection)
            }
            (BillMoney::Refund(_), Some(rejection)) => Outcome::Rejected(rejection),
            (BillMoney::Charge { charged, discount, coupon }, None) => {
                bill.state = BillState::Paid { charged, discount };
                Self::changed(events, ObjectKind::Bill, &id, Change::Completed);
                if let Some(coupon) = coupon {
                    self.state.transit.coupons_in_flight.remove(&coupon);
                    self.redeem_coupon_for_payment(now, &coupon, events);
                }
                self.resolved(ArchivedKind::Bill, &id);
                Outcome::Applied(Reply::BillPaid { charged, discount })
            }
            (BillMoney::Refund(entry), None) => {
                let reply = Reply::Refunded { amount: entry.amount, remaining: entry.remaining };
                bill.refunds.push(entry);
                Self::changed(events, ObjectKind::Bill, &id, Change::Refunded);
                Outcome::Applied(reply)
            }
        };
        self.release_waiting(now, number, output);
        outcome
    }

    /// Whether bill `id` has a charge or refund in flight (it stays in memory until it is final).
    pub(in crate::state_machine) fn bill_in_flight(&self, id: &Id) -> bool {
        let transit = &self.state.transit;
        transit.by_bill.get(id).is_some_and(|number| transit.bill_steps.contains_key(number))
    }
}

#[cfg(test)]
mod tests;
