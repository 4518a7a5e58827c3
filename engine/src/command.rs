//! Commands (what callers ask for), their outcomes (what happened), and events (the history).
//!
//! Commands are imperative nouns. Every command yields exactly one [`Outcome`]: either `Applied`
//! with a typed [`Reply`], or `Rejected` with a specific [`Rejection`]. Rejections are values, not
//! errors: a rejected command changes nothing (except the documented brute-force counters).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::metadata::{Metadata, MetadataKind};
use crate::types::{Currency, GeoPoint, Id, TimestampMs};

/// One request to the state machine. Amounts are integer minor units of the named currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Opens an account.
    OpenAccount(OpenAccount),
    /// Closes an account whose balance and holds are zero.
    CloseAccount {
        /// The account to close.
        account: Id,
    },
    /// Money entering the system from outside (recorded, counted in conservation).
    Deposit(Movement),
    /// Money leaving the system (recorded, counted in conservation).
    Withdraw(Movement),
    /// Moves money between two accounts of one currency.
    Transfer(Transfer),
    /// Several transfers; with `atomic`, all apply or none does.
    TransferBatch(TransferBatch),
    /// Reserves money on `from` for a later capture into `to`.
    PlaceHold(PlaceHold),
    /// Moves up to the held amount from `from` to `to`, releasing the rest.
    CaptureHold(CaptureHold),
    /// Releases a hold without moving money.
    VoidHold {
        /// The hold to void.
        hold: Id,
    },
    /// Registers a merchant and the account its takings go to.
    RegisterMerchant(RegisterMerchant),
    /// Registers a POS terminal of a merchant.
    RegisterTerminal(RegisterTerminal),
    /// Registers a merchant operator (may verify and redeem that merchant's coupons only).
    RegisterOperator(RegisterOperator),
    /// A user authorizes an account for a spending limit and receives a one-time secure code.
    Authorize(Authorize),
    /// A POS terminal settles a purchase with the user's id and secure code.
    SettlePos(SettlePos),
    /// Reverses an approved POS settlement: refunds the charge or voids the hold.
    ReversePos {
        /// The settlement to reverse.
        settlement: Id,
    },
    /// Opens a virtual bill for a user with an effective time window.
    OpenBill(OpenBill),
    /// A terminal adds an item to an open bill.
    AddBillItem(AddBillItem),
    /// Totals the bill and issues a verification challenge to the user.
    SubmitBill(SubmitBill),
    /// The user confirms the bill with the challenge; the account is charged.
    ConfirmBill(ConfirmBill),
    /// Cancels an unpaid bill; nothing is charged.
    CancelBill {
        /// The bill to cancel.
        bill: Id,
    },
    /// Posts a payment request to a group, split equally or by shares.
    RequestSplit(RequestSplit),
    /// A member pays their share into the split's escrow.
    PaySplitShare(PaySplitShare),
    /// Cancels a split; paid shares are refunded.
    CancelSplit {
        /// The split to cancel.
        split: Id,
    },
    /// Links two users as contacts (both ways).
    AddContact(AddContact),
    /// A merchant issues a coupon to a user.
    IssueCoupon(IssueCoupon),
    /// The holder shares a coupon into their pool, visible to their contacts.
    ShareCoupon(ShareCoupon),
    /// A contact of the sharer claims a pooled coupon.
    ClaimCoupon(ClaimCoupon),
    /// A merchant operator redeems a coupon by code against a purchase amount.
    RedeemCoupon(RedeemCoupon),
    /// Registers an adapter API key (only its keyed hash is stored).
    RegisterApiKey(RegisterApiKey),
    /// Revokes an API key: from this command on, it authenticates nothing.
    RevokeApiKey {
        /// The key's id.
        key_id: Id,
    },
    /// Advances time: expires holds, bills, splits and authorizations that are due.
    Tick,
    /// Revokes a secure-code authorization (a lost phone): its code stops working at once.
    RevokeAuthorization {
        /// The authorization.
        authorization: Id,
    },
    /// Gives back part or all of what an approved POS settlement charged (`of`: the
    /// settlement), from the merchant's account to the account it charged.
    RefundPos(Refund),
    /// Gives back part or all of what a paid bill charged (`of`: the bill), likewise.
    RefundBill(Refund),
    /// Refunds a completed split: the requester's account pays every member back their share.
    RefundSplit {
        /// The split.
        split: Id,
    },
}

