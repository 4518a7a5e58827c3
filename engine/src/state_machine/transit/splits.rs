//! Splits whose accounts live on other partitions than the split (the home partition).
//!
//! The split and its escrow live on the home partition; the requester's and the members'
//! accounts may live anywhere. Requesting checks each account placed elsewhere where it lives,
//! one after another (`Checking::Split`), then decides from the start. Then:
//! - a member's share from an account elsewhere travels by a move into the escrow here
//!   (`Paying::SplitShare`): the member's partition debits it, counts the account's share as out
//!   (it may not close until the share comes back or is released), and credits the escrow;
//! - the share that completes the split pays the total to the requester: here, or by a credit
//!   from the escrow (`Paying::SplitPayout`). If the requester's account cannot take it, the
//!   last share goes back to its member (here, or by a credit, `Paying::SplitRefund`) and the
//!   payment answers the refusal, as on one partition, where the requester is checked after the
//!   member; once complete, every member account elsewhere is released (`Paying::SplitRelease`,
//!   no money) and the payment answers when they all are;
//! - a cancellation or expiry gives every paid share back (elsewhere by a credit) and answers
//!   when they all arrived; a completed split's refund reserves its member accounts elsewhere
//!   first (`split_refunds.rs`).
//!
//! While a share, payout or give-back is in flight the split is out of the expiry queue and every
//! command naming it waits (`waiting.rs`). Money is conserved on every partition at every step:
//! the escrow holds the shares that arrived, the transit what is on its way.

use serde::{Deserialize, Serialize};

use super::linked::LegAnswer;
use crate::command::{Event, Outcome, Principal, Rejection, Reply};
use crate::partition::Paying;
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::{Id, TimestampMs};

/// A split's money step in flight: member `index`'s share and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SplitStep {
    pub(super) id: Id,
    pub(super) index: usize,
    pub(super) stage: Stage,
    /// The app that pays for the member, which claims the member's user if the share is paid
    /// (as on one partition, where an applied command claims its unclaimed user).
    pub(super) claims: Option<Principal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Stage {
    /// The share on its way into escrow (a move); `completes`: it is the last one.
    Share { completes: bool },
    /// The total on its way to the requester's account (a credit from escrow).
    Payout,
    /// The last share on its way back to its member: the completion was refused so.
    GivingBack(Rejection),
    /// A completed split's refund: its member accounts elsewhere being reserved
    /// (`split_refunds.rs`), the answers so far and how many are left.
    Reserving { known: Vec<LegAnswer>, left: usize },
    /// A completed split's refund: its total on its way from the requester's account elsewhere
    /// into escrow (a move), the member accounts elsewhere reserved.
    Collecting { known: Vec<LegAnswer> },
}

impl StateMachine {
    /// Pays member `index`'s share of split `id` where its account, or (for the last share) the
    /// requester's, lives elsewhere. The caller checked the split, the member and, for an
    /// account here, its funds. Pending until the money is final.
    pub(in crate::state_machine) fn pay_share_across(
        &mut self,
        id: &Id,
        (index, claims): (usize, Option<Principal>),
        completes: bool,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let split = &self.state.splits[id];
        let (account, share, currency) = (split.members[index].account.clone(), split.shares[index], split.currency);
        let number = if self.lives_here(&account) {
            // The last share, from here: the requester lives elsewhere.
            self.take_share(id, index, events);
            self.pay_out(id, (index, claims))
        } else {
            let number = self.send_move(Paying::SplitShare(id.clone()), &account, id, share, currency);
            self.step_started(number, id, (index, claims), Stage::Share { completes });
            number
        };
        self.pending = Some(number);
        Outcome::Applied(Reply::Done)
    }

    fn step_started(&mut self, number: u64, id: &Id, (index, claims): (usize, Option<Principal>), stage: Stage) {
        let expires_at_ms = self.state.splits[id].expires_at_ms;
        // Out of the expiry queue while its money is in flight (back in when it is final).
        self.state.split_expiry.remove(&(expires_at_ms, id.clone()));
        let transit = &mut self.state.transit;
        transit.by_split.insert(id.clone(), number);
        transit.split_steps.insert(number, SplitStep { id: id.clone(), index, stage, claims });
    }

