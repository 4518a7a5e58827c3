//! Coupons: issue, contacts, share into a pool, claim by a contact, redeem (by an operator of
//! the issuing merchant, or with a POS settlement or bill charge), and the sharer's reward.
//!
//! Rules: a coupon is redeemed once. A shared coupon waits in its holder's pool until a contact
//! claims it; the claimer becomes the holder and the sharer is remembered. When a claimed coupon
//! with a reward rule is redeemed, the sharer receives a reward coupon (id `r-` + 24 hex digits
//! derived from the coupon id) with that rule, valid from now for the original's lifetime.
//! Operators reach only their own merchant's coupons. Only applied redemptions are remembered.

use kassa_engine::command::{
    AddContact, ClaimCoupon, IssueCoupon, Outcome, Principal, RedeemCoupon, Rejection, Reply, ShareCoupon,
};
use kassa_engine::constants::{CONTACTS_PER_USER_MAX, COUPON_TTL_MS_MAX, POOL_COUPONS_MAX};
use kassa_engine::{Currency, Id, TimestampMs};

use super::rules::{Quote, quote, validate_adjustments, validate_rule};
use super::{Coupon, CouponStatus, Model, Oracle, Redemption, valid_amount, well_formed_code};

impl Model {
    pub(super) fn issue_coupon(
        &mut self,
        now: TimestampMs,
        issue: &IssueCoupon,
        oracle: Oracle<'_>,
    ) -> Result<Reply, Rejection> {
        if let Some(existing) = self.coupons.get(&issue.coupon) {
            // The documented rule: the same id with the same body (the holder included)
            // answers as the first time, another body is `already_exists`.
            // The window and nonce are the shell's (clock, randomness): a retry is the same
            // holder, merchant, currency and rules, and answers the code first issued.
            let same = existing.issued_to.as_ref() == Some(&issue.holder)
                && existing.merchant == issue.merchant
                && existing.currency == issue.currency
                && existing.rule == issue.rule
                && existing.adjustments == issue.adjustments
                && existing.reward == issue.reward;
            return match (same, &existing.issue_code) {
                (true, Some(code)) => Ok(Reply::CouponIssued { code: code.clone() }),
                (true, None) => unreachable!("issued coupons have their code"),
                (false, _) => Err(Rejection::AlreadyExists),
            };
        }
        if !self.merchants.contains_key(&issue.merchant) {
            return Err(Rejection::MerchantNotFound);
        }
        validate_rule(&issue.rule)?;
        if let Some(reward) = &issue.reward {
            validate_rule(reward)?;
        }
        validate_adjustments(&issue.adjustments)?;
        let window_ok = issue.valid_from_ms < issue.valid_until_ms
            && issue.valid_until_ms > now
            && issue.valid_until_ms - issue.valid_from_ms <= COUPON_TTL_MS_MAX;
        if !window_ok {
            return Err(Rejection::InvalidExpiry);
        }
        let code = oracle.secret();
        if self.coupon_codes.contains_key(&code) {
            return Err(Rejection::AlreadyExists);
        }
        self.coupon_codes.insert(code.clone(), issue.coupon.clone());
        self.coupons.insert(
            issue.coupon.clone(),
            Coupon {
                merchant: issue.merchant.clone(),
                holder: issue.holder.clone(),
                issued_to: Some(issue.holder.clone()),
                currency: issue.currency,
                rule: issue.rule.clone(),
                adjustments: issue.adjustments.clone(),
                valid_from_ms: issue.valid_from_ms,
                valid_until_ms: issue.valid_until_ms,
                reward: issue.reward.clone(),
                shared_by: None,
                status: CouponStatus::Available,
                nonce: Some(issue.nonce),
                code: Some(code.clone()),
                issue_code: Some(code.clone()),
            },
        );
        Ok(Reply::CouponIssued { code })
    }

