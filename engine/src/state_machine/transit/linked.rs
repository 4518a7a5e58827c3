//! Linked transfer batches (`atomic: true`, all or nothing) whose legs pay accounts on other
//! partitions.
//!
//! ```text
//! batch's partition p                                 payee's partition q
//!   apply the batch; a leg paying elsewhere
//!   whose payee has no answer yet: undo it all,  --Reserve r-->  usable in the currency, under
//!   the batch waits                                              the ceiling with its other
//!                                                                reservations? keep it payable
//!   apply it again from the start, knowing       <--Settled r--  (or refuse; applied once)
//!   every payee it reaches:
//!     refused (a leg here or a payee there):
//!       undo it, release each reservation        --Credit (Unreserve r, no money)-->
//!     applied: legs here posted, each leg paying
//!       elsewhere debits its payer into transit  --Credit (ReservedLeg r)-->  credit it: never
//!   answer once every credit is settled          <--Settled--                 refused
//! ```
//!
//! A reserved payee may not close and its ceiling counts what is reserved for it, so the legs'
//! credits cannot be refused and the batch's outcome is decided where its payers live, in one
//! step of their partition: nothing moves anywhere unless every leg applies. The payer side of
//! a leg paying elsewhere is checked (missing, closed, currency, funds) before its payee, as for
//! a transfer between partitions. Only the payees a batch reaches before its first failing leg
//! are reserved (a batch refused on its own partition sends nothing), all at once; a batch
//! that reaches further when it applies again (its partition changed meanwhile) reserves the
//! rest. A leg whose payer lives on another partition has its payer's funds reserved there
//! too, and is paid from there once the batch applies (`linked_payers.rs`).

use serde::{Deserialize, Serialize};

use super::{Open, Transit};
use crate::command::{Event, Outcome, Rejection, Reply, Submission, Transfer, TransferBatch};
use crate::constants::BALANCE_MINOR_MAX;
use crate::partition::{Credit, Outgoing, PartitionId, Paying, Reserve, TransitMessage};
use crate::state_machine::idempotency::{Filled, Vacancy};
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::{Currency, Id, TimestampMs};

/// What the partition of a linked batch's leg's payee answered to its reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(in crate::state_machine) struct LegAnswer {
    /// The leg's index in the batch (a split refund's: its member account's).
    pub(super) leg: usize,
    /// The reservation's number.
    pub(super) reservation: u64,
    /// Why the payee cannot be paid (`None`: reserved).
    pub(super) refused: Option<Rejection>,
    /// Whether it answers for the leg's payer (its funds reserved) rather than its payee.
    pub(super) payer: bool,
}

/// A linked batch waiting for its payees' reservations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Linking {
    /// The batch, applied again from the start once every reservation is answered.
    placement: Box<Submission>,
    /// The answers so far (earlier rounds' too).
    known: Vec<LegAnswer>,
    /// Reservations not answered yet.
    left: usize,
    /// What the payers' partitions answered to the checks of the batch's authority rule (a
    /// tenant's payers elsewhere), for the applications to come.
    checked: Vec<(Id, super::CheckedAnswer)>,
}

/// One application of a linked batch: what its legs paying elsewhere found.
#[derive(Debug, Default)]
pub(in crate::state_machine) struct LinkedPass {
    /// The payees' answers so far.
    known: Vec<LegAnswer>,
    /// Legs reached without an answer for their payee elsewhere (`false`) or their payer
    /// elsewhere (`true`), assumed payable for this pass.
    pub(super) unknown: Vec<(usize, bool)>,
    /// Legs paying elsewhere applied, with their reservation's number.
    applied: Vec<(usize, u64)>,
    /// Legs whose payer lives elsewhere, applied (paid from there once the batch applies).
    pub(super) applied_in: Vec<usize>,
    /// What those legs pay payees here: reserved for them once the batch applies.
    pub(super) credits_here: Vec<(Id, u64)>,
}

impl LinkedPass {
    /// A pass knowing `known`.
    pub(in crate::state_machine) fn new(known: Vec<LegAnswer>) -> LinkedPass {
        LinkedPass { known, ..LinkedPass::default() }
    }

