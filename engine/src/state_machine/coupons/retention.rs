//! Coupons and operators' redemptions leave memory (`archive.rs`). A coupon resolves when it is
//! redeemed or when its validity ends (whichever comes first; an unredeemed one waits in
//! `State::coupon_expiry` until then); an operator's redemption resolves as it is answered.
//! Each leaves memory a window later. A coupon in storage is found by its id and by its
//! current redemption code's keyed hash ([`Archived::keys`]), so a late redemption of its code
//! still answers `coupon_redeemed` or `coupon_not_valid`, and a late retry of a redemption its
//! first answer.
//!
//! A new coupon's code could collide with a stored coupon's (one in 10^12): memory answers first,
//! so the live coupon wins.

use super::super::archive::{Archived, ArchivedCoupon, ArchivedKind, ArchivedRedemption, code_key, unlist};
use super::super::rules::Quote;
use super::{CouponState, StateMachine};
use crate::command::{Command, Rejection};
use crate::types::{GeoPoint, Id, TimestampMs};

impl StateMachine {
    /// Queues for leaving memory the coupons whose validity ended by `now`; a shared one leaves
    /// its sharer's pool at once (no contact can claim it any more).
    pub(in crate::state_machine) fn expire_coupons(&mut self, now: TimestampMs) {
        // A coupon that a payment in flight redeems if approved waits for its answer.
        let mut in_flight = Vec::new();
        while let Some((valid_until_ms, _)) = self.state.coupon_expiry.first() {
            if *valid_until_ms > now {
                break;
            }
            let (valid_until_ms, id) = self.state.coupon_expiry.pop_first().expect("looked at above");
            if self.state.transit.redeeming(&id) {
                in_flight.push((valid_until_ms, id));
                continue;
            }
            let coupon = self.state.coupons.get(&id).expect("a coupon waiting to expire is in memory");
            if coupon.state == CouponState::Shared {
                let sharer = coupon.holder.clone();
                unlist(&mut self.state.pools, &sharer, &id);
            }
            self.resolved(ArchivedKind::Coupon, &id);
        }
        self.state.coupon_expiry.extend(in_flight);
    }

    /// Takes coupon `id` out of memory: its code's index entry and its holder's list entry go
    /// with it (a shared one left its pool when its validity ended).
    pub(in crate::state_machine) fn evict_coupon(&mut self, id: Id) {
        let Some(coupon) = self.state.coupons.remove(&id) else { return };
        let code_index = self.coupon_index(&self.derive_coupon_code(&id, coupon.code_nonce));
        if self.state.coupon_codes.get(&code_index) == Some(&id) {
            self.state.coupon_codes.remove(&code_index);
        }
        unlist(&mut self.state.holdings, &coupon.holder, &id);
        self.archived.push(Archived::Coupon(ArchivedCoupon { id, coupon, code_index }));
    }

    /// Takes an operator's redemption `id` out of memory.
    pub(in crate::state_machine) fn evict_redemption(&mut self, id: Id) {
        let Some(record) = self.state.redemptions.remove(&id) else { return };
        self.archived.push(Archived::Redemption(ArchivedRedemption { id, record }));
    }

    /// Takes coupon `archived` back (unless it is in memory): a redeemed one leaves again a
    /// window later, an unredeemed one (past its validity, so in no pool) a window after the
    /// next batch starts.
    pub(in crate::state_machine) fn restore_coupon(&mut self, archived: &ArchivedCoupon) {
        if self.state.coupons.get(&archived.id).is_some() {
            return;
        }
        let (id, coupon) = (archived.id.clone(), archived.coupon.clone());
        self.state.coupon_codes.entry(archived.code_index).or_insert_with(|| id.clone());
        self.state.holdings.entry(coupon.holder.clone()).or_default().insert(id.clone());
        match coupon.state {
            CouponState::Redeemed => self.resolved(ArchivedKind::Coupon, &id),
            CouponState::Available | CouponState::Shared => {
                self.state.coupon_expiry.insert((coupon.valid_until_ms, id.clone()));
            }
        }
        self.state.coupons.insert(id, coupon);
    }

    /// Takes an operator's redemption back (unless it is in memory).
    pub(in crate::state_machine) fn restore_redemption(&mut self, archived: &ArchivedRedemption) {
        if self.state.redemptions.get(&archived.id).is_some() {
            return;
        }
        self.state.redemptions.insert(archived.id.clone(), archived.record.clone());
        self.resolved(ArchivedKind::Redemption, &archived.id);
    }