    /// Sends split `id`'s escrow (its total, member `index`'s share the last in) to the
    /// requester's account elsewhere; returns the credit's number (the step goes on under it).
    fn pay_out(&mut self, id: &Id, (index, claims): (usize, Option<Principal>)) -> u64 {
        let split = self.state.splits.get_mut(id).expect("exists");
        let (requester, total, currency) = (split.requester_account.clone(), split.total, split.currency);
        assert_eq!(split.escrow, total, "a complete split holds its total in escrow");
        split.escrow = 0;
        let number = self.open_credit(id, Paying::SplitPayout(id.clone()), (&requester, total, currency), None);
        self.step_started(number, id, (index, claims), Stage::Payout);
        number
    }

    /// The share money arrived here from a member's partition (it waits for the move's answer).
    pub(super) fn share_into_escrow(&mut self, id: &Id, credit: &crate::partition::Credit) {
        let split = self.state.splits.get_mut(id).expect("a split with a share in flight stays");
        split.escrow = split.escrow.checked_add(credit.amount).expect("escrow at most the split's total");
        *self.state.transit.received.entry(credit.currency).or_default() += u128::from(credit.amount);
    }

    /// A share given back to a member account here from a split's escrow elsewhere (posted
    /// unconditionally: the account could not close meanwhile), or released: the account's share
    /// is no longer out.
    pub(super) fn share_back(&mut self, credit: &crate::partition::Credit, events: &mut Vec<Event>) {
        if credit.amount > 0 {
            let delta = i64::try_from(credit.amount).expect("amounts are at most AMOUNT_MINOR_MAX");
            self.post(&credit.to, delta, 0, credit.paying.cause(), events);
        }
        *self.state.transit.received.entry(credit.currency).or_default() += u128::from(credit.amount);
        let out = &mut self.state.transit.shares_out;
        let count = out.get_mut(&credit.to).expect("a share given back or released was out");
        *count -= 1;
        if *count == 0 {
            out.remove(&credit.to);
        }
    }

    /// A payout refused by the requester's partition: the total is back in escrow.
    pub(super) fn payout_back_into_escrow(&mut self, credit: &crate::partition::Credit) {
        let Paying::SplitPayout(id) = &credit.paying else { unreachable!("a payout") };
        let split = self.state.splits.get_mut(id).expect("a split with a payout in flight stays");
        split.escrow = split.escrow.checked_add(credit.amount).expect("escrow at most the split's total");
    }

    /// The answer to a split step's money: its final outcome, or `None` if the step goes on
    /// under a new number (aliased to this one, whose callers wait). The commands that waited
    /// for the split apply then (or wait for the next step).
    pub(super) fn split_step_settled(
        &mut self,
        now: TimestampMs,
        number: u64,
        refused: Option<Rejection>,
        output: &mut CommitOutput,
    ) -> Option<Outcome> {
        let transit = &mut self.state.transit;
        let SplitStep { id, index, stage, claims } = transit.split_steps.remove(&number).expect("an open split step");
        transit.by_split.remove(&id);
        let share = self.state.splits[&id].shares[index];
        let outcome = match (stage, refused) {
            (Stage::Share { .. }, Some(rejection)) => self.split_open_again(&id, Outcome::Rejected(rejection)),
            (Stage::Share { completes: false }, None) => {
                self.share_arrived(&id, index);
                self.claim_member(&id, (index, claims));
                self.split_open_again(&id, Outcome::Applied(Reply::SharePaid { amount: share, completed: false }))
            }
            (Stage::Share { completes: true }, None) => {
                self.share_arrived(&id, index);
                self.complete_across(number, &id, (index, claims), output)
            }
            (Stage::Payout, None) => {
                let paid = Outcome::Applied(Reply::SharePaid { amount: share, completed: true });
                self.split_completed(&id, &mut output.events);
                self.claim_member(&id, (index, claims));
                self.release_members(number, &id, paid)
            }
            (Stage::Payout, Some(rejection)) => self.give_back_last(number, &id, index, rejection, output),
            (Stage::GivingBack(rejection), _) => self.split_open_again(&id, Outcome::Rejected(rejection)),
            (Stage::Collecting { known }, refused) => {
                self.refund_total_settled(number, &id, &known, refused, &mut output.events)
            }
            (Stage::Reserving { .. }, _) => unreachable!("reservations are answered by reserve_answered"),
        };
        self.release_waiting(now, number, output);
        outcome
    }

    /// The split is open again after a step (back in the expiry queue); returns `outcome`.
    fn split_open_again(&mut self, id: &Id, outcome: Outcome) -> Option<Outcome> {
        let expires_at_ms = self.state.splits[id].expires_at_ms;
        self.state.split_expiry.insert((expires_at_ms, id.clone()));
        Some(outcome)
    }

