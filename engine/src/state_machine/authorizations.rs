//! Secure-code authorizations (patents US10354249B2 / US11205174B2): the user's app authorizes
//! an account for a limit and a validity window and receives a code derived with HMAC-SHA256
//! from the server key and the authorization; only a keyed hash of it is kept. Each user's
//! list (at most `AUTHORIZATIONS_PER_USER_MAX`) is what a presented code is compared with
//! (`pos.rs` settles with it); revocation and expiry end a code.

use serde::{Deserialize, Serialize};

use super::StateMachine;
use super::archive::ArchivedKind;
use super::secrets;
use crate::authority::Operation;
use crate::command::{Authorize, Change, Command, Event, ObjectKind, Outcome, Principal, Rejection, Reply, Submission};
use crate::constants::{AUTHORIZATION_TTL_MS_MAX, AUTHORIZATIONS_PER_USER_MAX, SECURE_CODE_DIGITS};
use crate::partition::{CheckedAccount, Checking};
use crate::types::{Currency, Id, TimestampMs};

mod retired;

pub(crate) use retired::{Retired, code_forgotten, retired_expiry};

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
        let user_authorizations = self.state.user_authorizations.get(&authorize.user);
        let listed = user_authorizations.into_iter().flatten();
        let active =
            listed.filter(|id| self.is_active_authorization(id) && !code_forgotten(self.listed_code(id).1, now));
        let active = active.count();
        if active >= AUTHORIZATIONS_PER_USER_MAX {
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
        if self.find_authorization(&authorize.user, &code, now).is_some() {
            // One in 10^8 per live code: the caller retries with another nonce.
            return Outcome::Rejected(Rejection::AlreadyExists);
        }
        authorization.code_hash = self.code_hash(&authorize.user, &code);
        self.prune_user_authorizations(&authorize.user, now);
        self.state.user_authorizations.entry(authorize.user.clone()).or_default().push(authorize.id.clone());
        self.state.authorization_expiry.insert((authorize.expires_at_ms, authorize.id.clone()));
        self.state.authorizations.insert(authorize.id.clone(), Box::new(authorization));
        Self::changed(events, ObjectKind::Authorization, &authorize.id, Change::Opened);
        Outcome::Applied(Reply::Authorized { code, expires_at_ms: authorize.expires_at_ms })
    }

    /// An `Authorize`, `OpenBill` or `RequestSplit` naming an account of another partition
    /// applies only once that partition answered a check (`transit/holds.rs`): then everything,
    /// authority included, is decided from the start as on one partition. A split's accounts are
    /// checked one after another, the answers carried along. `None`: apply `submission` now.
    pub(super) fn check_account_first(&mut self, submission: &Submission) -> Option<Outcome> {
        if let Some(outcome) = self.wait_for_registration(submission) {
            return Some(outcome);
        }
        let (operation, subject, unchecked) = match &submission.command {
            Command::Authorize(authorize) => {
                let unchecked = self.unchecked([&authorize.account]);
                (Operation::Authorize, Checking::Authorization(authorize.id.clone()), unchecked)
            }
            Command::OpenBill(open) => {
                // Its account, then its merchant's account (checked here when it lives here).
                let merchant_account = self.state.merchants.get(&open.merchant).map(|merchant| &merchant.account);
                let accounts = std::iter::once(&open.account).chain(merchant_account);
                (Operation::OpenBill, Checking::Bill(open.bill.clone()), self.unchecked(accounts))
            }
            Command::RegisterMerchant(register) => {
                // A merchant registers only itself: another is refused without a check.
                let itself = match &submission.principal {
                    Principal::Merchant(merchant) => *merchant == register.merchant,
                    _ => true,
                };
                let unchecked = if itself { self.unchecked([&register.account]) } else { None };
                (Operation::RegisterMerchant, Checking::Merchant(register.merchant.clone()), unchecked)
            }
            Command::SettlePos(settle) => {
                let subject = Checking::SaleMerchant(settle.id.clone());
                (Operation::SettlePos, subject, self.unchecked_sale_merchant(submission, settle))
            }
            Command::RequestSplit(request) => {
                let accounts = std::iter::once(&request.requester_account);
                let mut unchecked =
                    self.unchecked(accounts.chain(request.members.iter().map(|member| &member.account)));
                // An account already refuses the request: those after it cannot change that.
                let refuses = |(_, answer): &(Id, Result<CheckedAccount, Rejection>)| {
                    answer.as_ref().is_ok_and(|found| found.closed || found.currency != request.currency)
                        || answer.is_err()
                };
                // So does a principal the rule refuses once the requester's account is known
                // (the rule reads only it and the requester): no member is checked for it.
                let requester_known = self.lives_here(&request.requester_account)
                    || self.checked_answer(&request.requester_account).is_some();
                let forbidden =
                    requester_known && self.check_authority(&submission.principal, &submission.command).is_err();
                if forbidden || self.checked.iter().any(refuses) {
                    unchecked = None;
                }
                (Operation::RequestSplit, Checking::Split(request.split.clone()), unchecked)
            }
            Command::TransferBatch(batch) => {
                (Operation::TransferBatch, Checking::BatchPayer, self.unchecked_payer(&submission.principal, batch))
            }
            _ => return None,
        };
        let account = unchecked?;
        if !self.checked.is_empty() {
            // Applying again with earlier answers: the next account's check.
            let known = self.checked.clone();
            return Some(self.check_account(submission, subject, &account, known));
        }
        let role = submission.principal.role();
        if crate::authority::rule(operation, role) == crate::authority::Relation::No {
            // No answer of the account's partition could let this role do it: no check.
            return Some(Outcome::Rejected(Rejection::Forbidden));
        }
        if let (Checking::SaleMerchant(_), Some((number, first))) = (&subject, self.state.transit.creating(&subject)) {
            // A copy of the sale waits for the same answer (whoever of its terminal and merchant
            // sends it); another body takes the id as a recorded sale does.
            if first.command != submission.command {
                return Some(Outcome::Rejected(Rejection::IdReused));
            }
            self.pending = Some(number);
            return Some(Outcome::Applied(Reply::Done));
        }
        if let Some((number, first)) = self.state.transit.creating(&subject) {
            // As a retry of an object that exists: another principal's id is taken, another
            // body is refused as the command refuses it.
            if first.principal != submission.principal {
                return Some(Outcome::Rejected(Rejection::AlreadyExists));
            }
            if let Some(rejection) = retry_differs(&first.command, &submission.command) {
                return Some(Outcome::Rejected(rejection));
            }
            self.pending = Some(number);
            return Some(Outcome::Applied(Reply::Done));
        }
        Some(self.check_account(submission, subject, &account, Vec::new()))
    }

    /// The first payer of independent batch `batch` that lives on another partition and was not
    /// checked yet, for the batch's rule (the principal owns every payer); none for a principal
    /// the rule lets through anyway (the admin), or once a payer known here or checked shows
    /// the principal does not own it (the batch is refused whatever the others' answers).
    fn unchecked_payer(&self, principal: &Principal, batch: &crate::command::TransferBatch) -> Option<Id> {
        let role = principal.role();
        if crate::authority::rule(Operation::TransferBatch, role) != crate::authority::Relation::OwnsAccount {
            return None;
        }
        let payers = || batch.transfers.iter().map(|transfer| &transfer.from);
        let known = |payer: &Id| self.lives_here(payer) || self.checked_answer(payer).is_some();
        if payers().any(|payer| known(payer) && !crate::authority::owns_account(self, principal, payer)) {
            return None;
        }
        self.unchecked(payers())
    }

    /// The merchant's account of a sale placing a hold, if it lives on another partition and
    /// was not checked yet: the hold is decided as on one partition, the merchant's account
    /// (missing, closed, currency) in its turn. None for a sale without a hold (its money
    /// checks the merchant's account where it lives), for one the rule refuses (it reads only
    /// the terminal), and for an id already answered or in flight (answered without it).
    fn unchecked_sale_merchant(&self, submission: &Submission, settle: &crate::command::SettlePos) -> Option<Id> {
        settle.hold_until_ms?;
        let merchant = &self.state.terminals.get(&settle.terminal)?.merchant;
        let account = &self.state.merchants.get(merchant)?.account;
        if self.lives_here(account) || self.checked_answer(account).is_some() {
            return None;
        }
        // A hold of its id (here, or elsewhere as the directory said) refuses it at once.
        let held = self.state.holds.contains_key(&settle.id) || self.holds_elsewhere.contains(&settle.id);
        let known = held
            || self.state.settlements.get(&settle.id).is_some()
            || !matches!(self.pos_in_flight(&settle.id), super::transit::InFlight::Nothing);
        if known || self.check_authority(&submission.principal, &submission.command).is_err() {
            return None;
        }
        Some(account.clone())
    }

    /// The first of `accounts` that lives on another partition and was not checked yet.
    fn unchecked<'a>(&self, accounts: impl IntoIterator<Item = &'a Id>) -> Option<Id> {
        let mut accounts = accounts.into_iter();
        accounts.find(|account| !self.lives_here(account) && self.checked_answer(account).is_none()).cloned()
    }

    /// What account `id`'s partition answered, while a command applies again with its checks.
    pub(super) fn checked_answer(&self, id: &Id) -> Option<&Result<CheckedAccount, Rejection>> {
        self.checked.iter().find(|(account, _)| account == id).map(|(_, answer)| answer)
    }

    /// Whether account `id` is closed, and its currency, for a command that may name an account
    /// of another partition: that partition's answer while the command applies again with it
    /// (`check_account_first`), else the account here.
    pub(super) fn account_standing(&self, id: &Id) -> Result<(bool, Currency), Rejection> {
        match self.checked_answer(id) {
            Some(answer) => answer.as_ref().map(|found| (found.closed, found.currency)).map_err(|rejection| *rejection),
            None => {
                let account = self.state.accounts.get(id).ok_or(Rejection::AccountNotFound)?;
                Ok((account.closed, account.currency))
            }
        }
    }

    /// Whether authorization `id` is in memory and active (a retired one never is).
    fn is_active_authorization(&self, id: &Id) -> bool {
        self.state.authorizations.get(id).is_some_and(|authorization| authorization.state == AuthorizationState::Active)
    }

    /// The keyed hash of the code of authorization `id` of a user's list, and its expiry (in
    /// memory or retired).
    pub(super) fn listed_code(&self, id: &Id) -> (&[u8; 32], TimestampMs) {
        match self.state.authorizations.get(id) {
            Some(authorization) => (&authorization.code_hash, authorization.expires_at_ms),
            None => {
                let retired = &self.state.retired_authorizations[id];
                (&retired.code_hash, retired.expires_at_ms)
            }
        }
    }

    fn code_hash(&self, user: &Id, code: &str) -> [u8; 32] {
        self.config.secret_key.hash(CODE_HASH_DOMAIN, &[user.as_str().as_bytes(), code.as_bytes()])
    }

    /// The user's authorization whose code hash matches, among those whose codes are not
    /// forgotten at `now` (`retired.rs`). The presented code's keyed hash is computed once (it
    /// is the same for every authorization of the user), then compared with every candidate's
    /// in constant time, with no early exit: timing tells nothing about which one matched.
    pub(super) fn find_authorization(&self, user: &Id, code: &str, now: TimestampMs) -> Option<Id> {
        let candidates = self.state.user_authorizations.get(user)?;
        let presented = self.config.secret_key.hash(CODE_HASH_DOMAIN, &[user.as_str().as_bytes(), code.as_bytes()]);
        let mut found = None;
        for id in candidates {
            let (code_hash, expires_at_ms) = self.listed_code(id);
            if secrets::hashes_equal(&presented, code_hash) && !code_forgotten(expires_at_ms, now) {
                found = Some(id.clone());
            }
        }
        found
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
            let resolved = |id: &Id| match authorizations.get(id).map(|found| &found.state) {
                Some(AuthorizationState::Active) => false,
                Some(AuthorizationState::Used(sale)) => transit.selling(sale).is_none(),
                _ => true,
            };
            while ids.len() >= AUTHORIZATIONS_PER_USER_MAX {
                let Some(position) = ids.iter().position(resolved) else { break };
                dropped.push(ids.remove(position));
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

/// How a command waiting for its account's check and a retry of its id differ, if they do: an
/// authorization's retry is the same id, user, account and limit (`id_reused` otherwise), a
/// bill's or a split's the same request (`already_exists` otherwise).
fn retry_differs(first: &Command, retry: &Command) -> Option<Rejection> {
    match (first, retry) {
        (Command::Authorize(first), Command::Authorize(retry)) => {
            let same = (&first.user, &first.account, first.limit) == (&retry.user, &retry.account, retry.limit);
            (!same).then_some(Rejection::IdReused)
        }
        (Command::OpenBill(first), Command::OpenBill(retry)) => (first != retry).then_some(Rejection::AlreadyExists),
        (Command::RequestSplit(first), Command::RequestSplit(retry)) => {
            (first != retry).then_some(Rejection::AlreadyExists)
        }
        _ => unreachable!("only the command that sent the check waits for it"),
    }
}
