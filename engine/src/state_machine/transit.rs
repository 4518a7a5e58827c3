//! Transfers between partitions (and holds whose payee lives elsewhere: `transit/holds.rs`), as
//! single-partition steps joined by durable messages.
//!
//! ```text
//! payer's partition p                          payee's partition q
//!   debit payer, money into p's transit  --Credit n-->  credit payee (or refuse), remember
//!   (the transfer is pending)                           the answer to (p, n)
//!   drain transit; refund a refusal     <--Settled n--
//!   (the transfer's outcome is final)
//! ```
//!
//! Each step is one command of its partition's log: every partition balances after every
//! batch (its transit holds exactly the money it debited and has not heard back about), and the
//! transit drains to 0. Exactly once: `q` applies each `(p, n)` once and answers a repeat with
//! the answer it kept (kept until `p` says, in a later credit, that it heard it); `p` acts on
//! an answer only while `n` is open. After a crash every open credit is sent again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StateMachine;
use super::idempotency::{Filled, IdKind, Vacancy};
use crate::command::{Outcome, PostingCause, Rejection, Reply, Submission, Transfer};
use crate::partition::{Check, Credit, Move, Outgoing, PartitionId, Paying, Reserve, TransitMessage};
use crate::types::{Currency, Id, TimestampMs};

/// One partition's side of the steps between partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transit {
    /// The last message number sent (credits and checks share the numbers).
    last_number: u64,
    /// Messages sent and not yet answered, by number: credits (the money in this partition's
    /// transit) and checks. Boxed: entries are ~130 bytes, and the tree moves its values.
    open: BTreeMap<u64, Box<Open>>,
    /// The open credit of each transfer id still in flight (a repeat waits for it). A hash map
    /// (only looked up; ordered string keys cost most of a crossing step's map work).
    by_transfer: super::Map<Id, u64>,
    /// The open message of each hold whose placement waits for its payee's check, or whose
    /// capture's credit is in flight (a repeat waits for it; `transit/holds.rs`).
    by_hold: super::Map<Id, u64>,
    /// Per payer partition, the answers given to its credits and not yet known heard there.
    answers: BTreeMap<PartitionId, Answers>,
    /// The POS steps whose money is in flight, by message number (`transit/pos.rs`).
    pos_steps: BTreeMap<u64, pos::PosStep>,
    /// The message number of each POS settlement whose sale, reversal or refund is in flight.
    by_settlement: super::Map<Id, u64>,
    /// The authorizations whose creation waits for its account's check, by number.
    by_authorization: super::Map<Id, u64>,
    /// The number of each bill's opening check, or of its charge or refund in flight
    /// (`transit/bills.rs`).
    by_bill: super::Map<Id, u64>,
    /// The bills' charges and refunds whose money is in flight, by message number.
    bill_steps: BTreeMap<u64, bills::BillStep>,
    /// The coupons that a payment in flight redeems if it is approved, with its number.
    coupons_in_flight: super::Map<Id, u64>,
    /// The commands waiting for a step in flight, by its number (`transit/waiting.rs`).
    waiting: BTreeMap<u64, Vec<(u64, Box<Submission>)>>,
    /// The number of each split's account check, or of its money step in flight
    /// (`transit/splits.rs`).
    by_split: super::Map<Id, u64>,
    /// The splits' money steps in flight, by message number.
    split_steps: BTreeMap<u64, splits::SplitStep>,
    /// The number of each merchant's registration waiting for its account's check.
    by_merchant: super::Map<Id, u64>,
    /// Member accounts here with a share paid into a split's escrow on another partition: each
    /// may not close until its shares come back or are released.
    shares_out: super::Map<Id, u32>,
    /// Outcomes waiting for several credits (a split's refunds or releases), by the number
    /// their callers wait on; and the credit numbers each waits for.
    joins: BTreeMap<u64, joins::Join>,
    joined: BTreeMap<u64, u64>,
    /// The legs of independent transfer batches crossing partitions, by their credit's number:
    /// each leg's join and index (`transit/joins.rs`).
    batch_legs: BTreeMap<u64, Vec<(u64, usize)>>,
    /// Linked batches waiting for their payees elsewhere to be reserved, by the number their
    /// callers wait on (`transit/linked.rs`).
    linking: BTreeMap<u64, linked::Linking>,
    /// Payees here reserved for legs of linked batches elsewhere, by source and reservation
    /// number: the account and the amount.
    reservations: BTreeMap<(PartitionId, u64), (Id, u64)>,
    /// Per payee here, its reservations: how many, and their sum (it may not close meanwhile,
    /// and its ceiling counts them).
    reserved: BTreeMap<Id, (u32, u128)>,
    /// Payers' funds reserved here for linked batches elsewhere (`transit/linked_payers.rs`).
    funds_reservations: BTreeMap<(PartitionId, u64), (Id, u64)>,
    /// Payers' funds held here for POS pre-authorization holds that the home partition keeps
    /// with their settlements, by hold id; and when each expires (`transit/pos_holds.rs`).
    funds_held: super::Map<Id, pos_holds::FundsHeld>,
    funds_expiry: std::collections::BTreeSet<(TimestampMs, Id)>,
    /// Legs of batches elsewhere whose transfer id was in flight from here when they came, by
    /// that id: answered when it settles (`transit/batch_legs.rs`).
    legs_waiting: super::Map<Id, Vec<(PartitionId, u64)>>,
    /// The legs of independent batches here whose payers live elsewhere and are not sent yet,
    /// by the number the batch's callers wait on: sent one after another (`transit/batch_legs.rs`).
    legs_elsewhere: BTreeMap<u64, std::collections::VecDeque<(usize, Transfer)>>,
    /// `number -> waiting`: a command pending on `waiting` completes with message `number`'s
    /// outcome (a reversal deferred behind its sale, then sent across: `transit/pos.rs`).
    aliases: BTreeMap<u64, u64>,
    /// Users' claims asked of other partitions, and made here for commands elsewhere.
    claims: claims::Claims,
    /// Sales' coupons asked of other partitions, and kept here for sales elsewhere.
    coupon_asks: coupons::CouponAsks,
    /// Money credited here by other partitions, per currency.
    received: BTreeMap<Currency, u128>,
    /// Money this partition's transit paid on to other partitions, per currency.
    paid_out: BTreeMap<Currency, u128>,
}

