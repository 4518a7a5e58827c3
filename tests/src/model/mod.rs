//! A reference model of the engine: the documented rules of every flow written again, simply.
//!
//! Plain ordered maps, no actors, no storage, no reuse of `kassa_engine::state_machine`; only
//! the command vocabulary (`kassa_engine::command`) and the value types are shared. The
//! simulation (`crate::simulation`) runs it side by side with the real engine and compares
//! every outcome and, periodically, the whole visible state.
//!
//! Secrets are the one thing the model cannot predict: secure codes, bill challenges, coupon
//! codes and approval codes are keyed hashes of the server key. The model takes them from the
//! engine's reply to the command that creates them (an [`Oracle`]), remembers them, and from then
//! on decides everything itself: which code is right, repeats answering with the stored code,
//! lockouts. The ids of reward coupons (`r-` + 24 hex digits, an HMAC of the redeemed coupon's
//! id) are derived here with the server key (`secrets.rs`); their redemption codes are learned
//! from the engine's `coupon_code` query ([`Model::learn_coupon_code`]).

mod accounts;
mod authority;
mod bills;
mod coupons;
mod holds;
mod partitions;
mod pos;
mod refunds;
pub use refunds::{GivenRefund, Refunded};
pub mod rules;
mod secrets;
mod splits;
mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use kassa_engine::SecretKey;
use kassa_engine::command::{
    DeductionRule, Outcome, Principal, Rejection, Reply, SettlePos, SplitMember, SplitShares, Submission,
    ValueAdjustment,
};
use kassa_engine::constants::{AMOUNT_MINOR_MAX, BALANCE_MINOR_MAX};
use kassa_engine::partition::{DirectoryKind, HOME_PARTITION, PartitionId, Placement};
use kassa_engine::types::GeoPoint;
use kassa_engine::{Command, Currency, Id, TimestampMs};

pub use view::{
    Probe, StateView, engine_authorization_line, engine_bill_line, engine_coupon_line, engine_hold_line,
    engine_settlement_line, engine_split_line, engine_view,
};

/// An account in the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its only currency.
    pub currency: Currency,
    /// Closed accounts take no more movements.
    pub closed: bool,
    /// Posted balance, minor units.
    pub posted: i64,
    /// Sum of active holds.
    pub held: u64,
    /// How far below zero `posted - held` may go.
    pub overdraft_limit: u64,
}

impl Account {
    /// Posted minus held.
    pub fn available(&self) -> i128 {
        i128::from(self.posted) - i128::from(self.held)
    }

    fn can_debit(&self, amount: u64) -> Result<(), Rejection> {
        if self.available() - i128::from(amount) < -i128::from(self.overdraft_limit) {
            return Err(Rejection::InsufficientFunds);
        }
        Ok(())
    }

    fn can_credit(&self, amount: u64) -> Result<(), Rejection> {
        if i128::from(self.posted) + i128::from(amount) > i128::from(BALANCE_MINOR_MAX) {
            return Err(Rejection::Overflow);
        }
        Ok(())
    }
}

/// A hold's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    /// Reserving its amount.
    Active,
    /// Captured for this amount.
    Captured(u64),
    /// Voided (also by a POS reversal).
    Voided,
    /// Expired by a tick.
    Expired,
}

/// A hold (placed directly, or by a POS settlement with `hold_until_ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Payer.
    pub from: Id,
    /// Payee.
    pub to: Id,
    /// Reserved amount.
    pub amount: u64,
    /// Currency.
    pub currency: Currency,
    /// Expiry.
    pub expires_at_ms: TimestampMs,
    /// Where it is.
    pub status: HoldStatus,
    /// When the payee lives on another partition than the payer: who owned it when the hold
    /// was placed (its creator, the merchants registered with it), the hold's payee side.
    pub payee_owners: Vec<Principal>,
}

/// An authorization's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStatus {
    /// Its code can be used once.
    Active,
    /// Used by this settlement.
    Used(Id),
    /// Expired by a tick.
    Expired,
    /// Revoked before use.
    Revoked,
}