    /// The coupons and redemptions `command` names (to issue, share, claim, redeem or pay with
    /// them): by id, and a redemption's coupon by its code's keyed hash.
    pub(in crate::state_machine) fn coupon_objects_named(&self, command: &Command) -> Vec<(ArchivedKind, Id)> {
        match command {
            Command::IssueCoupon(issue) => vec![(ArchivedKind::Coupon, issue.coupon.clone())],
            Command::ShareCoupon(share) => vec![(ArchivedKind::Coupon, share.coupon.clone())],
            Command::ClaimCoupon(claim) => vec![(ArchivedKind::Coupon, claim.coupon.clone())],
            // A payment's coupon of another partition is brought back there, when it is asked.
            Command::SettlePos(settle) => self.local_coupon(settle.coupon.as_ref()),
            Command::ConfirmBill(confirm) => self.local_coupon(confirm.coupon.as_ref()),
            Command::RedeemCoupon(redeem) => {
                let mut named = vec![(ArchivedKind::Redemption, redeem.id.clone())];
                if super::super::is_code(&redeem.code) {
                    named.push((ArchivedKind::CouponCode, code_key(&self.coupon_index(&redeem.code))));
                }
                named
            }
            _ => Vec::new(),
        }
    }

    fn local_coupon(&self, coupon: Option<&Id>) -> Vec<(ArchivedKind, Id)> {
        coupon
            .filter(|id| self.coupon_lives_here(id))
            .map(|id| (ArchivedKind::Coupon, id.clone()))
            .into_iter()
            .collect()
    }

    /// The coupons that payments on other partitions ask this one to price (in the batch's
    /// `messages`) and that left memory: brought back before the asks apply, as a command
    /// naming one brings it back.
    pub fn coupons_to_restore(&self, messages: &[crate::partition::TransitMessage]) -> Vec<(ArchivedKind, Id)> {
        let asked = messages.iter().filter_map(|message| match message {
            crate::partition::TransitMessage::CouponAsk(ask) => Some(&ask.coupon),
            _ => None,
        });
        asked.filter(|id| self.state.coupons.get(id).is_none()).map(|id| (ArchivedKind::Coupon, id.clone())).collect()
    }

    /// Whether coupon-related object `id` of `kind` is in memory.
    pub(in crate::state_machine) fn holds_coupon_object(&self, kind: ArchivedKind, id: &Id) -> bool {
        match kind {
            ArchivedKind::Coupon => self.state.coupons.get(id).is_some(),
            ArchivedKind::Redemption => self.state.redemptions.get(id).is_some(),
            ArchivedKind::CouponCode => {
                let mut index = [0u8; 32];
                hex::decode_to_slice(id.as_str(), &mut index).is_ok() && self.state.coupon_codes.contains_key(&index)
            }
            _ => unreachable!("not a coupon's object: {kind:?}"),
        }
    }

    /// The key storage finds the coupon of redemption code `code` under, if it is a code at all
    /// (what a verification asks storage when memory holds no coupon of that code).
    pub fn coupon_code_key(&self, code: &str) -> Option<Id> {
        super::super::is_code(code).then(|| code_key(&self.coupon_index(code)))
    }

    /// Prices a coupon out of memory for an operator, as [`StateMachine::verify_coupon`] does one
    /// in memory: another merchant's is `wrong_merchant`; a redeemed one `coupon_redeemed`, one
    /// past its validity `coupon_not_valid`.
    pub fn verify_archived_coupon(
        &self,
        now: TimestampMs,
        operator: &Id,
        archived: &ArchivedCoupon,
        amount: u64,
        location: Option<GeoPoint>,
    ) -> Result<(Id, Quote), Rejection> {
        let operator = self.operator(operator).ok_or(Rejection::OperatorNotFound)?;
        StateMachine::check_amount(amount)?;
        if archived.coupon.merchant != operator.merchant {
            return Err(Rejection::WrongMerchant);
        }
        let quote = StateMachine::quote_coupon(now, &archived.coupon, amount, location)?;
        Ok((archived.id.clone(), quote))
    }

    /// Checks that every coupon waiting for its validity to end is in memory, unredeemed.
    pub(in crate::state_machine) fn check_coupon_expiry(&self) {
        for (valid_until_ms, id) in &self.state.coupon_expiry {
            let coupon = self.state.coupons.get(id).expect("a coupon waiting to expire is in memory");
            assert_ne!(coupon.state, CouponState::Redeemed, "coupon {id} is redeemed and waiting to expire");
            assert_eq!(coupon.valid_until_ms, *valid_until_ms, "coupon {id} waits for its own validity");
        }
    }
}
