//! Legs of linked batches (`atomic: true`) whose payer lives on another partition than the
//! batch.
//!
//! ```text
//! batch's partition p                     payer's partition q               payee's partition r
//!   apply the batch; a leg whose payer
//!   has no answer yet: undo it all, the
//!   batch waits           --Reserve n (payer)-->  usable in the currency, funds
//!                                                 (counting its other reservations)?
//!                                                 reserve them: nothing posted
//!                         --Reserve m (payee)----------------------------------->  as linked.rs
//!   apply it again from the start knowing every answer:
//!     refused: release each  --Credit Unreserve n-->  funds free again (and m: linked.rs)
//!     applied: the leg's id is remembered here
//!                  --Move LinkedLeg(n, m)-->      reservation n ends; debit the
//!                                                 payer, pay a payee here (m ends)
//!                                                 or --Credit ReservedLeg(m)-->  never refused
//!                                                 <--Settled--
//!   answer once every leg is paid  <--Settled--
//! ```
//!
//! A reserved payer may not close and cannot spend what is reserved (`Account::reserved`
//! counts against its available balance), so the leg's move cannot be refused once the batch
//! applies: nothing moves anywhere unless every leg applies. The batch still decides in one
//! step of its own partition, in its legs' order; a leg whose payer lives elsewhere is decided
//! there like any other (its id, amount, then its payer's checks, then its payee's) and its id
//! is remembered with the batch, where a retry of the batch finds it. What differs from one
//! partition: such a leg's money moves once the batch is decided, so its payer pays from what
//! it had before the batch (less what earlier legs of the batch reserved of it), and its payee
//! receives the money after the batch (a later leg of the batch does not see it). A refused
//! batch posts nothing anywhere; while it waits, the funds reserved are not available to other
//! commands on the payer's partition.

use super::LegAnswer;
use crate::command::{Event, Outcome, PostingCause, Rejection, Reply, Transfer};
use crate::partition::{Move, PartitionId, Paying, Reserve};
use crate::state_machine::idempotency::{Filled, Vacancy};
use crate::state_machine::transit::LinkedPass;
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::Id;

impl StateMachine {
    /// A leg whose payer lives elsewhere, in a pass of its linked batch here: its payer's
    /// answer (none yet: assumed able to pay, and reserved before the batch is decided), then
    /// its payee's (here: checked now, counting what earlier such legs pay it; elsewhere: its
    /// reservation's answer). Its id is remembered here; no money moves in the pass.
    pub(in crate::state_machine) fn linked_leg_in(
        &mut self,
        transfer: &Transfer,
        (pass, leg): (&mut LinkedPass, usize),
        vacancy: Option<Vacancy>,
        fingerprint: u64,
    ) -> Result<Option<Filled>, Rejection> {
        match pass.answer(leg, true) {
            Some(LegAnswer { refused: Some(rejection), .. }) => return Err(*rejection),
            Some(_) => {}
            None => pass.unknown.push((leg, true)),
        }
        if self.lives_here(&transfer.to) {
            let to = self.usable_account(&transfer.to, transfer.currency, Rejection::CounterpartyNotFound)?;
            let earlier = pass.credits_here.iter().filter(|(to, _)| *to == transfer.to);
            let amount = earlier.map(|(_, amount)| u128::from(*amount)).sum::<u128>() + u128::from(transfer.amount);
            if !self.payee_has_room(&transfer.to, to.posted, amount) {
                return Err(Rejection::Overflow);
            }
            pass.credits_here.push((transfer.to.clone(), transfer.amount));
        } else {
            match pass.answer(leg, false) {
                Some(LegAnswer { refused: Some(rejection), .. }) => return Err(*rejection),
                Some(_) => {}
                None => pass.unknown.push((leg, false)),
            }
        }
        let vacancy = vacancy.ok_or(Rejection::IdTableFull)?;
        pass.applied_in.push(leg);
        Ok(Some(self.state.ids.fill(vacancy, fingerprint)))
    }

