//! Coupons: issue, share into a pool, claim by a contact, redeem (by a merchant operator, or
//! atomically with a POS settlement or bill charge), and the sharer's reward.
//!
//! A coupon's redemption code is derived from the server key and the coupon (so the holder's app
//! can be shown it again); the engine indexes coupons by a keyed hash of the code, so a lookup's
//! timing says nothing about other codes. Operators only ever reach their own merchant's coupons.

use serde::{Deserialize, Serialize};

use super::archive::ArchivedKind;
use super::rules::{self, Quote};
use super::{SecretKey, StateMachine};
use crate::command::{
    AddContact, Change, ClaimCoupon, DeductionRule, Event, IssueCoupon, ObjectKind, Outcome, Principal, RedeemCoupon,
    Rejection, Reply, ShareCoupon, ValueAdjustment,
};
use crate::constants::{CONTACTS_PER_USER_MAX, COUPON_CODE_DIGITS, COUPON_TTL_MS_MAX, POOL_COUPONS_MAX};
use crate::types::{Currency, GeoPoint, Id, TimestampMs};

const COUPON_CODE_DOMAIN: &str = "kassa.coupon-code.v1";
const COUPON_INDEX_DOMAIN: &str = "kassa.coupon-index.v1";
const REWARD_ID_DOMAIN: &str = "kassa.reward-id.v1";

/// Where a coupon is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CouponState {
    /// Held, usable by its holder.
    Available,
    /// In its holder's pool, waiting for a contact to claim it.
    Shared,
    /// Used.
    Redeemed,
}

/// A coupon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    /// The issuing merchant.
    pub merchant: Id,
    /// Current holder.
    pub holder: Id,
    /// The holder it was issued to (what a retried `IssueCoupon` is compared with).
    pub issued_to: Id,
    /// Currency of the rule's amounts.
    pub currency: Currency,
    /// The deduction.
    pub rule: DeductionRule,
    /// Value adjustments.
    pub adjustments: Vec<ValueAdjustment>,
    /// Start of validity.
    pub valid_from_ms: TimestampMs,
    /// End of validity.
    pub valid_until_ms: TimestampMs,
    /// Rule of the sharer's reward when a claimer redeems it.
    pub reward: Option<DeductionRule>,
    /// Who shared it, once claimed by a contact.
    pub shared_by: Option<Id>,
    /// Where it is in its life.
    pub state: CouponState,
    /// The nonce it was issued with (what a retried issue is compared with; a reward's code).
    pub(crate) nonce: u64,
    /// The nonce of its current redemption code: the issue's, then each claim's.
    pub(crate) code_nonce: u64,
}

/// A redemption's request and answer, for idempotent repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RedemptionRecord {
    operator: Id,
    code_index: [u8; 32],
    amount: u64,
    location: Option<GeoPoint>,
    outcome: Outcome,
}

impl StateMachine {
    /// The redemption code of a coupon (derived, so the holder can be shown it again).
    pub fn coupon_code(&self, id: &Id) -> Option<String> {
        let coupon = self.state.coupons.get(id)?;
        Some(self.derive_coupon_code(id, coupon.code_nonce))
    }

    /// The current redemption code of `coupon` (of id `id`), wherever it is kept: memory or
    /// storage.
    pub fn code_of(&self, id: &Id, coupon: &Coupon) -> String {
        self.derive_coupon_code(id, coupon.code_nonce)
    }

    fn derive_coupon_code(&self, id: &Id, nonce: u64) -> String {
        derive_coupon_code(&self.config.secret_key, id, nonce)
    }

    pub(crate) fn coupon_index(&self, code: &str) -> [u8; 32] {
        coupon_index(&self.config.secret_key, code)
    }

    /// Prices a coupon for an operator without redeeming it (verification).
    pub fn verify_coupon(
        &self,
        now: TimestampMs,
        operator: &Id,
        code: &str,
        amount: u64,
        location: Option<GeoPoint>,
    ) -> Result<(Id, Quote), Rejection> {
        let operator = self.operator(operator).ok_or(Rejection::OperatorNotFound)?;
        StateMachine::check_amount(amount)?;
        if !super::is_code(code) {
            return Err(Rejection::CouponNotFound);
        }
        let id = self.coupon_id_by_index(&self.coupon_index(code)).ok_or(Rejection::CouponNotFound)?;
        let coupon = self.coupon(id).expect("an indexed coupon exists");
        if coupon.merchant != operator.merchant {
            return Err(Rejection::WrongMerchant);
        }
        let quote = StateMachine::quote_coupon(now, coupon, amount, location)?;
        Ok((id.clone(), quote))
    }