    /// Links at once for the admin and within one app; across apps (or to a user nobody
    /// claimed) it records a request, and links when the other side sends the pair back.
    pub(super) fn add_contact(&mut self, who: &Principal, add: &AddContact) -> Result<Reply, Rejection> {
        if add.user == add.contact {
            return Err(Rejection::InvalidField);
        }
        if self.contacts.get(&add.user).is_some_and(|set| set.contains(&add.contact)) {
            return Ok(Reply::Done);
        }
        let same_app = *who == Principal::Admin || self.owners.users.get(&add.contact) == Some(who);
        let asked_back = self.contact_requests.contains(&(add.contact.clone(), add.user.clone()));
        if !same_app && !asked_back {
            let requested = |user: &Id| self.contact_requests.iter().filter(|(from, _)| from == user).count();
            if !self.contact_requests.contains(&(add.user.clone(), add.contact.clone()))
                && requested(&add.user) >= CONTACTS_PER_USER_MAX
            {
                return Err(Rejection::LimitReached);
            }
            self.contact_requests.insert((add.user.clone(), add.contact.clone()));
            return Ok(Reply::ContactRequested);
        }
        let full = |user: &Id| self.contacts.get(user).is_some_and(|set| set.len() >= CONTACTS_PER_USER_MAX);
        if full(&add.user) || full(&add.contact) {
            return Err(Rejection::LimitReached);
        }
        self.contact_requests.remove(&(add.contact.clone(), add.user.clone()));
        self.contacts.entry(add.user.clone()).or_default().insert(add.contact.clone());
        self.contacts.entry(add.contact.clone()).or_default().insert(add.user.clone());
        Ok(Reply::Done)
    }

    /// `user`'s pool as contacts see it at `now`: the shared coupons still valid (the engine
    /// takes one out of its pool when its validity ends).
    pub(super) fn pool(&self, now: TimestampMs, user: &Id) -> impl Iterator<Item = &Id> {
        let valid = move |id: &&Id| self.coupons.get(*id).is_some_and(|coupon| coupon.valid_until_ms > now);
        self.pools.get(user).into_iter().flatten().filter(valid)
    }

    pub(super) fn share_coupon(&mut self, now: TimestampMs, share: &ShareCoupon) -> Result<(), Rejection> {
        let coupon = self.coupons.get(&share.coupon).ok_or(Rejection::CouponNotFound)?;
        if coupon.holder != share.user {
            return Err(Rejection::NotCouponHolder);
        }
        match coupon.status {
            CouponStatus::Available => {}
            CouponStatus::Shared => return Ok(()),
            CouponStatus::Redeemed => return Err(Rejection::CouponRedeemed),
        }
        if now >= coupon.valid_until_ms {
            return Err(Rejection::CouponNotValid);
        }
        if self.pool(now, &share.user).count() >= POOL_COUPONS_MAX {
            return Err(Rejection::LimitReached);
        }
        self.coupons.get_mut(&share.coupon).expect("exists").status = CouponStatus::Shared;
        self.pools.entry(share.user.clone()).or_default().insert(share.coupon.clone());
        Ok(())
    }

    /// A claim issues the claimer a new code (the oracle's: the engine derives it) and retires
    /// the sharer's.
    pub(super) fn claim_coupon(
        &mut self,
        now: TimestampMs,
        claim: &ClaimCoupon,
        oracle: Oracle<'_>,
    ) -> Result<Reply, Rejection> {
        let coupon = self.coupons.get(&claim.coupon).ok_or(Rejection::CouponNotFound)?;
        if coupon.status != CouponStatus::Shared {
            let claimed_already = coupon.holder == claim.claimer && coupon.shared_by.is_some();
            return match (claimed_already, coupon.status == CouponStatus::Available, &coupon.code) {
                (true, true, Some(code)) => Ok(Reply::CouponClaimed { code: code.clone() }),
                (true, true, None) => unreachable!("a claimed coupon's code is known"),
                (true, false, _) => Err(Rejection::CouponRedeemed),
                (false, _, _) => Err(Rejection::CouponNotShared),
            };
        }
        let sharer = coupon.holder.clone();
        let contact = self.contacts.get(&sharer).is_some_and(|set| set.contains(&claim.claimer));
        if claim.claimer == sharer || !contact {
            return Err(Rejection::NotAContact);
        }
        if now >= coupon.valid_until_ms {
            return Err(Rejection::CouponNotValid);
        }
        let code = oracle.secret();
        let old = coupon.code.clone();
        if old.as_ref() != Some(&code) && self.coupon_codes.contains_key(&code) {
            return Err(Rejection::InvalidField);
        }
        if let Some(old) = &old {
            self.coupon_codes.remove(old);
        }
        self.coupon_codes.insert(code.clone(), claim.coupon.clone());
        let coupon = self.coupons.get_mut(&claim.coupon).expect("exists");
        coupon.holder = claim.claimer.clone();
        coupon.shared_by = Some(sharer.clone());
        coupon.status = CouponStatus::Available;
        coupon.code = Some(code.clone());
        let pool = self.pools.get_mut(&sharer).expect("a shared coupon is pooled");
        pool.remove(&claim.coupon);
        if pool.is_empty() {
            self.pools.remove(&sharer);
        }
        Ok(Reply::CouponClaimed { code })
    }

