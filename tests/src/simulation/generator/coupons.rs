//! Generation of split, contact, coupon and registry commands.

use super::*;
use crate::model::Coupon;

impl Generator {
    // ----- splits ----------------------------------------------------------------------------

    pub(super) fn request_split(&mut self, model: &Model, now: TimestampMs, batch: &mut Vec<Command>) {
        let requester = self.user();
        let requester_account = self.home(&requester);
        let currency = self.currency_of(model, &requester_account);
        let currency = if self.pm(50) { self.other_currency(currency) } else { currency };
        let count = match self.rng.random_range(0..100) {
            0..2 => 0,
            2..3 => SPLIT_MEMBERS_MAX + 1,
            _ => self.rng.random_range(1..=6),
        };
        let mut members: Vec<SplitMember> = Vec::new();
        let mut candidates = self.users.clone();
        for index in 0..count {
            let user = if index < candidates.len() && count <= USERS {
                let at = self.index(candidates.len());
                candidates.swap_remove(at)
            } else {
                id(&format!("member-{index}"))
            };
            let account = self.account_for(model, &user, currency);
            members.push(SplitMember { user, account });
        }
        if members.len() >= 2 && self.pm(30) {
            members[1].user = members[0].user.clone();
        }
        let total = match self.rng.random_range(0..100) {
            0..75 => self.range(1, 50_000),
            75..82 => self.range(0, members.len() as u64),
            _ => self.money(),
        };
        let shares = if self.pm(400) && count > 0 {
            let mut shares: Vec<u64> = Vec::new();
            let mut left = total;
            for index in 0..count {
                let rest = (count - index - 1) as u64;
                let share = if index + 1 == count { left } else { self.range(1, left.saturating_sub(rest).max(1)) };
                shares.push(share);
                left = left.saturating_sub(share);
            }
            match self.rng.random_range(0..100) {
                0..5 => shares.push(1),
                5..10 => shares[0] += 1,
                10..13 => shares[0] = 0,
                _ => {}
            }
            SplitShares::Explicit(shares)
        } else {
            SplitShares::Equal
        };
        let expires_at_ms = self.expiry(now, SPLIT_TTL_MS_MAX);
        let split = self.fresh("p");
        self.splits.push(split.clone());
        batch.push(Command::RequestSplit(RequestSplit {
            split,
            requester,
            requester_account,
            total,
            currency,
            members,
            shares,
            expires_at_ms,
        }));
    }

    pub(super) fn pay_split_share(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let split =
            self.aim("p", |g| &g.splits, |p| model.splits.get(p).is_some_and(|p| p.status == SplitStatus::Open));
        let member = match model.splits.get(&split) {
            Some(s) if s.status == SplitStatus::Open || self.pm(300) => {
                let unpaid: Vec<Id> =
                    s.members.iter().zip(&s.paid).filter(|(_, paid)| !**paid).map(|(m, _)| m.user.clone()).collect();
                let all: Vec<Id> = s.members.iter().map(|m| m.user.clone()).collect();
                match self.rng.random_range(0..100) {
                    0..85 => self.pick(&unpaid).or_else(|| self.pick(&all)).unwrap_or_else(|| self.user()),
                    85..95 => self.pick(&all).unwrap_or_else(|| self.user()),
                    _ => self.user(),
                }
            }
            _ => self.user(),
        };
        batch.push(Command::PaySplitShare(PaySplitShare { split, member }));
    }

    // ----- contacts and coupons --------------------------------------------------------------

    pub(super) fn add_contact(&mut self, batch: &mut Vec<Command>) {
        let user = self.user();
        let contact = if self.pm(40) { user.clone() } else { self.user() };
        batch.push(Command::AddContact(AddContact { user, contact }));
    }

    /// Contacts for one user until the limit, then past it (limit_reached).
    pub(super) fn popular_contacts(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let popular = id(POPULAR);
        let have = model.contacts.get(&popular).map_or(0, |set| set.len());
        let count = (CONTACTS_PER_USER_MAX + 2).saturating_sub(have).clamp(2, 300);
        for index in 0..count {
            let contact = id(&format!("fan-{}", have + index));
            batch.push(Command::AddContact(AddContact { user: popular.clone(), contact }));
        }
    }