/// A message sent and not yet answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Open {
    /// A credit: its money is in this partition's transit.
    Credit {
        destination: PartitionId,
        /// The debited account, refunded if the credit is refused.
        from: Id,
        credit: Credit,
        /// The move this credit pays on, answered once it is settled (`transit/moves.rs`).
        relay: Option<Relay>,
    },
    /// An account being checked: the command applies again when the answer comes, with the
    /// answers to its earlier checks (a split's accounts are checked one after another).
    Check { destination: PartitionId, check: Check, placement: Box<Submission>, known: Vec<(Id, CheckedAnswer)> },
    /// A move: the payer's partition debits and pays on, then answers (`transit/moves.rs`).
    Move { destination: PartitionId, payment: Move },
    /// The payee of leg `leg` of linked batch `batch` (the number its callers wait on), being
    /// reserved on its partition (`transit/linked.rs`); or member account `leg` of the split
    /// refund waiting on `batch` (`transit/split_refunds.rs`).
    Reserve { destination: PartitionId, reserve: Reserve, batch: u64, leg: usize },
    /// A user's claim asked of the user's partition, or the end of one told it
    /// (`transit/claims.rs`).
    Claim { destination: PartitionId, step: claims::ClaimStep },
    /// A sale's coupon asked of the coupon's partition, or the end of one told it
    /// (`transit/coupons.rs`).
    Coupon { destination: PartitionId, step: coupons::CouponStep },
}

/// What a check's partition answered about an account.
type CheckedAnswer = Result<crate::partition::CheckedAccount, Rejection>;

/// Move `number` of partition `source`, which this partition applied and pays on by a credit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Relay {
    source: PartitionId,
    number: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Answers {
    /// The highest credit (or move) number applied from that partition.
    applied_through: u64,
    /// `number -> refusal` (`None`: applied).
    kept: BTreeMap<u64, Option<Rejection>>,
    /// Moves applied and paid on by a credit still in flight: answered when it settles.
    relaying: std::collections::BTreeSet<u64>,
}

impl Transit {
    /// Every credit numbered up to this one is answered.
    fn settled_through(&self) -> u64 {
        self.open.keys().next().map_or(self.last_number, |first| first - 1)
    }

    /// Numbers the next message.
    fn next_number(&mut self) -> u64 {
        self.last_number += 1;
        self.last_number
    }

