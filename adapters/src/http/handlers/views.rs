//! The views of the engine's objects, as the replies show them: each a type that serializes to
//! the JSON sent and describes itself in the OpenAPI document.

use kassa_engine::metadata::Metadata;
use kassa_engine::runtime::CouponWithCode;
use kassa_engine::state_machine::{
    Account, Authorization, AuthorizationState, Bill, BillItem, BillState, Coupon, CouponState, Hold, HoldState,
    RefundEntry, SettlementSummary, Split, SplitState,
};
use kassa_engine::{Id, Outcome, Reply, StateMachine};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::schemas;

/// An object a lookup answers with the metadata attached to it as it was created.
pub(super) trait WithMetadata {
    /// The view, with `metadata`.
    fn with_metadata(self, metadata: Metadata) -> Self;
}

/// Whether an account is open.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum AccountStatus {
    Open,
    Closed,
}

/// An account's balances.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Account)]
pub(super) struct AccountView {
    #[schema(schema_with = schemas::id)]
    id: Id,
    #[schema(schema_with = schemas::currency)]
    currency: &'static str,
    /// Posted balance, minor units.
    balance: i64,
    /// Held by active holds.
    held: u64,
    /// balance - held - funds reserved for linked batches on other partitions (≥ -overdraft_limit).
    available: i64,
    /// How far below zero the available balance may go.
    overdraft_limit: u64,
    status: AccountStatus,
}

pub(super) fn account_view(account_id: &Id, account: &Account) -> AccountView {
    AccountView {
        id: account_id.clone(),
        currency: account.currency.alpha(),
        balance: account.posted,
        held: account.held,
        available: account.available(),
        overdraft_limit: account.overdraft_limit,
        status: if account.closed { AccountStatus::Closed } else { AccountStatus::Open },
    }
}

/// A hold's state.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum HoldStatus {
    Active,
    Captured,
    /// Captured, and its payee (on another partition) not yet credited: becomes `captured`,
    /// or `active` again if the payee refuses the money.
    Capturing,
    Voided,
    Expired,
}

/// A hold.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Hold)]
pub(super) struct HoldView {
    #[schema(schema_with = schemas::id)]
    id: Id,
    #[schema(schema_with = schemas::id)]
    from: Id,
    #[schema(schema_with = schemas::id)]
    to: Id,
    #[schema(schema_with = schemas::amount)]
    amount: u64,
    #[schema(schema_with = schemas::currency)]
    currency: &'static str,
    status: HoldStatus,
    /// What a capture took (captured holds only).
    captured: Option<u64>,
    #[schema(schema_with = schemas::expires_at)]
    expires_at: u64,
    #[schema(schema_with = schemas::expires_at_ms)]
    expires_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schemas::stored_metadata)]
    metadata: Option<Metadata>,
}

impl WithMetadata for HoldView {
    fn with_metadata(self, metadata: Metadata) -> Self {
        HoldView { metadata: Some(metadata), ..self }
    }
}

pub(super) fn hold_view(hold_id: &Id, hold: &Hold) -> HoldView {
    let (status, captured) = match hold.state {
        HoldState::Active => (HoldStatus::Active, None),
        HoldState::Captured(amount) => (HoldStatus::Captured, Some(amount)),
        HoldState::Capturing(amount) => (HoldStatus::Capturing, Some(amount)),
        HoldState::Voided => (HoldStatus::Voided, None),
        HoldState::Expired => (HoldStatus::Expired, None),
    };
    HoldView {
        id: hold_id.clone(),
        from: hold.from.clone(),
        to: hold.to.clone(),
        amount: hold.amount,
        currency: hold.currency.alpha(),
        status,
        captured,
        expires_at: hold.expires_at_ms / 1_000,
        expires_at_ms: hold.expires_at_ms,
        metadata: None,
    }
}

/// A bill's state.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum BillStatus {
    Open,
    Submitted,
    Paid,
    Cancelled,
    Expired,
}

/// An item of a bill.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BillItemView {
    #[schema(schema_with = schemas::id)]
    terminal: Id,
    #[schema(schema_with = schemas::item_ref)]
    item_ref: String,
    #[schema(schema_with = schemas::quantity)]
    quantity: u32,
    #[schema(schema_with = schemas::amount)]
    unit_amount: u64,
}

