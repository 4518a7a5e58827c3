//! POS pre-authorization holds whose payer lives on another partition.
//!
//! The hold stays with its settlement on the sale's partition, its user's (its state, expiry,
//! authority and the reversal and refunds that read it); the payer's funds are held where the
//! payer lives, by moves:
//!
//! ```text
//! sale's partition (sale, hold)                   payer's partition
//!   --Move PosHold-->                               payer checked (missing, closed, currency),
//!                                                   the sale's own refusal, funds; held
//!   <--Settled--  approved: hold opened, active
//!   capture: merchant checked, hold capturing
//!   --Move PosHoldCapture-->                        captured amount out of posted and held
//!   credit the merchant (or refuse)  <--Credit--    into transit; the rest stays held
//!   --Settled-->                                    released (refused: all held again)
//!   <--Settled--  captured (refused: active again)
//!   void or reversal: hold voided
//!   --Move PosHoldRelease-->                        funds released (never refused)
//!   <--Settled--  the void answers
//! ```
//!
//! An expiry moves nothing between the two: each partition's tick expires its side (the hold
//! with its sale, the funds there) at the hold's expiry. A capture that reaches the payer's
//! partition after its tick released the funds is refused `expired`, and the hold is active
//! again with its sale until its own tick. Each move is applied once and answered every time it arrives
//! (`moves.rs`), so every partition balances after every batch and the funds held on the
//! payer's partition are always the hold's amount less a capture in flight.

use serde::{Deserialize, Serialize};

use crate::command::{Change, Event, ObjectKind, Outcome, PostingCause, Rejection, Reply, SettlePos};
use crate::partition::{Move, Paying};
use crate::state_machine::StateMachine;
use crate::state_machine::holds::{Hold, HoldState};
use crate::state_machine::pos::SettlementRecord;
use crate::types::{Id, TimestampMs};

/// A payer's funds held here for a POS hold that the sale's partition keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FundsHeld {
    /// The payer.
    account: Id,
    /// Held now: the hold's amount, less a capture in flight.
    amount: u64,
    /// When the hold expires (the tick here releases what is still held then).
    expires_at_ms: TimestampMs,
    /// The amount of a capture in flight to the merchant, if one is.
    capturing: Option<u64>,
}

impl super::Transit {
    /// Whether funds are held here for POS hold `id` kept on another partition.
    pub(in crate::state_machine) fn holds_funds_for(&self, id: &Id) -> bool {
        self.funds_held.contains_key(id)
    }

    /// The funds held here per payer, for the invariants.
    pub(in crate::state_machine) fn funds_held(&self) -> impl Iterator<Item = (&Id, u64)> {
        self.funds_held.values().map(|funds| (&funds.account, funds.amount))
    }

    /// The POS sales in flight that place a hold here when approved (the directory routes
    /// their id here meanwhile).
    pub(in crate::state_machine) fn pos_holds_placing(&self) -> impl Iterator<Item = &Id> {
        self.pos_steps.values().filter_map(|step| match step {
            super::PosStep::Sale { id, record, .. } if record.hold_until_ms.is_some() => Some(id),
            _ => None,
        })
    }
}

impl StateMachine {
    /// The sale's partition's step of a sale placing a hold on a payer elsewhere: decide what
    /// one partition decides after the payer's own checks (the merchant's account, then the
    /// amount), and ask the payer's partition to hold the funds. Returns the move's number.
    pub(in crate::state_machine) fn send_pos_hold(
        &mut self,
        settle: &SettlePos,
        (account, merchant_account): (&Id, &Id),
        charged: u64,
        expires_at_ms: TimestampMs,
    ) -> u64 {
        let merchant = self.merchant_account_usable(merchant_account, settle.currency);
        let refusal = merchant.err().or((charged == 0).then_some(Rejection::InvalidAmount));
        let paying = Paying::PosHold { hold: settle.id.clone(), expires_at_ms, refusal };
        self.send_move(paying, account, merchant_account, charged, settle.currency)
    }

    /// An approved sale whose hold's funds are held on the payer's partition: the hold opens
    /// here, active, with its settlement; its payer side is who owned the payer account when
    /// the sale's authorization was created.
    pub(in crate::state_machine) fn open_pos_hold(
        &mut self,
        (id, authorization): (&Id, &Id),
        record: &SettlementRecord,
        events: &mut Vec<Event>,
    ) {
        let (Some(effect), Some(expires_at_ms)) = (&record.effect, record.hold_until_ms) else { return };
        let payer_owners = self.state.authorizations[authorization].account_owners.clone();
        let hold = Hold {
            from: effect.account.clone(),
            to: effect.merchant_account.clone(),
            amount: effect.charged,
            currency: record.currency,
            expires_at_ms,
            state: HoldState::Active,
            payee_owners: Vec::new(),
            payer_owners,
        };
        self.state.holds.insert(id.clone(), hold);
        self.state.hold_expiry.insert((expires_at_ms, id.clone()));
        Self::changed(events, ObjectKind::Hold, id, Change::Opened);
    }

