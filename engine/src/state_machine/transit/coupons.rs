//! A payment's coupon across partitions: a POS sale or a bill's confirmation applied on one
//! partition whose coupon lives on another asks the coupon's partition to price it and keep it
//! for the payment, applies from the start with the price, and tells the coupon's partition how
//! the payment ended. (Below, "sale" stands for either.)
//!
//! ```text
//! sale's partition s                               coupon's partition c
//!   sale names a coupon of c:             --CouponAsk n-->   price it for this sale (holder,
//!   the sale is pending (the user's or                       merchant, currency, validity,
//!   the bill's later commands wait)                          rule); kept for it: the coupon's
//!                                                            own commands wait behind it
//!   apply the sale again from the start   <--CouponQuoted n-- (answered alike every time)
//!   with the discount (or the refusal)
//!   decided (its money may cross first):  --CouponEnded-->   approved: redeem it (its sharer
//!   approved with this price or not                          rewarded here); refused: free it
//!                                         <--Settled------
//! ```
//!
//! A refused sale changes nothing, its coupon included: a coupon is redeemed only by the end of
//! an approved sale that was priced with it. While a coupon is kept, a sale elsewhere asking
//! for it is refused `coupon_redeemed` (on one partition it would have waited for the first
//! sale's answer; here it loses the race even if the first is refused in the end), and the
//! coupon's commands here (share, claim, redeem, a sale or bill confirmation) wait for the end
//! as they wait for a payment in flight here. Every ask is ended, a refused one too, so what
//! the coupon's partition keeps for it is freed. A sale asks only once it presents one of its
//! user's codes (and a confirmation its bill's challenge): nobody keeps a coupon without them. A coupon that left memory is not found by an
//! ask (`coupon_not_found`, where a command naming it brings it back first).

use serde::{Deserialize, Serialize};

use super::{CheckedAnswer, Open, Transit};
use crate::command::{Command, ConfirmBill, Outcome, Rejection, Reply, SettlePos, Submission};
use crate::partition::{CouponAsk, CouponEnd, Outgoing, PartitionId, TransitMessage};
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::{Id, TimestampMs};

/// One partition's side of the coupons asked across partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CouponAsks {
    /// The open ask of each user whose sale, and of each bill whose confirmation, waits for
    /// its coupon's price (their later commands wait behind it).
    asking: std::collections::BTreeMap<Waiting, u64>,
    /// The sales among them, by id (the engine's directory keeps their entries meanwhile).
    sales: super::super::Map<Id, u64>,
    /// Sales priced with a coupon of another partition and not decided yet, by the ask's number.
    deciding: std::collections::BTreeMap<u64, Deciding>,
    /// The asks answered here, by (source, number), until their ends: the price and the number
    /// the coupon's own commands wait on while it is kept.
    kept: std::collections::BTreeMap<(PartitionId, u64), Kept>,
}

/// Whose later commands wait behind an ask: a sale's payer, or a confirmed bill.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum Waiting {
    User(Id),
    Bill(Id),
}

/// A sale priced with a coupon of another partition, waiting to be decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Deciding {
    /// The coupon's partition.
    destination: PartitionId,
    /// The coupon.
    coupon: Id,
}

/// What an ask was answered here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Kept {
    coupon: Id,
    /// The discount (the coupon kept for the sale), or the refusal (nothing kept).
    quote: Result<u64, Rejection>,
    /// While kept: the number the coupon's commands here wait on.
    waiting_on: u64,
}

/// A coupon ask's step that waits for an answer ([`Open::Coupon`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum CouponStep {
    /// Asked of the coupon's partition: `command` applies again with the price, and with the
    /// answers to its accounts' checks (`known`).
    Asking { ask: CouponAsk, command: Box<Submission>, known: Vec<(Id, CheckedAnswer)> },
    /// The sale was decided; the coupon's partition is told.
    Ending(CouponEnd),
}

impl CouponStep {
    /// The message that sends this step (again).
    pub(super) fn message(&self) -> TransitMessage {
        match self {
            CouponStep::Asking { ask, .. } => TransitMessage::CouponAsk(ask.clone()),
            CouponStep::Ending(end) => TransitMessage::CouponEnded(end.clone()),
        }
    }
}