/// Who sends a command. It travels with the command into the log, and `commit` decides from it
/// what the command may touch (the rules: [`crate::authority`], rendered in docs/tenancy.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Principal {
    /// The processor itself: everything.
    Admin,
    /// A merchant: its own terminals, operators, coupons, settlements and the accounts it created.
    Merchant(Id),
    /// A merchant operator: verifies and redeems its one merchant's coupons.
    Operator(Id),
    /// An app backend: the accounts and objects it created, and its users.
    App(Id),
    /// A POS terminal: settles, reverses and adds bill items as itself.
    Terminal(Id),
}

/// One command and who sent it: what the engine commits and the log records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// Who sent it.
    pub principal: Principal,
    /// What it asks for.
    pub command: Command,
    /// Metadata for the object the command creates ([`crate::metadata`]); only a transfer, a
    /// hold, a POS settlement, a bill or a split may carry it (`metadata_not_supported`).
    /// Boxed: most submissions have none.
    pub metadata: Option<Box<Metadata>>,
}

impl Submission {
    /// `command` sent by `principal`.
    pub fn new(principal: Principal, command: Command) -> Submission {
        Submission { principal, command, metadata: None }
    }

    /// `command` sent by the admin (the processor embedding kassa, tests, the ticker).
    pub fn admin(command: Command) -> Submission {
        Submission::new(Principal::Admin, command)
    }

    /// This submission with `metadata` attached (an empty map attaches nothing).
    pub fn with_metadata(mut self, metadata: Metadata) -> Submission {
        self.metadata = (!metadata.is_empty()).then(|| Box::new(metadata));
        self
    }

    /// Every command of `commands`, sent by the admin.
    pub fn admin_all(commands: impl IntoIterator<Item = Command>) -> Vec<Submission> {
        commands.into_iter().map(Submission::admin).collect()
    }
}

/// Body of [`Command::RegisterApiKey`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterApiKey {
    /// Public key id (the secret's lookup key).
    pub key_id: Id,
    /// Who the key speaks for.
    pub role: Principal,
    /// Keyed hash of the secret part.
    pub secret_hash: [u8; 32],
}

impl Command {
    /// The command's kind in snake case, for metrics and logs (`"transfer"`, `"settle_pos"`).
    pub fn kind(&self) -> &'static str {
        match self {
            Command::OpenAccount(_) => "open_account",
            Command::CloseAccount { .. } => "close_account",
            Command::Deposit(_) => "deposit",
            Command::Withdraw(_) => "withdraw",
            Command::Transfer(_) => "transfer",
            Command::TransferBatch(_) => "transfer_batch",
            Command::PlaceHold(_) => "place_hold",
            Command::CaptureHold(_) => "capture_hold",
            Command::VoidHold { .. } => "void_hold",
            Command::RegisterMerchant(_) => "register_merchant",
            Command::RegisterTerminal(_) => "register_terminal",
            Command::RegisterOperator(_) => "register_operator",
            Command::Authorize(_) => "authorize",
            Command::SettlePos(_) => "settle_pos",
            Command::ReversePos { .. } => "reverse_pos",
            Command::OpenBill(_) => "open_bill",
            Command::AddBillItem(_) => "add_bill_item",
            Command::SubmitBill(_) => "submit_bill",
            Command::ConfirmBill(_) => "confirm_bill",
            Command::CancelBill { .. } => "cancel_bill",
            Command::RequestSplit(_) => "request_split",
            Command::PaySplitShare(_) => "pay_split_share",
            Command::CancelSplit { .. } => "cancel_split",
            Command::AddContact(_) => "add_contact",
            Command::IssueCoupon(_) => "issue_coupon",
            Command::ShareCoupon(_) => "share_coupon",
            Command::ClaimCoupon(_) => "claim_coupon",
            Command::RedeemCoupon(_) => "redeem_coupon",
            Command::RegisterApiKey(_) => "register_api_key",
            Command::RevokeApiKey { .. } => "revoke_api_key",
            Command::Tick => "tick",
            Command::RevokeAuthorization { .. } => "revoke_authorization",
            Command::RefundPos(_) => "refund_pos",
            Command::RefundBill(_) => "refund_bill",
            Command::RefundSplit { .. } => "refund_split",
        }
    }
}