    /// The sale's partition's step of a capture of a POS hold whose payer lives elsewhere: the
    /// merchant's account is checked here if it lives here (closed, ceiling; elsewhere it is
    /// checked when it is paid), the hold is capturing, and the payer's partition pays the
    /// capture by a move. The caller checked the hold's state, expiry and the amount.
    pub(in crate::state_machine) fn capture_pos_hold(&mut self, hold_id: &Id, amount: u64) -> Outcome {
        let hold = &self.state.holds[hold_id];
        let (from, to, held, currency) = (hold.from.clone(), hold.to.clone(), hold.amount, hold.currency);
        if self.lives_here(&to) {
            if self.state.accounts[&to].closed {
                return Outcome::Rejected(Rejection::AccountClosed);
            }
            if let Err(rejection) = self.check_credit(&to, amount) {
                return Outcome::Rejected(rejection);
            }
        }
        let hold = self.state.holds.get_mut(hold_id).expect("looked at above");
        hold.state = HoldState::Capturing(amount);
        let removed = self.state.hold_expiry.remove(&(hold.expires_at_ms, hold_id.clone()));
        assert!(removed, "an active hold is in the expiry index");
        let number = self.send_move(Paying::PosHoldCapture(hold_id.clone()), &from, &to, amount, currency);
        self.state.transit.by_hold.insert(hold_id.clone(), number);
        Outcome::Applied(Reply::Captured { captured: amount, released: held - amount })
    }

    /// The sale's partition's step of a void (or a reversal) of a POS hold whose payer lives
    /// elsewhere: the funds are released there; the command answers once they are.
    pub(in crate::state_machine) fn release_pos_hold_funds(&mut self, hold_id: &Id) {
        let hold = &self.state.holds[hold_id];
        let (from, to, currency) = (hold.from.clone(), hold.to.clone(), hold.currency);
        self.send_move(Paying::PosHoldRelease(hold_id.clone()), &from, &to, 0, currency);
    }

    /// The payer's partition's step of a POS hold's move: hold, capture or release the funds.
    /// `Ok(true)`: answered now; `Ok(false)`: paid on by a credit, answered when it settles.
    pub(super) fn pos_hold_step(&mut self, payment: &Move, events: &mut Vec<Event>) -> Result<bool, Rejection> {
        match &payment.paying {
            Paying::PosHold { hold, expires_at_ms, refusal } => {
                self.hold_funds(payment, (hold, *expires_at_ms), *refusal, events).map(|()| true)
            }
            Paying::PosHoldCapture(hold) => self.capture_funds(payment, hold, events),
            Paying::PosHoldRelease(hold) => {
                self.release_funds(hold, events);
                Ok(true)
            }
            _ => unreachable!("only a POS hold's moves"),
        }
    }