    /// Whether message `number` of `source` (a credit, a move, a reservation: applied once)
    /// arrives for the first time; if so, the answers the source has heard (up to
    /// `settled_through`) are forgotten (a split of the whole map here cost an allocation and a
    /// count per credit; most messages forget none or one).
    fn arrival(&mut self, source: PartitionId, number: u64, settled_through: u64) -> Arrival {
        let answers = self.answers.entry(source).or_default();
        if let Some(kept) = answers.kept.get(&number) {
            return Arrival::Repeat(*kept);
        }
        if number <= answers.applied_through {
            return Arrival::Stale;
        }
        while answers.kept.first_key_value().is_some_and(|(kept, _)| *kept <= settled_through) {
            answers.kept.pop_first();
        }
        answers.applied_through = number;
        Arrival::New
    }

    /// Keeps the answer to message `number` of `source` until the source has heard it.
    fn keep(&mut self, source: PartitionId, number: u64, refused: Option<Rejection>) {
        self.answers.get_mut(&source).expect("made by arrival").kept.insert(number, refused);
    }
}

/// How a message that is applied once arrives ([`Transit::arrival`]).
enum Arrival {
    /// For the first time: apply it.
    New,
    /// Applied before: answer as then.
    Repeat(Option<Rejection>),
    /// Answered, and the answer was heard: ignore it.
    Stale,
}

impl StateMachine {
    /// The payer's step of a transfer whose payee lives on another partition: debit the payer
    /// into transit and send the credit. The caller has checked the id, the amount and `from != to`.
    pub(super) fn transfer_out(
        &mut self,
        transfer: &Transfer,
        vacancy: Option<Vacancy>,
        fingerprint: u64,
        events: &mut Vec<crate::command::Event>,
    ) -> Result<Option<Filled>, Rejection> {
        self.payer_can_send(transfer)?;
        let vacancy = vacancy.ok_or(Rejection::IdTableFull)?;
        let filled = self.debit_out(transfer, vacancy, fingerprint, events);
        let number = self.send_credit(
            &transfer.from,
            Paying::Transfer(transfer.id.clone()),
            &transfer.to,
            transfer.amount,
            transfer.currency,
        );
        self.state.transit.by_transfer.insert(transfer.id.clone(), number);
        Ok(Some(filled))
    }

    /// Whether a transfer's payer may send it elsewhere (missing, closed, currency, funds).
    fn payer_can_send(&self, transfer: &Transfer) -> Result<(), Rejection> {
        let from = self.state.accounts.get(&transfer.from).ok_or(Rejection::AccountNotFound)?;
        from.usable(transfer.currency)?;
        from.can_debit(transfer.amount)
    }

    /// Debits a transfer's payer into the transit and remembers its id.
    fn debit_out(
        &mut self,
        transfer: &Transfer,
        vacancy: Vacancy,
        fingerprint: u64,
        events: &mut Vec<crate::command::Event>,
    ) -> Filled {
        let delta = i64::try_from(transfer.amount).expect("amounts are at most AMOUNT_MINOR_MAX");
        self.post(&transfer.from, -delta, 0, PostingCause::Transfer(transfer.id.clone()), events);
        self.state.ids.fill(vacancy, fingerprint)
    }

    /// Sends a credit paying `paying`: `amount` of `currency` to account `to` on its partition,
    /// debited from `from` into the transit by the caller. The command is pending on it until
    /// the answer comes (`apply_settled`). Returns the credit's number.
    fn send_credit(&mut self, from: &Id, paying: Paying, to: &Id, amount: u64, currency: Currency) -> u64 {
        let number = self.open_credit(from, paying, (to, amount, currency), None);
        self.pending = Some(number);
        number
    }

    /// Opens and sends a credit paying `paying` (see [`StateMachine::send_credit`]), paying on
    /// `relay` if it is for a move; returns its number.
    fn open_credit(&mut self, from: &Id, paying: Paying, payee: (&Id, u64, Currency), relay: Option<Relay>) -> u64 {
        let (to, amount, currency) = payee;
        let destination = match (&paying, relay) {
            // A share or a refund's total goes into the split's escrow, where the move came from.
            (paying, Some(relay)) if paying.into_escrow() => relay.source,
            _ => self.config.placement.of_account(to),
        };
        let transit = &mut self.state.transit;
        let credit = Credit {
            source: self.config.partition,
            settled_through: transit.settled_through(),
            number: transit.next_number(),
            paying,
            to: to.clone(),
            amount,
            currency,
        };
        let number = credit.number;
        let message = TransitMessage::Credit(credit.clone());
        transit.open.insert(number, Box::new(Open::Credit { destination, from: from.clone(), credit, relay }));
        self.outgoing.push(Outgoing { destination, message });
        number
    }