/// A secure-code authorization, with the code the engine issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The user presenting the code.
    pub user: Id,
    /// The debited account.
    pub account: Id,
    /// Most a settlement may charge.
    pub limit: u64,
    /// The account's currency.
    pub currency: Currency,
    /// End of validity.
    pub expires_at_ms: TimestampMs,
    /// The nonce it was created with.
    pub nonce: u64,
    /// The secure code (from the engine's reply).
    pub code: String,
    /// Where it is.
    pub status: AuthStatus,
}

/// What an approved settlement did, for reversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementEffect {
    /// The user's account.
    pub account: Id,
    /// The merchant's account.
    pub merchant_account: Id,
    /// Amount charged (or held).
    pub charged: u64,
    /// Whether it placed a hold instead of charging.
    pub held: bool,
    /// Whether it was reversed.
    pub reversed: bool,
}

/// A POS settlement as asked and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The request (for idempotent repeats).
    pub request: SettlePos,
    /// The answer given.
    pub outcome: Outcome,
    /// Its money side when approved.
    pub effect: Option<SettlementEffect>,
}

/// A bill's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillStatus {
    /// Taking items.
    Open,
    /// Waiting for the challenge.
    Submitted {
        /// Nonce of the submit.
        nonce: u64,
        /// The challenge the engine issued.
        challenge: String,
        /// Wrong challenges so far.
        failures: u32,
    },
    /// Charged.
    Paid {
        /// Amount charged.
        charged: u64,
        /// Coupon discount.
        discount: u64,
    },
    /// Cancelled.
    Cancelled,
    /// Expired by a tick.
    Expired,
}

/// A virtual bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    /// Paying user.
    pub user: Id,
    /// Charged account.
    pub account: Id,
    /// Paid merchant.
    pub merchant: Id,
    /// The account's currency.
    pub currency: Currency,
    /// Window start.
    pub opens_at_ms: TimestampMs,
    /// Window end.
    pub closes_at_ms: TimestampMs,
    /// Number of items.
    pub items: usize,
    /// Sum of the lines.
    pub total: u64,
    /// Where it is.
    pub status: BillStatus,
}

/// A split's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitStatus {
    /// Collecting.
    Open,
    /// Paid out.
    Completed,
    /// Cancelled, refunded.
    Cancelled,
    /// Expired, refunded.
    Expired,
    /// Completed, then refunded by the requester.
    Refunded,
}

/// A group-payment split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Requesting user.
    pub requester: Id,
    /// Where the total goes.
    pub requester_account: Id,
    /// Currency.
    pub currency: Currency,
    /// Total.
    pub total: u64,
    /// Members.
    pub members: Vec<SplitMember>,
    /// The shares as requested.
    pub request_shares: SplitShares,
    /// Computed shares.
    pub shares: Vec<u64>,
    /// Paid flags.
    pub paid: Vec<bool>,
    /// Money in escrow.
    pub escrow: u64,
    /// Expiry.
    pub expires_at_ms: TimestampMs,
    /// Where it is.
    pub status: SplitStatus,
}

/// A coupon's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponStatus {
    /// Usable by its holder.
    Available,
    /// In its holder's pool.
    Shared,
    /// Used.
    Redeemed,
}

/// A coupon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    /// Issuer.
    pub merchant: Id,
    /// Current holder.
    pub holder: Id,
    /// The holder it was issued to (part of the issue's body; `None` for reward coupons).
    pub issued_to: Option<Id>,
    /// Currency of the rule.
    pub currency: Currency,
    /// The deduction.
    pub rule: DeductionRule,
    /// Value adjustments.
    pub adjustments: Vec<ValueAdjustment>,
    /// Validity start.
    pub valid_from_ms: TimestampMs,
    /// Validity end.
    pub valid_until_ms: TimestampMs,
    /// The sharer's reward rule.
    pub reward: Option<DeductionRule>,
    /// Who shared it, once claimed.
    pub shared_by: Option<Id>,
    /// Where it is.
    pub status: CouponStatus,
    /// Issue nonce (`None` for reward coupons, whose nonce the engine derives).
    pub nonce: Option<u64>,
    /// Redemption code, once known (issue or claim reply, or learned for rewards).
    pub code: Option<String>,
    /// The code first issued (what a retried issue answers).
    pub issue_code: Option<String>,
}