/// Body of [`Command::OpenAccount`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAccount {
    /// Client-chosen account id.
    pub account: Id,
    /// The only currency the account holds.
    pub currency: Currency,
    /// How far below zero the available balance may go, in minor units.
    pub overdraft_limit: u64,
}

/// Body of [`Command::Deposit`] and [`Command::Withdraw`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    /// Client-chosen id; repeating it with the same body returns the first result.
    pub id: Id,
    /// The account credited (deposit) or debited (withdrawal).
    pub account: Id,
    /// Amount in minor units of the account's currency.
    pub amount: u64,
}

/// Body of [`Command::Transfer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Client-chosen id; same id and body returns the first result, another body `IdReused`.
    pub id: Id,
    /// The debited account.
    pub from: Id,
    /// The credited account.
    pub to: Id,
    /// Amount in minor units.
    pub amount: u64,
    /// Must equal both accounts' currency.
    pub currency: Currency,
}

/// Body of [`Command::TransferBatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferBatch {
    /// All-or-nothing when true; independent transfers when false.
    pub atomic: bool,
    /// The transfers, applied in order.
    pub transfers: Vec<Transfer>,
}

/// Body of [`Command::PlaceHold`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceHold {
    /// Client-chosen hold id.
    pub id: Id,
    /// The account whose available balance is reserved.
    pub from: Id,
    /// The account a capture pays into.
    pub to: Id,
    /// Amount reserved, in minor units.
    pub amount: u64,
    /// Must equal both accounts' currency.
    pub currency: Currency,
    /// When the hold releases by itself.
    pub expires_at_ms: TimestampMs,
}

/// Body of [`Command::CaptureHold`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureHold {
    /// The hold to capture.
    pub hold: Id,
    /// Amount to move, at most the held amount; the rest is released.
    pub amount: u64,
}

/// Body of [`Command::RefundPos`] and [`Command::RefundBill`]. Refunds of one settlement or
/// bill together never exceed what it charged; a full reversal (`ReversePos`) gives back what
/// they left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The settlement or bill refunded.
    pub of: Id,
    /// This refund's id, chosen by the caller and scoped by `of`: a retry with the same id and
    /// amount gets the first answer and moves nothing; another amount is `id_reused`.
    pub refund: Id,
    /// Minor units given back, 1 up to what the earlier refunds left.
    pub amount: u64,
}

/// Body of [`Command::RegisterMerchant`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterMerchant {
    /// Merchant id.
    pub merchant: Id,
    /// Account the merchant's takings are credited to.
    pub account: Id,
}

/// Body of [`Command::RegisterTerminal`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterTerminal {
    /// Terminal id (ISO 8583 field 41).
    pub terminal: Id,
    /// The merchant that owns it.
    pub merchant: Id,
    /// Key for message authentication codes, if the terminal signs its messages.
    pub mac_key: Option<Vec<u8>>,
}

/// Body of [`Command::RegisterOperator`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterOperator {
    /// Operator id.
    pub operator: Id,
    /// The one merchant whose coupons the operator may verify and redeem.
    pub merchant: Id,
}

/// Body of [`Command::Authorize`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorize {
    /// Client-chosen authorization id.
    pub id: Id,
    /// The user the code belongs to (sent by the POS with the code).
    pub user: Id,
    /// The account a settlement debits.
    pub account: Id,
    /// Most a settlement may charge, in minor units of the account's currency.
    pub limit: u64,
    /// End of validity.
    pub expires_at_ms: TimestampMs,
    /// Randomness chosen by the caller's shell (the state machine has none of its own).
    pub nonce: u64,
}

/// Body of [`Command::SettlePos`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlePos {
    /// Settlement id (e.g. terminal + STAN); same id and body returns the first answer.
    pub id: Id,
    /// The user id the POS read from the customer.
    pub user: Id,
    /// The secure code the customer presented.
    pub code: String,
    /// Purchase amount before any coupon, in minor units.
    pub amount: u64,
    /// Currency of the purchase; must equal the accounts'.
    pub currency: Currency,
    /// The terminal; its merchant's account is credited.
    pub terminal: Id,
    /// A coupon held by the user, redeemed atomically with the payment.
    pub coupon: Option<Id>,
    /// `None`: charge now. `Some(t)`: only place a hold (id = settlement id) until `t`, to be
    /// captured or voided later (an ISO 8583 0100 authorization).
    pub hold_until_ms: Option<TimestampMs>,
    /// Where the sale happens, when the terminal knows: the coupon's value is adjusted for it
    /// (its `Location` conditions), as for an operator's redemption.
    pub location: Option<GeoPoint>,
}