impl Transit {
    /// The coupon's partition heard an end: nothing is left to send.
    pub(super) fn coupon_end_heard(&mut self, number: u64) {
        if let Some(Open::Coupon { step: CouponStep::Ending(_), .. }) = self.open.get(&number).map(|open| &**open) {
            self.open.remove(&number);
        }
    }

    /// The sales here waiting for their coupons' prices.
    pub(in crate::state_machine) fn sales_priced(&self) -> impl Iterator<Item = &Id> {
        self.coupon_asks.sales.keys()
    }

    /// The sales placing a hold here that wait for their coupons' prices.
    pub(in crate::state_machine) fn holds_priced(&self) -> impl Iterator<Item = &Id> {
        self.coupon_asks.sales.iter().filter_map(|(id, number)| match self.open.get(number).map(|open| &**open) {
            Some(Open::Coupon { step: CouponStep::Asking { command, .. }, .. }) => match &command.command {
                Command::SettlePos(settle) if settle.hold_until_ms.is_some() => Some(id),
                _ => None,
            },
            _ => None,
        })
    }

    /// Whether sale `id` waits for its coupon's price here.
    pub(in crate::state_machine) fn sale_priced(&self, id: &Id) -> bool {
        self.coupon_asks.sales.contains_key(id)
    }

    /// How many asks for coupons of this partition wait for their sales' ends (none once every
    /// step between partitions is done).
    pub fn coupons_kept(&self) -> usize {
        self.coupon_asks.kept.len()
    }
}

/// What a command waits behind while a payment is priced: the sale's payer (or the user an
/// app acts for), or the bill it names.
fn waiting_on(command: &Command) -> Option<Waiting> {
    let bill = match command {
        Command::SettlePos(settle) => return Some(Waiting::User(settle.user.clone())),
        Command::ConfirmBill(confirm) => &confirm.bill,
        Command::AddBillItem(add) => &add.bill,
        Command::SubmitBill(submit) => &submit.bill,
        Command::CancelBill { bill } => bill,
        Command::RefundBill(refund) => &refund.of,
        command => return crate::authority::acting_user(command).map(|user| Waiting::User(user.clone())),
    };
    Some(Waiting::Bill(bill.clone()))
}

impl StateMachine {
    /// A sale or a bill's confirmation naming a coupon of another partition: ask for its price
    /// there first (the command is pending; see the module's documentation). A command for a
    /// user or a bill whose payment is being priced waits behind it. `None`: apply it now.
    pub(in crate::state_machine) fn quote_coupon_first(
        &mut self,
        now: TimestampMs,
        submission: &Submission,
    ) -> Option<Outcome> {
        let asking = &self.state.transit.coupon_asks.asking;
        if !asking.is_empty()
            && let Some(number) = waiting_on(&submission.command).and_then(|waiting| asking.get(&waiting))
        {
            // Decided after the payment that asked, as on one partition.
            return Some(self.park(*number, submission, Rejection::LimitReached));
        }
        let coupon = match &submission.command {
            Command::SettlePos(settle) => settle.coupon.as_ref()?,
            Command::ConfirmBill(confirm) => confirm.coupon.as_ref()?,
            _ => return None,
        };
        if self.coupon_lives_here(coupon) || self.quoted.as_ref().is_some_and(|(quoted, _)| quoted == coupon) {
            return None;
        }
        let (waiting, ask) = match &submission.command {
            Command::SettlePos(settle) => (Waiting::User(settle.user.clone()), self.sale_ask(now, settle, coupon)?),
            Command::ConfirmBill(confirm) => (Waiting::Bill(confirm.bill.clone()), self.bill_ask(confirm, coupon)?),
            _ => unreachable!("matched above"),
        };
        let destination = self.config.placement.of_coupon(coupon);
        let transit = &mut self.state.transit;
        let number = ask.number;
        transit.coupon_asks.asking.insert(waiting, number);
        if let Command::SettlePos(settle) = &submission.command {
            transit.coupon_asks.sales.insert(settle.id.clone(), number);
        }
        self.outgoing.push(Outgoing { destination, message: TransitMessage::CouponAsk(ask.clone()) });
        let step = CouponStep::Asking { ask, command: Box::new(submission.clone()), known: self.checked.clone() };
        transit.open.insert(number, Box::new(Open::Coupon { destination, step }));
        self.pending = Some(number);
        Some(Outcome::Applied(Reply::Done))
    }

