//! Merchants, terminals, operators, secure-code authorizations, POS settlement and reversal.
//!
//! Rules: an authorization caps what one settlement may charge (it reserves nothing); a user has
//! at most 32 active authorizations and the engine searches the user's most recent ones (at most
//! 32 kept, resolved ones dropped oldest first) for the code; a day after an authorization's
//! expiry its code is forgotten (`incorrect_code` from then on). A settlement is remembered with its
//! answer whether approved or refused: the same request again gets the same answer, another body
//! `id_reused`. Five wrong codes within 15 minutes lock the user out until the window ends; a
//! successful settlement clears the count. A settlement with `hold_until_ms` places a hold (id =
//! settlement id) instead of charging. A reversal refunds the charge (or what was captured of the
//! hold) from the merchant, or voids the active hold; once.

use kassa_engine::command::{
    Authorize, Outcome, RegisterMerchant, RegisterOperator, RegisterTerminal, Rejection, Reply, SettlePos,
};
use kassa_engine::constants::{
    AUTHORIZATION_TTL_MS_MAX, AUTHORIZATIONS_PER_USER_MAX, CODE_FAILURE_WINDOW_MS, CODE_FAILURES_MAX, HOLD_TTL_MS_MAX,
    MAC_KEY_LENGTH_MAX, SPENT_CODE_REMEMBERED_MS,
};
use kassa_engine::types::GeoPoint;
use kassa_engine::{Id, TimestampMs};

use super::{
    AuthStatus, Authorization, Hold, HoldStatus, Model, Oracle, Settlement, SettlementEffect, valid_amount,
    well_formed_code,
};

impl Model {
    pub(super) fn register_merchant(&mut self, register: &RegisterMerchant) -> Result<(), Rejection> {
        if let Some(account) = self.merchants.get(&register.merchant) {
            return if *account == register.account { Ok(()) } else { Err(Rejection::AlreadyExists) };
        }
        let account = self.accounts.get(&register.account).ok_or(Rejection::AccountNotFound)?;
        if account.closed {
            return Err(Rejection::AccountClosed);
        }
        self.merchants.insert(register.merchant.clone(), register.account.clone());
        Ok(())
    }

    pub(super) fn register_terminal(&mut self, register: &RegisterTerminal) -> Result<(), Rejection> {
        let terminal = (register.merchant.clone(), register.mac_key.clone(), register.location);
        if let Some(existing) = self.terminals.get(&register.terminal) {
            return if *existing == terminal { Ok(()) } else { Err(Rejection::AlreadyExists) };
        }
        if !self.merchants.contains_key(&register.merchant) {
            return Err(Rejection::MerchantNotFound);
        }
        if register.mac_key.as_ref().is_some_and(|key| !(16..=MAC_KEY_LENGTH_MAX).contains(&key.len())) {
            return Err(Rejection::InvalidField);
        }
        // On the globe: latitude within ±90°, longitude within ±180° (microdegrees).
        let off_the_globe = |point: &GeoPoint| {
            point.latitude_e6.unsigned_abs() > 90_000_000 || point.longitude_e6.unsigned_abs() > 180_000_000
        };
        if register.location.as_ref().is_some_and(off_the_globe) {
            return Err(Rejection::InvalidField);
        }
        self.terminals.insert(register.terminal.clone(), terminal);
        Ok(())
    }

    pub(super) fn register_operator(&mut self, register: &RegisterOperator) -> Result<(), Rejection> {
        if let Some(merchant) = self.operators.get(&register.operator) {
            return if *merchant == register.merchant { Ok(()) } else { Err(Rejection::AlreadyExists) };
        }
        if !self.merchants.contains_key(&register.merchant) {
            return Err(Rejection::MerchantNotFound);
        }
        self.operators.insert(register.operator.clone(), register.merchant.clone());
        Ok(())
    }

