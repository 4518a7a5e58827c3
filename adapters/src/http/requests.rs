//! The JSON request bodies of the HTTP API and their conversion into engine commands.
//!
//! This module is pure: no actix, no engine, no clock, no randomness. What a handler knows
//! besides the body (the id in the path, the time, a fresh nonce, the caller's operator, the
//! terminal's currency) arrives as arguments, so the fuzz target `fuzz/fuzz_targets/http_json.rs`
//! drives exactly the code the server runs: `serde_json` decoding (what `web::Json` does), then
//! the conversion. Every body refuses unknown fields. A conversion refuses with a
//! [`RequestError`]; it never panics.
//!
//! Authorization is not here: handlers check the caller before they convert, so the order of
//! their answers is unchanged.

use std::fmt;

use kassa_engine::command::{
    AddBillItem, AddContact, AdjustmentCondition, Authorize, CaptureHold, ClaimCoupon, Command, ConfirmBill,
    DeductionKind, DeductionRule, IssueCoupon, Movement, OpenAccount, OpenBill, PaySplitShare, PlaceHold, Principal,
    RedeemCoupon, Refund, RegisterMerchant, RegisterOperator, RegisterTerminal, RequestSplit, SettlePos, ShareCoupon,
    SplitMember, SplitShares, Transfer, TransferBatch, ValueAdjustment,
};
use kassa_engine::constants::{AMOUNT_MINOR_MAX, COUPON_ADJUSTMENTS_MAX, SPLIT_MEMBERS_MAX, TRANSFER_BATCH_MAX};
use kassa_engine::types::GeoPoint;
use kassa_engine::{Currency, Id, Rejection};
use rust_decimal::Decimal;
use serde::Deserialize;

/// Why a request body does not make a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Malformed: answered 400 with `code` (`invalid_currency`, `invalid_expiry`, ...).
    Invalid {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// Well-formed but refused by a rule the engine would apply too; answered as that rejection.
    Rejected(Rejection),
}

impl RequestError {
    /// A malformed request.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> RequestError {
        RequestError::Invalid { code, message: message.into() }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Invalid { code, message } => write!(f, "{code}: {message}"),
            RequestError::Rejected(rejection) => write!(f, "rejected: {}", rejection.code()),
        }
    }
}

impl std::error::Error for RequestError {}

/// An ISO 4217 alpha code (`"EUR"`) as a supported currency.
pub fn currency(alpha: &str) -> Result<Currency, RequestError> {
    Currency::from_alpha(alpha)
        .map_err(|_| RequestError::invalid("invalid_currency", format!("{alpha:?} is not a supported ISO 4217 code")))
}

/// The instant `seconds` after `now_ms`; one that does not fit a `u64` of milliseconds is
/// refused `invalid_expiry` (422), as the engine refuses any other expiry too far ahead.
pub fn expiry(now_ms: u64, seconds: u64) -> Result<u64, RequestError> {
    seconds
        .checked_mul(1_000)
        .and_then(|ms| ms.checked_add(now_ms))
        .ok_or(RequestError::Rejected(Rejection::InvalidExpiry))
}

// ----- keys ------------------------------------------------------------------------------------

/// `POST /v1/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// `admin`, `merchant`, `operator`, `app` or `terminal`.
    pub role: String,
    /// The merchant of a `merchant` key.
    pub merchant: Option<Id>,
    /// The operator of an `operator` key.
    pub operator: Option<Id>,
    /// The app of an `app` key.
    pub app: Option<Id>,
    /// The terminal of a `terminal` key (a POS on the binary protocol).
    pub terminal: Option<Id>,
}