/// Body of [`Command::OpenBill`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenBill {
    /// Client-chosen bill id.
    pub bill: Id,
    /// The user who will verify and pay.
    pub user: Id,
    /// The account charged.
    pub account: Id,
    /// The merchant paid.
    pub merchant: Id,
    /// Start of the effective window.
    pub opens_at_ms: TimestampMs,
    /// End of the effective window; after it the bill expires unpaid.
    pub closes_at_ms: TimestampMs,
}

/// Body of [`Command::AddBillItem`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddBillItem {
    /// The bill.
    pub bill: Id,
    /// The adding terminal; it must belong to the bill's merchant.
    pub terminal: Id,
    /// Merchant's item reference (SKU), at most `ITEM_REF_LENGTH_MAX` bytes.
    pub item_ref: String,
    /// Units, 1..=`BILL_ITEM_QUANTITY_MAX`.
    pub quantity: u32,
    /// Price of one unit in minor units.
    pub unit_amount: u64,
}

/// Body of [`Command::SubmitBill`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitBill {
    /// The bill.
    pub bill: Id,
    /// Randomness for the challenge, chosen by the caller's shell.
    pub nonce: u64,
}

/// Body of [`Command::ConfirmBill`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmBill {
    /// The bill.
    pub bill: Id,
    /// The challenge the user received.
    pub challenge: String,
    /// A coupon of the user's for the bill's merchant, redeemed atomically with the charge.
    pub coupon: Option<Id>,
    /// Where the user confirms, when the app knows: the coupon's value is adjusted for it.
    pub location: Option<GeoPoint>,
}

/// How a split's total is divided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitShares {
    /// Equal shares; the remainder minor units go one each to the first members in order.
    Equal,
    /// One explicit share per member, in member order, summing to the total.
    Explicit(Vec<u64>),
}

/// A member of a split: a user and the account they pay from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitMember {
    /// The member's user id.
    pub user: Id,
    /// The account their share is paid from (and refunded to).
    pub account: Id,
}

/// Body of [`Command::RequestSplit`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSplit {
    /// Client-chosen split id.
    pub split: Id,
    /// The requesting user.
    pub requester: Id,
    /// The account the collected total is paid into.
    pub requester_account: Id,
    /// Total requested, in minor units.
    pub total: u64,
    /// Currency of the total and of every member account.
    pub currency: Currency,
    /// The group members who owe shares.
    pub members: Vec<SplitMember>,
    /// Equal or explicit shares.
    pub shares: SplitShares,
    /// When an incomplete split expires (paid shares are refunded).
    pub expires_at_ms: TimestampMs,
}

/// Body of [`Command::PaySplitShare`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaySplitShare {
    /// The split.
    pub split: Id,
    /// The paying member's user id.
    pub member: Id,
}

/// Body of [`Command::AddContact`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddContact {
    /// One user.
    pub user: Id,
    /// The other user.
    pub contact: Id,
}

/// A coupon's deduction, applied to a purchase amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeductionKind {
    /// `percent` off (0 < percent <= 100, e.g. `12.5`), at most `cap` minor units if given.
    PercentOff {
        /// Percentage taken off.
        percent: Decimal,
        /// Largest discount in minor units.
        cap: Option<u64>,
    },
    /// A fixed amount off, in minor units.
    FixedOff {
        /// Discount in minor units.
        amount: u64,
    },
    /// Spend at least `threshold`, save `save` (minor units).
    SpendSave {
        /// Purchase amount that unlocks the saving.
        threshold: u64,
        /// Discount in minor units.
        save: u64,
    },
}

/// A deduction rule: the kind plus a minimum spend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeductionRule {
    /// What is taken off.
    pub kind: DeductionKind,
    /// Purchases below this amount get no discount (the coupon is refused).
    pub min_spend: u64,
}

