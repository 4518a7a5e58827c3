//! Secure-code authorizations (patents US10354249B2 / US11205174B2): the user's app authorizes
//! an account for a limit and a validity window and receives a code derived with HMAC-SHA256
//! from the server key and the authorization; only a keyed hash of it is kept. Each user's
//! list (at most `AUTHORIZATIONS_PER_USER_MAX`) is what a presented code is compared with
//! (`pos.rs` settles with it); revocation and expiry end a code.

use serde::{Deserialize, Serialize};

use super::StateMachine;
use super::archive::ArchivedKind;
use super::secrets;
use crate::command::{Authorize, Change, Event, ObjectKind, Outcome, Principal, Rejection, Reply};
use crate::constants::{AUTHORIZATION_TTL_MS_MAX, AUTHORIZATIONS_PER_USER_MAX, SECURE_CODE_DIGITS};
use crate::partition::CheckedAccount;
use crate::types::{Currency, Id, TimestampMs};

mod retired;

pub(crate) use retired::{ListedCode, Retired, code_forgotten, retired_expiry};

const CODE_DOMAIN: &str = "kassa.secure-code.v1";
pub(super) const CODE_HASH_DOMAIN: &str = "kassa.secure-code-hash.v1";

/// Where an authorization is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthorizationState {
    /// Its code can be used once.
    Active,
    /// Used by this settlement.
    Used(Id),
    /// Expired unused.
    Expired,
    /// Revoked unused (`RevokeAuthorization`): its code is refused `code_revoked`.
    Revoked,
}

/// A secure-code authorization. The code itself is not kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorization {
    /// The user who presents the code.
    pub user: Id,
    /// The account debited.
    pub account: Id,
    /// Most a settlement may charge.
    pub limit: u64,
    /// The account's currency.
    pub currency: Currency,
    /// End of validity.
    pub expires_at_ms: TimestampMs,
    /// Where it is in its life.
    pub state: AuthorizationState,
    pub(crate) nonce: u64,
    pub(crate) code_hash: [u8; 32],
    /// Who owned its account when it was created, where the account lives on another
    /// partition (its owner and merchants, as that partition answered); empty when it lives
    /// here. A pre-authorization hold of a sale with it keeps them as its payer side.
    pub(crate) account_owners: Vec<Principal>,
}

impl Authorization {
    /// The nonce it was created with (not secret: codes also need the server key).
    pub fn nonce(&self) -> u64 {
        self.nonce
    }
}

impl StateMachine {
    fn secure_code(&self, id: &Id, authorization: &Authorization) -> String {
        let parts: [&[u8]; 6] = [
            id.as_str().as_bytes(),
            authorization.user.as_str().as_bytes(),
            authorization.account.as_str().as_bytes(),
            &authorization.limit.to_be_bytes(),
            &authorization.expires_at_ms.to_be_bytes(),
            &authorization.nonce.to_be_bytes(),
        ];
        self.config.secret_key.digits(CODE_DOMAIN, &parts, SECURE_CODE_DIGITS)
    }

