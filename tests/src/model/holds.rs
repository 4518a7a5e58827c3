//! Holds: place (reserving available balance), capture at most the held amount (the rest is
//! released), void, expire by tick.
//!
//! Rules: a repeated place with the same body answers `Done`, another body `id_reused` (POS
//! holds share the id space). A payee on another partition than the payer is decided there, in
//! the same order as on one partition (the payer, then the payee, then the payer's funds); a
//! capture paying it is refused there for the same reasons (closed, balance ceiling), and a
//! refused capture leaves the hold as it was. A hold past its expiry but not yet ticked cannot be captured or
//! voided (`expired`). A capture repeated with the captured amount answers as the first did.

use kassa_engine::command::{CaptureHold, PlaceHold, Rejection, Reply};
use kassa_engine::constants::HOLD_TTL_MS_MAX;
use kassa_engine::{Id, TimestampMs};

use super::{Hold, HoldStatus, Model, signed, valid_amount};

impl Model {
    pub(super) fn place_hold(&mut self, now: TimestampMs, place: &PlaceHold) -> Result<(), Rejection> {
        // Ids beginning "iso:" are the ISO 8583 listener's (its 0100 holds), never a hold's.
        if place.id.as_str().starts_with("iso:") {
            return Err(Rejection::InvalidField);
        }
        if let Some(existing) = self.holds.get(&place.id) {
            let same = existing.from == place.from
                && existing.to == place.to
                && existing.amount == place.amount
                && existing.currency == place.currency
                && existing.expires_at_ms == place.expires_at_ms;
            return if same { Ok(()) } else { Err(Rejection::IdReused) };
        }
        valid_amount(place.amount)?;
        if place.expires_at_ms <= now || place.expires_at_ms - now > HOLD_TTL_MS_MAX {
            return Err(Rejection::InvalidExpiry);
        }
        if place.from == place.to {
            return Err(Rejection::SameAccount);
        }
        self.usable(&place.from, place.currency, Rejection::AccountNotFound)?;
        self.usable(&place.to, place.currency, Rejection::CounterpartyNotFound)?;
        self.accounts[&place.from].can_debit(place.amount)?;
        self.insert_hold(place.id.clone(), place.from.clone(), place.to.clone(), place.amount, place);
        Ok(())
    }

    fn insert_hold(&mut self, id: Id, from: Id, to: Id, amount: u64, place: &PlaceHold) {
        let payee_owners = if self.local(&to) { Vec::new() } else { self.owners_of(&to) };
        self.add_hold(
            id,
            Hold {
                from,
                to,
                amount,
                currency: place.currency,
                expires_at_ms: place.expires_at_ms,
                status: HoldStatus::Active,
                payee_owners,
            },
        );
    }

    /// Stores an active hold and reserves its amount on the payer.
    pub(super) fn add_hold(&mut self, id: Id, hold: Hold) {
        self.account_mut(&hold.from).held += hold.amount;
        self.hold_expiry.insert((hold.expires_at_ms, id.clone()));
        self.holds.insert(id, hold);
    }

    pub(super) fn capture_hold(&mut self, now: TimestampMs, capture: &CaptureHold) -> Result<Reply, Rejection> {
        let hold = self.holds.get(&capture.hold).ok_or(Rejection::HoldNotFound)?;
        match hold.status {
            HoldStatus::Active => {}
            HoldStatus::Captured(captured) if captured == capture.amount => {
                return Ok(Reply::Captured { captured, released: hold.amount - captured });
            }
            HoldStatus::Expired => return Err(Rejection::Expired),
            HoldStatus::Captured(_) | HoldStatus::Voided => return Err(Rejection::HoldAlreadyResolved),
        }
        if now >= hold.expires_at_ms {
            return Err(Rejection::Expired);
        }
        if capture.amount == 0 {
            return Err(Rejection::InvalidAmount);
        }
        if capture.amount > hold.amount {
            return Err(Rejection::ExceedsHold);
        }
        let hold = hold.clone();
        let payee = &self.accounts[&hold.to];
        if payee.closed {
            return Err(Rejection::AccountClosed);
        }
        payee.can_credit(capture.amount)?;
        let payer = self.account_mut(&hold.from);
        payer.posted -= signed(capture.amount);
        payer.held -= hold.amount;
        self.account_mut(&hold.to).posted += signed(capture.amount);
        self.resolve_hold(&capture.hold, HoldStatus::Captured(capture.amount));
        Ok(Reply::Captured { captured: capture.amount, released: hold.amount - capture.amount })
    }

    pub(super) fn void_hold(&mut self, now: TimestampMs, id: &Id) -> Result<(), Rejection> {
        let hold = self.holds.get(id).ok_or(Rejection::HoldNotFound)?;
        match hold.status {
            HoldStatus::Active if now >= hold.expires_at_ms => Err(Rejection::Expired),
            HoldStatus::Active => {
                self.release_hold(id, HoldStatus::Voided);
                Ok(())
            }
            HoldStatus::Voided => Ok(()),
            HoldStatus::Expired => Err(Rejection::Expired),
            HoldStatus::Captured(_) => Err(Rejection::HoldAlreadyResolved),
        }
    }

    /// Gives an active hold's amount back to the payer and resolves it as `status`.
    pub(super) fn release_hold(&mut self, id: &Id, status: HoldStatus) {
        let (from, amount) = {
            let hold = &self.holds[id];
            assert_eq!(hold.status, HoldStatus::Active, "model: only active holds are released");
            (hold.from.clone(), hold.amount)
        };
        self.account_mut(&from).held -= amount;
        self.resolve_hold(id, status);
    }

    fn resolve_hold(&mut self, id: &Id, status: HoldStatus) {
        let hold = self.holds.get_mut(id).expect("exists");
        hold.status = status;
        self.hold_expiry.remove(&(hold.expires_at_ms, id.clone()));
    }

    pub(super) fn expire_holds(&mut self, now: TimestampMs) -> u32 {
        let due: Vec<Id> = self.hold_expiry.iter().take_while(|(at, _)| *at <= now).map(|(_, id)| id.clone()).collect();
        for id in &due {
            self.release_hold(id, HoldStatus::Expired);
        }
        u32::try_from(due.len()).expect("fits")
    }
}