    /// Pays leg `leg` (`transfer`) of an applied linked batch whose payer lives elsewhere: a
    /// payee here is reserved now, then the payer's partition pays the leg from its reserved
    /// funds by a move. Returns the move's number.
    pub(super) fn pay_linked_leg(&mut self, transfer: &Transfer, leg: usize, pass: &LinkedPass) -> u64 {
        let funds = pass.answer(leg, true).expect("an applied leg's payer answered").reservation;
        let payee = match pass.answer(leg, false) {
            Some(answer) => answer.reservation,
            None => {
                let number = self.state.transit.next_number();
                self.keep_payable((self.config.partition, number), &transfer.to, transfer.amount);
                number
            }
        };
        let paying = Paying::LinkedLeg { transfer: transfer.id.clone(), funds, payee };
        self.open_move(paying, (&transfer.from, &transfer.to), transfer.amount, transfer.currency)
    }

    /// The payer's partition's step of a reservation of a leg's funds: the payer must be
    /// usable in the currency and able to pay the amount besides its other reservations; its
    /// funds are then reserved, with no posting.
    pub(super) fn reserve_funds(&mut self, reserve: &Reserve) -> Result<(), Rejection> {
        self.usable_account(&reserve.account, reserve.currency, Rejection::AccountNotFound)?
            .can_debit(reserve.amount)?;
        let account = self.state.accounts.get_mut(&reserve.account).expect("checked above");
        account.reserved = account.reserved.checked_add(reserve.amount).expect("reserved funds are within the balance");
        let key = (reserve.source, reserve.number);
        self.state.transit.funds_reservations.insert(key, (reserve.account.clone(), reserve.amount));
        Ok(())
    }

    /// Ends funds reservation `key` of `account` if it is one; returns whether it was.
    pub(super) fn release_funds_reservation(&mut self, key: (PartitionId, u64), account: &Id) -> bool {
        let transit = &mut self.state.transit;
        if transit.funds_reservations.is_empty() {
            return false;
        }
        let Some((reserved, amount)) = transit.funds_reservations.remove(&key) else { return false };
        assert!(&reserved == account, "a funds reservation is released for its payer");
        let account = self.state.accounts.get_mut(account).expect("a payer with funds reserved cannot close");
        account.reserved =
            account.reserved.checked_sub(amount).expect("an account's reserved funds hold each reservation");
        true
    }

    /// The payer's partition's step of an applied leg ([`Paying::LinkedLeg`]): its funds
    /// reservation ends and pays it, to a payee here (whose reservation ends too: answered now,
    /// `true`) or by a reserved credit to the payee's partition (answered when it settles).
    pub(super) fn linked_leg_here(&mut self, payment: &Move, events: &mut Vec<Event>) -> bool {
        let Paying::LinkedLeg { transfer, funds, payee } = &payment.paying else { unreachable!("a linked leg's move") };
        let released = self.release_funds_reservation((payment.source, *funds), &payment.from);
        assert!(released, "a leg's funds stay reserved until it is paid or released");
        let cause = PostingCause::Transfer(transfer.clone());
        if self.lives_here(&payment.to) {
            self.end_reservation((payment.source, *payee), &payment.to);
            self.move_money(&payment.from, &payment.to, payment.amount, cause, events);
            return true;
        }
        let delta = i64::try_from(payment.amount).expect("amounts are at most AMOUNT_MINOR_MAX");
        self.post(&payment.from, -delta, 0, cause, events);
        let paying =
            Paying::ReservedLeg { transfer: transfer.clone(), reservation: *payee, reserved_by: payment.source };
        self.pay_on_as(payment, paying);
        false
    }

    /// The answer to the move paying a leg (`number`): the leg is paid (never refused: its
    /// funds and payee were reserved), so its batch is final once all its legs are.
    pub(super) fn linked_leg_paid(&mut self, number: u64, refused: Option<Rejection>, output: &mut CommitOutput) {
        assert!(refused.is_none(), "a linked leg paid from reserved funds is never refused");
        self.leg_settled(number, &Outcome::Applied(Reply::Done), output);
    }
}