impl From<&BillItem> for BillItemView {
    fn from(item: &BillItem) -> BillItemView {
        let BillItem { terminal, item_ref, quantity, unit_amount } = item;
        BillItemView {
            terminal: terminal.clone(),
            item_ref: item_ref.clone(),
            quantity: *quantity,
            unit_amount: *unit_amount,
        }
    }
}

/// One refund of a settlement or a bill.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RefundLine)]
pub(super) struct RefundLineView {
    #[schema(schema_with = schemas::id)]
    id: Id,
    #[schema(schema_with = schemas::amount)]
    amount: u64,
}

/// The sum of a settlement's or bill's refunds.
fn refunded(refunds: &[RefundEntry]) -> u64 {
    refunds.iter().map(|entry| entry.amount).sum()
}

/// Refunds in the order given.
fn refund_lines(refunds: &[RefundEntry]) -> Vec<RefundLineView> {
    refunds.iter().map(|entry| RefundLineView { id: entry.refund.clone(), amount: entry.amount }).collect()
}

/// A virtual bill.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Bill)]
pub(super) struct BillView {
    #[schema(schema_with = schemas::id)]
    id: Id,
    /// The user who verifies and pays.
    #[schema(schema_with = schemas::id)]
    pub(super) user: Id,
    #[schema(schema_with = schemas::id)]
    account: Id,
    #[schema(schema_with = schemas::id)]
    merchant: Id,
    #[schema(schema_with = schemas::currency)]
    currency: &'static str,
    status: BillStatus,
    /// The items' total, minor units.
    pub(super) total: u64,
    /// What the account was charged (paid bills only).
    charged: Option<u64>,
    /// What a coupon took off (paid bills only).
    discount: Option<u64>,
    items: Vec<BillItemView>,
    /// When the effective window opens, Unix time in milliseconds.
    opens_at_ms: u64,
    /// When the window closes, Unix time in milliseconds.
    closes_at_ms: u64,
    /// The refunds' sum.
    refunded: u64,
    refunds: Vec<RefundLineView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schemas::stored_metadata)]
    metadata: Option<Metadata>,
}

impl WithMetadata for BillView {
    fn with_metadata(self, metadata: Metadata) -> Self {
        BillView { metadata: Some(metadata), ..self }
    }
}

pub(super) fn bill_view(bill_id: &Id, bill: &Bill) -> BillView {
    let status = match bill.state {
        BillState::Open => BillStatus::Open,
        BillState::Submitted { .. } => BillStatus::Submitted,
        BillState::Paid { .. } => BillStatus::Paid,
        BillState::Cancelled => BillStatus::Cancelled,
        BillState::Expired => BillStatus::Expired,
    };
    let (charged, discount) = match bill.state {
        BillState::Paid { charged, discount } => (Some(charged), Some(discount)),
        _ => (None, None),
    };
    BillView {
        id: bill_id.clone(),
        user: bill.user.clone(),
        account: bill.account.clone(),
        merchant: bill.merchant.clone(),
        currency: bill.currency.alpha(),
        status,
        total: bill.total,
        charged,
        discount,
        items: bill.items.iter().map(BillItemView::from).collect(),
        opens_at_ms: bill.opens_at_ms,
        closes_at_ms: bill.closes_at_ms,
        refunded: refunded(&bill.refunds),
        refunds: refund_lines(&bill.refunds),
        metadata: None,
    }
}

/// A split's state.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum SplitStatus {
    Open,
    Completed,
    Cancelled,
    Expired,
    Refunded,
}

/// A member of a split and their share.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SplitMemberView {
    #[schema(schema_with = schemas::id)]
    user: Id,
    #[schema(schema_with = schemas::id)]
    account: Id,
    /// Minor units.
    share: u64,
    paid: bool,
}

/// A payment request to a group.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Split)]
pub(super) struct SplitView {
    #[schema(schema_with = schemas::id)]
    id: Id,
    #[schema(schema_with = schemas::id)]
    requester: Id,
    #[schema(schema_with = schemas::id)]
    requester_account: Id,
    #[schema(schema_with = schemas::currency)]
    currency: &'static str,
    /// Minor units.
    total: u64,
    /// Paid in so far, minor units.
    collected: u64,
    status: SplitStatus,
    members: Vec<SplitMemberView>,
    #[schema(schema_with = schemas::expires_at)]
    expires_at: u64,
    #[schema(schema_with = schemas::expires_at_ms)]
    expires_at_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schemas::stored_metadata)]
    metadata: Option<Metadata>,
}

