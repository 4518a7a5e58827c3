//! Merchants, terminals, operators, and offline secure-code authorization with POS settlement
//! (patents US10354249B2 / US11205174B2).
//!
//! The user's app authorizes an account for a limit and a validity window and receives a secure
//! code derived with HMAC-SHA256 from the server key and the authorization. Later a POS terminal,
//! with the phone offline, sends user id + code + amount; the engine finds the authorization by
//! comparing keyed hashes in constant time, checks window, limit and single use, debits the user
//! and credits the terminal's merchant in one step, and answers with an approval code.
//! After `CODE_FAILURES_MAX` wrong codes within `CODE_FAILURE_WINDOW_MS` a user is locked out
//! until the window ends.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::archive::ArchivedKind;
use super::authorizations::{AuthorizationState, spent_code};
use super::refunds::{RefundEntry, refunded};
use super::secrets::is_code;
use super::transit::{InFlight, PosStep};
use super::{Hold, HoldState, StateMachine};
use crate::command::{
    Change, Event, ObjectKind, Outcome, PostingCause, RegisterMerchant, RegisterOperator, RegisterTerminal, Rejection,
    Reply, SettlePos, Submission,
};
use crate::constants::{
    CODE_FAILURE_WINDOW_MS, CODE_FAILURES_MAX, HOLD_TTL_MS_MAX, ISO_SETTLEMENT_ID_PREFIX, MAC_KEY_LENGTH_MAX,
};
use crate::partition::{Paying, Registration};
use crate::types::{Currency, GeoPoint, Id, TimestampMs};

const APPROVAL_DOMAIN: &str = "kassa.approval-code.v1";
const REQUEST_CODE_DOMAIN: &str = "kassa.settlement-request.v1";

/// A merchant and the account its takings go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merchant {
    /// The merchant's account.
    pub account: Id,
}

/// A registered POS terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminal {
    /// Its merchant.
    pub merchant: Id,
    /// Its MAC key, if it signs messages.
    pub mac_key: Option<Vec<u8>>,
    /// Where it stands, if registered: a sale at it with a coupon and no location of its own is
    /// priced there (location-adjusted coupons).
    pub location: Option<GeoPoint>,
}

/// A merchant operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// The only merchant whose coupons it may touch.
    pub merchant: Id,
}

/// Wrong-code bookkeeping for one user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FailureWindow {
    started_at_ms: TimestampMs,
    failures: u32,
}

impl FailureWindow {
    /// When the window ends: later wrong codes start a new one, and a tick forgets it.
    fn ends_at_ms(&self) -> TimestampMs {
        self.started_at_ms.saturating_add(CODE_FAILURE_WINDOW_MS)
    }
}

/// The end of every user's wrong-code window, in order (`State::code_failure_expiry`).
/// The terminal an ISO 8583 settlement id names ([`ISO_SETTLEMENT_ID_PREFIX`]), if `id` is one.
pub(super) fn iso_id_terminal(id: &Id) -> Option<&str> {
    let rest = id.as_str().strip_prefix(ISO_SETTLEMENT_ID_PREFIX)?;
    // The STAN and the time are the last two parts: a terminal id may hold ':' itself.
    rest.rsplitn(3, ':').last()
}

pub(super) fn code_failure_expiry(windows: &super::Map<Id, FailureWindow>) -> BTreeSet<(TimestampMs, Id)> {
    windows.iter().map(|(user, window)| (window.ends_at_ms(), user.clone())).collect()
}

/// A settlement's request (code as a keyed hash) and its answer, for idempotent repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SettlementRecord {
    pub(crate) user: Id,
    code_hash: [u8; 32],
    amount: u64,
    pub(crate) currency: Currency,
    pub(crate) terminal: Id,
    pub(crate) coupon: Option<Id>,
    pub(crate) hold_until_ms: Option<TimestampMs>,
    location: Option<GeoPoint>,
    pub(crate) outcome: Outcome,
    /// What an approved settlement did, for reversal.
    pub(crate) effect: Option<SettlementEffect>,
}