/// When a value adjustment applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdjustmentCondition {
    /// Between two instants (e.g. a happy hour).
    TimeWindow {
        /// Start, inclusive.
        from_ms: TimestampMs,
        /// End, exclusive.
        until_ms: TimestampMs,
    },
    /// Within `radius_m` metres of `center` (the purchase location must be given).
    Location {
        /// Centre of the area.
        center: GeoPoint,
        /// Radius in metres.
        radius_m: u32,
    },
}

/// Scales a coupon's discount when its condition holds (US20180260852A1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueAdjustment {
    /// When it applies.
    pub condition: AdjustmentCondition,
    /// New discount in percent of the base discount (150 = one and a half times).
    pub factor_percent: u32,
}

/// Body of [`Command::IssueCoupon`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueCoupon {
    /// Client-chosen coupon id.
    pub coupon: Id,
    /// The issuing merchant.
    pub merchant: Id,
    /// The user who holds it.
    pub holder: Id,
    /// Currency of the rule's amounts.
    pub currency: Currency,
    /// The deduction.
    pub rule: DeductionRule,
    /// Value adjustments by time window or location.
    pub adjustments: Vec<ValueAdjustment>,
    /// Start of validity.
    pub valid_from_ms: TimestampMs,
    /// End of validity.
    pub valid_until_ms: TimestampMs,
    /// Rule of the coupon given to a sharer when a contact redeems this coupon.
    pub reward: Option<DeductionRule>,
    /// Randomness for the redemption code, chosen by the caller's shell.
    pub nonce: u64,
}

/// Body of [`Command::ShareCoupon`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareCoupon {
    /// The coupon.
    pub coupon: Id,
    /// Its current holder.
    pub user: Id,
}

/// Body of [`Command::ClaimCoupon`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimCoupon {
    /// The pooled coupon.
    pub coupon: Id,
    /// A contact of the sharer.
    pub claimer: Id,
    /// Randomness for the claimer's new redemption code (the sharer's code stops working).
    pub nonce: u64,
}

/// Body of [`Command::RedeemCoupon`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemCoupon {
    /// Redemption id; same id and body returns the first result.
    pub id: Id,
    /// The merchant operator.
    pub operator: Id,
    /// The coupon's redemption code.
    pub code: String,
    /// The purchase amount, in minor units.
    pub amount: u64,
    /// Where the purchase happens, for location adjustments.
    pub location: Option<GeoPoint>,
}

/// The result of one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The command took effect (or was an idempotent repeat of one that did).
    Applied(Reply),
    /// The command was refused; nothing changed.
    Rejected(Rejection),
    /// An atomic (`atomic: true`) `TransferBatch` was refused as a whole because its transfer
    /// number `leg` (from 0) was refused with `rejection`; nothing changed.
    BatchRejected {
        /// The index of the refused transfer in the batch.
        leg: u32,
        /// Why it was refused.
        rejection: Rejection,
    },
}

impl Outcome {
    /// Whether the command took effect.
    pub fn is_applied(&self) -> bool {
        matches!(self, Outcome::Applied(_))
    }

    /// The rejection, if any (for a refused atomic batch, its refused transfer's).
    pub fn rejection(&self) -> Option<Rejection> {
        match self {
            Outcome::Applied(_) => None,
            Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => Some(*rejection),
        }
    }
}