    /// The coupon a code's keyed hash is filed under.
    pub(crate) fn coupon_id_by_index(&self, index: &[u8; 32]) -> Option<&Id> {
        self.state.coupon_codes.get(index)
    }

    /// Prices `coupon` on a purchase of `amount` (made at `location` when known) for its
    /// holder's app, without redeeming it: `coupon_not_valid` unless it is available and within
    /// its validity.
    pub fn price_coupon(
        now: TimestampMs,
        coupon: &Coupon,
        amount: u64,
        location: Option<GeoPoint>,
    ) -> Result<Quote, Rejection> {
        match Self::quote_coupon(now, coupon, amount, location) {
            Err(Rejection::CouponShared | Rejection::CouponRedeemed) => Err(Rejection::CouponNotValid),
            priced => priced,
        }
    }

    pub(crate) fn quote_coupon(
        now: TimestampMs,
        coupon: &Coupon,
        amount: u64,
        location: Option<GeoPoint>,
    ) -> Result<Quote, Rejection> {
        match coupon.state {
            CouponState::Available => {}
            CouponState::Shared => return Err(Rejection::CouponShared),
            CouponState::Redeemed => return Err(Rejection::CouponRedeemed),
        }
        if now < coupon.valid_from_ms || now >= coupon.valid_until_ms {
            return Err(Rejection::CouponNotValid);
        }
        rules::quote(&coupon.rule, &coupon.adjustments, amount, now, location)
    }

    /// The discount of `user`'s coupon on a payment of `amount` to `merchant`, made at `location`
    /// when known.
    pub(super) fn quote_payment_coupon(
        &self,
        now: TimestampMs,
        id: &Id,
        user: &Id,
        merchant: &Id,
        (currency, amount): (Currency, u64),
        location: Option<GeoPoint>,
    ) -> Result<u64, Rejection> {
        let coupon = self.state.coupons.get(id).ok_or(Rejection::CouponNotFound)?;
        if coupon.holder != *user {
            return Err(Rejection::NotCouponHolder);
        }
        if coupon.merchant != *merchant {
            return Err(Rejection::WrongMerchant);
        }
        if coupon.currency != currency {
            return Err(Rejection::CurrencyMismatch);
        }
        Ok(Self::quote_coupon(now, coupon, amount, location)?.discount)
    }

    /// Marks a quoted coupon redeemed and rewards its sharer. Returns the reward coupon's id.
    pub(super) fn redeem_coupon_for_payment(
        &mut self,
        now: TimestampMs,
        id: &Id,
        events: &mut Vec<Event>,
    ) -> Option<Id> {
        let coupon = self.state.coupons.get_mut(id).expect("quoted coupon exists");
        assert_eq!(coupon.state, CouponState::Available, "only a quoted, available coupon is redeemed");
        coupon.state = CouponState::Redeemed;
        Self::changed(events, ObjectKind::Coupon, id, Change::Used);
        let coupon = coupon.clone();
        assert!(self.state.coupon_expiry.remove(&(coupon.valid_until_ms, id.clone())), "an available coupon waits");
        self.resolved(ArchivedKind::Coupon, id);
        let (sharer, reward) = (coupon.shared_by.clone()?, coupon.reward.clone()?);
        let reward_id = self.reward_id(id);
        let lifetime_ms = coupon.valid_until_ms - coupon.valid_from_ms;
        let reward_coupon = Coupon {
            merchant: coupon.merchant.clone(),
            holder: sharer.clone(),
            issued_to: sharer,
            currency: coupon.currency,
            rule: reward,
            adjustments: Vec::new(),
            valid_from_ms: now,
            valid_until_ms: now + lifetime_ms,
            reward: None,
            shared_by: None,
            state: CouponState::Available,
            nonce: reward_nonce(coupon.nonce),
            code_nonce: reward_nonce(coupon.nonce),
        };
        self.insert_coupon(&reward_id, reward_coupon, events);
        Some(reward_id)
    }