/// A redemption by an operator, as asked and answered (only applied ones are kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    /// The operator.
    pub operator: Id,
    /// The code presented.
    pub code: String,
    /// Purchase amount.
    pub amount: u64,
    /// Location given.
    pub location: Option<kassa_engine::types::GeoPoint>,
    /// The answer.
    pub outcome: Outcome,
}

/// Wrong-code window of one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureWindow {
    /// When the window started.
    pub started_at_ms: TimestampMs,
    /// Wrong codes in it.
    pub failures: u32,
}

/// Deposits and withdrawals of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Sum of deposits.
    pub deposited: u128,
    /// Sum of withdrawals.
    pub withdrawn: u128,
}

/// The secrets in the engine's answer to the command being applied. The model only ever takes
/// a *new* secret from it (a code it could not derive); whether the command applies, and every
/// amount, the model decides on its own.
#[derive(Debug, Clone, Copy)]
pub struct Oracle<'a> {
    engine: &'a Outcome,
}

impl<'a> Oracle<'a> {
    /// The secrets of `engine`'s outcome.
    pub fn new(engine: &'a Outcome) -> Oracle<'a> {
        Oracle { engine }
    }

    /// The secret string of the engine's reply (coupon or approval code), or a marker
    /// that can never match when the engine did not answer with one.
    fn secret(&self) -> String {
        match self.engine {
            Outcome::Applied(Reply::CouponIssued { code })
            | Outcome::Applied(Reply::CouponClaimed { code })
            | Outcome::Applied(Reply::Settled { approval_code: code, .. }) => code.clone(),
            _ => "<no secret in the engine's reply>".to_string(),
        }
    }
}

/// Ids remembered for repeats, for a bounded time: time is cut into epochs of
/// `IDEMPOTENCY_WINDOW_MS` (epoch = now / window); an id counts while it was applied in the
/// current epoch or the one before. Keyed by `K`: the id, with the partition that remembers it
/// where ids are per partition (transfers and movements).
#[derive(Debug, Clone)]
pub struct Remembered<K, V> {
    /// Each key with its body and the epoch it was applied in.
    entries: HashMap<K, (V, u64)>,
    generation: u64,
}

impl<K, V> Default for Remembered<K, V> {
    fn default() -> Self {
        Remembered { entries: HashMap::new(), generation: 0 }
    }
}

impl<K: std::hash::Hash + Eq, V> Remembered<K, V> {
    /// The body of `key` while it is remembered.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).filter(|(_, generation)| generation + 1 >= self.generation).map(|(body, _)| body)
    }

    fn insert(&mut self, key: K, body: V) {
        self.entries.insert(key, (body, self.generation));
    }

    fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    fn advance(&mut self, now_ms: TimestampMs) {
        let epoch = now_ms / kassa_engine::constants::IDEMPOTENCY_WINDOW_MS;
        if epoch > self.generation {
            self.generation = epoch;
            let current = self.generation;
            self.entries.retain(|_, (_, generation)| *generation + 1 >= current);
        }
    }
}

/// A transfer or movement id and the partition that remembers it (the payer's, the account's).
pub type PartitionedId = (PartitionId, Id);

/// A terminal's merchant, MAC key and location.
pub type TerminalFacts = (Id, Option<Vec<u8>>, Option<GeoPoint>);