    /// A repeat of transfer `id`: if it is still in flight, its outcome is pending too.
    pub(super) fn repeat_in_flight(&mut self, id: &Id) {
        if let Some(number) = self.state.transit.by_transfer.get(id) {
            self.pending = Some(*number);
        }
    }

    /// Applies one message from another partition.
    pub(super) fn apply_message(
        &mut self,
        now: TimestampMs,
        message: &TransitMessage,
        output: &mut super::CommitOutput,
    ) {
        match message {
            TransitMessage::Credit(credit) => self.apply_credit(credit, &mut output.events),
            TransitMessage::Settled { number, refused, .. } => self.apply_settled(now, *number, *refused, output),
            TransitMessage::Remembered(remembered) => self.remember(remembered),
            TransitMessage::Restored(archived) => self.restore(archived),
            TransitMessage::HoldElsewhere(id) => drop(self.holds_elsewhere.insert(id.clone())),
            TransitMessage::Check(check) => self.answer_check(check),
            TransitMessage::Checked { number, answer, .. } => self.apply_checked(now, *number, answer, output),
            TransitMessage::Reference(reference) => self.apply_reference(reference),
            TransitMessage::Move(payment) => self.apply_move(payment, &mut output.events),
            TransitMessage::Reserve(reserve) => self.apply_reserve(reserve),
            TransitMessage::Claim(claim) => self.answer_claim(claim),
            TransitMessage::Claimed { number, owner, confirmed, .. } => {
                self.apply_claimed(now, *number, (owner, *confirmed), output)
            }
            TransitMessage::ClaimEnded(end) => self.end_claim(end),
            TransitMessage::ClaimNoted(note) => self.note_claim(note),
            TransitMessage::CouponAsk(ask) => self.answer_coupon_ask(now, ask),
            TransitMessage::CouponQuoted { number, quote, .. } => {
                self.apply_coupon_quoted(now, *number, *quote, output)
            }
            TransitMessage::CouponEnded(end) => self.end_coupon(now, end, output),
            TransitMessage::ResendOpen => {
                let open = self.state.transit.open_messages();
                self.outgoing.extend(open);
            }
        }
    }

    /// The payee's step: credit once, answer every time.
    fn apply_credit(&mut self, credit: &Credit, events: &mut Vec<crate::command::Event>) {
        let message = (credit.source, credit.number, credit.settled_through);
        self.apply_once(message, |machine| machine.credit_payee(credit, events).err());
    }

    /// Applies message `(source, number, settled_through)` once (`apply` says whether it was
    /// refused) and answers it every time it arrives, until the source has heard the answer.
    fn apply_once(
        &mut self,
        (source, number, settled_through): (PartitionId, u64, u64),
        apply: impl FnOnce(&mut Self) -> Option<Rejection>,
    ) {
        let refused = match self.state.transit.arrival(source, number, settled_through) {
            Arrival::Repeat(kept) => kept,
            Arrival::Stale => return,
            Arrival::New => {
                let refused = apply(self);
                self.state.transit.keep(source, number, refused);
                refused
            }
        };
        self.answer(source, number, refused);
    }

    /// Answers message `number` of `source` (a credit, a move, a reservation).
    fn answer(&mut self, source: PartitionId, number: u64, refused: Option<Rejection>) {
        let answer = TransitMessage::Settled { payee_partition: self.config.partition, number, refused };
        self.outgoing.push(Outgoing { destination: source, message: answer });
    }