/// What a POS settlement was asked and answered (`StateMachine::settlement_summary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementSummary {
    /// The user who paid.
    pub user: Id,
    /// The terminal it was made at.
    pub terminal: Id,
    /// The purchase amount asked, before any coupon.
    pub amount: u64,
    /// Its currency.
    pub currency: Currency,
    /// The answer given (and given again to a retry).
    pub outcome: Outcome,
    /// Whether an approved settlement was reversed since.
    pub reversed: bool,
    /// Its partial refunds (`RefundPos`), in order.
    pub refunds: Vec<RefundEntry>,
}

impl SettlementRecord {
    /// Whether `settle` asks what this record was asked (its code as `code_hash`): a repeat.
    fn asks(&self, settle: &SettlePos, code_hash: &[u8; 32]) -> bool {
        self.user == settle.user
            && self.code_hash == *code_hash
            && self.amount == settle.amount
            && self.currency == settle.currency
            && self.terminal == settle.terminal
            && self.coupon == settle.coupon
            && self.hold_until_ms == settle.hold_until_ms
            && self.location == settle.location
    }

    /// The public summary of this record.
    pub(crate) fn summary(&self) -> SettlementSummary {
        SettlementSummary {
            user: self.user.clone(),
            terminal: self.terminal.clone(),
            amount: self.amount,
            currency: self.currency,
            outcome: self.outcome.clone(),
            reversed: self.effect.as_ref().is_some_and(|effect| effect.reversed),
            refunds: self.effect.as_ref().map(|effect| effect.refunds.clone()).unwrap_or_default(),
        }
    }
}

/// What an approved sale did: moved its money here, or sent it across partitions.
enum Sold {
    /// Applied here.
    Done(Reply, SettlementEffect),
    /// Its money is in flight (message `number`); `reply` and `effect` are what it comes to if
    /// approved.
    Sent { number: u64, authorization: Id, reply: Reply, effect: SettlementEffect },
}

/// The money side of an approved settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SettlementEffect {
    pub(crate) account: Id,
    pub(crate) merchant_account: Id,
    pub(crate) charged: u64,
    pub(crate) held: bool,
    pub(crate) reversed: bool,
    /// Partial refunds given (`RefundPos`), in order.
    pub(crate) refunds: Vec<RefundEntry>,
}

impl StateMachine {
    pub(super) fn register_merchant(&mut self, register: &RegisterMerchant, events: &mut Vec<Event>) -> Outcome {
        let merchant = Merchant { account: register.account.clone() };
        if let Some(existing) = self.state.merchants.get(&register.merchant) {
            return if *existing == merchant {
                Outcome::Applied(Reply::Done)
            } else {
                Outcome::Rejected(Rejection::AlreadyExists)
            };
        }
        // The account may live on another partition, checked there first.
        match self.account_standing(&register.account) {
            Err(rejection) => return Outcome::Rejected(rejection),
            Ok((true, _)) => return Outcome::Rejected(Rejection::AccountClosed),
            Ok((false, _)) => {}
        }
        self.state.merchants.insert(register.merchant.clone(), merchant);
        self.publish(Registration::Merchant(register.clone()));
        Self::changed(events, ObjectKind::Merchant, &register.merchant, Change::Opened);
        Outcome::Applied(Reply::Done)
    }

    pub(super) fn register_terminal(&mut self, register: &RegisterTerminal, events: &mut Vec<Event>) -> Outcome {
        let terminal = Terminal {
            merchant: register.merchant.clone(),
            mac_key: register.mac_key.clone(),
            location: register.location,
        };
        if let Some(existing) = self.state.terminals.get(&register.terminal) {
            return if *existing == terminal {
                Outcome::Applied(Reply::Done)
            } else {
                Outcome::Rejected(Rejection::AlreadyExists)
            };
        }
        if !self.state.merchants.contains_key(&register.merchant) {
            return Outcome::Rejected(Rejection::MerchantNotFound);
        }
        if let Some(key) = &register.mac_key
            && (key.len() < 16 || key.len() > MAC_KEY_LENGTH_MAX)
        {
            return Outcome::Rejected(Rejection::InvalidField);
        }
        if register.location.is_some_and(|point| !point.is_valid()) {
            return Outcome::Rejected(Rejection::InvalidField);
        }
        self.state.terminals.insert(register.terminal.clone(), terminal);
        self.adopt_settlements(&register.terminal, &register.merchant);
        self.publish(Registration::Terminal(register.clone()));
        Self::changed(events, ObjectKind::Terminal, &register.terminal, Change::Opened);
        Outcome::Applied(Reply::Done)
    }