    /// The ask for sale `settle`'s coupon, numbered next; none for a sale refused before its
    /// coupon is priced (nobody may keep a coupon with a wrong code), or a repeat answered as
    /// the sale was.
    fn sale_ask(&mut self, now: TimestampMs, settle: &SettlePos, coupon: &Id) -> Option<CouponAsk> {
        let repeat = self.state.settlements.get(&settle.id).is_some()
            || !matches!(self.pos_in_flight(&settle.id), super::InFlight::Nothing);
        if repeat || !self.presents_a_code(now, settle) {
            return None;
        }
        // A hold of its id (here, or elsewhere as the directory said) refuses it at once.
        let held = settle.hold_until_ms.is_some()
            && (self.state.holds.contains_key(&settle.id) || self.holds_elsewhere.contains(&settle.id));
        let terminal = self.state.terminals.get(&settle.terminal)?;
        if held || Self::check_amount(settle.amount).is_err() {
            return None;
        }
        let (merchant, location) = (terminal.merchant.clone(), settle.location.or(terminal.location));
        Some(CouponAsk {
            source: self.config.partition,
            number: self.state.transit.next_number(),
            coupon: coupon.clone(),
            user: settle.user.clone(),
            merchant,
            currency: settle.currency,
            amount: settle.amount,
            location,
        })
    }

    /// The ask for the coupon of bill confirmation `confirm`, numbered next; none unless the
    /// bill waits for this confirmation (submitted, the challenge right).
    fn bill_ask(&mut self, confirm: &ConfirmBill, coupon: &Id) -> Option<CouponAsk> {
        if !self.challenge_answers(&confirm.bill, &confirm.challenge) {
            return None;
        }
        let bill = &self.state.bills[&confirm.bill];
        let (user, merchant, currency, amount) = (bill.user.clone(), bill.merchant.clone(), bill.currency, bill.total);
        let (source, number) = (self.config.partition, self.state.transit.next_number());
        Some(CouponAsk {
            source,
            number,
            coupon: coupon.clone(),
            user,
            merchant,
            currency,
            amount,
            location: confirm.location,
        })
    }

    /// The price of a coupon of another partition, as its partition answered, for the sale
    /// applying again with it (taken: the sale was priced with it). `None`: not asked.
    pub(in crate::state_machine) fn take_quote(&mut self, coupon: &Id) -> Option<Result<u64, Rejection>> {
        if self.quoted.as_ref().is_some_and(|(quoted, _)| quoted == coupon) {
            return self.quoted.take().map(|(_, quote)| quote);
        }
        None
    }

    /// The coupon's partition's step: price the coupon and keep it for the sale. Answered
    /// every time it arrives; a repeat changes nothing.
    pub(super) fn answer_coupon_ask(&mut self, now: TimestampMs, ask: &CouponAsk) {
        let key = (ask.source, ask.number);
        let quote = match self.state.transit.coupon_asks.kept.get(&key) {
            Some(kept) => kept.quote,
            None => {
                let quote = if self.state.transit.redeeming(&ask.coupon) {
                    Err(Rejection::CouponRedeemed)
                } else {
                    let payment = (ask.currency, ask.amount);
                    self.quote_payment_coupon(now, &ask.coupon, &ask.user, &ask.merchant, payment, ask.location)
                };
                let transit = &mut self.state.transit;
                let waiting_on = if quote.is_ok() { transit.next_number() } else { 0 };
                if quote.is_ok() {
                    transit.coupons_in_flight.insert(ask.coupon.clone(), waiting_on);
                }
                transit.coupon_asks.kept.insert(key, Kept { coupon: ask.coupon.clone(), quote, waiting_on });
                quote
            }
        };
        let message =
            TransitMessage::CouponQuoted { coupon_partition: self.config.partition, number: ask.number, quote };
        self.outgoing.push(Outgoing { destination: ask.source, message });
    }

