//! Holds: reserve now, capture (fully or partly) or void later, or expire.
//!
//! A hold counts against the payer's available balance from the moment it is placed; it resolves
//! exactly once (captured, voided or expired); a capture never exceeds the held amount. A rejected
//! hold is never stored, so it can never be captured later; commands apply one at a time, so two
//! captures cannot race.

use serde::{Deserialize, Serialize};

use super::StateMachine;
use crate::command::{
    CaptureHold, Change, Event, ObjectKind, Outcome, PlaceHold, PostingCause, Principal, Rejection, Reply, Submission,
};
use crate::constants::HOLD_TTL_MS_MAX;
use crate::partition::Checking;
use crate::types::{Currency, Id, TimestampMs};

/// Where a hold is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldState {
    /// Reserving its amount.
    Active,
    /// Captured for this amount; the rest was released.
    Captured(u64),
    /// Capturing this amount: its payee lives on another partition and has not yet been
    /// credited (the rest stays reserved; refused, the hold is active again: `transit/holds.rs`).
    Capturing(u64),
    /// Voided; everything released.
    Voided,
    /// Expired; everything released.
    Expired,
}

/// A hold of `amount` on `from`, payable to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Payer.
    pub from: Id,
    /// Payee.
    pub to: Id,
    /// Reserved amount.
    pub amount: u64,
    /// Currency of both accounts.
    pub currency: Currency,
    /// When it releases by itself.
    pub expires_at_ms: TimestampMs,
    /// Where it is in its life.
    pub state: HoldState,
    /// Who owns the payee account, when it lives on another partition (its owner and the
    /// merchants registered with it, as they stood when the hold was placed): the payee side
    /// of the authority rules. Empty when the payee lives here (the owner records answer).
    pub payee_owners: Vec<Principal>,
    /// Who owns the payer account, when it lives on another partition (a POS sale's
    /// pre-authorization: its owner and merchants as they stood when the sale's authorization
    /// was created): the payer side of the authority rules. Empty when the payer lives here.
    pub payer_owners: Vec<Principal>,
}

impl StateMachine {
    /// Places a hold; a payee on another partition is checked there first (the placement is
    /// then pending, and `submission` applies again when the answer comes: `transit/holds.rs`).
    pub(super) fn place_hold(
        &mut self,
        now: TimestampMs,
        submission: &Submission,
        place: &PlaceHold,
        events: &mut Vec<Event>,
    ) -> Outcome {
        // The ISO 8583 listener's ids: its 0100 holds take them (`ISO_SETTLEMENT_ID_PREFIX`).
        if super::pos::iso_id_terminal(&place.id).is_some() {
            return Outcome::Rejected(Rejection::InvalidField);
        }
        if let Some(hold) = self.state.holds.get(&place.id) {
            let same = hold.from == place.from
                && hold.to == place.to
                && hold.amount == place.amount
                && hold.currency == place.currency
                && hold.expires_at_ms == place.expires_at_ms;
            return if same { Outcome::Applied(Reply::Done) } else { Outcome::Rejected(Rejection::IdReused) };
        }
        if self.state.transit.holds_funds_for(&place.id) {
            // A POS hold of this id, kept with its settlement on another partition.
            return Outcome::Rejected(Rejection::IdReused);
        }
        if let Some((number, first)) = self.state.transit.placing(&place.id) {
            if first != place {
                return Outcome::Rejected(Rejection::IdReused);
            }
            // A repeat of a placement still waiting for its check waits for the same answer.
            self.pending = Some(number);
            return Outcome::Applied(Reply::Done);
        }
        let checked =
            self.checked_answer(&place.to).map(|payee| payee.as_ref().map(|payee| payee.owners()).unwrap_or_default());
        let payee_here = self.config.placement.of_account(&place.to) == self.config.partition;
        if let Err(rejection) = self.check_hold(now, place, payee_here, checked.is_some()) {
            return Outcome::Rejected(rejection);
        }
        let payee_owners = match checked {
            Some(owners) => owners,
            None if !payee_here => {
                let subject = Checking::HoldPayee(place.id.clone());
                return self.check_account(submission, subject, &place.to, Vec::new());
            }
            None => Vec::new(),
        };
        if let Err(rejection) = self.check_debit(&place.from, place.amount) {
            return Outcome::Rejected(rejection);
        }
        let held = i64::try_from(place.amount).expect("amount within AMOUNT_MINOR_MAX");
        self.post(&place.from, 0, held, PostingCause::HoldPlaced(place.id.clone()), events);
        let hold = Hold {
            from: place.from.clone(),
            to: place.to.clone(),
            amount: place.amount,
            currency: place.currency,
            expires_at_ms: place.expires_at_ms,
            state: HoldState::Active,
            payee_owners,
            payer_owners: Vec::new(),
        };
        self.state.holds.insert(place.id.clone(), hold);
        self.state.hold_expiry.insert((place.expires_at_ms, place.id.clone()));
        Self::changed(events, ObjectKind::Hold, &place.id, Change::Opened);
        Outcome::Applied(Reply::Done)
    }

