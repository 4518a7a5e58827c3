//! The refund of a completed split whose accounts live on other partitions than the split (the
//! home partition): the requester's account pays each member account back the shares it paid,
//! all or nothing.
//!
//! ```text
//! home partition h (the split)          member's partition m          requester's partition r
//!   reserve each member account    --Reserve-->  closed? ceiling?
//!   elsewhere, all at once         <--Settled--  kept payable (or refused)
//!   decide the members in order (here: closed, ceiling; there: the answer)
//!   then the requester: here, debit it into the escrow; elsewhere:
//!                                  --Move (SplitRefundTotal)----------------->  closed? funds?
//!   the total arrives in escrow    <--Credit, then Settled--------------------  debit it
//!   pay each member back from the escrow: here at once, elsewhere
//!                                  --Credit (ReservedRefund)-->  never refused
//!   refused anywhere: every reservation released (a credit of no money), nothing moved
//! ```
//!
//! So across partitions the members' accounts are decided before the requester's (one partition
//! decides closed accounts first, then the requester's funds, then the members' ceilings): a
//! refund that fails twice may name the other reason. The answer comes once every credit is
//! settled; meanwhile every command naming the split waits (`waiting.rs`).

use super::StateMachine;
use super::linked::LegAnswer;
use super::splits::{SplitStep, Stage};
use crate::command::{Change, Event, ObjectKind, Outcome, Rejection, Reply};
use crate::partition::Paying;
use crate::state_machine::{CommitOutput, SplitState};
use crate::types::{Id, TimestampMs};

/// What a step of the refund leaves: its final outcome, or the number it waits on.
pub(super) enum Waits {
    /// Final.
    Final(Outcome),
    /// Waiting for message (or join) `number`.
    On(u64),
}

impl StateMachine {
    /// The distinct member accounts of split `id`, in order, with the shares each paid.
    fn member_sums(&self, id: &Id) -> Vec<(Id, u64)> {
        let split = &self.state.splits[id];
        let mut sums: Vec<(Id, u64)> = Vec::new();
        for (member, share) in split.members.iter().zip(&split.shares) {
            match sums.iter_mut().find(|(account, _)| *account == member.account) {
                Some((_, sum)) => *sum = sum.checked_add(*share).expect("shares sum to the split's total"),
                None => sums.push((member.account.clone(), *share)),
            }
        }
        sums
    }

    /// Refunds completed split `id`, one of whose accounts lives elsewhere: reserves the member
    /// accounts elsewhere, or (all here) goes on to the requester's. Pending until final.
    pub(in crate::state_machine) fn refund_split_across(&mut self, id: &Id, events: &mut Vec<Event>) -> Outcome {
        let sums = self.member_sums(id);
        let currency = self.state.splits[id].currency;
        let elsewhere: Vec<usize> = (0..sums.len()).filter(|index| !self.lives_here(&sums[*index].0)).collect();
        if elsewhere.is_empty() {
            return match self.refund_decided(id, Vec::new(), events) {
                Waits::Final(outcome) => outcome,
                Waits::On(number) => self.waits_on(number),
            };
        }
        let waiting = self.state.transit.next_number();
        for index in &elsewhere {
            let (account, amount) = &sums[*index];
            self.send_reserve((waiting, *index), (account, false), *amount, currency);
        }
        let stage = Stage::Reserving { known: Vec::new(), left: elsewhere.len() };
        self.refund_step(waiting, id, stage);
        self.waits_on(waiting)
    }

    fn waits_on(&mut self, number: u64) -> Outcome {
        self.pending = Some(number);
        Outcome::Applied(Reply::Done)
    }

    fn refund_step(&mut self, number: u64, id: &Id, stage: Stage) {
        let transit = &mut self.state.transit;
        transit.by_split.insert(id.clone(), number);
        transit.split_steps.insert(number, SplitStep { id: id.clone(), index: 0, stage, claims: None });
    }

    /// Reservation `answer` of split refund step `waiting`: once all are in, the refund decides.
    pub(super) fn split_reserve_answered(
        &mut self,
        now: TimestampMs,
        waiting: u64,
        answer: LegAnswer,
        output: &mut CommitOutput,
    ) {
        let transit = &mut self.state.transit;
        let step = transit.split_steps.get_mut(&waiting).expect("a reservation's split refund waits");
        let Stage::Reserving { known, left } = &mut step.stage else { unreachable!("reservations of a refund") };
        known.push(answer);
        *left -= 1;
        if *left > 0 {
            return;
        }
        let step = transit.split_steps.remove(&waiting).expect("looked at above");
        transit.by_split.remove(&step.id);
        let Stage::Reserving { known, .. } = step.stage else { unreachable!("looked at above") };
        match self.refund_decided(&step.id, known, &mut output.events) {
            Waits::Final(outcome) => self.complete(waiting, outcome, output),
            Waits::On(next) => drop(self.state.transit.aliases.insert(next, waiting)),
        }
        self.release_waiting(now, waiting, output);
    }