    /// The legs whose payees (`false`) or payers (`true`) must be reserved before the batch
    /// can be decided: those reached without an answer up to its first failing leg (`failed`),
    /// which they may precede.
    pub(in crate::state_machine) fn to_reserve(&self, failed: Option<usize>) -> Vec<(usize, bool)> {
        self.unknown.iter().copied().filter(|(leg, _)| failed.is_none_or(|failed| *leg <= failed)).collect()
    }

    /// The answer for leg `leg`'s payee (`payer: false`) or payer, if there is one yet.
    pub(super) fn answer(&self, leg: usize, payer: bool) -> Option<&LegAnswer> {
        self.known.iter().find(|answer| answer.leg == leg && answer.payer == payer)
    }
}

impl Transit {
    /// Payees and payers' funds here reserved for linked batches elsewhere, and linked batches
    /// here waiting for reservations: both 0 once no message between partitions is open.
    pub fn reservations(&self) -> (usize, usize) {
        (self.reservations.len() + self.funds_reservations.len(), self.linking.len())
    }

    /// The funds reserved here per payer for legs of linked batches elsewhere, for the
    /// invariants.
    pub(in crate::state_machine) fn funds_reserved(&self) -> impl Iterator<Item = (&Id, u64)> {
        self.funds_reservations.values().map(|(account, amount)| (account, *amount))
    }

    /// Whether a linked batch elsewhere has reserved account `id` (here) as a payee.
    pub(in crate::state_machine) fn payee_reserved(&self, id: &Id) -> bool {
        self.reserved.contains_key(id)
    }
}

impl StateMachine {
    /// A leg of a linked batch whose payee lives elsewhere: the payer's checks, then its payee's
    /// answer (unknown: assumed payable, and reserved before the batch is decided); the payer
    /// is debited into the transit (undone with the batch if it is not applied).
    pub(in crate::state_machine) fn linked_leg_out(
        &mut self,
        transfer: &Transfer,
        (pass, leg): (&mut LinkedPass, usize),
        vacancy: Option<Vacancy>,
        fingerprint: u64,
        events: &mut Vec<Event>,
    ) -> Result<Option<Filled>, Rejection> {
        self.payer_can_send(transfer)?;
        match pass.answer(leg, false) {
            Some(LegAnswer { refused: Some(rejection), .. }) => return Err(*rejection),
            Some(answer) => pass.applied.push((leg, answer.reservation)),
            None => pass.unknown.push((leg, false)),
        }
        let vacancy = vacancy.ok_or(Rejection::IdTableFull)?;
        Ok(Some(self.debit_out(transfer, vacancy, fingerprint, events)))
    }

    /// Sends a reservation for the payee (`false`) or the payer's funds (`true`) of each of
    /// `legs` and leaves the batch pending on a number of its own; it applies again from the
    /// start when all are answered.
    pub(in crate::state_machine) fn reserve_payees(
        &mut self,
        submission: &Submission,
        batch: &TransferBatch,
        pass: LinkedPass,
        legs: Vec<(usize, bool)>,
    ) -> Outcome {
        let waiting = self.state.transit.next_number();
        for (leg, payer) in &legs {
            let transfer = &batch.transfers[*leg];
            let account = if *payer { &transfer.from } else { &transfer.to };
            self.send_reserve((waiting, *leg), (account, *payer), transfer.amount, transfer.currency);
        }
        let placement = Box::new(submission.clone());
        let linking = Linking { placement, known: pass.known, left: legs.len(), checked: self.checked.clone() };
        self.state.transit.linking.insert(waiting, linking);
        self.pending = Some(waiting);
        Outcome::Applied(Reply::Done)
    }

    /// Sends a reservation of `amount` of `currency` for `account` (on its partition) as a
    /// payee, or of its funds as a payer (`payer`), answered to leg `leg` of the step its
    /// callers wait on as `waiting` (a linked batch, a split refund).
    pub(super) fn send_reserve(
        &mut self,
        (waiting, leg): (u64, usize),
        (account, payer): (&Id, bool),
        amount: u64,
        currency: Currency,
    ) {
        let destination = self.config.placement.of_account(account);
        let transit = &mut self.state.transit;
        let settled_through = transit.settled_through();
        let (source, number) = (self.config.partition, transit.next_number());
        let reserve = Reserve { source, number, settled_through, account: account.clone(), amount, currency, payer };
        self.outgoing.push(Outgoing { destination, message: TransitMessage::Reserve(reserve.clone()) });
        transit.open.insert(number, Box::new(Open::Reserve { destination, reserve, batch: waiting, leg }));
    }