    /// The checks before a hold is placed, but for the payer's funds (checked last). A payee
    /// on another partition (not `payee_here`) is checked there; when its answer came back
    /// (`checked`), the expiry is not checked again (it was when the placement arrived).
    fn check_hold(
        &self,
        now: TimestampMs,
        place: &PlaceHold,
        payee_here: bool,
        checked: bool,
    ) -> Result<(), Rejection> {
        Self::check_amount(place.amount)?;
        if !checked && (place.expires_at_ms <= now || place.expires_at_ms - now > HOLD_TTL_MS_MAX) {
            return Err(Rejection::InvalidExpiry);
        }
        if place.from == place.to {
            return Err(Rejection::SameAccount);
        }
        self.usable_account(&place.from, place.currency, Rejection::AccountNotFound)?;
        if payee_here {
            self.usable_account(&place.to, place.currency, Rejection::CounterpartyNotFound)?;
        }
        Ok(())
    }

    pub(super) fn capture_hold(&mut self, now: TimestampMs, capture: &CaptureHold, events: &mut Vec<Event>) -> Outcome {
        let Some(hold) = self.state.holds.get(&capture.hold) else {
            return Outcome::Rejected(Rejection::HoldNotFound);
        };
        match hold.state {
            HoldState::Active => {}
            // A retried capture of the same amount answers as the first did.
            HoldState::Captured(captured) if captured == capture.amount => {
                return Outcome::Applied(Reply::Captured { captured, released: hold.amount - captured });
            }
            // The same capture, still in flight to the payee's partition: waits for its answer.
            HoldState::Capturing(captured) if captured == capture.amount => {
                self.pending = self.state.transit.hold_in_flight(&capture.hold);
                return Outcome::Applied(Reply::Captured { captured, released: hold.amount - captured });
            }
            HoldState::Expired => return Outcome::Rejected(Rejection::Expired),
            HoldState::Captured(_) | HoldState::Capturing(_) | HoldState::Voided => {
                return Outcome::Rejected(Rejection::HoldAlreadyResolved);
            }
        }
        if now >= hold.expires_at_ms {
            // Due but not yet ticked: expired all the same; the next tick releases it.
            return Outcome::Rejected(Rejection::Expired);
        }
        if capture.amount == 0 {
            return Outcome::Rejected(Rejection::InvalidAmount);
        }
        if capture.amount > hold.amount {
            return Outcome::Rejected(Rejection::ExceedsHold);
        }
        if !self.lives_here(&hold.from) {
            return self.capture_pos_hold(&capture.hold, capture.amount);
        }
        if !self.lives_here(&hold.to) {
            return self.capture_elsewhere(capture, events);
        }
        let (from, to, amount) = (hold.from.clone(), hold.to.clone(), hold.amount);
        // The payee may have been closed since the hold was placed; its balance may be full.
        let payee = &self.state.accounts[&to];
        if payee.closed {
            return Outcome::Rejected(Rejection::AccountClosed);
        }
        if let Err(rejection) = self.check_credit(&to, capture.amount) {
            return Outcome::Rejected(rejection);
        }
        let held = i64::try_from(amount).expect("amount within AMOUNT_MINOR_MAX");
        let captured = i64::try_from(capture.amount).expect("capture within hold");
        let cause = PostingCause::HoldCaptured(capture.hold.clone());
        self.post(&from, -captured, -held, cause.clone(), events);
        self.post(&to, captured, 0, cause, events);
        self.finish_hold(&capture.hold, HoldState::Captured(capture.amount));
        Outcome::Applied(Reply::Captured { captured: capture.amount, released: amount - capture.amount })
    }