impl CreateKey {
    /// The role asked for; a scoped role needs its id, at most `scope_id_length_max` bytes long
    /// (the server passes `auth::SCOPE_ID_LENGTH_MAX`), and takes no other role's field.
    pub fn role(&self, scope_id_length_max: usize) -> Result<Principal, RequestError> {
        let fields = [
            ("merchant", &self.merchant),
            ("operator", &self.operator),
            ("app", &self.app),
            ("terminal", &self.terminal),
        ];
        if let Some((stray, _)) = fields.iter().find(|(name, value)| value.is_some() && *name != self.role) {
            return Err(RequestError::invalid("invalid_field", format!("role {:?} takes no `{stray}`", self.role)));
        }
        let scoped = |value: &Option<Id>, what: &str| -> Result<Id, RequestError> {
            let value =
                value.clone().ok_or_else(|| RequestError::invalid("missing_field", format!("role needs `{what}`")))?;
            if value.as_str().len() > scope_id_length_max {
                return Err(RequestError::invalid(
                    "invalid_id",
                    format!("`{what}` must be at most {scope_id_length_max} bytes"),
                ));
            }
            Ok(value)
        };
        match self.role.as_str() {
            "admin" => Ok(Principal::Admin),
            "merchant" => Ok(Principal::Merchant(scoped(&self.merchant, "merchant")?)),
            "operator" => Ok(Principal::Operator(scoped(&self.operator, "operator")?)),
            "app" => Ok(Principal::App(scoped(&self.app, "app")?)),
            "terminal" => Ok(Principal::Terminal(scoped(&self.terminal, "terminal")?)),
            other => Err(RequestError::invalid("invalid_role", format!("unknown role {other:?}"))),
        }
    }
}

// ----- accounts --------------------------------------------------------------------------------

/// `POST /v1/accounts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAccountBody {
    /// The new account's id.
    pub id: Id,
    /// ISO 4217 alpha code.
    pub currency: String,
    /// How far below zero the available balance may go (default 0).
    #[serde(default)]
    pub overdraft_limit: u64,
}

impl OpenAccountBody {
    /// [`Command::OpenAccount`].
    pub fn command(&self) -> Result<Command, RequestError> {
        Ok(Command::OpenAccount(OpenAccount {
            account: self.id.clone(),
            currency: currency(&self.currency)?,
            overdraft_limit: self.overdraft_limit,
        }))
    }
}

/// `POST /v1/accounts/{id}/deposits` and `.../withdrawals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovementBody {
    /// The movement's id.
    pub id: Id,
    /// Minor units.
    pub amount: u64,
}

impl MovementBody {
    /// [`Command::Deposit`] (when `deposit`) or [`Command::Withdraw`] on `account` (the path id).
    pub fn command(&self, account: &Id, deposit: bool) -> Command {
        let movement = Movement { id: self.id.clone(), account: account.clone(), amount: self.amount };
        if deposit { Command::Deposit(movement) } else { Command::Withdraw(movement) }
    }
}

/// The query of a list in pages: `limit` (default 100, clamped to 1..=1000) and the id of the
/// last item of the previous page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Most items returned.
    pub limit: Option<usize>,
    /// The last item of the previous page.
    pub starting_after: Option<String>,
}

/// Most items one page may hold.
pub const PAGE_LIMIT_MAX: usize = 1_000;

/// A page size asked for: 100 unless given; outside 1..=[`PAGE_LIMIT_MAX`] it is refused
/// (`invalid_limit`), never silently changed.
pub fn page_limit(limit: Option<usize>) -> Result<usize, RequestError> {
    match limit {
        None => Ok(100),
        Some(limit) if (1..=PAGE_LIMIT_MAX).contains(&limit) => Ok(limit),
        Some(limit) => Err(RequestError::invalid("invalid_limit", format!("limit {limit} is not within 1..=1000"))),
    }
}

impl PageQuery {
    /// The page size asked for ([`page_limit`]).
    pub fn limit(&self) -> Result<usize, RequestError> {
        page_limit(self.limit)
    }
}

/// The query of `GET /v1/events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// Most events returned (default 100, 1..=1000).
    pub limit: Option<usize>,
    /// The `next_after` of the previous page (`"<seq>.<index>"`): this page holds later events.
    pub after: Option<String>,
    /// Wait up to this many milliseconds (at most 30,000) for an event when there is none yet.
    pub wait_ms: Option<u64>,
}