    /// A reward coupon's id: `r-` and 24 hex digits derived from the redeemed coupon's id.
    pub(super) fn reward_id(&self, id: &Id) -> Id {
        let hash = self.config.secret_key.hash(REWARD_ID_DOMAIN, &[id.as_str().as_bytes()]);
        let hex: String = hash[..12].iter().map(|byte| format!("{byte:02x}")).collect();
        Id::new(&format!("r-{hex}")).expect("a valid id")
    }

    fn insert_coupon(&mut self, id: &Id, coupon: Coupon, events: &mut Vec<Event>) -> String {
        let code = self.derive_coupon_code(id, coupon.code_nonce);
        let index = self.coupon_index(&code);
        self.state.coupon_codes.insert(index, id.clone());
        self.state.holdings.entry(coupon.holder.clone()).or_default().insert(id.clone());
        self.state.coupon_expiry.insert((coupon.valid_until_ms, id.clone()));
        self.state.coupons.insert(id.clone(), Box::new(coupon));
        Self::changed(events, ObjectKind::Coupon, id, Change::Opened);
        code
    }

    pub(super) fn issue_coupon(&mut self, now: TimestampMs, issue: &IssueCoupon, events: &mut Vec<Event>) -> Outcome {
        if let Some(existing) = self.state.coupons.get(&issue.coupon) {
            // The window and nonce come from the shell's clock and randomness, which a retry
            // cannot reproduce: a retry is the same merchant, holder, currency and rules, and
            // answers the code issued first.
            let same = existing.merchant == issue.merchant
                && existing.issued_to == issue.holder
                && existing.currency == issue.currency
                && existing.rule == issue.rule
                && existing.adjustments == issue.adjustments
                && existing.reward == issue.reward;
            return if same {
                Outcome::Applied(Reply::CouponIssued { code: self.derive_coupon_code(&issue.coupon, existing.nonce) })
            } else {
                Outcome::Rejected(Rejection::AlreadyExists)
            };
        }
        if let Err(rejection) = self.check_issue(now, issue) {
            return Outcome::Rejected(rejection);
        }
        let coupon = Coupon {
            merchant: issue.merchant.clone(),
            holder: issue.holder.clone(),
            issued_to: issue.holder.clone(),
            currency: issue.currency,
            rule: issue.rule.clone(),
            adjustments: issue.adjustments.clone(),
            valid_from_ms: issue.valid_from_ms,
            valid_until_ms: issue.valid_until_ms,
            reward: issue.reward.clone(),
            shared_by: None,
            state: CouponState::Available,
            nonce: issue.nonce,
            code_nonce: issue.nonce,
        };
        let code = self.insert_coupon(&issue.coupon, coupon, events);
        Outcome::Applied(Reply::CouponIssued { code })
    }

    fn check_issue(&self, now: TimestampMs, issue: &IssueCoupon) -> Result<(), Rejection> {
        if !self.state.merchants.contains_key(&issue.merchant) {
            return Err(Rejection::MerchantNotFound);
        }
        rules::validate_rule(&issue.rule)?;
        if let Some(reward) = &issue.reward {
            rules::validate_rule(reward)?;
        }
        rules::validate_adjustments(&issue.adjustments)?;
        if issue.valid_from_ms >= issue.valid_until_ms
            || issue.valid_until_ms <= now
            || issue.valid_until_ms - issue.valid_from_ms > COUPON_TTL_MS_MAX
        {
            return Err(Rejection::InvalidExpiry);
        }
        let code = self.derive_coupon_code(&issue.coupon, issue.nonce);
        if self.state.coupon_codes.contains_key(&self.coupon_index(&code)) {
            // One in 10^12 per live coupon: the caller retries with another nonce.
            return Err(Rejection::AlreadyExists);
        }
        Ok(())
    }