    pub(super) fn authorize(&mut self, now: TimestampMs, authorize: &Authorize, events: &mut Vec<Event>) -> Outcome {
        if let Some(existing) = self.state.authorizations.get(&authorize.id) {
            // The expiry and nonce are the shell's (clock and randomness), which a retry cannot
            // reproduce: a retry is the same id, user, account and limit.
            let same = existing.user == authorize.user
                && existing.account == authorize.account
                && existing.limit == authorize.limit;
            if !same {
                return Outcome::Rejected(Rejection::IdReused);
            }
            // A retried authorize re-derives the same code; nothing is stored.
            let code = self.secure_code(&authorize.id, existing);
            return Outcome::Applied(Reply::Authorized { code, expires_at_ms: existing.expires_at_ms });
        }
        if let Err(rejection) = Self::check_amount(authorize.limit) {
            return Outcome::Rejected(rejection);
        }
        if authorize.expires_at_ms <= now || authorize.expires_at_ms - now > AUTHORIZATION_TTL_MS_MAX {
            return Outcome::Rejected(Rejection::InvalidExpiry);
        }
        let currency = match self.account_standing(&authorize.account) {
            Err(rejection) => return Outcome::Rejected(rejection),
            Ok((true, _)) => return Outcome::Rejected(Rejection::AccountClosed),
            Ok((false, currency)) => currency,
        };
        if self.has_most_active_authorizations(&authorize.user, now) {
            return Outcome::Rejected(Rejection::TooManyAuthorizations);
        }
        let mut authorization = Authorization {
            user: authorize.user.clone(),
            account: authorize.account.clone(),
            limit: authorize.limit,
            currency,
            expires_at_ms: authorize.expires_at_ms,
            state: AuthorizationState::Active,
            nonce: authorize.nonce,
            code_hash: [0; 32],
            account_owners: self
                .checked_answer(&authorize.account)
                .and_then(|answer| answer.as_ref().ok())
                .map_or_else(Vec::new, CheckedAccount::owners),
        };
        let code = self.secure_code(&authorize.id, &authorization);
        authorization.code_hash = self.code_hash(&authorize.user, &code);
        if self.find_listed_code(&authorize.user, &authorization.code_hash, now).is_some() {
            // One in 10^8 per live code: the caller retries with another nonce.
            return Outcome::Rejected(Rejection::AlreadyExists);
        }
        self.prune_user_authorizations(&authorize.user, now);
        let listed = ListedCode {
            id: authorize.id.clone(),
            code_hash: authorization.code_hash,
            expires_at_ms: authorization.expires_at_ms,
        };
        self.state.user_authorizations.entry(authorize.user.clone()).or_default().push(listed);
        self.state.authorization_expiry.insert((authorize.expires_at_ms, authorize.id.clone()));
        self.state.authorizations.insert(authorize.id.clone(), Box::new(authorization));
        Self::changed(events, ObjectKind::Authorization, &authorize.id, Change::Opened);
        Outcome::Applied(Reply::Authorized { code, expires_at_ms: authorize.expires_at_ms })
    }

    /// Whether `user` has [`AUTHORIZATIONS_PER_USER_MAX`] active authorizations whose codes are
    /// not forgotten at `now`. The list is scanned oldest first and only until the answer is
    /// known: its oldest entries have mostly resolved, so the first usually decides (looking
    /// every entry up, up to 32 per `Authorize`, was a third of its cost).
    fn has_most_active_authorizations(&self, user: &Id, now: TimestampMs) -> bool {
        let Some(listed) = self.state.user_authorizations.get(user) else { return false };
        let mut inactive = 0;
        for code in listed {
            if listed.len() - inactive < AUTHORIZATIONS_PER_USER_MAX {
                return false;
            }
            if code_forgotten(code.expires_at_ms, now) || !self.is_active_authorization(&code.id) {
                inactive += 1;
            }
        }
        listed.len() - inactive >= AUTHORIZATIONS_PER_USER_MAX
    }

    /// Whether authorization `id` is in memory and active (a retired one never is).
    fn is_active_authorization(&self, id: &Id) -> bool {
        self.state.authorizations.get(id).is_some_and(|authorization| authorization.state == AuthorizationState::Active)
    }

    fn code_hash(&self, user: &Id, code: &str) -> [u8; 32] {
        self.config.secret_key.hash(CODE_HASH_DOMAIN, &[user.as_str().as_bytes(), code.as_bytes()])
    }

    /// The user's authorization whose code hash matches, among those whose codes are not
    /// forgotten at `now` (`retired.rs`). The presented code's keyed hash is computed once (it
    /// is the same for every authorization of the user), then compared with every candidate's
    /// in constant time, with no early exit: timing tells nothing about which one matched.
    pub(super) fn find_authorization(&self, user: &Id, code: &str, now: TimestampMs) -> Option<Id> {
        self.find_listed_code(user, &self.code_hash(user, code), now)
    }