    pub(super) fn register_operator(&mut self, register: &RegisterOperator, events: &mut Vec<Event>) -> Outcome {
        let operator = Operator { merchant: register.merchant.clone() };
        if let Some(existing) = self.state.operators.get(&register.operator) {
            return if *existing == operator {
                Outcome::Applied(Reply::Done)
            } else {
                Outcome::Rejected(Rejection::AlreadyExists)
            };
        }
        if !self.state.merchants.contains_key(&register.merchant) {
            return Outcome::Rejected(Rejection::MerchantNotFound);
        }
        self.state.operators.insert(register.operator.clone(), operator);
        self.publish(Registration::Operator(register.clone()));
        Self::changed(events, ObjectKind::Operator, &register.operator, Change::Opened);
        Outcome::Applied(Reply::Done)
    }

    pub(super) fn settle_pos(&mut self, now: TimestampMs, settle: &SettlePos, events: &mut Vec<Event>) -> Outcome {
        // Before anything is recorded: a refused id stays free for the terminal it names.
        if iso_id_terminal(&settle.id).is_some_and(|terminal| terminal != settle.terminal.as_str()) {
            return Outcome::Rejected(Rejection::InvalidField);
        }
        let request_hash = self.config.secret_key.hash(REQUEST_CODE_DOMAIN, &[settle.code.as_bytes()]);
        if let Some(record) = self.state.settlements.get(&settle.id) {
            return if record.asks(settle, &request_hash) {
                record.outcome.clone()
            } else {
                Outcome::Rejected(Rejection::IdReused)
            };
        }
        if let super::transit::InFlight::Sale(number, record) = self.pos_in_flight(&settle.id) {
            if !record.asks(settle, &request_hash) {
                return Outcome::Rejected(Rejection::IdReused);
            }
            // A repeat of a sale whose money is in flight waits for the same answer.
            self.pending = Some(number);
            return Outcome::Applied(Reply::Done);
        }
        let record = |outcome, effect| SettlementRecord {
            user: settle.user.clone(),
            code_hash: request_hash,
            amount: settle.amount,
            currency: settle.currency,
            terminal: settle.terminal.clone(),
            coupon: settle.coupon.clone(),
            hold_until_ms: settle.hold_until_ms,
            location: settle.location,
            outcome,
            effect,
        };
        let record = match self.try_settle_pos(now, settle, events) {
            Ok(Sold::Done(reply, effect)) => record(Outcome::Applied(reply), Some(effect)),
            Ok(Sold::Sent { number, authorization, reply, effect }) => {
                self.sale_sent(number, settle, record(Outcome::Applied(reply), Some(effect)), &authorization);
                return Outcome::Applied(Reply::Done); // A placeholder: pending on `number`.
            }
            Err(rejection) => record(Outcome::Rejected(rejection), None),
        };
        let outcome = record.outcome.clone();
        self.state.settlements.insert(settle.id.clone(), Box::new(record));
        self.list_settlement(&settle.terminal, &settle.id);
        self.resolved(ArchivedKind::Settlement, &settle.id);
        outcome
    }

    /// Whether coupon `id` lives on this partition (else a sale is priced with it there).
    pub(super) fn coupon_lives_here(&self, id: &Id) -> bool {
        self.config.placement.of_coupon(id) == self.config.partition
    }

    /// Whether `id` is an account of this partition.
    pub(super) fn lives_here(&self, id: &Id) -> bool {
        self.config.placement.of_account(id) == self.config.partition
    }

    /// Whether a merchant's account `id` can be paid in `currency` (missing:
    /// `counterparty_not_found`; closed; another currency): here, or as its partition answered
    /// while the command applies again (`check_account_first`).
    pub(super) fn merchant_account_usable(&self, id: &Id, currency: Currency) -> Result<(), Rejection> {
        match self.checked_answer(id) {
            Some(Err(_)) => Err(Rejection::CounterpartyNotFound),
            Some(Ok(found)) if found.closed => Err(Rejection::AccountClosed),
            Some(Ok(found)) if found.currency != currency => Err(Rejection::CurrencyMismatch),
            Some(Ok(_)) => Ok(()),
            None => self.usable_account(id, currency, Rejection::CounterpartyNotFound).map(|_| ()),
        }
    }