    pub(super) fn rule(&mut self, valid: bool) -> DeductionRule {
        let kind = match (self.rng.random_range(0..3), valid) {
            (0, true) => {
                let percent = if self.pm(500) {
                    Decimal::new(self.rng.random_range(1..=100), 0)
                } else {
                    Decimal::new(self.rng.random_range(1..=10_000), 2)
                };
                let cap = if self.pm(500) { None } else { Some(self.range(1, 2_000)) };
                DeductionKind::PercentOff { percent, cap }
            }
            (0, false) => match self.rng.random_range(0..3) {
                0 => DeductionKind::PercentOff { percent: Decimal::ZERO, cap: None },
                1 => DeductionKind::PercentOff { percent: Decimal::new(10_001, 2), cap: None },
                _ => DeductionKind::PercentOff { percent: Decimal::TEN, cap: Some(0) },
            },
            (1, true) => DeductionKind::FixedOff { amount: self.range(1, 2_000) },
            (1, false) => DeductionKind::FixedOff { amount: 0 },
            (_, true) => {
                let threshold = self.range(100, 20_000);
                DeductionKind::SpendSave { threshold, save: self.range(1, threshold) }
            }
            (_, false) => DeductionKind::SpendSave { threshold: 100, save: 101 },
        };
        let min_spend = match self.rng.random_range(0..100) {
            0..70 => 0,
            70..99 => self.range(1, 5_000),
            _ if !valid => AMOUNT_MINOR_MAX + 1,
            _ => AMOUNT_MINOR_MAX,
        };
        DeductionRule { kind, min_spend }
    }

    pub(super) fn center(&mut self) -> GeoPoint {
        let latitude_e6 = self.rng.random_range(-60_000_000..=60_000_000);
        let longitude_e6 = self.rng.random_range(-180_000_000..=180_000_000);
        GeoPoint { latitude_e6, longitude_e6 }
    }

    pub(super) fn adjustments(&mut self, now: TimestampMs) -> Vec<ValueAdjustment> {
        let roll = self.rng.random_range(0..100);
        let (count, factor_max) = match roll {
            0..55 => (0, 0),
            55..90 => (self.rng.random_range(1..=3), 1_000),
            90..95 => (8, 150),
            _ => (self.rng.random_range(1..=3), 1_000),
        };
        // Every area of one coupon lies on one meridian, so that a purchase placed on it has an
        // exact distance to each centre (see `model::rules::within_metres`).
        let meridian = self.rng.random_range(-180_000_000..=180_000_000);
        let mut adjustments: Vec<ValueAdjustment> = (0..count)
            .map(|_| {
                let condition = if self.pm(500) {
                    let from_ms = now.saturating_sub(HOUR) + self.range(0, 3 * HOUR);
                    AdjustmentCondition::TimeWindow { from_ms, until_ms: from_ms + self.range(1, 2 * HOUR) }
                } else {
                    let center = GeoPoint { longitude_e6: meridian, ..self.center() };
                    AdjustmentCondition::Location { center, radius_m: self.rng.random_range(100..=50_000) }
                };
                let factor_percent = if self.pm(100) { 0 } else { self.rng.random_range(1..=factor_max.clamp(1, 300)) };
                let factor_percent = if factor_max == 1_000 && self.pm(100) { 1_000 } else { factor_percent };
                ValueAdjustment { condition, factor_percent }
            })
            .collect();
        if roll >= 95 {
            // Invalid: too many, a factor too large, a zero radius, an empty window, off the globe.
            match self.rng.random_range(0..5) {
                0 => adjustments = (0..9).map(|_| ValueAdjustment { ..adjustments[0].clone() }).collect(),
                1 => adjustments[0].factor_percent = 1_001,
                2 => {
                    let center = self.center();
                    adjustments[0].condition = AdjustmentCondition::Location { center, radius_m: 0 };
                }
                3 => adjustments[0].condition = AdjustmentCondition::TimeWindow { from_ms: now, until_ms: now },
                _ => {
                    let center = GeoPoint { latitude_e6: 90_000_001, longitude_e6: 0 };
                    adjustments[0].condition = AdjustmentCondition::Location { center, radius_m: 10 };
                }
            }
        }
        adjustments
    }