    fn credit_payee(&mut self, credit: &Credit, events: &mut Vec<crate::command::Event>) -> Result<(), Rejection> {
        match &credit.paying {
            Paying::SplitShare(split) | Paying::SplitRefundTotal(split) => {
                self.share_into_escrow(split, credit);
                return Ok(());
            }
            Paying::SplitRefund(_) | Paying::SplitRelease(_) => {
                self.share_back(credit, events);
                return Ok(());
            }
            Paying::ReservedLeg { reservation, .. }
            | Paying::Unreserve { reservation, .. }
            | Paying::ReservedRefund { reservation, .. } => {
                self.reserved_credit(credit, *reservation, events);
                return Ok(());
            }
            _ => {}
        }
        let to = self.state.accounts.get(&credit.to).ok_or(Rejection::CounterpartyNotFound)?;
        to.usable(credit.currency)?;
        to.can_credit(credit.amount)?;
        if credit.amount > 0 {
            let delta = i64::try_from(credit.amount).expect("amounts are at most AMOUNT_MINOR_MAX");
            self.post(&credit.to, delta, 0, credit.paying.cause(), events);
        }
        *self.state.transit.received.entry(credit.currency).or_default() += u128::from(credit.amount);
        Ok(())
    }

    /// The payer's last step: drain the transit, refund a refusal, complete the transfer (or
    /// the capture, the POS step; or answer the move the credit paid on).
    fn apply_settled(
        &mut self,
        now: TimestampMs,
        number: u64,
        refused: Option<Rejection>,
        output: &mut super::CommitOutput,
    ) {
        // Acted on only while that credit or move is open (a repeat, or an answer to a check
        // under that number, changes nothing).
        let open = &mut self.state.transit.open;
        match open.get(&number).map(|entry| &**entry) {
            Some(Open::Credit { .. } | Open::Move { .. }) => {}
            Some(Open::Reserve { .. }) => return self.reserve_answered(now, number, refused, output),
            Some(Open::Claim { .. }) => return self.state.transit.claim_end_heard(number),
            Some(Open::Coupon { .. }) => return self.state.transit.coupon_end_heard(number),
            Some(Open::Check { .. }) | None => return,
        }
        let (from, credit, relay) = match open.remove(&number).map(|entry| *entry) {
            Some(Open::Credit { from, credit, relay, .. }) => (from, credit, relay),
            Some(Open::Move { payment, .. }) => {
                // The payer's partition refunded a refusal itself.
                let outcome = match payment.paying {
                    Paying::Bill(_) | Paying::BillRefund(_) => self.bill_step_settled(now, number, refused, output),
                    Paying::SplitShare(_) | Paying::SplitRefundTotal(_) => {
                        match self.split_step_settled(now, number, refused, output) {
                            Some(outcome) => outcome,
                            None => return, // Its money goes on: the callers wait for that.
                        }
                    }
                    Paying::PosHoldCapture(ref hold) => self.capture_settled(hold, refused, &mut output.events),
                    Paying::PosHoldRelease(_) => Outcome::Applied(Reply::Done),
                    Paying::BatchLeg(_) => return self.leg_answered(number, refused, output),
                    Paying::LinkedLeg { .. } => return self.linked_leg_paid(number, refused, output),
                    _ => self.pos_step_settled(now, number, refused, output),
                };
                self.complete(number, outcome, output);
                return;
            }
            _ => unreachable!("checked above"),
        };
        if refused.is_none() {
            *self.state.transit.paid_out.entry(credit.currency).or_default() += u128::from(credit.amount);
        }
        if let Some(relay) = relay {
            self.relay_settled(relay, &from, &credit, refused, &mut output.events);
            if let Paying::BatchLeg(_) = credit.paying {
                // A transfer of the leg's id sent here meanwhile waited on this credit.
                self.complete(number, batch_legs::leg_outcome(refused), output);
            }
            return;
        }
        if let Some(outcome) = self.credit_settled(now, number, (&from, &credit), refused, output) {
            self.complete(number, outcome, output);
        }
    }