    /// Releases reservation `answer` of `account` (a credit of no money, never refused) for
    /// `of` (a leg's transfer, a split); returns the credit's number.
    pub(super) fn unreserve(
        &mut self,
        of: &Id,
        from: &Id,
        answer: &LegAnswer,
        (account, currency): (&Id, Currency),
    ) -> u64 {
        let paying = Paying::Unreserve { of: of.clone(), reservation: answer.reservation };
        self.open_credit(from, paying, (account, 0, currency), None)
    }

    /// The end of a linked batch that knew its payees and payers elsewhere: `outcome` applied
    /// (`applied`: each leg the pass applied pays its reserved payee, from here or from its
    /// payer's partition) or refused (every reservation is released; so is one of a leg that
    /// turned out a repeat). The outcome waits for those credits and moves, so the payees are
    /// paid or free again, and the payers' funds spent or free again, when the caller hears it.
    pub(in crate::state_machine) fn settle_reservations(
        &mut self,
        batch: &TransferBatch,
        pass: &LinkedPass,
        applied: bool,
        outcome: Outcome,
    ) -> Outcome {
        let mut credits = Vec::new();
        for answer in pass.known.iter().filter(|answer| answer.refused.is_none()) {
            let transfer = &batch.transfers[answer.leg];
            let (leg, reservation) = (answer.leg, answer.reservation);
            if applied && pass.applied_in.contains(&leg) {
                continue; // Paid from its payer's partition (below).
            }
            let number = if applied && pass.applied.contains(&(leg, reservation)) {
                let reserved_by = self.config.partition;
                let paying = Paying::ReservedLeg { transfer: transfer.id.clone(), reservation, reserved_by };
                self.open_credit(&transfer.from, paying, (&transfer.to, transfer.amount, transfer.currency), None)
            } else {
                let account = if answer.payer { &transfer.from } else { &transfer.to };
                self.unreserve(&transfer.id, &transfer.from, answer, (account, transfer.currency))
            };
            credits.push((leg, number));
        }
        if applied {
            for leg in &pass.applied_in {
                credits.push((*leg, self.pay_linked_leg(&batch.transfers[*leg], *leg, pass)));
            }
        }
        if credits.is_empty() {
            return outcome;
        }
        self.pending = Some(self.join_batch(outcome, credits));
        Outcome::Applied(Reply::Done)
    }

    /// The answer to reservation `number`: once the batch's last is in, the batch applies again
    /// from the start, knowing them all.
    pub(super) fn reserve_answered(
        &mut self,
        now: TimestampMs,
        number: u64,
        refused: Option<Rejection>,
        output: &mut CommitOutput,
    ) {
        let transit = &mut self.state.transit;
        let Some(Open::Reserve { batch, leg, reserve, .. }) = transit.open.remove(&number).map(|open| *open) else {
            unreachable!("the caller found a reservation open")
        };
        let answer = LegAnswer { leg, reservation: number, refused, payer: reserve.payer };
        if !transit.linking.contains_key(&batch) {
            return self.split_reserve_answered(now, batch, answer, output);
        }
        let linking = transit.linking.get_mut(&batch).expect("an open reservation's batch waits");
        linking.known.push(answer);
        linking.left -= 1;
        if linking.left > 0 {
            return;
        }
        let Linking { placement, known, checked, .. } = transit.linking.remove(&batch).expect("looked at above");
        self.reserved_legs = known;
        self.checked = checked;
        let mut outcome = self.apply(now, &placement, &mut output.events);
        self.checked.clear();
        let left_over = std::mem::take(&mut self.reserved_legs);
        if let (false, crate::command::Command::TransferBatch(linked)) = (left_over.is_empty(), &placement.command) {
            // Refused before its legs applied: its reservations are released.
            outcome = self.settle_reservations(linked, &LinkedPass::new(left_over), false, outcome);
        }
        if let Some(next) = self.pending.take() {
            // It reserves more payees, or waits for its credits.
            self.state.transit.aliases.insert(next, batch);
            return;
        }
        self.complete(batch, outcome, output);
    }