/// What an applied command answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Applied; nothing more to say.
    Done,
    /// One outcome per transfer of a batch, in order.
    TransferBatch(Vec<Outcome>),
    /// A hold was captured.
    Captured {
        /// Moved to the payee.
        captured: u64,
        /// Released back to the payer's available balance.
        released: u64,
    },
    /// A secure code was issued.
    Authorized {
        /// The secure code (shown to the user once; the engine keeps only a keyed hash).
        code: String,
        /// End of validity.
        expires_at_ms: TimestampMs,
    },
    /// A POS purchase was approved.
    Settled {
        /// Approval code for the POS (ISO 8583 field 38).
        approval_code: String,
        /// Amount debited from the user (after any coupon).
        charged: u64,
        /// Coupon discount.
        discount: u64,
    },
    /// A bill was totalled and a challenge issued.
    BillSubmitted {
        /// Bill total in minor units.
        total: u64,
        /// The verification challenge for the user: empty when the submitter is the merchant
        /// side (only the admin and apps see it; `crate::authority`).
        challenge: String,
    },
    /// A bill was paid.
    BillPaid {
        /// Amount charged (after any coupon).
        charged: u64,
        /// Coupon discount.
        discount: u64,
    },
    /// A split was posted.
    SplitRequested {
        /// Each member's share, in member order.
        shares: Vec<u64>,
    },
    /// A share was paid.
    SharePaid {
        /// The amount paid.
        amount: u64,
        /// Whether this payment completed the split.
        completed: bool,
    },
    /// A split was cancelled.
    SplitCancelled {
        /// Total refunded to members who had paid.
        refunded: u64,
    },
    /// A coupon was issued.
    CouponIssued {
        /// Its redemption code.
        code: String,
    },
    /// A coupon was redeemed.
    CouponRedeemed {
        /// Discount granted.
        discount: u64,
        /// Amount left to pay.
        payable: u64,
        /// The reward coupon issued to the sharer, if any.
        reward_coupon: Option<Id>,
    },
    /// A tick expired these many objects.
    Ticked {
        /// Holds, bills, splits and authorizations that expired.
        expired: u32,
    },
    /// A contact request was recorded; the users are linked once the other side's app
    /// consents (sends the same pair the other way round).
    ContactRequested,
    /// A coupon was claimed and a new redemption code issued to the claimer.
    CouponClaimed {
        /// The claimer's redemption code (the sharer's old code no longer redeems).
        code: String,
    },
    /// A refund was given (or, to a retry, had been).
    Refunded {
        /// Given back by this refund.
        amount: u64,
        /// What may still be refunded after it.
        remaining: u64,
    },
}

/// Why a command was refused. Snake-case names are the wire error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// The id was used before with a different body.
    IdReused,
    /// An object with this id exists already.
    AlreadyExists,
    /// The account does not exist.
    AccountNotFound,
    /// The counterparty account does not exist.
    CounterpartyNotFound,
    /// The account is closed.
    AccountClosed,
    /// The account still has a balance or holds.
    AccountNotEmpty,
    /// Currencies differ.
    CurrencyMismatch,
    /// From and to are the same account.
    SameAccount,
    /// The amount is zero or above `AMOUNT_MINOR_MAX`.
    InvalidAmount,
    /// Available balance (plus overdraft) does not cover the amount.
    InsufficientFunds,
    /// A balance would pass `BALANCE_MINOR_MAX`.
    Overflow,
    /// Not produced since a refused atomic batch answers `Outcome::BatchRejected` (kept so that
    /// the variant indices stay fixed).
    LinkedTransferFailed,
    /// The batch is empty or larger than its maximum.
    InvalidBatch,
    /// The hold does not exist.
    HoldNotFound,
    /// The hold was already captured, voided or expired.
    HoldAlreadyResolved,
    /// The capture asks for more than is held.
    ExceedsHold,
    /// An expiry is in the past or too far in the future.
    InvalidExpiry,
    /// The object has expired.
    Expired,
    /// The merchant does not exist.
    MerchantNotFound,
    /// The terminal does not exist.
    TerminalNotFound,
    /// The operator does not exist.
    OperatorNotFound,
    /// The caller belongs to another merchant.
    WrongMerchant,
    /// The user has too many live authorizations.
    TooManyAuthorizations,
    /// The secure code or challenge is wrong.
    IncorrectCode,
    /// The code was already used.
    CodeAlreadyUsed,
    /// Too many wrong codes recently; try later.
    CodeTriesExceeded,
    /// The amount is above the authorized limit.
    ExceedsLimit,
    /// The bill does not exist.
    BillNotFound,
    /// The bill is not in a state that allows this.
    BillNotOpen,
    /// Now is outside the bill's effective window.
    OutsideWindow,
    /// The bill has no items.
    BillEmpty,
    /// The bill has `BILL_ITEMS_MAX` items already.
    TooManyItems,
    /// A quantity, reference or key is out of range.
    InvalidField,
    /// The split does not exist.
    SplitNotFound,
    /// The split is completed, cancelled or expired.
    SplitClosed,
    /// The user is not a member of the split.
    NotAMember,
    /// The member has paid already.
    AlreadyPaid,
    /// Explicit shares do not match the members or do not sum to the total.
    InvalidShares,
    /// The coupon does not exist (or no coupon has this code).
    CouponNotFound,
    /// The coupon is not valid now (before its window or expired).
    CouponNotValid,
    /// The coupon was redeemed already.
    CouponRedeemed,
    /// The caller does not hold the coupon.
    NotCouponHolder,
    /// The coupon is not in the sharer's pool.
    CouponNotShared,
    /// The coupon is shared and waits to be claimed.
    CouponShared,
    /// The claimer is not a contact of the sharer.
    NotAContact,
    /// The purchase is below the coupon's minimum spend.
    BelowMinimumSpend,
    /// The coupon's rule is invalid.
    InvalidRule,
    /// A per-user collection is full.
    LimitReached,
    /// The settlement does not exist.
    SettlementNotFound,
    /// Only approved settlements can be reversed.
    NotReversible,
    /// The caller may not do this to this object (docs/tenancy.md).
    Forbidden,
    /// The API key does not exist.
    KeyNotFound,
    /// The idempotency table holds its configured most live ids near this id's slot: retry
    /// once older ids expire (`ids_max` sizes it).
    IdTableFull,
    /// The command names accounts on different partitions, which only a plain transfer may
    /// join (`engine/src/partition.rs`).
    CrossPartition,
    /// The secure code's authorization was revoked.
    CodeRevoked,
    /// The authorization does not exist.
    AuthorizationNotFound,
    /// A refund of more than what the settlement or bill charged less its earlier refunds.
    RefundExceedsCharge,
    /// The settlement or bill has had its most refunds (`REFUNDS_MAX`).
    TooManyRefunds,
    /// Metadata was sent with a command that creates no transfer, hold, POS settlement, bill or
    /// split.
    MetadataNotSupported,
}