    /// Credit `number`'s answer, for what it paid: the outcome of the commands pending on it,
    /// or `None` while their step goes on (a split's) or nobody waits for it alone (a join's).
    fn credit_settled(
        &mut self,
        now: TimestampMs,
        number: u64,
        (from, credit): (&Id, &Credit),
        refused: Option<Rejection>,
        output: &mut super::CommitOutput,
    ) -> Option<Outcome> {
        let events = &mut output.events;
        match credit.paying {
            Paying::Transfer(ref transfer) => {
                let outcome = self.transfer_settled(from, credit, transfer, refused, output);
                self.leg_settled(number, &outcome, output);
                Some(outcome)
            }
            Paying::Capture(ref hold) => Some(self.capture_settled(hold, refused, events)),
            Paying::Settlement(_)
            | Paying::Reversal(_)
            | Paying::Refund(_)
            | Paying::Bill(_)
            | Paying::BillRefund(_) => {
                if refused.is_some() {
                    self.refund_payer(from, credit, events);
                }
                Some(match credit.paying {
                    Paying::Bill(_) | Paying::BillRefund(_) => self.bill_step_settled(now, number, refused, output),
                    _ => self.pos_step_settled(now, number, refused, output),
                })
            }
            Paying::SplitShare(_)
            | Paying::SplitRefundTotal(_)
            | Paying::PosHold { .. }
            | Paying::PosHoldCapture(_)
            | Paying::PosHoldRelease(_)
            | Paying::BatchLeg(_)
            | Paying::LinkedLeg { .. } => {
                unreachable!("a share's, a POS hold's or a batch leg's credit pays on a move")
            }
            Paying::SplitPayout(_) => {
                if refused.is_some() {
                    self.payout_back_into_escrow(credit);
                }
                self.split_step_settled(now, number, refused, output)
            }
            Paying::ReservedLeg { .. } | Paying::Unreserve { .. } | Paying::ReservedRefund { .. } => {
                assert!(refused.is_none(), "a reserved payee's credit is never refused");
                // A linked batch's leg, or a split refund's.
                self.leg_settled(number, &Outcome::Applied(Reply::Done), output);
                self.joined_settled(number, output);
                None
            }
            Paying::SplitRefund(_) | Paying::SplitRelease(_) => {
                assert!(refused.is_none(), "a share given back or released is never refused");
                if self.state.transit.split_steps.contains_key(&number) {
                    return self.split_step_settled(now, number, refused, output);
                }
                self.joined_settled(number, output);
                None
            }
        }
    }

    /// The final outcome of the commands pending on `number` and on its aliases (a chain: a
    /// step that went on under a new number is aliased to the one its callers wait on).
    fn complete(&mut self, number: u64, outcome: Outcome, output: &mut super::CommitOutput) {
        self.claim_decided(number, &outcome);
        self.coupon_decided(number, &outcome);
        let mut alias = self.state.transit.aliases.remove(&number);
        while let Some(waiting) = alias {
            self.claim_decided(waiting, &outcome);
            self.coupon_decided(waiting, &outcome);
            output.completed.push((waiting, outcome.clone()));
            alias = self.state.transit.aliases.remove(&waiting);
        }
        output.completed.push((number, outcome));
    }

    /// Gives a refused credit's money back to the account it was debited from. Posted
    /// unconditionally: the money left this account, so it comes back even if credits since
    /// took the balance near BALANCE_MINOR_MAX (i64 still holds it: the cap is 10^17, an amount
    /// at most 10^15).
    fn refund_payer(&mut self, from: &Id, credit: &Credit, events: &mut Vec<crate::command::Event>) {
        if credit.amount > 0 {
            let delta = i64::try_from(credit.amount).expect("amounts are at most AMOUNT_MINOR_MAX");
            self.post(from, delta, 0, credit.paying.cause(), events);
        }
    }

    /// The answer to a transfer's credit: the transfer's outcome (a refusal refunds the payer and
    /// frees the id).
    fn transfer_settled(
        &mut self,
        from: &Id,
        credit: &Credit,
        transfer: &Id,
        refused: Option<Rejection>,
        output: &mut super::CommitOutput,
    ) -> Outcome {
        self.state.transit.by_transfer.remove(transfer);
        self.answer_waiting_legs(transfer, refused);
        let Some(rejection) = refused else { return Outcome::Applied(Reply::Done) };
        self.refund_payer(from, credit, &mut output.events);
        // A refused transfer is not remembered: a retry may apply once the payee can take it,
        // as on one partition.
        self.state.ids.forget(self.config.id_hasher.hash(IdKind::Transfer, transfer));
        Outcome::Rejected(rejection)
    }
}

mod batch_legs;
mod bills;
mod claims;
mod coupons;
mod holds;
mod joins;
mod linked;
mod linked_payers;
mod moves;
mod open;
mod pos;
mod pos_holds;
mod split_refunds;
mod splits;
mod waiting;

pub(crate) use bills::Charge;
pub(in crate::state_machine) use linked::{LegAnswer, LinkedPass};
pub(crate) use pos::{InFlight, PosStep};
#[cfg(test)]
mod tests;