    /// A sale placing a hold: its expiry within bounds, its id no hold's already.
    fn check_sale_hold(&self, now: TimestampMs, settle: &SettlePos) -> Result<(), Rejection> {
        let Some(until) = settle.hold_until_ms else { return Ok(()) };
        if until <= now || until - now > HOLD_TTL_MS_MAX {
            return Err(Rejection::InvalidExpiry);
        }
        if self.state.holds.contains_key(&settle.id) || self.holds_elsewhere.contains(&settle.id) {
            return Err(Rejection::AlreadyExists);
        }
        Ok(())
    }

    fn try_settle_pos(
        &mut self,
        now: TimestampMs,
        settle: &SettlePos,
        events: &mut Vec<Event>,
    ) -> Result<Sold, Rejection> {
        Self::check_amount(settle.amount)?;
        self.check_sale_hold(now, settle)?;
        let terminal = self.state.terminals.get(&settle.terminal).ok_or(Rejection::TerminalNotFound)?;
        let (merchant_id, place) = (terminal.merchant.clone(), settle.location.or(terminal.location));
        let merchant_account = self.state.merchants[&merchant_id].account.clone();
        let (authorization_id, account, limit) = self.presented_authorization(now, settle, events)?;
        // A hold lives with its sale; a merchant's account elsewhere is paid when it is captured.
        let crossing =
            !self.lives_here(&account) || (settle.hold_until_ms.is_none() && !self.lives_here(&merchant_account));
        let discount = match &settle.coupon {
            // A coupon of another partition, priced there (`transit/coupons.rs`).
            Some(coupon) if self.config.placement.of_coupon(coupon) != self.config.partition => {
                self.take_quote(coupon).unwrap_or(Err(Rejection::CrossPartition))?
            }
            Some(coupon) => self.quote_payment_coupon(
                now,
                coupon,
                &settle.user,
                &merchant_id,
                (settle.currency, settle.amount),
                place,
            )?,
            None => 0,
        };
        let charged = settle.amount - discount;
        if charged > limit {
            return Err(Rejection::ExceedsLimit);
        }
        let approval_code = self.config.secret_key.digits(APPROVAL_DOMAIN, &[settle.id.as_str().as_bytes()], 6);
        let reply = Reply::Settled { approval_code, charged, discount };
        let effect = SettlementEffect {
            account: account.clone(),
            merchant_account: merchant_account.clone(),
            charged,
            held: settle.hold_until_ms.is_some(),
            reversed: false,
            refunds: Vec::new(),
        };
        if crossing {
            if let Some(expires_at_ms) = settle.hold_until_ms {
                // The hold stays here with the sale; its funds are held on the payer's
                // partition (`transit/pos_holds.rs`).
                let number = self.send_pos_hold(settle, (&account, &merchant_account), charged, expires_at_ms);
                return Ok(Sold::Sent { number, authorization: authorization_id, reply, effect });
            }
            let paying = Paying::Settlement(settle.id.clone());
            let number = self.pay_across(paying, (&account, &merchant_account), charged, settle.currency, events)?;
            return Ok(Sold::Sent { number, authorization: authorization_id, reply, effect });
        }
        self.charge_here(settle, (&account, &merchant_account), charged, events)?;
        if let Some(coupon) = settle.coupon.as_ref().filter(|coupon| self.coupon_lives_here(coupon)) {
            self.redeem_coupon_for_payment(now, coupon, events);
        }
        let authorization = self.state.authorizations.get_mut(&authorization_id).expect("found above");
        authorization.state = AuthorizationState::Used(settle.id.clone());
        let removed = self.state.authorization_expiry.remove(&(authorization.expires_at_ms, authorization_id.clone()));
        assert!(removed, "an active authorization is in the expiry index");
        self.forget_code_failures_of(&settle.user);
        Self::changed(events, ObjectKind::Authorization, &authorization_id, Change::Used);
        self.resolved(ArchivedKind::Authorization, &authorization_id);
        Ok(Sold::Done(reply, effect))
    }