/// The reference model: everything the engine knows, in plain maps.
#[derive(Debug, Clone)]
pub struct Model {
    secret_key: [u8; 32],
    /// Where accounts live (one partition: everything in one place).
    pub placement: Placement,
    /// The partition applying the command being applied (`Placement::of_command`).
    partition: PartitionId,
    /// Where the engine's directory placed the objects this batch's commands name, routing
    /// them all before any applies (`partitions.rs`, [`Model::begin_batch`]).
    batch_entries: HashMap<(DirectoryKind, Id), PartitionId>,
    /// This batch's commands not applied yet, in order, each with its partition.
    batch_routes: VecDeque<(Command, PartitionId)>,
    /// Highest `now` applied so far.
    pub now_ms: TimestampMs,
    /// Accounts.
    pub accounts: BTreeMap<Id, Account>,
    /// Deposits and withdrawals by id: `(deposit?, account, amount)`, for a bounded time.
    pub movements: Remembered<PartitionedId, (bool, Id, u64)>,
    /// Applied transfers by id: `(from, to, amount, currency)`, for a bounded time.
    pub transfers: Remembered<PartitionedId, (Id, Id, u64, Currency)>,
    /// Per currency, money in and out.
    pub totals: BTreeMap<Currency, Totals>,
    /// Holds (direct and POS).
    pub holds: BTreeMap<Id, Hold>,
    hold_expiry: BTreeSet<(TimestampMs, Id)>,
    /// Merchant -> account.
    pub merchants: BTreeMap<Id, Id>,
    /// Terminal -> (merchant, MAC key).
    pub terminals: BTreeMap<Id, TerminalFacts>,
    /// Operator -> merchant.
    pub operators: BTreeMap<Id, Id>,
    /// Authorizations.
    pub authorizations: BTreeMap<Id, Authorization>,
    /// Per user, the authorizations still searched for a code, oldest first.
    pub user_authorizations: HashMap<Id, Vec<Id>>,
    authorization_expiry: BTreeSet<(TimestampMs, Id)>,
    /// Wrong-code windows per user.
    pub code_failures: HashMap<Id, FailureWindow>,
    /// POS settlements (approved and refused).
    pub settlements: BTreeMap<Id, Settlement>,
    /// Bills.
    pub bills: BTreeMap<Id, Bill>,
    bill_expiry: BTreeSet<(TimestampMs, Id)>,
    /// Splits.
    pub splits: BTreeMap<Id, Split>,
    split_expiry: BTreeSet<(TimestampMs, Id)>,
    /// (partition, user): a partition where an app's command for the user applied, so it knows
    /// the user's claim (`partitions.rs`).
    claims_known: HashSet<(PartitionId, Id)>,
    /// Contacts (symmetric).
    pub contacts: BTreeMap<Id, BTreeSet<Id>>,
    /// Coupons.
    pub coupons: BTreeMap<Id, Coupon>,
    /// Redemption code -> coupon.
    pub coupon_codes: HashMap<String, Id>,
    /// Share pools per user.
    pub pools: BTreeMap<Id, BTreeSet<Id>>,
    /// Applied operator redemptions.
    pub redemptions: HashMap<Id, Redemption>,
    /// Reward coupons whose redemption code is not known yet.
    pub unknown_reward_codes: Vec<Id>,
    /// API keys: id -> (role, secret hash, revoked).
    pub api_keys: BTreeMap<Id, (Principal, [u8; 32], bool)>,
    /// Who owns what (`authority`).
    pub owners: authority::Owners,
    /// Contact requests waiting for the other side's consent: (requester, asked).
    pub contact_requests: BTreeSet<(Id, Id)>,
    /// Refunds given, by what they refund (`refunds.rs`).
    refunds: BTreeMap<(Refunded, Id), Vec<GivenRefund>>,
}

/// `Ok` as `Applied(Done)`, `Err` as the rejection.
fn done(result: Result<(), Rejection>) -> Outcome {
    match result {
        Ok(()) => Outcome::Applied(Reply::Done),
        Err(rejection) => Outcome::Rejected(rejection),
    }
}

/// `Ok(reply)` applied, `Err` rejected.
fn answer(result: Result<Reply, Rejection>) -> Outcome {
    match result {
        Ok(reply) => Outcome::Applied(reply),
        Err(rejection) => Outcome::Rejected(rejection),
    }
}

/// An amount a command may move: 1..=`AMOUNT_MINOR_MAX`.
fn valid_amount(amount: u64) -> Result<(), Rejection> {
    if amount == 0 || amount > AMOUNT_MINOR_MAX { Err(Rejection::InvalidAmount) } else { Ok(()) }
}

/// A code or challenge as callers may send it: 1..=16 ASCII digits.
fn well_formed_code(code: &str) -> bool {
    (1..=kassa_engine::constants::CODE_LENGTH_MAX).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit())
}

/// The amount as a signed delta.
fn signed(amount: u64) -> i64 {
    i64::try_from(amount).expect("amounts are at most AMOUNT_MINOR_MAX")
}