    /// The answer to ask `number`: apply the sale again from the start with the price; then the
    /// coupon's end is sent when the sale is decided (at once if it was not priced with it).
    pub(super) fn apply_coupon_quoted(
        &mut self,
        now: TimestampMs,
        number: u64,
        quote: Result<u64, Rejection>,
        output: &mut CommitOutput,
    ) {
        // Acted on only while that ask is open (a repeat changes nothing).
        let transit = &mut self.state.transit;
        if !matches!(
            transit.open.get(&number).map(|open| &**open),
            Some(Open::Coupon { step: CouponStep::Asking { .. }, .. })
        ) {
            return;
        }
        let Some(Open::Coupon { destination, step: CouponStep::Asking { ask, command, known } }) =
            transit.open.remove(&number).map(|open| *open)
        else {
            unreachable!("checked above")
        };
        let waiting = match &command.command {
            Command::ConfirmBill(confirm) => Waiting::Bill(confirm.bill.clone()),
            _ => Waiting::User(ask.user.clone()),
        };
        transit.coupon_asks.asking.remove(&waiting);
        if let Command::SettlePos(settle) = &command.command {
            transit.coupon_asks.sales.remove(&settle.id);
        }
        self.checked = known;
        self.quoted = Some((ask.coupon.clone(), quote));
        let outcome = self.apply(now, &command, &mut output.events);
        let priced = self.quoted.take().is_none();
        self.checked.clear();
        if priced {
            let deciding = Deciding { destination, coupon: ask.coupon };
            self.state.transit.coupon_asks.deciding.insert(number, deciding);
        } else {
            self.send_coupon_end(destination, number, ask.coupon, false);
        }
        match self.pending.take() {
            // Its money crosses first: the coupon's end waits with it.
            Some(next) => drop(self.state.transit.aliases.insert(next, number)),
            None => self.complete(number, outcome, output),
        }
        // The user's commands that waited behind the sale apply now, in order.
        self.release_waiting(now, number, output);
    }

    /// The outcome of the commands pending on `number` is final: a sale priced with a coupon of
    /// another partition redeems it there (approved) or frees it (refused).
    pub(super) fn coupon_decided(&mut self, number: u64, outcome: &Outcome) {
        let deciding = &mut self.state.transit.coupon_asks.deciding;
        if deciding.is_empty() {
            return;
        }
        let Some(Deciding { destination, coupon }) = deciding.remove(&number) else { return };
        self.send_coupon_end(destination, number, coupon, outcome.is_applied());
    }

    fn send_coupon_end(&mut self, destination: PartitionId, ask: u64, coupon: Id, redeemed: bool) {
        let transit = &mut self.state.transit;
        let end = CouponEnd { source: self.config.partition, number: transit.next_number(), ask, coupon, redeemed };
        let step = CouponStep::Ending(end.clone());
        transit.open.insert(end.number, Box::new(Open::Coupon { destination, step }));
        self.outgoing.push(Outgoing { destination, message: TransitMessage::CouponEnded(end) });
    }

    /// The coupon's partition's last step: redeem the kept coupon (its sharer rewarded) or free
    /// it; the coupon's commands that waited apply now. Answered every time it arrives.
    pub(super) fn end_coupon(&mut self, now: TimestampMs, end: &CouponEnd, output: &mut CommitOutput) {
        let transit = &mut self.state.transit;
        if let Some(kept) = transit.coupon_asks.kept.remove(&(end.source, end.ask))
            && kept.quote.is_ok()
        {
            transit.coupons_in_flight.remove(&kept.coupon);
            if end.redeemed {
                self.redeem_coupon_for_payment(now, &kept.coupon, &mut output.events);
            }
            self.release_waiting(now, kept.waiting_on, output);
        }
        self.answer(end.source, end.number, None);
    }
}

#[cfg(test)]
mod tests;