/// The longest `GET /v1/events` may wait for an event (`wait_ms`).
pub const EVENTS_WAIT_MS_MAX: u64 = 30_000;

impl EventsQuery {
    /// The page size asked for ([`page_limit`]).
    pub fn limit(&self) -> Result<usize, RequestError> {
        page_limit(self.limit)
    }

    /// How long to wait for an event: 0 unless given; more than [`EVENTS_WAIT_MS_MAX`] is
    /// refused (`invalid_wait`).
    pub fn wait_ms(&self) -> Result<u64, RequestError> {
        match self.wait_ms {
            Some(wait) if wait > EVENTS_WAIT_MS_MAX => {
                Err(RequestError::invalid("invalid_wait", format!("wait_ms {wait} is more than 30000")))
            }
            wait => Ok(wait.unwrap_or(0)),
        }
    }
}

/// The query of `GET /v1/accounts/{id}/history`.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    /// Most lines returned (default 100, 1..=1000).
    pub limit: Option<usize>,
    /// The id of the last line of the previous page: this page holds older lines.
    pub starting_after: Option<String>,
}

// ----- transfers and holds ---------------------------------------------------------------------

/// `POST /v1/transfers`, and one transfer of a batch.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// The transfer's id.
    pub id: Id,
    /// The debited account.
    pub from: Id,
    /// The credited account.
    pub to: Id,
    /// Minor units.
    pub amount: u64,
    /// ISO 4217 alpha code.
    pub currency: String,
}

impl TransferBody {
    /// The engine's [`Transfer`].
    pub fn transfer(&self) -> Result<Transfer, RequestError> {
        Ok(Transfer {
            id: self.id.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            amount: self.amount,
            currency: currency(&self.currency)?,
        })
    }

    /// [`Command::Transfer`].
    pub fn command(&self) -> Result<Command, RequestError> {
        Ok(Command::Transfer(self.transfer()?))
    }
}

/// `POST /v1/transfers/batch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// All or nothing (default false).
    #[serde(default)]
    pub atomic: bool,
    /// 1..=`TRANSFER_BATCH_MAX` transfers.
    pub transfers: Vec<TransferBody>,
}

impl BatchBody {
    /// Refuses an empty batch or one above `TRANSFER_BATCH_MAX` transfers.
    pub fn check_size(&self) -> Result<(), RequestError> {
        if self.transfers.is_empty() || self.transfers.len() > TRANSFER_BATCH_MAX {
            return Err(RequestError::invalid("invalid_batch", "a batch holds 1..=1000 transfers"));
        }
        Ok(())
    }

    /// [`Command::TransferBatch`]. (The handler checks the size, then each transfer's payer and
    /// conversion in order, with the same functions.)
    pub fn command(&self) -> Result<Command, RequestError> {
        self.check_size()?;
        let transfers = self.transfers.iter().map(TransferBody::transfer).collect::<Result<_, _>>()?;
        Ok(Command::TransferBatch(TransferBatch { atomic: self.atomic, transfers }))
    }
}

/// `POST /v1/holds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// The hold's id.
    pub id: Id,
    /// The account whose funds are held.
    pub from: Id,
    /// The account a capture pays.
    pub to: Id,
    /// Minor units.
    pub amount: u64,
    /// ISO 4217 alpha code.
    pub currency: String,
    /// Seconds until the hold releases by itself.
    pub expires_in_s: u64,
}

impl HoldBody {
    /// [`Command::PlaceHold`], expiring `expires_in_s` after `now_ms`.
    pub fn command(&self, now_ms: u64) -> Result<Command, RequestError> {
        Ok(Command::PlaceHold(PlaceHold {
            id: self.id.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            amount: self.amount,
            currency: currency(&self.currency)?,
            expires_at_ms: expiry(now_ms, self.expires_in_s)?,
        }))
    }
}

/// `POST /v1/holds/{id}/capture`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureBody {
    /// Minor units to capture (at most the held amount).
    pub amount: u64,
}