impl Model {
    /// An empty model for an engine with `secret_key` and one partition.
    pub fn new(secret_key: [u8; 32]) -> Model {
        Model::with_partitions(secret_key, 1)
    }

    /// An empty model for an engine with `secret_key` and `partitions` partitions: the model
    /// places accounts as the engine does and expects what partitions change (see
    /// `partitions.rs`).
    pub fn with_partitions(secret_key: [u8; 32], partitions: u16) -> Model {
        let config = kassa_engine::Config::new(SecretKey::from_bytes(&secret_key));
        let placement = config.for_partition(HOME_PARTITION, partitions).placement().clone();
        Model {
            secret_key,
            placement,
            partition: HOME_PARTITION,
            batch_entries: HashMap::new(),
            batch_routes: VecDeque::new(),
            claims_known: HashSet::new(),
            now_ms: 0,
            accounts: BTreeMap::new(),
            movements: Remembered::default(),
            transfers: Remembered::default(),
            totals: BTreeMap::new(),
            holds: BTreeMap::new(),
            hold_expiry: BTreeSet::new(),
            merchants: BTreeMap::new(),
            terminals: BTreeMap::new(),
            operators: BTreeMap::new(),
            authorizations: BTreeMap::new(),
            user_authorizations: HashMap::new(),
            authorization_expiry: BTreeSet::new(),
            code_failures: HashMap::new(),
            settlements: BTreeMap::new(),
            bills: BTreeMap::new(),
            bill_expiry: BTreeSet::new(),
            splits: BTreeMap::new(),
            split_expiry: BTreeSet::new(),
            contacts: BTreeMap::new(),
            coupons: BTreeMap::new(),
            coupon_codes: HashMap::new(),
            pools: BTreeMap::new(),
            redemptions: HashMap::new(),
            unknown_reward_codes: Vec::new(),
            api_keys: BTreeMap::new(),
            owners: authority::Owners::default(),
            contact_requests: BTreeSet::new(),
            refunds: BTreeMap::new(),
        }
    }

    /// Applies `submission` at `now_ms` and returns the outcome the model expects: refused by
    /// the model's authority (`authority.rs`) with nothing changed, or applied as the command
    /// alone would be, its owners recorded. `engine` is the engine's outcome for the same
    /// command, used only as an [`Oracle`] for new secrets.
    pub fn apply(&mut self, now_ms: TimestampMs, submission: &Submission, engine: &Outcome) -> Outcome {
        let now = now_ms.max(self.now_ms);
        self.now_ms = now;
        self.movements.advance(now);
        self.transfers.advance(now);
        let Submission { principal, command, metadata } = submission;
        self.partition = self.batch_route(command);
        if let Err(rejection) = self.authority(principal, command) {
            return Outcome::Rejected(rejection);
        }
        if let Err(rejection) = self.accounts_local(command) {
            return Outcome::Rejected(rejection);
        }
        // Metadata names what the command creates: a transfer, hold, settlement, bill or split.
        let creates_annotatable = matches!(
            command,
            Command::Transfer(_)
                | Command::PlaceHold(_)
                | Command::SettlePos(_)
                | Command::OpenBill(_)
                | Command::RequestSplit(_)
        );
        if metadata.is_some() && !creates_annotatable {
            return Outcome::Rejected(Rejection::MetadataNotSupported);
        }
        let mut outcome = self.apply_command(now, principal, command, Oracle::new(engine));
        if outcome.is_applied() {
            self.record_owners(principal, command);
        }
        // A bill's challenge is the user's: only the admin and apps see it in a reply.
        if let Outcome::Applied(Reply::BillSubmitted { challenge, .. }) = &mut outcome
            && !matches!(principal, Principal::Admin | Principal::App(_))
        {
            challenge.clear();
        }
        outcome
    }

