//! What comes out of a command: its [`Outcome`] ([`Reply`] or [`Rejection`]) and the [`Event`]s
//! it emits (postings, state changes, metadata), from which history and the event feed are
//! built. Re-exported by [`crate::command`].

use serde::{Deserialize, Serialize};

use crate::metadata::{Metadata, MetadataKind};
use crate::types::{Id, TimestampMs};

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
    /// The command names accounts on different partitions in a way that cannot cross them (a
    /// merchant's account off the home partition: `docs/partitions.md` lists what can).
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
    /// A POS settlement (its reversal and refunds).
    Settlement,
}

impl ObjectKind {
    /// Every kind.
    pub const ALL: [ObjectKind; 12] = [
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
        ObjectKind::Settlement,
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
