//! Moves: money a partition asks another to pay from an account that lives there.
//!
//! ```text
//! source s (the command waits)        payer's partition a              payee's partition q
//!   --Move n-->                         debit `from` (or refuse: answer at once)
//!                                       `to` here: credit it, answer
//!                                       else: money into a's transit  --Credit m-->  credit `to`
//!                                       refund a refusal              <--Settled m--  (or refuse)
//!   <--Settled n--                      answer n with q's answer
//!   the command's outcome is final
//! ```
//!
//! The source keeps nothing of the money: the payer's partition debits and refunds, so every
//! partition balances after every batch as for a transfer. Exactly once: `a` applies each
//! `(s, n)` once, keeps its answer until `s` says it heard it (as for a credit), and a copy of a
//! move whose credit is still in flight is answered when that credit settles.

use super::{Arrival, Open, Relay};
use crate::command::{Event, Rejection};
use crate::partition::{Move, Outgoing, PartitionId, Paying, TransitMessage};
use crate::state_machine::StateMachine;
use crate::types::{Currency, Id};

impl StateMachine {
    /// The source's step: asks `from`'s partition to pay `amount` of `currency` from `from` to
    /// `to` for `paying`; the command applying is pending on it. Returns the move's number.
    pub(in crate::state_machine) fn send_move(
        &mut self,
        paying: Paying,
        from: &Id,
        to: &Id,
        amount: u64,
        currency: Currency,
    ) -> u64 {
        let number = self.open_move(paying, (from, to), amount, currency);
        self.pending = Some(number);
        number
    }

    /// Opens and sends a move (see [`StateMachine::send_move`]) that no command is pending on;
    /// returns its number.
    pub(super) fn open_move(&mut self, paying: Paying, (from, to): (&Id, &Id), amount: u64, currency: Currency) -> u64 {
        let destination = self.config.placement.of_account(from);
        let transit = &mut self.state.transit;
        let payment = Move {
            source: self.config.partition,
            settled_through: transit.settled_through(),
            number: transit.next_number(),
            paying,
            from: from.clone(),
            to: to.clone(),
            amount,
            currency,
        };
        let number = payment.number;
        let message = TransitMessage::Move(payment.clone());
        transit.open.insert(number, Box::new(Open::Move { destination, payment }));
        self.outgoing.push(Outgoing { destination, message });
        number
    }

    /// The payer's partition's step: debit once, answer every time (once final).
    pub(super) fn apply_move(&mut self, payment: &Move, events: &mut Vec<Event>) {
        let transit = &mut self.state.transit;
        if transit.answers.get(&payment.source).is_some_and(|answers| answers.relaying.contains(&payment.number)) {
            return; // Paid on, not yet settled: answered when it is.
        }
        let refused = match transit.arrival(payment.source, payment.number, payment.settled_through) {
            Arrival::Repeat(kept) => kept,
            Arrival::Stale => return,
            Arrival::New => {
                let refused = match self.debit_and_pay(payment, events) {
                    Ok(true) => None,
                    Ok(false) => return, // Paid on by a credit: answered when it settles.
                    Err(rejection) => Some(rejection),
                };
                self.state.transit.keep(payment.source, payment.number, refused);
                refused
            }
        };
        self.answer(payment.source, payment.number, refused);
    }

    /// Debits the payer (its checks first), then pays the payee here (its checks next: `true`)
    /// or by a credit to its partition (`false`).
    fn debit_and_pay(&mut self, payment: &Move, events: &mut Vec<Event>) -> Result<bool, Rejection> {
        if payment.paying.pos_hold().is_some() {
            return self.pos_hold_step(payment, events);
        }
        if let Paying::BatchLeg(id) = &payment.paying {
            return self.batch_leg_here(payment, id, events);
        }
        if let Paying::LinkedLeg { .. } = &payment.paying {
            return Ok(self.linked_leg_here(payment, events));
        }
        let from = self.usable_account(&payment.from, payment.currency, Rejection::AccountNotFound)?;
        from.can_debit(payment.amount)?;
        let cause = payment.paying.cause();
        let into_escrow = payment.paying.into_escrow();
        if !into_escrow && self.config.placement.of_account(&payment.to) == self.config.partition {
            let to = self.usable_account(&payment.to, payment.currency, Rejection::CounterpartyNotFound)?;
            to.can_credit(payment.amount)?;
            if payment.amount > 0 {
                self.move_money(&payment.from, &payment.to, payment.amount, cause, events);
            }
            return Ok(true);
        }
        if payment.amount > 0 {
            let delta = i64::try_from(payment.amount).expect("amounts are at most AMOUNT_MINOR_MAX");
            self.post(&payment.from, -delta, 0, cause, events);
        }
        if let Paying::SplitShare(_) = payment.paying {
            // Its share sits in escrow elsewhere: the account stays open until it comes back.
            *self.state.transit.shares_out.entry(payment.from.clone()).or_default() += 1;
        }
        self.pay_on(payment);
        Ok(false)
    }

    /// Pays a move on by a credit to its payee, debited by the caller: the move is answered
    /// when that credit settles. Returns the credit's number.
    pub(super) fn pay_on(&mut self, payment: &Move) -> u64 {
        self.pay_on_as(payment, payment.paying.clone())
    }

    /// Pays a move on by a credit paying `paying` (see [`StateMachine::pay_on`]).
    pub(super) fn pay_on_as(&mut self, payment: &Move, paying: Paying) -> u64 {
        let relay = Relay { source: payment.source, number: payment.number };
        let payee = (&payment.to, payment.amount, payment.currency);
        let number = self.open_credit(&payment.from, paying, payee, Some(relay));
        let answers = self.state.transit.answers.get_mut(&payment.source).expect("entry made by apply_move");
        answers.relaying.insert(payment.number);
        number
    }

    /// A move's credit settled: refund a refusal, then answer the move with the payee's answer
    /// (kept, as a move answered at once is).
    pub(super) fn relay_settled(
        &mut self,
        relay: Relay,
        from: &Id,
        credit: &crate::partition::Credit,
        refused: Option<Rejection>,
        events: &mut Vec<Event>,
    ) {
        if let Paying::PosHoldCapture(hold) = &credit.paying {
            self.capture_funds_settled(hold, refused, events);
        } else if refused.is_some() {
            self.refund_payer(from, credit, events);
        }
        if let Paying::BatchLeg(id) = &credit.paying {
            self.leg_relay_settled(id, refused);
        }
        self.answer_relayed(relay.source, relay.number, refused);
    }

    /// Answers move `number` of `source`, which waited for a credit here to settle: the answer
    /// is kept as one given at once is.
    pub(super) fn answer_relayed(&mut self, source: PartitionId, number: u64, refused: Option<Rejection>) {
        let answers = self.state.transit.answers.entry(source).or_default();
        answers.relaying.remove(&number);
        answers.kept.insert(number, refused);
        self.answer(source, number, refused);
    }
}