    fn apply_command(
        &mut self,
        now: TimestampMs,
        principal: &Principal,
        command: &Command,
        oracle: Oracle<'_>,
    ) -> Outcome {
        match command {
            Command::OpenAccount(open) => done(self.open_account(open)),
            Command::CloseAccount { account } => done(self.close_account(account)),
            Command::Deposit(movement) => done(self.movement(movement, true)),
            Command::Withdraw(movement) => done(self.movement(movement, false)),
            Command::Transfer(transfer) => done(self.transfer(transfer, true)),
            Command::TransferBatch(batch) => self.transfer_batch(batch),
            Command::PlaceHold(place) => done(self.place_hold(now, place)),
            Command::CaptureHold(capture) => answer(self.capture_hold(now, capture)),
            Command::VoidHold { hold } => done(self.void_hold(now, hold)),
            Command::RegisterMerchant(register) => done(self.register_merchant(register)),
            Command::RegisterTerminal(register) => done(self.register_terminal(register)),
            Command::RegisterOperator(register) => done(self.register_operator(register)),
            Command::Authorize(authorize) => answer(self.authorize(now, authorize)),
            Command::SettlePos(settle) => self.settle_pos(now, settle, oracle),
            Command::ReversePos { settlement } => done(self.reverse_pos(settlement)),
            Command::OpenBill(open) => done(self.open_bill(now, open)),
            Command::AddBillItem(add) => done(self.add_bill_item(now, add)),
            Command::SubmitBill(submit) => answer(self.submit_bill(now, submit)),
            Command::ConfirmBill(confirm) => answer(self.confirm_bill(now, confirm)),
            Command::CancelBill { bill } => done(self.cancel_bill(bill)),
            Command::RequestSplit(request) => answer(self.request_split(now, request)),
            Command::PaySplitShare(pay) => answer(self.pay_split_share(now, pay)),
            Command::CancelSplit { split } => answer(self.cancel_split(split)),
            Command::AddContact(add) => answer(self.add_contact(principal, add)),
            Command::IssueCoupon(issue) => answer(self.issue_coupon(now, issue, oracle)),
            Command::ShareCoupon(share) => done(self.share_coupon(now, share)),
            Command::ClaimCoupon(claim) => answer(self.claim_coupon(now, claim, oracle)),
            Command::RedeemCoupon(redeem) => self.redeem_coupon(now, redeem),
            Command::RegisterApiKey(register) => done(self.register_api_key(register)),
            Command::RevokeApiKey { key_id } => done(match self.api_keys.get_mut(key_id) {
                Some((_, _, revoked)) => {
                    *revoked = true;
                    Ok(())
                }
                None => Err(Rejection::KeyNotFound),
            }),
            Command::RevokeAuthorization { authorization } => done(self.revoke_authorization(authorization)),
            Command::RefundPos(refund) => answer(self.refund_pos(refund)),
            Command::RefundBill(refund) => answer(self.refund_bill(refund)),
            Command::RefundSplit { split } => answer(self.refund_completed_split(split)),
            Command::Tick => {
                let expired = self.expire_holds(now)
                    + self.expire_bills(now)
                    + self.expire_splits(now)
                    + self.expire_authorizations(now);
                Outcome::Applied(Reply::Ticked { expired })
            }
        }
    }

    /// Records the redemption code of a reward coupon, read from the engine.
    pub fn learn_coupon_code(&mut self, coupon: &Id, code: String) {
        if let Some(entry) = self.coupons.get_mut(coupon) {
            entry.code = Some(code.clone());
            self.coupon_codes.insert(code, coupon.clone());
        }
    }

    // ----- shared money helpers ------------------------------------------------------------

    /// The open account `id` of `currency`, or why it cannot be used (`missing` if absent).
    fn usable(&self, id: &Id, currency: Currency, missing: Rejection) -> Result<&Account, Rejection> {
        let account = self.accounts.get(id).ok_or(missing)?;
        if account.closed {
            return Err(Rejection::AccountClosed);
        }
        if account.currency != currency {
            return Err(Rejection::CurrencyMismatch);
        }
        Ok(account)
    }

    fn account_mut(&mut self, id: &Id) -> &mut Account {
        self.accounts.get_mut(id).expect("the model only posts to existing accounts")
    }

    /// Moves `amount` from `from` to `to` (checked by the caller; `from` may equal `to`).
    fn move_money(&mut self, from: &Id, to: &Id, amount: u64) {
        self.account_mut(from).posted -= signed(amount);
        self.account_mut(to).posted += signed(amount);
    }
}