    /// Member `index`'s share from elsewhere is in escrow: it is paid.
    fn share_arrived(&mut self, id: &Id, index: usize) {
        let split = self.state.splits.get_mut(id).expect("exists");
        split.paid[index] = true;
        let account = split.members[index].account.clone();
        *self.state.escrowed_shares.entry(account).or_default() += 1;
    }

    /// The last share is in escrow: pay the requester here (or refuse and give the share back),
    /// or send the total to its partition.
    fn complete_across(
        &mut self,
        number: u64,
        id: &Id,
        (index, claims): (usize, Option<Principal>),
        output: &mut CommitOutput,
    ) -> Option<Outcome> {
        let split = &self.state.splits[id];
        let (requester, total, currency, share) =
            (split.requester_account.clone(), split.total, split.currency, split.shares[index]);
        if !self.lives_here(&requester) {
            let next = self.pay_out(id, (index, claims));
            self.state.transit.aliases.insert(next, number);
            return None;
        }
        let takes = self.usable_account(&requester, currency, Rejection::CounterpartyNotFound).and_then(|account| {
            account.can_credit(total)?;
            Ok(())
        });
        if let Err(rejection) = takes {
            return self.give_back_last(number, id, index, rejection, output);
        }
        let expires_at_ms = self.state.splits[id].expires_at_ms;
        self.state.split_expiry.insert((expires_at_ms, id.clone()));
        self.complete_split(id, &mut output.events);
        self.claim_member(id, (index, claims));
        self.release_members(number, id, Outcome::Applied(Reply::SharePaid { amount: share, completed: true }))
    }

    /// The share of member `index` was paid: the app that paid it claims the member's user if
    /// nobody has.
    fn claim_member(&mut self, id: &Id, (index, claims): (usize, Option<Principal>)) {
        let Some(app) = claims else { return };
        let user = self.state.splits[id].members[index].user.clone();
        self.claim_made_here(&user);
        self.record_claim(&user, &app);
    }

    /// The completion was refused with `rejection`: member `index`'s last share leaves escrow
    /// for its account (here at once, or by a credit the callers wait for).
    fn give_back_last(
        &mut self,
        number: u64,
        id: &Id,
        index: usize,
        rejection: Rejection,
        output: &mut CommitOutput,
    ) -> Option<Outcome> {
        let split = self.state.splits.get_mut(id).expect("exists");
        let (account, share, currency) = (split.members[index].account.clone(), split.shares[index], split.currency);
        split.paid[index] = false;
        split.escrow = split.escrow.checked_sub(share).expect("the escrow holds the share given back");
        self.state.release_share(&account);
        if self.lives_here(&account) {
            let delta = i64::try_from(share).expect("share within AMOUNT_MINOR_MAX");
            self.post(&account, delta, 0, Paying::SplitRefund(id.clone()).cause(), &mut output.events);
            return self.split_open_again(id, Outcome::Rejected(rejection));
        }
        let next = self.open_credit(id, Paying::SplitRefund(id.clone()), (&account, share, currency), None);
        self.step_started(next, id, (index, None), Stage::GivingBack(rejection));
        self.state.transit.aliases.insert(next, number);
        None
    }

    /// Split `id` completed: releases its member accounts elsewhere; `paid` answers once they all
    /// are (`None`: the callers of `number` wait for that), or at once if none is.
    fn release_members(&mut self, number: u64, id: &Id, paid: Outcome) -> Option<Outcome> {
        let releases = self.release_credits(id);
        if releases.is_empty() {
            return Some(paid);
        }
        let join = self.join_credits(releases, paid);
        self.state.transit.aliases.insert(join, number);
        None
    }

    /// Sends a release to every member account of split `id` that lives elsewhere; returns the
    /// credits' numbers.
    pub(in crate::state_machine) fn release_credits(&mut self, id: &Id) -> Vec<u64> {
        let split = &self.state.splits[id];
        let currency = split.currency;
        let elsewhere: Vec<Id> = split
            .members
            .iter()
            .map(|member| member.account.clone())
            .filter(|account| !self.lives_here(account))
            .collect();
        let release = Paying::SplitRelease(id.clone());
        elsewhere.iter().map(|account| self.open_credit(id, release.clone(), (account, 0, currency), None)).collect()
    }

    /// Gives `share` back from split `id`'s escrow to member account `account` elsewhere; returns
    /// the credit's number.
    pub(in crate::state_machine) fn give_share_back(&mut self, id: &Id, account: &Id, share: u64) -> u64 {
        let currency = self.state.splits[id].currency;
        self.open_credit(id, Paying::SplitRefund(id.clone()), (account, share, currency), None)
    }
}

#[cfg(test)]
mod tests;