    /// The quote of an available coupon valid now.
    fn quote_available(
        now: TimestampMs,
        coupon: &Coupon,
        amount: u64,
        location: Option<kassa_engine::types::GeoPoint>,
    ) -> Result<Quote, Rejection> {
        match coupon.status {
            CouponStatus::Available => {}
            CouponStatus::Shared => return Err(Rejection::CouponShared),
            CouponStatus::Redeemed => return Err(Rejection::CouponRedeemed),
        }
        if now < coupon.valid_from_ms || now >= coupon.valid_until_ms {
            return Err(Rejection::CouponNotValid);
        }
        quote(&coupon.rule, &coupon.adjustments, amount, now, location)
    }

    /// The discount of `user`'s coupon `id` on a payment of `amount` to `merchant`, at
    /// `location` (adjusted like an operator's redemption) when the payment says where.
    pub(super) fn quote_payment_coupon(
        &self,
        now: TimestampMs,
        (id, user, merchant): (&Id, &Id, &Id),
        currency: Currency,
        amount: u64,
        location: Option<kassa_engine::types::GeoPoint>,
    ) -> Result<u64, Rejection> {
        let coupon = self.coupons.get(id).ok_or(Rejection::CouponNotFound)?;
        if coupon.holder != *user {
            return Err(Rejection::NotCouponHolder);
        }
        if coupon.merchant != *merchant {
            return Err(Rejection::WrongMerchant);
        }
        if coupon.currency != currency {
            return Err(Rejection::CurrencyMismatch);
        }
        Ok(Self::quote_available(now, coupon, amount, location)?.discount)
    }

    /// Marks a quoted coupon redeemed and rewards its sharer; returns the reward coupon's id.
    pub(super) fn redeem_for_payment(&mut self, now: TimestampMs, id: &Id) -> Option<Id> {
        let coupon = self.coupons.get_mut(id).expect("quoted");
        coupon.status = CouponStatus::Redeemed;
        let (sharer, reward) = (coupon.shared_by.clone()?, coupon.reward.clone()?);
        let lifetime_ms = coupon.valid_until_ms - coupon.valid_from_ms;
        let reward_coupon = Coupon {
            merchant: coupon.merchant.clone(),
            holder: sharer,
            issued_to: None,
            currency: coupon.currency,
            rule: reward,
            adjustments: Vec::new(),
            valid_from_ms: now,
            valid_until_ms: now + lifetime_ms,
            reward: None,
            shared_by: None,
            status: CouponStatus::Available,
            nonce: None,
            code: None,
            issue_code: None,
        };
        let reward_id = super::secrets::reward_id(&self.secret_key, id);
        self.coupons.insert(reward_id.clone(), reward_coupon);
        self.unknown_reward_codes.push(reward_id.clone());
        Some(reward_id)
    }

    pub(super) fn redeem_coupon(&mut self, now: TimestampMs, redeem: &RedeemCoupon) -> Outcome {
        if let Some(record) = self.redemptions.get(&redeem.id) {
            let same = record.operator == redeem.operator
                && record.code == redeem.code
                && record.amount == redeem.amount
                && record.location == redeem.location;
            return if same { record.outcome.clone() } else { Outcome::Rejected(Rejection::IdReused) };
        }
        let outcome = match self.verify_coupon(now, redeem) {
            Err(rejection) => Outcome::Rejected(rejection),
            Ok((id, quote)) => {
                let reward_coupon = self.redeem_for_payment(now, &id);
                Outcome::Applied(Reply::CouponRedeemed {
                    discount: quote.discount,
                    payable: quote.payable,
                    reward_coupon,
                })
            }
        };
        if outcome.is_applied() {
            self.redemptions.insert(
                redeem.id.clone(),
                Redemption {
                    operator: redeem.operator.clone(),
                    code: redeem.code.clone(),
                    amount: redeem.amount,
                    location: redeem.location,
                    outcome: outcome.clone(),
                },
            );
        }
        outcome
    }

    fn verify_coupon(&self, now: TimestampMs, redeem: &RedeemCoupon) -> Result<(Id, Quote), Rejection> {
        let merchant = self.operators.get(&redeem.operator).ok_or(Rejection::OperatorNotFound)?;
        valid_amount(redeem.amount)?;
        if !well_formed_code(&redeem.code) {
            return Err(Rejection::CouponNotFound);
        }
        let id = self.coupon_codes.get(&redeem.code).ok_or(Rejection::CouponNotFound)?;
        let coupon = &self.coupons[id];
        if coupon.merchant != *merchant {
            return Err(Rejection::WrongMerchant);
        }
        let quote = Self::quote_available(now, coupon, redeem.amount, redeem.location)?;
        Ok((id.clone(), quote))
    }
}