    pub(super) fn authorize(&mut self, now: TimestampMs, authorize: &Authorize) -> Result<Reply, Rejection> {
        if let Some(existing) = self.authorizations.get(&authorize.id) {
            // A retry is the same id, user, account and limit (the shell's expiry and nonce
            // cannot be reproduced); it answers the first code.
            let same = existing.user == authorize.user
                && existing.account == authorize.account
                && existing.limit == authorize.limit;
            if !same {
                return Err(Rejection::IdReused);
            }
            return Ok(Reply::Authorized { code: existing.code.clone(), expires_at_ms: existing.expires_at_ms });
        }
        valid_amount(authorize.limit)?;
        if authorize.expires_at_ms <= now || authorize.expires_at_ms - now > AUTHORIZATION_TTL_MS_MAX {
            return Err(Rejection::InvalidExpiry);
        }
        let account = self.accounts.get(&authorize.account).ok_or(Rejection::AccountNotFound)?;
        if account.closed {
            return Err(Rejection::AccountClosed);
        }
        let currency = account.currency;
        let searched = self.user_authorizations.get(&authorize.user).map(Vec::as_slice).unwrap_or_default();
        let counted = |id: &&Id| {
            let authorization = &self.authorizations[*id];
            authorization.status == AuthStatus::Active && !forgotten(authorization, now)
        };
        let active = searched.iter().filter(counted).count();
        if active >= AUTHORIZATIONS_PER_USER_MAX {
            return Err(Rejection::TooManyAuthorizations);
        }
        let code = super::secrets::secure_code(&self.secret_key, authorize);
        if self.find_authorization(&authorize.user, &code, now).is_some() {
            // The derived code equals a live one of the same user: refused, retry with a nonce.
            return Err(Rejection::AlreadyExists);
        }
        // Keep the searched list bounded: drop resolved authorizations, oldest first.
        let authorizations = &self.authorizations;
        let list = self.user_authorizations.entry(authorize.user.clone()).or_default();
        list.retain(|id| !forgotten(&authorizations[id], now));
        while list.len() >= AUTHORIZATIONS_PER_USER_MAX {
            match list.iter().position(|id| authorizations[id].status != AuthStatus::Active) {
                Some(position) => {
                    list.remove(position);
                }
                None => break,
            }
        }
        list.push(authorize.id.clone());
        self.authorization_expiry.insert((authorize.expires_at_ms, authorize.id.clone()));
        self.authorizations.insert(
            authorize.id.clone(),
            Authorization {
                user: authorize.user.clone(),
                account: authorize.account.clone(),
                limit: authorize.limit,
                currency,
                expires_at_ms: authorize.expires_at_ms,
                nonce: authorize.nonce,
                code: code.clone(),
                status: AuthStatus::Active,
            },
        );
        Ok(Reply::Authorized { code, expires_at_ms: authorize.expires_at_ms })
    }

    /// The user's searched authorization whose code is `code`, unless forgotten at `now`.
    fn find_authorization(&self, user: &Id, code: &str, now: TimestampMs) -> Option<Id> {
        let list = self.user_authorizations.get(user)?;
        let matches = |id: &&Id| self.authorizations[*id].code == code && !forgotten(&self.authorizations[*id], now);
        list.iter().rev().find(matches).cloned()
    }

    pub(super) fn settle_pos(&mut self, now: TimestampMs, settle: &SettlePos, oracle: Oracle<'_>) -> Outcome {
        // "iso:<terminal>:<STAN>:<time>" belongs to that terminal; refused before it is recorded.
        if let Some(rest) = settle.id.as_str().strip_prefix("iso:") {
            let mut parts: Vec<&str> = rest.split(':').collect();
            parts.truncate(parts.len().saturating_sub(2).max(1));
            if parts.join(":") != settle.terminal.as_str() {
                return Outcome::Rejected(Rejection::InvalidField);
            }
        }
        if let Some(record) = self.settlements.get(&settle.id) {
            return if record.request == *settle {
                record.outcome.clone()
            } else {
                Outcome::Rejected(Rejection::IdReused)
            };
        }
        let (outcome, effect) = match self.try_settle(now, settle, oracle) {
            Ok((reply, effect)) => (Outcome::Applied(reply), Some(effect)),
            Err(rejection) => (Outcome::Rejected(rejection), None),
        };
        self.settlements
            .insert(settle.id.clone(), Settlement { request: settle.clone(), outcome: outcome.clone(), effect });
        outcome
    }