    /// The user's authorization whose code's keyed hash is `presented` (see
    /// [`StateMachine::find_authorization`]).
    fn find_listed_code(&self, user: &Id, presented: &[u8; 32], now: TimestampMs) -> Option<Id> {
        let candidates = self.state.user_authorizations.get(user)?;
        let mut found = None;
        for listed in candidates {
            if secrets::hashes_equal(presented, &listed.code_hash) && !code_forgotten(listed.expires_at_ms, now) {
                found = Some(&listed.id);
            }
        }
        found.cloned()
    }

    /// Keeps a user's list bounded: drops the authorizations whose codes are forgotten, then
    /// resolved ones beyond the maximum, oldest first (their records stay for idempotent
    /// repeats of `Authorize`).
    fn prune_user_authorizations(&mut self, user: &Id, now: TimestampMs) {
        self.unlist_forgotten(user, now);
        let mut dropped = Vec::new();
        if let Some(ids) = self.state.user_authorizations.get_mut(user) {
            let authorizations = &self.state.authorizations;
            // Used by a sale still in flight, it may become active again: it stays listed.
            let transit = &self.state.transit;
            let resolved = |listed: &ListedCode| match authorizations.get(&listed.id).map(|found| &found.state) {
                Some(AuthorizationState::Active) => false,
                Some(AuthorizationState::Used(sale)) => transit.selling(sale).is_none(),
                _ => true,
            };
            while ids.len() >= AUTHORIZATIONS_PER_USER_MAX {
                let Some(position) = ids.iter().position(resolved) else { break };
                dropped.push(ids.remove(position).id);
            }
        }
        for id in dropped {
            self.unretire_authorization(&id);
        }
    }

    /// Revokes an unused authorization: its code stops working (idempotent; an expired one stays
    /// expired; a used one cannot be revoked: reverse its settlement instead).
    pub(super) fn revoke_authorization(&mut self, id: &Id, events: &mut Vec<Event>) -> Outcome {
        let Some(authorization) = self.state.authorizations.get_mut(id) else {
            return Outcome::Rejected(Rejection::AuthorizationNotFound);
        };
        match authorization.state {
            AuthorizationState::Active => {
                authorization.state = AuthorizationState::Revoked;
                let due = (authorization.expires_at_ms, id.clone());
                self.state.authorization_expiry.remove(&due);
                Self::changed(events, ObjectKind::Authorization, id, Change::Cancelled);
                self.resolved(ArchivedKind::Authorization, id);
                Outcome::Applied(Reply::Done)
            }
            AuthorizationState::Revoked | AuthorizationState::Expired => Outcome::Applied(Reply::Done),
            AuthorizationState::Used(_) => Outcome::Rejected(Rejection::CodeAlreadyUsed),
        }
    }

    /// Expires every active authorization due at `now`.
    pub(super) fn expire_authorizations(&mut self, now: TimestampMs, events: &mut Vec<Event>) -> u32 {
        let mut expired = 0;
        while let Some((expires_at_ms, id)) = self.state.authorization_expiry.first().cloned() {
            if expires_at_ms > now {
                break;
            }
            self.state.authorization_expiry.pop_first();
            let authorization = self.state.authorizations.get_mut(&id).expect("indexed authorization exists");
            assert_eq!(authorization.state, AuthorizationState::Active);
            authorization.state = AuthorizationState::Expired;
            Self::changed(events, ObjectKind::Authorization, &id, Change::Expired);
            self.resolved(ArchivedKind::Authorization, &id);
            expired += 1;
        }
        expired
    }
}

/// Why a resolved authorization's code is declined.
pub(super) fn spent_code(state: &AuthorizationState) -> Rejection {
    match state {
        AuthorizationState::Active | AuthorizationState::Expired => Rejection::Expired,
        AuthorizationState::Used(_) => Rejection::CodeAlreadyUsed,
        AuthorizationState::Revoked => Rejection::CodeRevoked,
    }
}
