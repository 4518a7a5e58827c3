//! Generation of merchant, terminal, operator, authorization and POS settlement commands.

use super::*;

impl Generator {
    // ----- merchants and POS -----------------------------------------------------------------

    pub(super) fn merchant(&mut self, model: &Model) -> Id {
        if self.pm(40) {
            return id("m-unknown");
        }
        let live = self.live_merchants(model);
        match self.pick(&live) {
            Some(merchant) if self.pm(900) => merchant,
            _ => self.pick(&self.merchants.clone()).expect("merchants"),
        }
    }

    pub(super) fn register_merchant(&mut self, model: &Model, batch: &mut Vec<Command>) {
        if self.merchants.len() < MERCHANTS_MAX && self.pm(500) {
            let merchant = self.fresh("m-");
            let account = self.account(model).0;
            self.merchants.push(merchant.clone());
            batch.push(Command::RegisterMerchant(RegisterMerchant { merchant, account }));
            return;
        }
        // A registered merchant again (never the unknown one, which must stay unknown).
        let merchant = self.pick(&self.merchants.clone()).expect("merchants");
        let account = match model.merchants.get(&merchant) {
            Some(account) if self.pm(600) => account.clone(),
            _ => self.account(model).0,
        };
        batch.push(Command::RegisterMerchant(RegisterMerchant { merchant, account }));
    }

    pub(super) fn mac_key(&mut self) -> Option<Vec<u8>> {
        match self.rng.random_range(0..100) {
            0..70 => None,
            70..95 => Some(vec![0x5a; self.rng.random_range(16..=64)]),
            95..98 => Some(vec![1; self.rng.random_range(0..16)]),
            _ => Some(vec![2; 65]),
        }
    }

    pub(super) fn register_terminal(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let (mac_key, location) = (self.mac_key(), self.terminal_location(model));
        if self.terminals.len() < TERMINALS_MAX && self.pm(500) {
            let terminal = self.fresh("t-");
            let merchant = self.merchant(model);
            self.terminals.push(terminal.clone());
            batch.push(Command::RegisterTerminal(RegisterTerminal { terminal, merchant, mac_key, location }));
            return;
        }
        let terminal = self.pick(&self.terminals.clone()).expect("terminals");
        let register = match model.terminals.get(&terminal) {
            Some((merchant, key, at)) if self.pm(600) => {
                RegisterTerminal { terminal, merchant: merchant.clone(), mac_key: key.clone(), location: *at }
            }
            _ => RegisterTerminal { terminal, merchant: self.merchant(model), mac_key, location },
        };
        batch.push(Command::RegisterTerminal(register));
    }

    /// Where a terminal stands: nowhere known, off the globe (refused), or inside or outside the
    /// area of a coupon that has one (on its centre's meridian, as `location_for` places sales).
    fn terminal_location(&mut self, model: &Model) -> Option<GeoPoint> {
        match self.rng.random_range(0..100) {
            0..50 => None,
            50..52 => Some(GeoPoint { latitude_e6: 90_000_001, longitude_e6: 0 }),
            _ => {
                let has_area = |coupon: &crate::model::Coupon| {
                    coupon.adjustments.iter().any(|a| matches!(a.condition, AdjustmentCondition::Location { .. }))
                };
                let located: Vec<Id> =
                    model.coupons.iter().filter(|(_, coupon)| has_area(coupon)).map(|(id, _)| id.clone()).collect();
                let coupon = self.pick(&located)?;
                self.location_for(model.coupons.get(&coupon))
            }
        }
    }

    pub(super) fn register_operator(&mut self, model: &Model, batch: &mut Vec<Command>) {
        if self.operators.len() < OPERATORS_MAX && self.pm(500) {
            let operator = self.fresh("o-");
            let merchant = self.merchant(model);
            self.operators.push(operator.clone());
            batch.push(Command::RegisterOperator(RegisterOperator { operator, merchant }));
            return;
        }
        let operator = self.pick(&self.operators.clone()).expect("operators");
        let merchant = match model.operators.get(&operator) {
            Some(merchant) if self.pm(600) => merchant.clone(),
            _ => self.merchant(model),
        };
        batch.push(Command::RegisterOperator(RegisterOperator { operator, merchant }));
    }

    pub(super) fn authorize(&mut self, model: &Model, now: TimestampMs, user: Id) -> Command {
        let account = if self.pm(800) { self.home(&user) } else { self.account(model).0 };
        let limit = match self.rng.random_range(0..100) {
            0..70 => self.range(1, 50_000),
            _ => self.money(),
        };
        let expires_at_ms = self.expiry(now, AUTHORIZATION_TTL_MS_MAX);
        let authorization = self.fresh("z");
        self.authorizations.push(authorization.clone());
        let nonce = self.rng.random();
        Command::Authorize(Authorize { id: authorization, user, account, limit, expires_at_ms, nonce })
    }

    /// One user authorizes 34 times at once: the last ones are refused (too many active).
    pub(super) fn many_authorizations(&mut self, model: &Model, now: TimestampMs, batch: &mut Vec<Command>) {
        let user = self.user();
        for _ in 0..34 {
            let mut command = self.authorize(model, now, user.clone());
            if let Command::Authorize(authorize) = &mut command {
                // The user's own account each time, so that the burst does reach the limit.
                authorize.account = self.home(&user);
                authorize.expires_at_ms = now + self.range(HOUR, 2 * DAY);
                authorize.limit = self.range(1, 10_000);
            }
            batch.push(command);
        }
    }