impl Rejection {
    /// The snake-case wire code (`"insufficient_funds"`).
    pub fn code(self) -> &'static str {
        macro_rules! codes {
            ($($variant:ident => $code:literal),* $(,)?) => {
                match self { $(Rejection::$variant => $code),* }
            };
        }
        codes! {
            IdReused => "id_reused", AlreadyExists => "already_exists",
            AccountNotFound => "account_not_found", CounterpartyNotFound => "counterparty_not_found",
            AccountClosed => "account_closed", AccountNotEmpty => "account_not_empty",
            CurrencyMismatch => "currency_mismatch", SameAccount => "same_account",
            InvalidAmount => "invalid_amount", InsufficientFunds => "insufficient_funds",
            Overflow => "overflow", LinkedTransferFailed => "linked_transfer_failed",
            InvalidBatch => "invalid_batch", HoldNotFound => "hold_not_found",
            HoldAlreadyResolved => "hold_already_resolved", ExceedsHold => "exceeds_hold",
            InvalidExpiry => "invalid_expiry", Expired => "expired",
            MerchantNotFound => "merchant_not_found", TerminalNotFound => "terminal_not_found",
            OperatorNotFound => "operator_not_found", WrongMerchant => "wrong_merchant",
            TooManyAuthorizations => "too_many_authorizations", IncorrectCode => "incorrect_code",
            CodeAlreadyUsed => "code_already_used", CodeTriesExceeded => "code_tries_exceeded",
            ExceedsLimit => "exceeds_limit", BillNotFound => "bill_not_found",
            BillNotOpen => "bill_not_open", OutsideWindow => "outside_window",
            BillEmpty => "bill_empty", TooManyItems => "too_many_items",
            InvalidField => "invalid_field", SplitNotFound => "split_not_found",
            SplitClosed => "split_closed", NotAMember => "not_a_member",
            AlreadyPaid => "already_paid", InvalidShares => "invalid_shares",
            CouponNotFound => "coupon_not_found", CouponNotValid => "coupon_not_valid",
            CouponRedeemed => "coupon_redeemed", NotCouponHolder => "not_coupon_holder",
            CouponNotShared => "coupon_not_shared", CouponShared => "coupon_shared",
            NotAContact => "not_a_contact", BelowMinimumSpend => "below_minimum_spend",
            InvalidRule => "invalid_rule", LimitReached => "limit_reached",
            SettlementNotFound => "settlement_not_found", NotReversible => "not_reversible",
            Forbidden => "forbidden", KeyNotFound => "key_not_found", IdTableFull => "id_table_full",
            CrossPartition => "cross_partition", CodeRevoked => "code_revoked",
            AuthorizationNotFound => "authorization_not_found",
            RefundExceedsCharge => "refund_exceeds_charge", TooManyRefunds => "too_many_refunds",
            MetadataNotSupported => "metadata_not_supported",
        }
    }
}