    /// The active authorization whose code the sale presents (its id, account and limit):
    /// refused while the user is locked out, a wrong code counted, a spent one refused.
    fn presented_authorization(
        &mut self,
        now: TimestampMs,
        settle: &SettlePos,
        events: &mut Vec<Event>,
    ) -> Result<(Id, Id, u64), Rejection> {
        if self.is_locked_out(now, &settle.user) {
            return Err(Rejection::CodeTriesExceeded);
        }
        let found = if is_code(&settle.code) { self.find_authorization(&settle.user, &settle.code, now) } else { None };
        let Some(authorization_id) = found else {
            self.record_code_failure(now, &settle.user, events);
            return Err(Rejection::IncorrectCode);
        };
        let Some(authorization) = self.state.authorizations.get(&authorization_id) else {
            // Out of memory (`archive.rs`): resolved, and its code answers as it did.
            return Err(spent_code(&self.state.retired_authorizations[&authorization_id].state));
        };
        match authorization.state {
            AuthorizationState::Active if now < authorization.expires_at_ms => {}
            ref state => return Err(spent_code(state)),
        }
        if settle.currency != authorization.currency {
            return Err(Rejection::CurrencyMismatch);
        }
        let (account, limit) = (authorization.account.clone(), authorization.limit);
        Ok((authorization_id, account, limit))
    }

    /// Whether sale `settle` presents a code of one of its user's authorizations and the user
    /// is not locked out (nothing changes: the sale decides and counts a wrong code itself).
    pub(super) fn presents_a_code(&self, now: TimestampMs, settle: &SettlePos) -> bool {
        !self.is_locked_out(now, &settle.user)
            && is_code(&settle.code)
            && self.find_authorization(&settle.user, &settle.code, now).is_some()
    }

    /// Charges a sale whose accounts live here: places its hold, or moves the money.
    fn charge_here(
        &mut self,
        settle: &SettlePos,
        (account, merchant_account): (&Id, &Id),
        charged: u64,
        events: &mut Vec<Event>,
    ) -> Result<(), Rejection> {
        self.usable_account(account, settle.currency, Rejection::AccountNotFound)?;
        self.merchant_account_usable(merchant_account, settle.currency)?;
        match settle.hold_until_ms {
            Some(expires_at_ms) => {
                // An authorization hold: reserve now, capture or void later.
                if charged == 0 {
                    return Err(Rejection::InvalidAmount);
                }
                self.check_debit(account, charged)?;
                let held = i64::try_from(charged).expect("amount within AMOUNT_MINOR_MAX");
                self.post(account, 0, held, PostingCause::HoldPlaced(settle.id.clone()), events);
                let hold = Hold {
                    from: account.clone(),
                    to: merchant_account.clone(),
                    amount: charged,
                    currency: settle.currency,
                    expires_at_ms,
                    state: HoldState::Active,
                    payee_owners: Vec::new(),
                    payer_owners: Vec::new(),
                };
                self.state.holds.insert(settle.id.clone(), hold);
                self.state.hold_expiry.insert((expires_at_ms, settle.id.clone()));
                Self::changed(events, ObjectKind::Hold, &settle.id, Change::Opened);
            }
            None if charged > 0 => {
                self.check_debit(account, charged)?;
                self.check_credit(merchant_account, charged)?;
                let cause = PostingCause::PosSettlement(settle.id.clone());
                self.move_money(account, merchant_account, charged, cause, events);
            }
            None => {}
        }
        Ok(())
    }

    /// Forgets `user`'s wrong codes (a sale with a right code was approved).
    pub(super) fn forget_code_failures_of(&mut self, user: &Id) {
        if let Some(window) = self.state.code_failures.remove(user) {
            self.state.code_failure_expiry.remove(&(window.ends_at_ms(), user.clone()));
        }
    }