impl CaptureBody {
    /// [`Command::CaptureHold`] of `hold` (the path id).
    pub fn command(&self, hold: &Id) -> Command {
        Command::CaptureHold(CaptureHold { hold: hold.clone(), amount: self.amount })
    }
}

// ----- merchants, terminals, operators ---------------------------------------------------------

/// `POST /v1/merchants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantBody {
    /// The merchant's id.
    pub id: Id,
    /// The account its takings go to.
    pub account: Id,
}

impl MerchantBody {
    /// [`Command::RegisterMerchant`].
    pub fn command(&self) -> Command {
        Command::RegisterMerchant(RegisterMerchant { merchant: self.id.clone(), account: self.account.clone() })
    }
}

/// `POST /v1/terminals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalBody {
    /// The terminal's id (ISO 8583 field 41).
    pub id: Id,
    /// Its merchant.
    pub merchant: Id,
    /// Its MAC key, in hex.
    pub mac_key: Option<String>,
}

impl TerminalBody {
    /// [`Command::RegisterTerminal`]; the MAC key must be hex.
    pub fn command(&self) -> Result<Command, RequestError> {
        let mac_key = match &self.mac_key {
            None => None,
            Some(text) => {
                Some(hex::decode(text).map_err(|_| RequestError::invalid("invalid_mac_key", "mac_key must be hex"))?)
            }
        };
        Ok(Command::RegisterTerminal(RegisterTerminal {
            terminal: self.id.clone(),
            merchant: self.merchant.clone(),
            mac_key,
        }))
    }
}

/// `POST /v1/operators`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorBody {
    /// The operator's id.
    pub id: Id,
    /// Its merchant.
    pub merchant: Id,
}

impl OperatorBody {
    /// [`Command::RegisterOperator`].
    pub fn command(&self) -> Command {
        Command::RegisterOperator(RegisterOperator { operator: self.id.clone(), merchant: self.merchant.clone() })
    }
}

// ----- secure codes and POS --------------------------------------------------------------------

/// `POST /v1/authorizations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeBody {
    /// The authorization's id.
    pub id: Id,
    /// The user the code belongs to.
    pub user: Id,
    /// The account a settlement debits.
    pub account: Id,
    /// Most a settlement may charge, in minor units.
    pub limit: u64,
    /// Seconds until the code expires.
    pub expires_in_s: u64,
}

impl AuthorizeBody {
    /// [`Command::Authorize`], expiring `expires_in_s` after `now_ms`, with `nonce`.
    pub fn command(&self, now_ms: u64, nonce: u64) -> Result<Command, RequestError> {
        Ok(Command::Authorize(Authorize {
            id: self.id.clone(),
            user: self.user.clone(),
            account: self.account.clone(),
            limit: self.limit,
            expires_at_ms: expiry(now_ms, self.expires_in_s)?,
            nonce,
        }))
    }
}

/// `POST /v1/pos/settlements`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleBody {
    /// The settlement's id.
    pub id: Id,
    /// The paying user.
    pub user: Id,
    /// The user's secure code.
    pub code: String,
    /// Minor units before any coupon.
    pub amount: u64,
    /// The terminal.
    pub terminal: Id,
    /// ISO 4217 alpha code; the terminal's merchant account's currency when absent.
    pub currency: Option<String>,
    /// A coupon redeemed with the payment.
    pub coupon: Option<Id>,
    /// Where the sale happens: the coupon's location-adjusted value applies.
    pub location: Option<LocationBody>,
}

impl SettleBody {
    /// [`Command::SettlePos`] (charge now), in the body's currency or else `merchant_currency`.
    pub fn command(&self, merchant_currency: Currency) -> Result<Command, RequestError> {
        let currency = match &self.currency {
            Some(alpha) => currency(alpha)?,
            None => merchant_currency,
        };
        Ok(Command::SettlePos(SettlePos {
            id: self.id.clone(),
            user: self.user.clone(),
            code: self.code.clone(),
            amount: self.amount,
            currency,
            terminal: self.terminal.clone(),
            coupon: self.coupon.clone(),
            hold_until_ms: None,
            location: self.location.as_ref().map(LocationBody::point),
        }))
    }
}