    pub(super) fn issue_coupon(&mut self, model: &Model, now: TimestampMs, batch: &mut Vec<Command>) {
        let merchant = self.merchant(model);
        let holder = self.user();
        let currency =
            model.merchants.get(&merchant).map(|account| self.currency_of(model, account)).unwrap_or(Currency::EUR);
        let currency = if self.pm(80) { self.other_currency(currency) } else { currency };
        let valid = !self.pm(40);
        let rule = self.rule(valid);
        let reward = if self.pm(500) {
            let valid = !self.pm(20);
            Some(self.rule(valid))
        } else {
            None
        };
        let adjustments = self.adjustments(now);
        let valid_from_ms = match self.rng.random_range(0..100) {
            0..85 => now.saturating_sub(self.range(0, HOUR)),
            _ => now + self.range(MINUTE, 2 * HOUR),
        };
        let valid_until_ms = match self.rng.random_range(0..100) {
            0..80 => valid_from_ms + self.range(10 * MINUTE, 3 * DAY),
            80..90 => valid_from_ms + self.range(3 * DAY, 30 * DAY),
            90..92 => valid_from_ms + COUPON_TTL_MS_MAX,
            92..94 => valid_from_ms + COUPON_TTL_MS_MAX + 1,
            94..97 => valid_from_ms,
            _ => now.saturating_sub(1),
        };
        let coupon = self.fresh("c");
        self.coupons.push(coupon.clone());
        let nonce = self.rng.random();
        batch.push(Command::IssueCoupon(IssueCoupon {
            coupon,
            merchant,
            holder,
            currency,
            rule,
            adjustments,
            valid_from_ms,
            valid_until_ms,
            reward,
            nonce,
        }));
    }

    /// One user issues and shares coupons until the pool is full, then one more (limit_reached).
    pub(super) fn hoard(&mut self, model: &Model, now: TimestampMs, batch: &mut Vec<Command>) {
        let hoarder = id("u-hoarder");
        let pooled = model.pools.get(&hoarder).map_or(0, |pool| pool.len());
        let count = (POOL_COUPONS_MAX + 2).saturating_sub(pooled).clamp(2, 150);
        let Some(merchant) = self.live_merchants(model).first().cloned() else { return };
        let currency = self.currency_of(model, &model.merchants[&merchant]);
        for _ in 0..count {
            let coupon = self.fresh("c-pool-");
            let nonce = self.rng.random();
            batch.push(Command::IssueCoupon(IssueCoupon {
                coupon: coupon.clone(),
                merchant: merchant.clone(),
                holder: hoarder.clone(),
                currency,
                rule: DeductionRule { kind: DeductionKind::FixedOff { amount: 10 }, min_spend: 0 },
                adjustments: Vec::new(),
                valid_from_ms: now,
                valid_until_ms: now + 300 * DAY,
                reward: None,
                nonce,
            }));
            batch.push(Command::ShareCoupon(ShareCoupon { coupon, user: hoarder.clone() }));
        }
    }

    pub(super) fn share_coupon(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let coupon = self.aim("c", |g| &g.coupons, |c| usable_coupon(model, c));
        let user = match model.coupons.get(&coupon) {
            Some(c) if self.pm(850) => c.holder.clone(),
            _ => self.user(),
        };
        batch.push(Command::ShareCoupon(ShareCoupon { coupon, user }));
    }

    pub(super) fn claim_coupon(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let shared: Vec<Id> = self
            .coupons
            .ids
            .iter()
            .filter(|c| model.coupons.get(*c).is_some_and(|c| c.status == CouponStatus::Shared))
            .cloned()
            .collect();
        let coupon = match self.pick(&shared) {
            Some(coupon) if self.pm(750) => coupon,
            _ => self.existing("c", |g| &g.coupons),
        };
        let claimer = match model.coupons.get(&coupon) {
            Some(c) if self.pm(750) => {
                let contacts: Vec<Id> = model.contacts.get(&c.holder).into_iter().flatten().cloned().collect();
                self.pick(&contacts).unwrap_or_else(|| self.user())
            }
            Some(c) if self.pm(200) => c.holder.clone(),
            _ => self.user(),
        };
        let nonce = self.rng.random();
        batch.push(Command::ClaimCoupon(ClaimCoupon { coupon, claimer, nonce }));
    }

