//! Legs of independent transfer batches whose payer lives on another partition than the
//! batch's.
//!
//! ```text
//! batch's partition b                 payer's partition q                 payee's partition r
//!   --Move BatchLeg n-->                applied as a transfer of its id
//!                                       (remembered here): refused, or
//!                                       the payee here credited, or
//!                                       debited into q's transit     --Credit m-->  credit or refuse
//!                                       refund and forget a refusal  <--Settled m--
//!   <--Settled n--  the leg's outcome   answered once final
//!   the batch answers when every leg paying or paid elsewhere is final
//! ```
//!
//! Such legs are sent one after another: the first once the batch's own legs and their credits
//! are sent, each next once the one before it is final. So each decides after all of those,
//! wherever their payees live, and the batch decides in one order (`docs/partitions.md`), at
//! the cost of one round trip per such leg. Its id is remembered where its payer lives, as a
//! transfer's is; a leg or transfer of that id still in flight from there when the leg arrives
//! makes it wait for that outcome, as a repeat waits on one partition.

use crate::command::{Event, Outcome, Rejection, Reply, Transfer};
use crate::partition::{Move, Paying};
use crate::state_machine::accounts::{Payee, transfer_fingerprint};
use crate::state_machine::idempotency::{Filled, IdKind, Lookup, Vacancy};
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::Id;

impl StateMachine {
    /// The payer's partition's step: apply leg `id` as a transfer. `Ok(true)`: answered now;
    /// `Ok(false)`: its payee's credit, or a transfer of its id, is in flight: answered when
    /// that settles.
    pub(super) fn batch_leg_here(
        &mut self,
        payment: &Move,
        id: &Id,
        events: &mut Vec<Event>,
    ) -> Result<bool, Rejection> {
        let transfer = Transfer {
            id: id.clone(),
            from: payment.from.clone(),
            to: payment.to.clone(),
            amount: payment.amount,
            currency: payment.currency,
        };
        // A repeat of a transfer of this id still in flight from here waits for it (looked up
        // in the id table only then: `apply_transfer` looks it up for every other leg).
        if self.state.transit.by_transfer.contains_key(id) && self.repeats_in_table(&transfer) {
            self.state.transit.legs_waiting.entry(id.clone()).or_default().push((payment.source, payment.number));
            let answers = self.state.transit.answers.get_mut(&payment.source).expect("entry made by apply_move");
            answers.relaying.insert(payment.number);
            return Ok(false);
        }
        let paid_here = self.lives_here(&transfer.to);
        match self.apply_transfer(&transfer, Payee::Relayed(payment), events)? {
            Some(_) => Ok(paid_here),
            None => Ok(true), // A repeat, answered as it applied.
        }
    }

    /// A leg's payer here, its payee elsewhere: debit the payer into the transit, remember the
    /// id, and pay the payee by a credit that answers the leg when it settles. The caller
    /// checked the id, the amount and `from != to`.
    pub(in crate::state_machine) fn leg_out(
        &mut self,
        transfer: &Transfer,
        payment: &Move,
        (vacancy, fingerprint): (Option<Vacancy>, u64),
        events: &mut Vec<Event>,
    ) -> Result<Option<Filled>, Rejection> {
        self.payer_can_send(transfer)?;
        let vacancy = vacancy.ok_or(Rejection::IdTableFull)?;
        let filled = self.debit_out(transfer, vacancy, fingerprint, events);
        let number = self.pay_on(payment);
        self.state.transit.by_transfer.insert(transfer.id.clone(), number);
        Ok(Some(filled))
    }

    /// A leg's credit settled: its id is no longer in flight, and a refused one is forgotten
    /// (as a refused transfer's is); the legs that waited for it are answered alike.
    pub(super) fn leg_relay_settled(&mut self, id: &Id, refused: Option<Rejection>) {
        self.state.transit.by_transfer.remove(id);
        if refused.is_some() {
            self.state.ids.forget(self.config.id_hasher.hash(IdKind::Transfer, id));
        }
        self.answer_waiting_legs(id, refused);
    }

    /// Whether the id table holds `transfer`'s id with its body.
    fn repeats_in_table(&self, transfer: &Transfer) -> bool {
        let hash = self.config.id_hasher.hash(IdKind::Transfer, &transfer.id);
        matches!(self.state.ids.lookup(hash), Lookup::Found(found) if found == transfer_fingerprint(transfer))
    }

    /// Answers the legs that waited for transfer `id` in flight from here.
    pub(super) fn answer_waiting_legs(&mut self, id: &Id, refused: Option<Rejection>) {
        let Some(waiting) = self.state.transit.legs_waiting.remove(id) else { return };
        for (source, number) in waiting {
            self.answer_relayed(source, number, refused);
        }
    }

    /// Sends the next leg of batch `join` whose payer lives elsewhere, if one is left. One at a
    /// time, and only after the batch's own messages: so each is decided after those, and after
    /// the legs before it, wherever their payees live.
    pub(in crate::state_machine) fn send_next_leg(&mut self, join: u64) {
        let transit = &mut self.state.transit;
        let Some(legs) = transit.legs_elsewhere.get_mut(&join) else { return };
        let (index, transfer) = legs.pop_front().expect("an entry has a leg left");
        if legs.is_empty() {
            transit.legs_elsewhere.remove(&join);
        }
        let paying = Paying::BatchLeg(transfer.id.clone());
        let number = self.open_move(paying, (&transfer.from, &transfer.to), transfer.amount, transfer.currency);
        self.state.transit.batch_legs.entry(number).or_default().push((join, index));
    }

    /// Leg move `number` was answered: its batch takes the outcome and sends its next leg.
    pub(super) fn leg_answered(&mut self, number: u64, refused: Option<Rejection>, output: &mut CommitOutput) {
        let join = self.state.transit.batch_legs.get(&number).and_then(|legs| legs.first()).map(|(join, _)| *join);
        self.leg_settled(number, &leg_outcome(refused), output);
        if let Some(join) = join {
            self.send_next_leg(join);
        }
    }
}

/// The batch's partition's answer to a leg sent to its payer's partition.
pub(super) fn leg_outcome(refused: Option<Rejection>) -> Outcome {
    refused.map_or(Outcome::Applied(Reply::Done), Outcome::Rejected)
}

#[cfg(test)]
mod tests;