// ----- bills -----------------------------------------------------------------------------------

/// `POST /v1/bills`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillBody {
    /// The bill's id.
    pub id: Id,
    /// The user who verifies and pays.
    pub user: Id,
    /// The account charged.
    pub account: Id,
    /// The merchant paid.
    pub merchant: Id,
    /// Seconds until the effective window opens (default 0).
    #[serde(default)]
    pub opens_in_s: u64,
    /// Seconds until the window closes.
    pub expires_in_s: u64,
}

impl BillBody {
    /// [`Command::OpenBill`], its window counted from `now_ms`.
    pub fn command(&self, now_ms: u64) -> Result<Command, RequestError> {
        Ok(Command::OpenBill(OpenBill {
            bill: self.id.clone(),
            user: self.user.clone(),
            account: self.account.clone(),
            merchant: self.merchant.clone(),
            opens_at_ms: expiry(now_ms, self.opens_in_s)?,
            closes_at_ms: expiry(now_ms, self.expires_in_s)?,
        }))
    }
}

/// `POST /v1/bills/{id}/items`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillItemBody {
    /// The adding terminal.
    pub terminal: Id,
    /// The merchant's item reference.
    pub item_ref: String,
    /// Units.
    pub quantity: u32,
    /// Minor units per unit.
    pub unit_amount: u64,
}

impl BillItemBody {
    /// [`Command::AddBillItem`] to `bill` (the path id).
    pub fn command(&self, bill: &Id) -> Command {
        Command::AddBillItem(AddBillItem {
            bill: bill.clone(),
            terminal: self.terminal.clone(),
            item_ref: self.item_ref.clone(),
            quantity: self.quantity,
            unit_amount: self.unit_amount,
        })
    }
}

/// `POST /v1/pos/settlements/{id}/refunds` and `POST /v1/bills/{id}/refunds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// The refund's id (a retry with the same id and amount is answered again, moving nothing).
    pub id: Id,
    /// Minor units to give back.
    pub amount: u64,
}

impl RefundBody {
    /// The [`Refund`] of `of` (the path id).
    pub fn refund(&self, of: &Id) -> Refund {
        Refund { of: of.clone(), refund: self.id.clone(), amount: self.amount }
    }
}

/// `POST /v1/bills/{id}/confirm`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// The challenge the user received.
    pub challenge: String,
    /// A coupon redeemed with the charge.
    pub coupon: Option<Id>,
    /// Where the user confirms: the coupon's location-adjusted value applies.
    pub location: Option<LocationBody>,
}

impl ConfirmBody {
    /// [`Command::ConfirmBill`] of `bill` (the path id).
    pub fn command(&self, bill: &Id) -> Command {
        Command::ConfirmBill(ConfirmBill {
            bill: bill.clone(),
            challenge: self.challenge.clone(),
            coupon: self.coupon.clone(),
            location: self.location.as_ref().map(LocationBody::point),
        })
    }
}

// ----- splits ----------------------------------------------------------------------------------

/// A member of a [`SplitBody`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    /// The member's user id.
    pub user: Id,
    /// The account the share is paid from.
    pub account: Id,
}

/// `POST /v1/splits`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitBody {
    /// The split's id.
    pub id: Id,
    /// The requesting user.
    pub requester: Id,
    /// The account paid when the split completes.
    pub requester_account: Id,
    /// Minor units.
    pub total: u64,
    /// ISO 4217 alpha code.
    pub currency: String,
    /// At most `SPLIT_MEMBERS_MAX` members.
    pub members: Vec<MemberBody>,
    /// One share per member (summing to `total`); equal shares when absent.
    pub shares: Option<Vec<u64>>,
    /// Seconds until an incomplete split expires.
    pub expires_in_s: u64,
}