    /// Links two users as contacts. The admin, and an app whose both users are, link at once;
    /// an app naming another app's (or nobody's) user records a request, and the pair is linked
    /// when the other user's app sends it back (both sides consent).
    pub(super) fn add_contact(&mut self, principal: &Principal, add: &AddContact, events: &mut Vec<Event>) -> Outcome {
        if add.user == add.contact {
            return Outcome::Rejected(Rejection::InvalidField);
        }
        let state = &self.state;
        if state.contacts.get(&add.user).is_some_and(|set| set.contains(&add.contact)) {
            return Outcome::Applied(Reply::Done);
        }
        let same_app = *principal == Principal::Admin
            || state.owners.get(&(ObjectKind::User, add.contact.clone())) == Some(principal);
        let consented = state.contact_requests.get(&add.contact).is_some_and(|asked| asked.contains(&add.user));
        if !same_app && !consented {
            if state.contact_requests.get(&add.user).is_some_and(|asked| asked.contains(&add.contact)) {
                return Outcome::Applied(Reply::ContactRequested);
            }
            if state.contact_requests.get(&add.user).is_some_and(|asked| asked.len() >= CONTACTS_PER_USER_MAX) {
                return Outcome::Rejected(Rejection::LimitReached);
            }
            self.state.contact_requests.entry(add.user.clone()).or_default().insert(add.contact.clone());
            Self::changed(events, ObjectKind::User, &add.user, Change::ContactRequested);
            return Outcome::Applied(Reply::ContactRequested);
        }
        let full = |user: &Id| state.contacts.get(user).is_some_and(|set| set.len() >= CONTACTS_PER_USER_MAX);
        if full(&add.user) || full(&add.contact) {
            return Outcome::Rejected(Rejection::LimitReached);
        }
        if consented {
            let asked = self.state.contact_requests.get_mut(&add.contact).expect("a request was found");
            asked.remove(&add.user);
            if asked.is_empty() {
                self.state.contact_requests.remove(&add.contact);
            }
        }
        self.state.contacts.entry(add.user.clone()).or_default().insert(add.contact.clone());
        self.state.contacts.entry(add.contact.clone()).or_default().insert(add.user.clone());
        Self::changed(events, ObjectKind::User, &add.user, Change::ContactAdded);
        Outcome::Applied(Reply::Done)
    }

    pub(super) fn share_coupon(&mut self, now: TimestampMs, share: &ShareCoupon, events: &mut Vec<Event>) -> Outcome {
        let Some(coupon) = self.state.coupons.get(&share.coupon) else {
            return Outcome::Rejected(Rejection::CouponNotFound);
        };
        if coupon.holder != share.user {
            return Outcome::Rejected(Rejection::NotCouponHolder);
        }
        match coupon.state {
            CouponState::Available => {}
            CouponState::Shared => return Outcome::Applied(Reply::Done),
            CouponState::Redeemed => return Outcome::Rejected(Rejection::CouponRedeemed),
        }
        if now >= coupon.valid_until_ms {
            return Outcome::Rejected(Rejection::CouponNotValid);
        }
        if self.state.pools.get(&share.user).is_some_and(|pool| pool.len() >= POOL_COUPONS_MAX) {
            return Outcome::Rejected(Rejection::LimitReached);
        }
        self.state.coupons.get_mut(&share.coupon).expect("exists").state = CouponState::Shared;
        self.state.pools.entry(share.user.clone()).or_default().insert(share.coupon.clone());
        Self::changed(events, ObjectKind::Coupon, &share.coupon, Change::Shared);
        Outcome::Applied(Reply::Done)
    }