    /// The reserved account's partition's step: reserve once, answer every time.
    pub(super) fn apply_reserve(&mut self, reserve: &Reserve) {
        let message = (reserve.source, reserve.number, reserve.settled_through);
        if reserve.payer {
            return self.apply_once(message, |machine| machine.reserve_funds(reserve).err());
        }
        self.apply_once(message, |machine| machine.reserve_payee(reserve).err());
    }

    /// Whether the payee can be paid the amount (missing, closed, currency, ceiling counting
    /// its other reservations); if so it is reserved.
    fn reserve_payee(&mut self, reserve: &Reserve) -> Result<(), Rejection> {
        let posted = self.usable_account(&reserve.account, reserve.currency, Rejection::CounterpartyNotFound)?.posted;
        if !self.payee_has_room(&reserve.account, posted, u128::from(reserve.amount)) {
            return Err(Rejection::Overflow);
        }
        self.keep_payable((reserve.source, reserve.number), &reserve.account, reserve.amount);
        Ok(())
    }

    /// Whether `amount` more can be credited to `account` (posted `posted`) by reserved credits,
    /// counting its reservations.
    pub(super) fn payee_has_room(&self, account: &Id, posted: i64, amount: u128) -> bool {
        let (_, sum) = self.state.transit.reserved.get(account).copied().unwrap_or_default();
        let sum = i128::try_from(sum + amount).expect("reserved sums are bounded by the messages in flight");
        i128::from(posted) + sum <= i128::from(BALANCE_MINOR_MAX)
    }

    /// Reserves `account` here as the payee of `amount` under `key` (the reserving partition
    /// and its number): it may not close until the credit or the release comes.
    pub(super) fn keep_payable(&mut self, key: (PartitionId, u64), account: &Id, amount: u64) {
        let transit = &mut self.state.transit;
        transit.reservations.insert(key, (account.clone(), amount));
        let (count, sum) = transit.reserved.entry(account.clone()).or_default();
        *count += 1;
        *sum = sum.checked_add(u128::from(amount)).expect("reserved sums fit u128");
    }

    /// Ends payee reservation `key` of `account`; returns its amount.
    pub(super) fn end_reservation(&mut self, key: (PartitionId, u64), account: &Id) -> u64 {
        let transit = &mut self.state.transit;
        let (reserved, amount) =
            transit.reservations.remove(&key).expect("a reservation is kept until its leg's credit or its release");
        assert!(&reserved == account, "a reservation's credit pays the account reserved");
        let (count, sum) = transit.reserved.get_mut(account).expect("every reservation is counted");
        *count -= 1;
        *sum = sum.checked_sub(u128::from(amount)).expect("a payee's reserved sum holds each of its reservations");
        if *count == 0 {
            assert_eq!(*sum, 0, "a payee's reserved sum is its reservations'");
            transit.reserved.remove(account);
        }
        amount
    }

    /// A reserved payee's credit: the reservation ends; a leg's money is posted unconditionally
    /// (the account could not close, and its ceiling counted the amount when it was reserved;
    /// credits from elsewhere meanwhile may take it past `BALANCE_MINOR_MAX`, which i64 holds).
    /// A release of a payer's funds reservation frees them. Only a release (`Unreserve`) is
    /// numbered by its source's `Reserve`: a reserved leg's credit comes from the payer's
    /// partition with the number of the batch's reservation, which may equal an unrelated
    /// funds reservation that partition asked for here.
    pub(super) fn reserved_credit(&mut self, credit: &Credit, reservation: u64, events: &mut Vec<Event>) {
        if matches!(credit.paying, Paying::Unreserve { .. })
            && self.release_funds_reservation((credit.source, reservation), &credit.to)
        {
            return;
        }
        let by = match credit.paying {
            Paying::ReservedLeg { reserved_by, .. } => reserved_by,
            _ => credit.source,
        };
        let amount = self.end_reservation((by, reservation), &credit.to);
        if let Paying::ReservedLeg { .. } | Paying::ReservedRefund { .. } = credit.paying {
            assert_eq!(credit.amount, amount, "a reserved leg pays the amount reserved");
            let delta = i64::try_from(amount).expect("amounts are at most AMOUNT_MINOR_MAX");
            self.post(&credit.to, delta, 0, credit.paying.cause(), events);
            *self.state.transit.received.entry(credit.currency).or_default() += u128::from(amount);
        }
    }
}

#[cfg(test)]
mod tests;