impl SplitBody {
    /// [`Command::RequestSplit`], expiring `expires_in_s` after `now_ms`.
    pub fn command(&self, now_ms: u64) -> Result<Command, RequestError> {
        if self.members.len() > SPLIT_MEMBERS_MAX {
            return Err(RequestError::Rejected(Rejection::InvalidShares));
        }
        Ok(Command::RequestSplit(RequestSplit {
            split: self.id.clone(),
            requester: self.requester.clone(),
            requester_account: self.requester_account.clone(),
            total: self.total,
            currency: currency(&self.currency)?,
            members: self
                .members
                .iter()
                .map(|member| SplitMember { user: member.user.clone(), account: member.account.clone() })
                .collect(),
            shares: self.shares.clone().map_or(SplitShares::Equal, SplitShares::Explicit),
            expires_at_ms: expiry(now_ms, self.expires_in_s)?,
        }))
    }
}

/// `POST /v1/splits/{id}/pay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayBody {
    /// The paying member's user id.
    pub member: Id,
}

impl PayBody {
    /// [`Command::PaySplitShare`] of `split` (the path id).
    pub fn command(&self, split: &Id) -> Command {
        Command::PaySplitShare(PaySplitShare { split: split.clone(), member: self.member.clone() })
    }
}

// ----- contacts, coupons -----------------------------------------------------------------------

/// `POST /v1/contacts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    /// One user.
    pub user: Id,
    /// The other.
    pub contact: Id,
}

impl ContactBody {
    /// [`Command::AddContact`].
    pub fn command(&self) -> Command {
        Command::AddContact(AddContact { user: self.user.clone(), contact: self.contact.clone() })
    }
}

/// A coupon's deduction rule, tagged by `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleBody {
    /// `percent` off, at most `cap`.
    PercentOff {
        /// Percent, e.g. `"12.5"`.
        percent: Decimal,
        /// Most minor units off.
        cap: Option<u64>,
        /// Least purchase it applies to (default 0).
        #[serde(default)]
        min_spend: u64,
    },
    /// A fixed amount off.
    FixedOff {
        /// Minor units off.
        amount: u64,
        /// Least purchase it applies to (default 0).
        #[serde(default)]
        min_spend: u64,
    },
    /// `save` off for every `threshold` spent.
    SpendSave {
        /// Minor units per step.
        threshold: u64,
        /// Minor units saved per step.
        save: u64,
        /// Least purchase it applies to (default 0).
        #[serde(default)]
        min_spend: u64,
    },
}

impl RuleBody {
    /// The engine's [`DeductionRule`] (the engine validates its numbers).
    pub fn rule(&self) -> DeductionRule {
        match self {
            RuleBody::PercentOff { percent, cap, min_spend } => DeductionRule {
                kind: DeductionKind::PercentOff { percent: *percent, cap: *cap },
                min_spend: *min_spend,
            },
            RuleBody::FixedOff { amount, min_spend } => {
                DeductionRule { kind: DeductionKind::FixedOff { amount: *amount }, min_spend: *min_spend }
            }
            RuleBody::SpendSave { threshold, save, min_spend } => DeductionRule {
                kind: DeductionKind::SpendSave { threshold: *threshold, save: *save },
                min_spend: *min_spend,
            },
        }
    }
}

/// A coupon value adjustment, tagged by `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdjustmentBody {
    /// Scales the discount inside a time window.
    TimeWindow {
        /// Window start.
        from_ms: u64,
        /// Window end.
        until_ms: u64,
        /// Scale, in percent.
        factor_percent: u32,
    },
    /// Scales the discount near a place.
    Location {
        /// Latitude in microdegrees.
        latitude_e6: i32,
        /// Longitude in microdegrees.
        longitude_e6: i32,
        /// Radius in metres.
        radius_m: u32,
        /// Scale, in percent.
        factor_percent: u32,
    },
}

impl AdjustmentBody {
    /// The engine's [`ValueAdjustment`].
    pub fn adjustment(&self) -> ValueAdjustment {
        match self {
            AdjustmentBody::TimeWindow { from_ms, until_ms, factor_percent } => ValueAdjustment {
                condition: AdjustmentCondition::TimeWindow { from_ms: *from_ms, until_ms: *until_ms },
                factor_percent: *factor_percent,
            },
            AdjustmentBody::Location { latitude_e6, longitude_e6, radius_m, factor_percent } => ValueAdjustment {
                condition: AdjustmentCondition::Location {
                    center: GeoPoint { latitude_e6: *latitude_e6, longitude_e6: *longitude_e6 },
                    radius_m: *radius_m,
                },
                factor_percent: *factor_percent,
            },
        }
    }
}