    pub(super) fn void_hold(&mut self, now: TimestampMs, id: &Id, events: &mut Vec<Event>) -> Outcome {
        let Some(hold) = self.state.holds.get(id) else {
            return Outcome::Rejected(Rejection::HoldNotFound);
        };
        match hold.state {
            HoldState::Active if now >= hold.expires_at_ms => Outcome::Rejected(Rejection::Expired),
            HoldState::Active => {
                self.release_hold(id, HoldState::Voided, events);
                Outcome::Applied(Reply::Done)
            }
            HoldState::Voided => Outcome::Applied(Reply::Done),
            HoldState::Expired => Outcome::Rejected(Rejection::Expired),
            HoldState::Captured(_) | HoldState::Capturing(_) => Outcome::Rejected(Rejection::HoldAlreadyResolved),
        }
    }

    /// Voids an active hold placed by a POS authorization (a reversal).
    pub(super) fn release_pos_hold(&mut self, id: &Id, events: &mut Vec<Event>) {
        self.release_hold(id, HoldState::Voided, events);
    }

    /// Releases an active hold's whole amount and resolves it as `state`. A POS hold whose
    /// payer lives elsewhere has its funds there: a void releases them by a move (the command
    /// answers once they are released); an expiry there, by that partition's own tick.
    fn release_hold(&mut self, id: &Id, state: HoldState, events: &mut Vec<Event>) {
        let hold = &self.state.holds[id];
        assert_eq!(hold.state, HoldState::Active, "only an active hold is released");
        let (from, held) = (hold.from.clone(), i64::try_from(hold.amount).expect("amount within i64"));
        if self.lives_here(&from) {
            self.post(&from, 0, -held, PostingCause::HoldReleased(id.clone()), events);
        } else if state == HoldState::Voided {
            self.release_pos_hold_funds(id);
        }
        let change = if state == HoldState::Expired { Change::Expired } else { Change::Cancelled };
        Self::changed(events, ObjectKind::Hold, id, change);
        self.finish_hold(id, state);
    }

    fn finish_hold(&mut self, id: &Id, state: HoldState) {
        let hold = self.state.holds.get_mut(id).expect("hold exists");
        assert_eq!(hold.state, HoldState::Active, "a hold resolves at most once");
        hold.state = state;
        let removed = self.state.hold_expiry.remove(&(hold.expires_at_ms, id.clone()));
        assert!(removed, "an active hold is in the expiry index");
        self.resolved(super::ArchivedKind::Hold, id);
    }

    /// Expires every active hold due at `now`.
    pub(super) fn expire_holds(&mut self, now: TimestampMs, events: &mut Vec<Event>) -> u32 {
        let mut expired = 0;
        while let Some((expires_at_ms, id)) = self.state.hold_expiry.first().cloned() {
            if expires_at_ms > now {
                break;
            }
            self.release_hold(&id, HoldState::Expired, events);
            expired += 1;
        }
        expired
    }
}