impl WithMetadata for SplitView {
    fn with_metadata(self, metadata: Metadata) -> Self {
        SplitView { metadata: Some(metadata), ..self }
    }
}

pub(super) fn split_view(split_id: &Id, split: &Split) -> SplitView {
    let status = match split.state {
        SplitState::Open => SplitStatus::Open,
        SplitState::Completed => SplitStatus::Completed,
        SplitState::Cancelled => SplitStatus::Cancelled,
        SplitState::Expired => SplitStatus::Expired,
        SplitState::Refunded => SplitStatus::Refunded,
    };
    let members = split.members.iter().zip(&split.shares).zip(&split.paid);
    SplitView {
        id: split_id.clone(),
        requester: split.requester.clone(),
        requester_account: split.requester_account.clone(),
        currency: split.currency.alpha(),
        total: split.total,
        collected: split.escrow,
        status,
        members: members
            .map(|((member, share), paid)| SplitMemberView {
                user: member.user.clone(),
                account: member.account.clone(),
                share: *share,
                paid: *paid,
            })
            .collect(),
        expires_at: split.expires_at_ms / 1_000,
        expires_at_ms: split.expires_at_ms,
        metadata: None,
    }
}

/// A coupon's state.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum CouponStatus {
    Available,
    Shared,
    Redeemed,
}

/// A coupon.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Coupon)]
pub(super) struct CouponView {
    #[schema(schema_with = schemas::id)]
    id: Id,
    #[schema(schema_with = schemas::id)]
    merchant: Id,
    #[schema(schema_with = schemas::id)]
    holder: Id,
    #[schema(schema_with = schemas::currency)]
    currency: &'static str,
    status: CouponStatus,
    /// The user who shared it into their pool (a claimed coupon).
    #[schema(schema_with = schemas::nullable_id)]
    shared_by: Option<Id>,
    /// Valid from, Unix time in milliseconds.
    valid_from_ms: u64,
    /// Valid until, Unix time in milliseconds.
    valid_until_ms: u64,
    /// The code that redeems it: to its holder's app (and the admin) only (`read_coupon_code`);
    /// also to the merchant in the answer that issues it, which hands the first code over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) code: Option<String>,
}

pub(super) fn coupon_view(coupon_id: &Id, coupon: &Coupon, code: Option<String>) -> CouponView {
    let status = match coupon.state {
        CouponState::Available => CouponStatus::Available,
        CouponState::Shared => CouponStatus::Shared,
        CouponState::Redeemed => CouponStatus::Redeemed,
    };
    CouponView {
        id: coupon_id.clone(),
        merchant: coupon.merchant.clone(),
        holder: coupon.holder.clone(),
        currency: coupon.currency.alpha(),
        status,
        shared_by: coupon.shared_by.clone(),
        valid_from_ms: coupon.valid_from_ms,
        valid_until_ms: coupon.valid_until_ms,
        code,
    }
}

/// An account's view, if it exists.
pub(super) fn account(machine: &StateMachine, id: &Id) -> Option<AccountView> {
    machine.account(id).map(|account| account_view(id, account))
}

/// An authorization's view (never its code, which is not kept), if it exists in memory.
pub(super) fn authorization(machine: &StateMachine, id: &Id) -> Option<AuthorizationView> {
    machine.authorization(id).map(|authorization| authorization_view(id, authorization))
}

/// A hold's view, if it exists.
pub(super) fn hold(machine: &StateMachine, id: &Id) -> Option<HoldView> {
    machine.hold(id).map(|hold| hold_view(id, hold))
}

/// A bill's view, if it exists.
pub(super) fn bill(machine: &StateMachine, id: &Id) -> Option<BillView> {
    machine.bill(id).map(|bill| bill_view(id, bill))
}

/// A split's view, if it exists.
pub(super) fn split(machine: &StateMachine, id: &Id) -> Option<SplitView> {
    machine.split(id).map(|split| split_view(id, split))
}

/// A coupon's view with its current code, as the engine's lookups answer it (from memory or
/// storage).
pub(super) fn coupon_with_code(coupon_id: &Id, found: &CouponWithCode) -> CouponView {
    coupon_view(coupon_id, &found.coupon, found.code.clone())
}