    /// Reverses an approved settlement once: refunds a charge (the merchant must still hold the
    /// money), voids an active hold or refunds what was captured of it. A redeemed coupon stays
    /// redeemed.
    pub(super) fn reverse_pos(&mut self, submission: &Submission, id: &Id, events: &mut Vec<Event>) -> Outcome {
        match self.pos_in_flight(id) {
            InFlight::Nothing => {}
            // A reversal of a sale in flight (an ISO 8583 0400 after a timeout) applies once the
            // sale is final.
            InFlight::Sale(number, _) => return self.defer_reversal(number, submission),
            // A repeat of a reversal in flight waits for the same answer.
            InFlight::Reversal(number) => {
                self.pending = Some(number);
                return Outcome::Applied(Reply::Done);
            }
            InFlight::Refund(..) => return Outcome::Rejected(Rejection::NotReversible),
        }
        let Some(record) = self.state.settlements.get(id) else {
            return Outcome::Rejected(Rejection::SettlementNotFound);
        };
        let Some(effect) = record.effect.clone() else {
            return Outcome::Rejected(Rejection::NotReversible);
        };
        if effect.reversed {
            return Outcome::Applied(Reply::Done);
        }
        let refund = if effect.held {
            match self.state.holds[id].state {
                HoldState::Active => {
                    self.release_pos_hold(id, events);
                    0
                }
                HoldState::Captured(captured) => captured,
                HoldState::Voided | HoldState::Expired => 0,
                // A capture in flight (its payer's partition pays it: `transit/pos_holds.rs`).
                HoldState::Capturing(_) => return Outcome::Rejected(Rejection::NotReversible),
            }
        } else {
            effect.charged
        };
        // Partial refunds gave some back already (a captured hold's are of what was captured).
        let refund = refund.saturating_sub(refunded(&effect.refunds));
        if refund > 0 {
            // As a refund: money never goes into (or out of) a closed account.
            let accounts = &self.state.accounts;
            if !self.lives_here(&effect.merchant_account) || !self.lives_here(&effect.account) {
                // Checked where each lives: the merchant's account (closed, funds), then the payer's.
                let step = PosStep::Reversal { id: id.clone() };
                let parties = (&effect.merchant_account, &effect.account);
                let currency = self.state.settlements[id].currency;
                return self.give_back_across(step, parties, refund, currency, events);
            }
            if accounts[&effect.merchant_account].closed || accounts[&effect.account].closed {
                return Outcome::Rejected(Rejection::AccountClosed);
            }
            if let Err(rejection) = self
                .check_debit(&effect.merchant_account, refund)
                .and_then(|()| self.check_credit(&effect.account, refund))
            {
                return Outcome::Rejected(rejection);
            }
            self.move_money(
                &effect.merchant_account,
                &effect.account,
                refund,
                PostingCause::PosReversal(id.clone()),
                events,
            );
        }
        let record = self.state.settlements.get_mut(id).expect("exists");
        record.effect.as_mut().expect("approved").reversed = true;
        Self::changed(events, ObjectKind::Settlement, id, Change::Cancelled);
        Outcome::Applied(Reply::Done)
    }

    fn is_locked_out(&self, now: TimestampMs, user: &Id) -> bool {
        self.state
            .code_failures
            .get(user)
            .is_some_and(|window| window.failures >= CODE_FAILURES_MAX && now < window.ends_at_ms())
    }

    fn record_code_failure(&mut self, now: TimestampMs, user: &Id, events: &mut Vec<Event>) {
        let window = self.state.code_failures.entry(user.clone()).or_default();
        if now >= window.ends_at_ms() {
            // A window that ended but was not forgotten yet (no tick since) makes way.
            self.state.code_failure_expiry.remove(&(window.ends_at_ms(), user.clone()));
            *window = FailureWindow { started_at_ms: now, failures: 0 };
            self.state.code_failure_expiry.insert((window.ends_at_ms(), user.clone()));
        }
        window.failures += 1;
        events.push(Event::CodeRejected { subject: user.clone() });
        if window.failures == CODE_FAILURES_MAX {
            Self::changed(events, ObjectKind::User, user, Change::Locked);
        }
    }

    /// Forgets the wrong-code windows that ended by `now` (nothing observable changes: an
    /// ended window locks nobody out, and the next wrong code starts a new one either way).
    pub(super) fn forget_code_failures(&mut self, now: TimestampMs) {
        while let Some((ends_at_ms, user)) = self.state.code_failure_expiry.first().cloned() {
            if ends_at_ms > now {
                break;
            }
            self.state.code_failure_expiry.pop_first();
            self.state.code_failures.remove(&user);
        }
    }
}