    fn try_settle(
        &mut self,
        now: TimestampMs,
        settle: &SettlePos,
        oracle: Oracle<'_>,
    ) -> Result<(Reply, SettlementEffect), Rejection> {
        valid_amount(settle.amount)?;
        if let Some(until) = settle.hold_until_ms {
            if until <= now || until - now > HOLD_TTL_MS_MAX {
                return Err(Rejection::InvalidExpiry);
            }
            if self.holds.contains_key(&settle.id) {
                return Err(Rejection::AlreadyExists);
            }
        }
        let (merchant, _, terminal_location) =
            self.terminals.get(&settle.terminal).ok_or(Rejection::TerminalNotFound)?;
        // A sale that names no location is priced where its terminal stands.
        let (merchant, place) = (merchant.clone(), settle.location.or(*terminal_location));
        let merchant_account = self.merchants[&merchant].clone();
        if self.locked_out(now, &settle.user) {
            return Err(Rejection::CodeTriesExceeded);
        }
        let found = if well_formed_code(&settle.code) {
            self.find_authorization(&settle.user, &settle.code, now)
        } else {
            None
        };
        let Some(authorization_id) = found else {
            let window = self.code_failures.entry(settle.user.clone()).or_default();
            if now >= window.started_at_ms + CODE_FAILURE_WINDOW_MS {
                *window = super::FailureWindow { started_at_ms: now, failures: 0 };
            }
            window.failures += 1;
            return Err(Rejection::IncorrectCode);
        };
        let authorization = &self.authorizations[&authorization_id];
        match authorization.status {
            AuthStatus::Active if now < authorization.expires_at_ms => {}
            AuthStatus::Active | AuthStatus::Expired => return Err(Rejection::Expired),
            AuthStatus::Used(_) => return Err(Rejection::CodeAlreadyUsed),
            AuthStatus::Revoked => return Err(Rejection::CodeRevoked),
        }
        if settle.currency != authorization.currency {
            return Err(Rejection::CurrencyMismatch);
        }
        let (account, limit) = (authorization.account.clone(), authorization.limit);
        // The sale lives on the home partition; its payer may live elsewhere.
        let crossing = !self.local(&account) || !self.local(&merchant_account);
        let discount = match &settle.coupon {
            Some(coupon) => {
                let payment = (coupon, &settle.user, &merchant);
                self.quote_payment_coupon(now, payment, settle.currency, settle.amount, place)?
            }
            None => 0,
        };
        let charged = settle.amount - discount;
        if charged > limit {
            return Err(Rejection::ExceedsLimit);
        }
        // A sale placing a hold decides as on one partition (its funds are held where the
        // payer lives, after its own checks there).
        if crossing && settle.hold_until_ms.is_none() {
            // Each checked where it lives: the payer (missing, closed, currency, funds), then
            // the merchant's account.
            self.usable(&account, settle.currency, Rejection::AccountNotFound)?;
            self.accounts[&account].can_debit(charged)?;
            self.usable(&merchant_account, settle.currency, Rejection::CounterpartyNotFound)?;
            self.accounts[&merchant_account].can_credit(charged)?;
        }
        self.usable(&account, settle.currency, Rejection::AccountNotFound)?;
        self.usable(&merchant_account, settle.currency, Rejection::CounterpartyNotFound)?;
        match settle.hold_until_ms {
            Some(expires_at_ms) => {
                if charged == 0 {
                    return Err(Rejection::InvalidAmount);
                }
                self.accounts[&account].can_debit(charged)?;
                let hold = Hold {
                    from: account.clone(),
                    to: merchant_account.clone(),
                    amount: charged,
                    currency: settle.currency,
                    expires_at_ms,
                    status: HoldStatus::Active,
                    payee_owners: Vec::new(),
                };
                self.add_hold(settle.id.clone(), hold);
            }
            None if charged > 0 => {
                self.accounts[&account].can_debit(charged)?;
                self.accounts[&merchant_account].can_credit(charged)?;
                self.move_money(&account, &merchant_account, charged);
            }
            None => {}
        }
        if let Some(coupon) = &settle.coupon {
            self.redeem_for_payment(now, coupon);
        }
        let authorization = self.authorizations.get_mut(&authorization_id).expect("found");
        authorization.status = AuthStatus::Used(settle.id.clone());
        self.authorization_expiry.remove(&(authorization.expires_at_ms, authorization_id));
        self.code_failures.remove(&settle.user);
        let effect = SettlementEffect {
            account,
            merchant_account,
            charged,
            held: settle.hold_until_ms.is_some(),
            reversed: false,
        };
        Ok((Reply::Settled { approval_code: oracle.secret(), charged, discount }, effect))
    }