/// A coupon's view with its current code, if it exists.
pub(super) fn coupon(machine: &StateMachine, id: &Id) -> Option<CouponView> {
    machine.coupon(id).map(|coupon| coupon_view(id, coupon, machine.coupon_code(id)))
}

/// An authorization's state.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = AuthorizationState)]
pub(super) enum AuthorizationStatus {
    Active,
    Used,
    Expired,
    Revoked,
}

/// An authorization's state (never its code).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuthorizationStatus)]
pub(super) struct AuthorizationView {
    #[schema(schema_with = schemas::id)]
    id: Id,
    #[schema(schema_with = schemas::id)]
    user: Id,
    #[schema(schema_with = schemas::id)]
    account: Id,
    #[schema(schema_with = schemas::amount)]
    limit: u64,
    #[schema(schema_with = schemas::currency)]
    currency: &'static str,
    status: AuthorizationStatus,
    /// The settlement that used it.
    #[schema(schema_with = schemas::nullable_id)]
    settlement: Option<Id>,
    #[schema(schema_with = schemas::expires_at)]
    expires_at: u64,
    #[schema(schema_with = schemas::expires_at_ms)]
    expires_at_ms: u64,
}

/// An authorization's view (never its code, which is not kept).
pub(super) fn authorization_view(id: &Id, authorization: &Authorization) -> AuthorizationView {
    let (status, settlement) = match &authorization.state {
        AuthorizationState::Active => (AuthorizationStatus::Active, None),
        AuthorizationState::Used(settlement) => (AuthorizationStatus::Used, Some(settlement.clone())),
        AuthorizationState::Expired => (AuthorizationStatus::Expired, None),
        AuthorizationState::Revoked => (AuthorizationStatus::Revoked, None),
    };
    AuthorizationView {
        id: id.clone(),
        user: authorization.user.clone(),
        account: authorization.account.clone(),
        limit: authorization.limit,
        currency: authorization.currency.alpha(),
        status,
        settlement,
        expires_at: authorization.expires_at_ms / 1_000,
        expires_at_ms: authorization.expires_at_ms,
    }
}

/// A POS settlement as it was answered, and what happened to it since.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SettlementRecord)]
pub(super) struct SettlementView {
    #[schema(schema_with = schemas::id)]
    id: Id,
    #[schema(schema_with = schemas::id)]
    user: Id,
    #[schema(schema_with = schemas::id)]
    terminal: Id,
    /// As asked (a declined sale may have asked an invalid amount).
    #[schema(schema_with = schemas::u64_any)]
    amount: u64,
    #[schema(schema_with = schemas::currency)]
    currency: &'static str,
    reversed: bool,
    /// The refunds' sum.
    refunded: u64,
    refunds: Vec<RefundLineView>,
    approved: bool,
    /// The approval code (approved sales only).
    approval_code: Option<String>,
    /// What the account was charged (approved sales only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    charged: Option<u64>,
    /// What a coupon took off (approved sales only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    discount: Option<u64>,
    /// Why it was declined (declined sales only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = schemas::ErrorCode, required = false)]
    decline_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schemas::stored_metadata)]
    metadata: Option<Metadata>,
}

impl WithMetadata for SettlementView {
    fn with_metadata(self, metadata: Metadata) -> Self {
        SettlementView { metadata: Some(metadata), ..self }
    }
}

/// A POS settlement's view, as the settlement answered it.
pub(super) fn settlement_view(id: &Id, summary: &SettlementSummary) -> SettlementView {
    let mut view = SettlementView {
        id: id.clone(),
        user: summary.user.clone(),
        terminal: summary.terminal.clone(),
        amount: summary.amount,
        currency: summary.currency.alpha(),
        reversed: summary.reversed,
        refunded: refunded(&summary.refunds),
        refunds: refund_lines(&summary.refunds),
        approved: true,
        approval_code: None,
        charged: None,
        discount: None,
        decline_code: None,
        metadata: None,
    };
    match &summary.outcome {
        Outcome::Applied(Reply::Settled { approval_code, charged, discount }) => {
            view.approval_code = Some(approval_code.clone());
            (view.charged, view.discount) = (Some(*charged), Some(*discount));
        }
        Outcome::Applied(_) => {}
        Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => {
            view.approved = false;
            view.decline_code = Some(rejection.code());
        }
    }
    view
}
