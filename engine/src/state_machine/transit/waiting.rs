//! Commands that wait for a step in flight to another partition: a command naming a bill whose
//! charge or refund is in flight (`bills.rs`), a split whose share, payout or give-back is
//! (`splits.rs`), a coupon that a payment in flight will redeem if it is approved (a POS
//! sale's or a bill's whose payer lives elsewhere), or a merchant whose registration waits for
//! its account's check (its terminals, operators, coupons, bills, another registration).
//!
//! Such a command is not decided now: its outcome depends on the step's. Its caller waits on a
//! number of its own, and the command applies from the start, in the order it came, once the
//! step is final, so it decides as it would have right after the step on one partition. At
//! most [`STEP_WAITING_MAX`] wait for one step, so that waiting costs bounded memory however
//! long the other partition takes; past them a command is refused as if the step had been
//! approved (`bill_not_open`, `split_closed`, a refund `not_reversible`, a coupon
//! `coupon_redeemed`).

use crate::command::{Command, Outcome, Rejection, Reply, Submission};
use crate::constants::STEP_WAITING_MAX;
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::{Id, TimestampMs};

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

/// The split a command names, if it is one of a split's follow-ups.
fn named_split(command: &Command) -> Option<&Id> {
    match command {
        Command::PaySplitShare(pay) => Some(&pay.split),
        Command::CancelSplit { split } | Command::RefundSplit { split } => Some(split),
        _ => None,
    }
}

/// The merchant a command names, if it needs the merchant registered.
fn named_merchant(command: &Command) -> Option<&Id> {
    match command {
        Command::RegisterMerchant(register) => Some(&register.merchant),
        Command::RegisterTerminal(register) => Some(&register.merchant),
        Command::RegisterOperator(register) => Some(&register.merchant),
        Command::IssueCoupon(issue) => Some(&issue.merchant),
        Command::OpenBill(open) => Some(&open.merchant),
        _ => None,
    }
}

/// What a command waiting past the bound is refused, as if the step had been approved (a
/// merchant's: as if it had not applied yet).
fn busy(command: &Command) -> Rejection {
    match command {
        Command::RegisterMerchant(_) => Rejection::AlreadyExists,
        command if named_merchant(command).is_some() => Rejection::MerchantNotFound,
        Command::RefundBill(_) | Command::RefundSplit { .. } => Rejection::NotReversible,
        command if named_bill(command).is_some() => Rejection::BillNotOpen,
        command if named_split(command).is_some() => Rejection::SplitClosed,
        _ => Rejection::CouponRedeemed,
    }
}

impl super::Transit {
    /// Whether a payment in flight redeems coupon `id` if it is approved.
    pub(in crate::state_machine) fn redeeming(&self, id: &Id) -> bool {
        self.coupons_in_flight.contains_key(id)
    }
}

impl StateMachine {
    /// The number of the step in flight that `command` must wait for, if any.
    fn step_in_the_way(&self, command: &Command) -> Option<u64> {
        let transit = &self.state.transit;
        if !transit.by_merchant.is_empty()
            && let Some(number) = named_merchant(command).and_then(|merchant| transit.by_merchant.get(merchant))
        {
            return Some(*number);
        }
        if transit.bill_steps.is_empty() && transit.coupons_in_flight.is_empty() && transit.split_steps.is_empty() {
            return None;
        }
        if let Some(split) = named_split(command)
            && let Some(number) = transit.by_split.get(split)
            && transit.split_steps.contains_key(number)
        {
            return Some(*number);
        }
        if let Some(bill) = named_bill(command)
            && let Some(number) = transit.by_bill.get(bill)
            && transit.bill_steps.contains_key(number)
        {
            return Some(*number);
        }
        if transit.coupons_in_flight.is_empty() {
            return None;
        }
        let coupon = match command {
            Command::ShareCoupon(share) => Some(&share.coupon),
            Command::ClaimCoupon(claim) => Some(&claim.coupon),
            Command::SettlePos(settle) => settle.coupon.as_ref(),
            Command::ConfirmBill(confirm) => confirm.coupon.as_ref(),
            Command::RedeemCoupon(redeem) => self.state.coupon_codes.get(&self.coupon_index(&redeem.code)),
            _ => None,
        };
        coupon.and_then(|coupon| transit.coupons_in_flight.get(coupon)).copied()
    }

    /// Parks `submission` behind the step in flight it must wait for (see the module's
    /// documentation). `None`: apply it now.
    pub(in crate::state_machine) fn wait_for_step(&mut self, submission: &Submission) -> Option<Outcome> {
        let number = self.step_in_the_way(&submission.command)?;
        Some(self.park_behind(number, submission))
    }

    /// A registration of a merchant whose registration waits for its account's check waits
    /// for it too, before it is checked itself. `None`: go on.
    pub(in crate::state_machine) fn wait_for_registration(&mut self, submission: &Submission) -> Option<Outcome> {
        let Command::RegisterMerchant(register) = &submission.command else { return None };
        let number = *self.state.transit.by_merchant.get(&register.merchant)?;
        Some(self.park_behind(number, submission))
    }

    /// Parks `submission` behind step `number` (at most [`STEP_WAITING_MAX`] per step).
    fn park_behind(&mut self, number: u64, submission: &Submission) -> Outcome {
        self.park(number, submission, busy(&submission.command))
    }

    /// Parks `submission` behind step `number`, or refuses it `refusal` past the bound.
    pub(in crate::state_machine) fn park(
        &mut self,
        number: u64,
        submission: &Submission,
        refusal: Rejection,
    ) -> Outcome {
        let transit = &mut self.state.transit;
        let waiting = transit.waiting.entry(number).or_default();
        if waiting.len() >= STEP_WAITING_MAX {
            return Outcome::Rejected(refusal);
        }
        let caller = transit.last_number + 1;
        transit.last_number = caller;
        waiting.push((caller, Box::new(submission.clone())));
        self.pending = Some(caller);
        Outcome::Applied(Reply::Done)
    }

    /// Step `number` is final: applies the commands that waited for it, in order, answering each
    /// caller now or when its own step is final; one behind a step that an earlier one sent
    /// waits for that one.
    pub(super) fn release_waiting(&mut self, now: TimestampMs, number: u64, output: &mut CommitOutput) {
        let Some(waiting) = self.state.transit.waiting.remove(&number) else { return };
        for (caller, submission) in waiting {
            if let Some(step) = self.step_in_the_way(&submission.command) {
                self.state.transit.waiting.entry(step).or_default().push((caller, submission));
                continue;
            }
            let outcome = self.apply(now, &submission, &mut output.events);
            match self.pending.take() {
                Some(number) => drop(self.state.transit.aliases.insert(number, caller)),
                // Through `complete`: the caller may stand for others (a command that waited for
                // its check or its user's claim, then for this step).
                None => self.complete(caller, outcome, output),
            }
        }
    }
}