    pub(super) fn claim_coupon(&mut self, now: TimestampMs, claim: &ClaimCoupon, events: &mut Vec<Event>) -> Outcome {
        let Some(coupon) = self.state.coupons.get(&claim.coupon) else {
            return Outcome::Rejected(Rejection::CouponNotFound);
        };
        if coupon.state != CouponState::Shared {
            // A retried claim by the same claimer answers as the first did (with the code then
            // issued, whatever nonce the retry carries).
            let already_claimed = coupon.holder == claim.claimer && coupon.shared_by.is_some();
            return if already_claimed && coupon.state == CouponState::Available {
                Outcome::Applied(Reply::CouponClaimed {
                    code: self.derive_coupon_code(&claim.coupon, coupon.code_nonce),
                })
            } else if already_claimed {
                Outcome::Rejected(Rejection::CouponRedeemed)
            } else {
                Outcome::Rejected(Rejection::CouponNotShared)
            };
        }
        let sharer = coupon.holder.clone();
        let is_contact = self.state.contacts.get(&sharer).is_some_and(|set| set.contains(&claim.claimer));
        if claim.claimer == sharer || !is_contact {
            return Outcome::Rejected(Rejection::NotAContact);
        }
        if now >= coupon.valid_until_ms {
            return Outcome::Rejected(Rejection::CouponNotValid);
        }
        // The claimer gets a code of its own; the sharer's stops redeeming.
        let old_index = self.coupon_index(&self.derive_coupon_code(&claim.coupon, coupon.code_nonce));
        let code = self.derive_coupon_code(&claim.coupon, claim.nonce);
        let new_index = self.coupon_index(&code);
        if new_index != old_index && self.state.coupon_codes.contains_key(&new_index) {
            return Outcome::Rejected(Rejection::InvalidField); // A code collision: retry with another nonce.
        }
        self.state.coupon_codes.remove(&old_index);
        self.state.coupon_codes.insert(new_index, claim.coupon.clone());
        let coupon = self.state.coupons.get_mut(&claim.coupon).expect("exists");
        let sharer_holds = self.state.holdings.get_mut(&coupon.holder).expect("the sharer holds it");
        assert!(sharer_holds.remove(&claim.coupon));
        if sharer_holds.is_empty() {
            self.state.holdings.remove(&coupon.holder);
        }
        self.state.holdings.entry(claim.claimer.clone()).or_default().insert(claim.coupon.clone());
        coupon.holder = claim.claimer.clone();
        coupon.shared_by = Some(sharer.clone());
        coupon.state = CouponState::Available;
        coupon.code_nonce = claim.nonce;
        let pool = self.state.pools.get_mut(&sharer).expect("a shared coupon is in its sharer's pool");
        assert!(pool.remove(&claim.coupon));
        if pool.is_empty() {
            self.state.pools.remove(&sharer);
        }
        Self::changed(events, ObjectKind::Coupon, &claim.coupon, Change::Claimed);
        Outcome::Applied(Reply::CouponClaimed { code })
    }

    pub(super) fn redeem_coupon(
        &mut self,
        now: TimestampMs,
        redeem: &RedeemCoupon,
        events: &mut Vec<Event>,
    ) -> Outcome {
        let code_index = self.coupon_index(&redeem.code);
        if let Some(record) = self.state.redemptions.get(&redeem.id) {
            let same = record.operator == redeem.operator
                && record.code_index == code_index
                && record.amount == redeem.amount
                && record.location == redeem.location;
            return if same { record.outcome.clone() } else { Outcome::Rejected(Rejection::IdReused) };
        }
        let outcome = match self.verify_coupon(now, &redeem.operator, &redeem.code, redeem.amount, redeem.location) {
            Err(rejection) => Outcome::Rejected(rejection),
            Ok((id, quote)) => {
                let reward_coupon = self.redeem_coupon_for_payment(now, &id, events);
                Outcome::Applied(Reply::CouponRedeemed {
                    discount: quote.discount,
                    payable: quote.payable,
                    reward_coupon,
                })
            }
        };
        // Only applied redemptions are remembered: a refused one may be retried (e.g. after
        // the operator fixes the amount) without being told `id_reused`.
        if outcome.is_applied() {
            let record = RedemptionRecord {
                operator: redeem.operator.clone(),
                code_index,
                amount: redeem.amount,
                location: redeem.location,
                outcome: outcome.clone(),
            };
            self.state.redemptions.insert(redeem.id.clone(), Box::new(record));
            self.resolved(ArchivedKind::Redemption, &redeem.id);
        }
        outcome
    }
}

/// The nonce of the reward coupon given for redeeming a coupon with `nonce`.
pub(super) fn reward_nonce(nonce: u64) -> u64 {
    nonce.rotate_left(1) ^ 0x5eed
}

/// The redemption code of coupon `id` issued with `nonce`.
pub(super) fn derive_coupon_code(key: &SecretKey, id: &Id, nonce: u64) -> String {
    let parts: [&[u8]; 2] = [id.as_str().as_bytes(), &nonce.to_be_bytes()];
    key.digits(COUPON_CODE_DOMAIN, &parts, COUPON_CODE_DIGITS)
}

/// The keyed hash a coupon is found by from its redemption code.
pub(super) fn coupon_index(key: &SecretKey, code: &str) -> [u8; 32] {
    key.hash(COUPON_INDEX_DOMAIN, &[code.as_bytes()])
}

mod retention;
#[cfg(test)]
mod tests;