    fn hold_funds(
        &mut self,
        payment: &Move,
        (hold, expires_at_ms): (&Id, TimestampMs),
        refusal: Option<Rejection>,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejection> {
        // Hold ids are one space: a hold of this id placed here meanwhile takes it.
        let transit = &self.state.transit;
        if self.state.holds.contains_key(hold) || transit.placing(hold).is_some() || transit.holds_funds_for(hold) {
            return Err(Rejection::AlreadyExists);
        }
        self.usable_account(&payment.from, payment.currency, Rejection::AccountNotFound)?;
        if let Some(refusal) = refusal {
            return Err(refusal);
        }
        self.check_debit(&payment.from, payment.amount)?;
        let held = signed(payment.amount);
        self.post(&payment.from, 0, held, PostingCause::HoldPlaced(hold.clone()), events);
        let funds = FundsHeld { account: payment.from.clone(), amount: payment.amount, expires_at_ms, capturing: None };
        self.state.transit.funds_held.insert(hold.clone(), funds);
        self.state.transit.funds_expiry.insert((expires_at_ms, hold.clone()));
        Ok(())
    }

    /// Takes the captured amount out of the payer's posted and held balances into the transit
    /// and pays the merchant by a credit; the rest stays held until that is settled. A
    /// merchant's account here is paid at once (or refuses, and nothing changes).
    fn capture_funds(&mut self, payment: &Move, hold: &Id, events: &mut Vec<Event>) -> Result<bool, Rejection> {
        let transit = &mut self.state.transit;
        // Released here by the tick before the capture arrived.
        let Some(funds) = transit.funds_held.get_mut(hold) else { return Err(Rejection::Expired) };
        assert!(funds.capturing.is_none() && payment.amount <= funds.amount, "one capture, within the hold");
        if self.lives_here(&payment.to) {
            self.usable_account(&payment.to, payment.currency, Rejection::CounterpartyNotFound)?
                .can_credit(payment.amount)?;
            let funds = self.state.transit.funds_held.remove(hold).expect("looked at above");
            self.state.transit.funds_expiry.remove(&(funds.expires_at_ms, hold.clone()));
            let (captured, held) = (signed(payment.amount), signed(funds.amount));
            let cause = PostingCause::HoldCaptured(hold.clone());
            self.post(&payment.from, -captured, -held, cause.clone(), events);
            self.post(&payment.to, captured, 0, cause, events);
            return Ok(true);
        }
        let transit = &mut self.state.transit;
        let funds = transit.funds_held.get_mut(hold).expect("looked at above");
        funds.capturing = Some(payment.amount);
        funds.amount -= payment.amount;
        transit.funds_expiry.remove(&(funds.expires_at_ms, hold.clone()));
        let captured = signed(payment.amount);
        self.post(&payment.from, -captured, -captured, PostingCause::HoldCaptured(hold.clone()), events);
        self.pay_on(payment);
        Ok(false)
    }

    /// A capture's credit settled on the merchant's partition: release the rest, or, refused,
    /// take the money back into the held funds.
    pub(super) fn capture_funds_settled(&mut self, hold: &Id, refused: Option<Rejection>, events: &mut Vec<Event>) {
        let transit = &mut self.state.transit;
        let funds = transit.funds_held.get_mut(hold).expect("funds with a capture in flight stay held");
        let captured = funds.capturing.take().expect("a capture is in flight");
        let account = funds.account.clone();
        let cause = PostingCause::HoldCaptured(hold.clone());
        match refused {
            None => {
                let rest = transit.funds_held.remove(hold).expect("looked at above").amount;
                if rest > 0 {
                    self.post(&account, 0, -signed(rest), cause, events);
                }
            }
            Some(_) => {
                funds.amount =
                    funds.amount.checked_add(captured).expect("a refused capture restores the hold's amount");
                transit.funds_expiry.insert((funds.expires_at_ms, hold.clone()));
                let captured = signed(captured);
                self.post(&account, captured, captured, cause, events);
            }
        }
    }

    /// Releases the funds held for POS hold `hold` (voided with its sale; nothing if the tick here
    /// released them already).
    fn release_funds(&mut self, hold: &Id, events: &mut Vec<Event>) {
        let transit = &mut self.state.transit;
        let Some(funds) = transit.funds_held.remove(hold) else { return };
        assert!(funds.capturing.is_none(), "a hold capturing is not voided");
        transit.funds_expiry.remove(&(funds.expires_at_ms, hold.clone()));
        let held = signed(funds.amount);
        self.post(&funds.account, 0, -held, PostingCause::HoldReleased(hold.clone()), events);
    }

    /// Releases the funds of every POS hold kept elsewhere that expired by `now` (the sale's
    /// partition's tick expires the hold itself).
    pub(in crate::state_machine) fn expire_funds(&mut self, now: TimestampMs, events: &mut Vec<Event>) {
        while let Some((expires_at_ms, hold)) = self.state.transit.funds_expiry.first().cloned() {
            if expires_at_ms > now {
                break;
            }
            self.release_funds(&hold, events);
        }
    }

    /// Whether hold `id`, which this partition holds, is its own: its payer lives here, or it
    /// is the hold of a POS settlement here (its funds held on the payer's partition). A hold
    /// brought back from storage with a POS settlement whose id another partition's hold took
    /// is neither.
    pub fn keeps_hold(&self, id: &Id) -> bool {
        let Some(hold) = self.state.holds.get(id) else { return false };
        self.lives_here(&hold.from)
            || self.state.settlements.get(id).and_then(|record| record.effect.as_ref()).is_some_and(|e| e.held)
    }
}

/// `amount` as a signed posting (amounts are at most `AMOUNT_MINOR_MAX`).
fn signed(amount: u64) -> i64 {
    i64::try_from(amount).expect("amounts are at most AMOUNT_MINOR_MAX")
}