/// `POST /v1/coupons`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouponBody {
    /// The coupon's id.
    pub id: Id,
    /// The issuing merchant.
    pub merchant: Id,
    /// The user it is issued to.
    pub holder: Id,
    /// ISO 4217 alpha code.
    pub currency: String,
    /// The deduction.
    pub rule: RuleBody,
    /// At most `COUPON_ADJUSTMENTS_MAX` adjustments (default none).
    #[serde(default)]
    pub adjustments: Vec<AdjustmentBody>,
    /// Seconds until it becomes valid (default 0).
    #[serde(default)]
    pub starts_in_s: u64,
    /// Seconds until it expires.
    pub expires_in_s: u64,
    /// The sharer's reward rule when a contact redeems it.
    pub reward: Option<RuleBody>,
}

impl CouponBody {
    /// [`Command::IssueCoupon`], valid from `starts_in_s` to `expires_in_s` after `now_ms`, with
    /// `nonce`.
    pub fn command(&self, now_ms: u64, nonce: u64) -> Result<Command, RequestError> {
        if self.adjustments.len() > COUPON_ADJUSTMENTS_MAX {
            return Err(RequestError::Rejected(Rejection::InvalidRule));
        }
        Ok(Command::IssueCoupon(IssueCoupon {
            coupon: self.id.clone(),
            merchant: self.merchant.clone(),
            holder: self.holder.clone(),
            currency: currency(&self.currency)?,
            rule: self.rule.rule(),
            adjustments: self.adjustments.iter().map(AdjustmentBody::adjustment).collect(),
            valid_from_ms: expiry(now_ms, self.starts_in_s)?,
            valid_until_ms: expiry(now_ms, self.expires_in_s)?,
            reward: self.reward.as_ref().map(RuleBody::rule),
            nonce,
        }))
    }
}

/// `POST /v1/coupons/{id}/share` and `.../claim`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    /// The sharing or claiming user.
    pub user: Id,
}

impl UserBody {
    /// [`Command::ShareCoupon`] of `coupon` (the path id) into the user's pool.
    pub fn share(&self, coupon: &Id) -> Command {
        Command::ShareCoupon(ShareCoupon { coupon: coupon.clone(), user: self.user.clone() })
    }

    /// [`Command::ClaimCoupon`] of `coupon` (the path id) by the user.
    pub fn claim(&self, coupon: &Id, nonce: u64) -> Command {
        Command::ClaimCoupon(ClaimCoupon { coupon: coupon.clone(), claimer: self.user.clone(), nonce })
    }
}

/// Where a purchase happens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationBody {
    /// Latitude in microdegrees.
    pub latitude_e6: i32,
    /// Longitude in microdegrees.
    pub longitude_e6: i32,
}

impl LocationBody {
    /// The engine's [`GeoPoint`].
    pub fn point(&self) -> GeoPoint {
        GeoPoint { latitude_e6: self.latitude_e6, longitude_e6: self.longitude_e6 }
    }
}

/// `POST /v1/coupons/verify` (a read: no command).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The coupon code.
    pub code: String,
    /// Minor units of the purchase.
    pub amount: u64,
    /// Where the purchase happens.
    pub location: Option<LocationBody>,
    /// The operator verifying: an admin key names one; an operator key is its own.
    pub operator: Option<Id>,
}

/// `POST /v1/coupons/redeem`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemBody {
    /// The redemption's id.
    pub id: Id,
    /// The coupon code.
    pub code: String,
    /// Minor units of the purchase.
    pub amount: u64,
    /// Where the purchase happens.
    pub location: Option<LocationBody>,
    /// The operator redeeming: an admin key names one; an operator key is its own.
    pub operator: Option<Id>,
}