/// Why money moved: the command kind and its id. History entries carry one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PostingCause {
    /// A deposit.
    Deposit(Id),
    /// A withdrawal.
    Withdrawal(Id),
    /// A transfer.
    Transfer(Id),
    /// A hold placed (held rises).
    HoldPlaced(Id),
    /// A hold captured (money moves, the hold is released).
    HoldCaptured(Id),
    /// A hold voided or expired (held falls).
    HoldReleased(Id),
    /// A POS settlement.
    PosSettlement(Id),
    /// A POS settlement reversed (refunded).
    PosReversal(Id),
    /// A bill charge.
    BillCharge(Id),
    /// A split share paid into escrow.
    SplitShare(Id),
    /// A completed split's escrow paid to the requester.
    SplitPayout(Id),
    /// A share refunded from a cancelled or expired split.
    SplitRefund(Id),
    /// Part of a POS settlement refunded (`RefundPos`; the settlement's id).
    PosRefund(Id),
    /// Part of a paid bill refunded (`RefundBill`; the bill's id).
    BillRefund(Id),
}

/// One balance change of one account, from which history is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    /// The account.
    pub account: Id,
    /// Change of the posted balance.
    pub posted_delta: i64,
    /// Change of the held amount.
    pub held_delta: i64,
    /// Posted balance after the change.
    pub posted_after: i64,
    /// Held amount after the change.
    pub held_after: u64,
    /// Why it changed.
    pub cause: PostingCause,
}

/// Something that happened. Every applied command yields at least one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// An account balance changed.
    Posting(Posting),
    /// An object changed state without moving money (opened, registered, shared, ...).
    Changed {
        /// What kind of object.
        object: ObjectKind,
        /// Its id.
        id: Id,
        /// What happened.
        change: Change,
    },
    /// A wrong secure code or challenge was presented (kept for fraud monitoring).
    CodeRejected {
        /// The user or bill the attempt was against.
        subject: Id,
    },
    /// Metadata attached to an object as the command that created it applied
    /// ([`crate::metadata`]).
    Annotated {
        /// The object's kind.
        kind: MetadataKind,
        /// The object's id.
        id: Id,
        /// A transfer's payer account (whoever may read it sees the transfer's metadata in the
        /// event feed); `None` for the other kinds, which have reads of their own.
        payer: Option<Id>,
        /// The metadata.
        metadata: Metadata,
    },
}

/// The kinds of objects the engine keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// An account.
    Account,
    /// A hold.
    Hold,
    /// A merchant.
    Merchant,
    /// A POS terminal.
    Terminal,
    /// A merchant operator.
    Operator,
    /// A secure-code authorization.
    Authorization,
    /// A virtual bill.
    Bill,
    /// A group-payment split.
    Split,
    /// A user (contacts, pools).
    User,
    /// A coupon.
    Coupon,
    /// An API key.
    ApiKey,
}

impl ObjectKind {
    /// Every kind.
    pub const ALL: [ObjectKind; 11] = [
        ObjectKind::Account,
        ObjectKind::Hold,
        ObjectKind::Merchant,
        ObjectKind::Terminal,
        ObjectKind::Operator,
        ObjectKind::Authorization,
        ObjectKind::Bill,
        ObjectKind::Split,
        ObjectKind::User,
        ObjectKind::Coupon,
        ObjectKind::ApiKey,
    ];
}

/// State changes that move no money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Created or registered.
    Opened,
    /// Closed.
    Closed,
    /// Expired by time.
    Expired,
    /// Cancelled by its owner.
    Cancelled,
    /// An item was added.
    ItemAdded,
    /// Submitted for verification.
    Submitted,
    /// Completed (split fully paid, bill paid).
    Completed,
    /// Used (secure code, coupon).
    Used,
    /// Shared into a pool.
    Shared,
    /// Claimed from a pool.
    Claimed,
    /// A contact was added.
    ContactAdded,
    /// Locked after too many wrong codes.
    Locked,
    /// A contact was asked for; it is added when the other side's app consents.
    ContactRequested,
    /// A settlement or bill was refunded, in part or whole.
    Refunded,
}