    fn locked_out(&self, now: TimestampMs, user: &Id) -> bool {
        self.code_failures.get(user).is_some_and(|window| {
            window.failures >= CODE_FAILURES_MAX && now < window.started_at_ms + CODE_FAILURE_WINDOW_MS
        })
    }

    pub(super) fn reverse_pos(&mut self, id: &Id) -> Result<(), Rejection> {
        let record = self.settlements.get(id).ok_or(Rejection::SettlementNotFound)?;
        let effect = record.effect.clone().ok_or(Rejection::NotReversible)?;
        if effect.reversed {
            return Ok(());
        }
        let refund = if effect.held {
            match self.holds[id].status {
                HoldStatus::Active => {
                    self.release_hold(id, HoldStatus::Voided);
                    0
                }
                HoldStatus::Captured(captured) => captured,
                HoldStatus::Voided | HoldStatus::Expired => 0,
            }
        } else {
            effect.charged
        };
        // What partial refunds gave back already is not given again.
        let refund = refund
            .saturating_sub(self.refunds_of(super::refunds::Refunded::Settlement, id).iter().map(|r| r.amount).sum());
        if refund > 0 {
            self.give_back((&effect.merchant_account, &effect.account), refund)?;
        }
        self.settlements.get_mut(id).expect("exists").effect.as_mut().expect("approved").reversed = true;
        Ok(())
    }

    /// An unused code stops working; revoking again, or an expired one, changes nothing; a used
    /// one cannot be revoked.
    pub(super) fn revoke_authorization(&mut self, id: &Id) -> Result<(), Rejection> {
        let authorization = self.authorizations.get_mut(id).ok_or(Rejection::AuthorizationNotFound)?;
        match authorization.status {
            AuthStatus::Active => {
                authorization.status = AuthStatus::Revoked;
                self.authorization_expiry.remove(&(authorization.expires_at_ms, id.clone()));
                Ok(())
            }
            AuthStatus::Revoked | AuthStatus::Expired => Ok(()),
            AuthStatus::Used(_) => Err(Rejection::CodeAlreadyUsed),
        }
    }

    pub(super) fn expire_authorizations(&mut self, now: TimestampMs) -> u32 {
        let due: Vec<Id> =
            self.authorization_expiry.iter().take_while(|(at, _)| *at <= now).map(|(_, id)| id.clone()).collect();
        for id in &due {
            let authorization = self.authorizations.get_mut(id).expect("indexed");
            authorization.status = AuthStatus::Expired;
            self.authorization_expiry.remove(&(authorization.expires_at_ms, id.clone()));
        }
        u32::try_from(due.len()).expect("fits")
    }
}

/// Whether `authorization`'s code is forgotten at `now`: a day after its expiry.
fn forgotten(authorization: &Authorization, now: TimestampMs) -> bool {
    now >= authorization.expires_at_ms.saturating_add(SPENT_CODE_REMEMBERED_MS)
}
