//! Commands (what callers ask for) and who sends them ([`Principal`], [`Submission`]).
//!
//! Commands are imperative nouns. Every command yields exactly one [`Outcome`]: either `Applied`
//! with a typed [`Reply`], or `Rejected` with a specific [`Rejection`]. Rejections are values, not
//! errors: a rejected command changes nothing (except the documented brute-force counters).
//! Outcomes and events live in [`crate::outcome`] and are re-exported here, so `command::Outcome`
//! and `outcome::Outcome` are one type: the engine's whole vocabulary is reachable from one path.

use serde::{Deserialize, Serialize};

use crate::metadata::Metadata;
pub use crate::outcome::*;
pub use coupons::*;

mod coupons;
use crate::types::{Currency, GeoPoint, Id, TimestampMs};

/// One request to the state machine. Amounts are integer minor units of the named currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Opens an account.
    OpenAccount(OpenAccount),
    /// Closes an account whose balance and holds are zero and to which no open split owes a
    /// paid share back.
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
    /// Where the terminal stands, if known: its sales that name no location are priced there.
    pub location: Option<GeoPoint>,
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