    /// A coupon of `user`'s among the recent ones, preferring `merchant`'s.
    pub(super) fn coupon_of(&mut self, model: &Model, user: &Id, merchant: Option<&Id>) -> Option<Id> {
        let held: Vec<Id> = self
            .coupons
            .ids
            .iter()
            .filter(|coupon| model.coupons.get(*coupon).is_some_and(|c| c.holder == *user))
            .cloned()
            .collect();
        let preferred: Vec<Id> = held
            .iter()
            .filter(|coupon| merchant.is_some_and(|merchant| model.coupons[*coupon].merchant == *merchant))
            .cloned()
            .collect();
        if !preferred.is_empty() && self.pm(800) {
            return self.pick(&preferred);
        }
        self.pick(&held)
    }

    pub(super) fn settle_pos(&mut self, model: &Model, now: TimestampMs, batch: &mut Vec<Command>) {
        let authorization = self.aim("z", |g| &g.authorizations, |z| live_authorization(model, z, now));
        let known = model.authorizations.get(&authorization).cloned();
        let (mut user, code, limit, mut currency) = match &known {
            Some(a) => {
                let code = match self.rng.random_range(0..100) {
                    0..85 => a.code.clone(),
                    85..93 => self.wrong_code(Some(&a.code), 8),
                    _ => {
                        let other = self.existing("z", |g| &g.authorizations);
                        model.authorizations.get(&other).map_or_else(|| self.wrong_code(None, 8), |o| o.code.clone())
                    }
                };
                (a.user.clone(), code, a.limit, a.currency)
            }
            None => (self.user(), self.wrong_code(None, 8), self.range(1, 50_000), self.currency()),
        };
        if self.pm(30) {
            user = self.user();
        }
        if self.pm(50) {
            currency = self.other_currency(currency);
        }
        let amount = match self.rng.random_range(0..100) {
            0..65 => self.range(1, limit.min(AMOUNT_MINOR_MAX)),
            65..72 => limit,
            72..82 => limit.saturating_add(self.range(1, 5_000)),
            _ => self.money(),
        };
        let terminal = if self.pm(40) { id("t-unknown") } else { self.terminal_in(model, currency) };
        let merchant = model.terminals.get(&terminal).map(|(merchant, ..)| merchant.clone());
        let coupon = if self.pm(300) {
            self.coupon_of(model, &user, merchant.as_ref()).or_else(|| Some(self.existing("c", |g| &g.coupons)))
        } else {
            None
        };
        let hold_until_ms = match self.rng.random_range(0..100) {
            0..20 => Some(now + self.range(MINUTE, 3 * HOUR)),
            20..22 => Some(self.expiry(now, HOLD_TTL_MS_MAX)),
            _ => None,
        };
        let settlement = if hold_until_ms.is_some() && self.pm(20) {
            self.existing("h", |g| &g.holds)
        } else {
            let settlement = self.fresh("s");
            self.settlements.push(settlement.clone());
            settlement
        };
        // The terminal says where, sometimes (mostly when a coupon's value depends on it).
        let location = match &coupon {
            Some(coupon) if self.pm(600) => self.location_for(model.coupons.get(coupon)),
            None if self.pm(50) => Some(self.center()),
            _ => None,
        };
        batch.push(Command::SettlePos(SettlePos {
            id: settlement,
            user,
            code,
            amount,
            currency,
            terminal,
            coupon,
            hold_until_ms,
            location,
        }));
    }

    /// Six wrong codes for one user, then the right one: locked out.
    pub(super) fn brute_force(&mut self, model: &Model, now: TimestampMs, batch: &mut Vec<Command>) {
        let authorization = self.aim("z", |g| &g.authorizations, |z| live_authorization(model, z, now));
        let Some(a) = model.authorizations.get(&authorization).cloned() else { return };
        let terminal = self.terminal_in(model, a.currency);
        for attempt in 0..7 {
            let code = if attempt == 6 { a.code.clone() } else { self.wrong_code(Some(&a.code), 8) };
            let settlement = self.fresh("s");
            self.settlements.push(settlement.clone());
            let amount = self.range(1, a.limit);
            batch.push(Command::SettlePos(SettlePos {
                id: settlement,
                user: a.user.clone(),
                code,
                amount,
                currency: a.currency,
                terminal: terminal.clone(),
                coupon: None,
                hold_until_ms: if self.pm(100) { Some(now + HOUR) } else { None },
                location: None,
            }));
        }
    }

    /// A terminal of a live merchant taking `currency`, mostly.
    pub(super) fn terminal_in(&mut self, model: &Model, currency: Currency) -> Id {
        let live = self.live_merchants(model);
        let fitting: Vec<Id> = self
            .terminals
            .iter()
            .filter(|t| {
                model.terminals.get(*t).is_some_and(|(merchant, ..)| {
                    live.contains(merchant) && self.currency_of(model, &model.merchants[merchant]) == currency
                })
            })
            .cloned()
            .collect();
        match self.pick(&fitting) {
            Some(terminal) if self.pm(850) => terminal,
            _ => self.pick(&self.terminals.clone()).expect("terminals"),
        }
    }
}