    /// Where a redemption or a payment with `coupon` says it happens: none, a point clearly
    /// inside or outside the coupon's location condition, or anywhere.
    pub(super) fn location_for(&mut self, known: Option<&Coupon>) -> Option<GeoPoint> {
        let location = match (known, self.rng.random_range(0..100)) {
            (_, 0..40) => None,
            (Some(c), roll) => {
                let area = c.adjustments.iter().find_map(|a| match a.condition {
                    AdjustmentCondition::Location { center, radius_m } => Some((center, radius_m)),
                    AdjustmentCondition::TimeWindow { .. } => None,
                });
                match area {
                    // On the centre's meridian, clearly inside (<= 80 %) or outside (>= 125 %).
                    Some((center, radius_m)) => {
                        let radius_e6 = u64::from(radius_m) * 1_000_000 / 111_195;
                        let offset = if roll < 70 {
                            self.range(0, radius_e6 * 8 / 10)
                        } else {
                            self.range(radius_e6 * 5 / 4 + 1, radius_e6 * 3)
                        };
                        let offset = i32::try_from(offset).expect("small");
                        let latitude_e6 = if center.latitude_e6 > 0 {
                            center.latitude_e6 - offset
                        } else {
                            center.latitude_e6 + offset
                        };
                        Some(GeoPoint { latitude_e6, longitude_e6: center.longitude_e6 })
                    }
                    None => Some(GeoPoint { latitude_e6: 1, longitude_e6: 2 }),
                }
            }
            (None, _) => Some(self.center()),
        };
        location.filter(|point| {
            // Location adjustments are only ever checked on the centre's meridian (see rules.rs).
            known.is_none_or(|c| {
                c.adjustments.iter().all(|a| match a.condition {
                    AdjustmentCondition::Location { center, .. } => center.longitude_e6 == point.longitude_e6,
                    AdjustmentCondition::TimeWindow { .. } => true,
                })
            })
        })
    }

    pub(super) fn redeem_coupon(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let coupon = self.aim("c", |g| &g.coupons, |c| usable_coupon(model, c));
        let known = model.coupons.get(&coupon).cloned();
        let operator = match &known {
            Some(c) if self.pm(800) => {
                let own: Vec<Id> =
                    self.operators.iter().filter(|o| model.operators.get(*o) == Some(&c.merchant)).cloned().collect();
                self.pick(&own).unwrap_or_else(|| self.operators[0].clone())
            }
            _ if self.pm(100) => id("o-unknown"),
            _ => self.pick(&self.operators.clone()).expect("operators"),
        };
        let code = match known.as_ref().and_then(|c| c.code.clone()) {
            Some(code) if self.pm(850) => code,
            code => self.wrong_code(code.as_deref(), 12),
        };
        let amount = match self.rng.random_range(0..100) {
            0..75 => self.range(1, 20_000),
            _ => self.money(),
        };
        let location = self.location_for(known.as_ref());
        let redemption = if self.pm(100) { self.existing("rd", |g| &g.redemptions) } else { self.fresh("rd") };
        self.redemptions.push(redemption.clone());
        batch.push(Command::RedeemCoupon(RedeemCoupon { id: redemption, operator, code, amount, location }));
    }

    // ----- registries ------------------------------------------------------------------------

    pub(super) fn register_api_key(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let existing = self.existing("k", |g| &g.api_keys);
        if let Some((role, hash, _)) = model.api_keys.get(&existing)
            && self.pm(500)
        {
            let mut secret_hash = *hash;
            if self.pm(300) {
                secret_hash[31] ^= 0xff;
            }
            batch.push(Command::RegisterApiKey(RegisterApiKey { key_id: existing, role: role.clone(), secret_hash }));
            return;
        }
        let key_id = self.fresh("k");
        self.api_keys.push(key_id.clone());
        let role = match self.rng.random_range(0..5) {
            0 => Principal::Admin,
            1 => Principal::Merchant(self.merchant(model)),
            2 => Principal::Operator(self.pick(&self.operators.clone()).expect("operators")),
            3 => self.pick(&self.terminals.clone()).map_or(Principal::Admin, Principal::Terminal),
            _ => Principal::App(id("app-1")),
        };
        let mut secret_hash = [0u8; 32];
        self.rng.fill(&mut secret_hash);
        batch.push(Command::RegisterApiKey(RegisterApiKey { key_id, role, secret_hash }));
    }
}