impl RedeemBody {
    /// [`Command::RedeemCoupon`] by `operator` (the caller's key).
    pub fn command(&self, operator: &Id) -> Command {
        Command::RedeemCoupon(RedeemCoupon {
            id: self.id.clone(),
            operator: operator.clone(),
            code: self.code.clone(),
            amount: self.amount,
            location: self.location.as_ref().map(LocationBody::point),
        })
    }
}

/// `POST /v1/quotes` (a read: no command).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteBody {
    /// The coupon.
    pub coupon: Id,
    /// Minor units of the purchase.
    pub amount: u64,
    /// Where the purchase happens.
    pub location: Option<LocationBody>,
}

impl QuoteBody {
    /// Refuses an amount outside 1..=`AMOUNT_MINOR_MAX`.
    pub fn check_amount(&self) -> Result<(), RequestError> {
        if self.amount == 0 || self.amount > AMOUNT_MINOR_MAX {
            return Err(RequestError::Rejected(Rejection::InvalidAmount));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> Id {
        Id::new(text).unwrap()
    }

    #[test]
    fn bodies_become_commands() {
        let body: HoldBody =
            serde_json::from_str(r#"{"id":"h1","from":"a","to":"b","amount":5,"currency":"EUR","expires_in_s":60}"#)
                .unwrap();
        let Command::PlaceHold(hold) = body.command(1_000).unwrap() else { panic!("a hold") };
        assert_eq!((hold.currency, hold.expires_at_ms), (Currency::EUR, 61_000));
        let body: TerminalBody = serde_json::from_str(r#"{"id":"T1","merchant":"m","mac_key":"00ff10Ab"}"#).unwrap();
        let Command::RegisterTerminal(terminal) = body.command().unwrap() else { panic!("a terminal") };
        assert_eq!(terminal.mac_key, Some(vec![0x00, 0xff, 0x10, 0xab]));
        let body: CreateKey = serde_json::from_str(r#"{"role":"merchant","merchant":"m-1"}"#).unwrap();
        assert_eq!(body.role(48), Ok(Principal::Merchant(id("m-1"))));
    }

    #[test]
    fn malformed_bodies_are_refused_with_a_code() {
        let body: OpenAccountBody = serde_json::from_str(r#"{"id":"a","currency":"XXX"}"#).unwrap();
        assert!(matches!(body.command(), Err(RequestError::Invalid { code: "invalid_currency", .. })));
        let body: HoldBody = serde_json::from_str(
            r#"{"id":"h1","from":"a","to":"b","amount":5,"currency":"EUR","expires_in_s":18446744073709551615}"#,
        )
        .unwrap();
        assert!(matches!(body.command(0), Err(RequestError::Rejected(Rejection::InvalidExpiry))));
        for mac_key in ["0", "zz", "é0", "0g"] {
            let body = TerminalBody { id: id("T1"), merchant: id("m"), mac_key: Some(mac_key.into()) };
            assert!(matches!(body.command(), Err(RequestError::Invalid { code: "invalid_mac_key", .. })), "{mac_key}");
        }
        let body: CreateKey = serde_json::from_str(r#"{"role":"app"}"#).unwrap();
        assert!(matches!(body.role(48), Err(RequestError::Invalid { code: "missing_field", .. })));
        let body: CreateKey = serde_json::from_str(r#"{"role":"root"}"#).unwrap();
        assert!(matches!(body.role(48), Err(RequestError::Invalid { code: "invalid_role", .. })));
        let body: BatchBody = serde_json::from_str(r#"{"transfers":[]}"#).unwrap();
        assert!(matches!(body.command(), Err(RequestError::Invalid { code: "invalid_batch", .. })));
        assert!(serde_json::from_str::<CaptureBody>(r#"{"amount":1,"extra":2}"#).is_err());
        let body: QuoteBody = serde_json::from_str(r#"{"coupon":"c","amount":0}"#).unwrap();
        assert_eq!(body.check_amount(), Err(RequestError::Rejected(Rejection::InvalidAmount)));
    }
}