    /// Every member account elsewhere answered (`known`): decide the members in order, then the
    /// requester's account (here at once, elsewhere by a move into the escrow).
    fn refund_decided(&mut self, id: &Id, known: Vec<LegAnswer>, events: &mut Vec<Event>) -> Waits {
        let sums = self.member_sums(id);
        let split = &self.state.splits[id];
        let (requester, total, currency) = (split.requester_account.clone(), split.total, split.currency);
        for (index, (account, sum)) in sums.iter().enumerate() {
            let takes = if self.lives_here(account) {
                self.usable_account(account, currency, Rejection::AccountNotFound).and_then(|to| to.can_credit(*sum))
            } else {
                let answer = known.iter().find(|answer| answer.leg == index).expect("every member elsewhere answered");
                answer.refused.map_or(Ok(()), Err)
            };
            if let Err(rejection) = takes {
                return self.refund_refused(id, &known, rejection);
            }
        }
        if !self.lives_here(&requester) {
            let number = self.send_move(Paying::SplitRefundTotal(id.clone()), &requester, id, total, currency);
            self.pending = None;
            self.refund_step(number, id, Stage::Collecting { known });
            return Waits::On(number);
        }
        let pays = self.usable_account(&requester, currency, Rejection::AccountNotFound).and_then(|from| {
            from.can_debit(total)?;
            Ok(())
        });
        if let Err(rejection) = pays {
            return self.refund_refused(id, &known, rejection);
        }
        let delta = i64::try_from(total).expect("a split's total is at most AMOUNT_MINOR_MAX");
        self.post(&requester, -delta, 0, Paying::SplitRefundTotal(id.clone()).cause(), events);
        let split = self.state.splits.get_mut(id).expect("exists");
        split.escrow = split.escrow.checked_add(total).expect("a completed split's escrow is empty");
        self.pay_members_back(id, &known, events)
    }

    /// The requester's partition answered the move of the refund's total (`Stage::Collecting`).
    pub(super) fn refund_total_settled(
        &mut self,
        number: u64,
        id: &Id,
        known: &[LegAnswer],
        refused: Option<Rejection>,
        events: &mut Vec<Event>,
    ) -> Option<Outcome> {
        let waits = match refused {
            Some(rejection) => self.refund_refused(id, known, rejection),
            // The total arrived in escrow with the move's credit.
            None => self.pay_members_back(id, known, events),
        };
        match waits {
            Waits::Final(outcome) => Some(outcome),
            Waits::On(next) => {
                self.state.transit.aliases.insert(next, number);
                None
            }
        }
    }

    /// The total is in escrow: each member account is paid back its shares, here or by a
    /// credit to its reservation; the split is refunded once they are all settled.
    fn pay_members_back(&mut self, id: &Id, known: &[LegAnswer], events: &mut Vec<Event>) -> Waits {
        let sums = self.member_sums(id);
        let split = self.state.splits.get_mut(id).expect("exists");
        let (total, currency) = (split.total, split.currency);
        assert_eq!(split.escrow, total, "a refund pays back from its total in escrow");
        split.escrow = 0;
        split.state = SplitState::Refunded;
        let mut credits = Vec::new();
        for (index, (account, sum)) in sums.into_iter().enumerate() {
            if self.lives_here(&account) {
                if sum > 0 {
                    let delta = i64::try_from(sum).expect("shares within AMOUNT_MINOR_MAX");
                    self.post(&account, delta, 0, Paying::SplitRefundTotal(id.clone()).cause(), events);
                }
                continue;
            }
            let answer = known.iter().find(|answer| answer.leg == index).expect("every member elsewhere reserved");
            let paying = Paying::ReservedRefund { split: id.clone(), reservation: answer.reservation };
            credits.push(self.open_credit(id, paying, (&account, sum, currency), None));
        }
        Self::changed(events, ObjectKind::Split, id, Change::Refunded);
        let refunded = Outcome::Applied(Reply::Refunded { amount: total, remaining: 0 });
        if credits.is_empty() {
            return Waits::Final(refunded);
        }
        Waits::On(self.join_credits(credits, refunded))
    }

    /// The refund is refused with `rejection`: every member account reserved elsewhere is
    /// released, and the refusal answers once they all are.
    fn refund_refused(&mut self, id: &Id, known: &[LegAnswer], rejection: Rejection) -> Waits {
        let sums = self.member_sums(id);
        let currency = self.state.splits[id].currency;
        let mut releases = Vec::new();
        for answer in known.iter().filter(|answer| answer.refused.is_none()) {
            releases.push(self.unreserve(id, id, answer, (&sums[answer.leg].0, currency)));
        }
        let refused = Outcome::Rejected(rejection);
        if releases.is_empty() {
            return Waits::Final(refused);
        }
        Waits::On(self.join_credits(releases, refused))
    }
}
