//! The JSON views of the engine's objects, as the replies show them.

use kassa_engine::command::PostingCause;
use kassa_engine::runtime::CouponWithCode;
use kassa_engine::state_machine::{
    Account, Authorization, AuthorizationState, Bill, BillState, Coupon, CouponState, Hold, HoldState, RefundEntry,
    SettlementSummary, Split, SplitState,
};
use kassa_engine::{Id, Outcome, Reply, StateMachine};
use serde_json::{Value, json};

pub(super) fn account_json(account_id: &Id, account: &Account) -> Value {
    json!({
        "id": account_id.as_str(),
        "currency": account.currency.alpha(),
        "balance": account.posted,
        "held": account.held,
        "available": account.available(),
        "overdraft_limit": account.overdraft_limit,
        "status": if account.closed { "closed" } else { "open" },
    })
}

pub(super) fn hold_json(hold_id: &Id, hold: &Hold) -> Value {
    let (status, captured) = match hold.state {
        HoldState::Active => ("active", None),
        HoldState::Captured(amount) => ("captured", Some(amount)),
        HoldState::Voided => ("voided", None),
        HoldState::Expired => ("expired", None),
    };
    json!({
        "id": hold_id.as_str(), "from": hold.from.as_str(), "to": hold.to.as_str(), "amount": hold.amount,
        "currency": hold.currency.alpha(), "status": status, "captured": captured,
        "expires_at": hold.expires_at_ms / 1_000, "expires_at_ms": hold.expires_at_ms,
    })
}

pub(super) fn bill_json(bill_id: &Id, bill: &Bill) -> Value {
    let status = match bill.state {
        BillState::Open => "open",
        BillState::Submitted { .. } => "submitted",
        BillState::Paid { .. } => "paid",
        BillState::Cancelled => "cancelled",
        BillState::Expired => "expired",
    };
    let (charged, discount) = match bill.state {
        BillState::Paid { charged, discount } => (Some(charged), Some(discount)),
        _ => (None, None),
    };
    let items: Vec<Value> = bill
        .items
        .iter()
        .map(|item| json!({"terminal": item.terminal.as_str(), "item_ref": item.item_ref, "quantity": item.quantity, "unit_amount": item.unit_amount}))
        .collect();
    json!({
        "id": bill_id.as_str(), "user": bill.user.as_str(), "account": bill.account.as_str(),
        "merchant": bill.merchant.as_str(), "currency": bill.currency.alpha(), "status": status,
        "total": bill.total, "charged": charged, "discount": discount, "items": items,
        "opens_at_ms": bill.opens_at_ms, "closes_at_ms": bill.closes_at_ms,
        "refunded": refunded(&bill.refunds), "refunds": refunds_json(&bill.refunds),
    })
}

/// The sum of a settlement's or bill's refunds.
fn refunded(refunds: &[RefundEntry]) -> u64 {
    refunds.iter().map(|entry| entry.amount).sum()
}

/// Refunds as `[{"id", "amount"}]`, in the order given.
fn refunds_json(refunds: &[RefundEntry]) -> Value {
    refunds.iter().map(|entry| json!({"id": entry.refund.as_str(), "amount": entry.amount})).collect()
}

pub(super) fn split_json(split_id: &Id, split: &Split) -> Value {
    let status = match split.state {
        SplitState::Open => "open",
        SplitState::Completed => "completed",
        SplitState::Cancelled => "cancelled",
        SplitState::Expired => "expired",
        SplitState::Refunded => "refunded",
    };
    let members: Vec<Value> = split
        .members
        .iter()
        .zip(&split.shares)
        .zip(&split.paid)
        .map(|((member, share), paid)| json!({"user": member.user.as_str(), "account": member.account.as_str(), "share": share, "paid": paid}))
        .collect();
    json!({
        "id": split_id.as_str(), "requester": split.requester.as_str(), "requester_account": split.requester_account.as_str(),
        "currency": split.currency.alpha(), "total": split.total, "collected": split.escrow, "status": status,
        "members": members, "expires_at": split.expires_at_ms / 1_000, "expires_at_ms": split.expires_at_ms,
    })
}

pub(super) fn coupon_json(coupon_id: &Id, coupon: &Coupon, code: Option<String>) -> Value {
    let status = match coupon.state {
        CouponState::Available => "available",
        CouponState::Shared => "shared",
        CouponState::Redeemed => "redeemed",
    };
    json!({
        "id": coupon_id.as_str(), "merchant": coupon.merchant.as_str(), "holder": coupon.holder.as_str(),
        "currency": coupon.currency.alpha(), "status": status, "shared_by": coupon.shared_by.as_ref().map(Id::as_str),
        "valid_from_ms": coupon.valid_from_ms, "valid_until_ms": coupon.valid_until_ms, "code": code,
    })
}

pub(super) fn cause_json(cause: &PostingCause) -> (&'static str, &str) {
    match cause {
        PostingCause::Deposit(id) => ("deposit", id.as_str()),
        PostingCause::Withdrawal(id) => ("withdrawal", id.as_str()),
        PostingCause::Transfer(id) => ("transfer", id.as_str()),
        PostingCause::HoldPlaced(id) => ("hold_placed", id.as_str()),
        PostingCause::HoldCaptured(id) => ("hold_captured", id.as_str()),
        PostingCause::HoldReleased(id) => ("hold_released", id.as_str()),
        PostingCause::PosSettlement(id) => ("pos_settlement", id.as_str()),
        PostingCause::PosReversal(id) => ("pos_reversal", id.as_str()),
        PostingCause::BillCharge(id) => ("bill_charge", id.as_str()),
        PostingCause::SplitShare(id) => ("split_share", id.as_str()),
        PostingCause::SplitPayout(id) => ("split_payout", id.as_str()),
        PostingCause::SplitRefund(id) => ("split_refund", id.as_str()),
        PostingCause::PosRefund(id) => ("pos_refund", id.as_str()),
        PostingCause::BillRefund(id) => ("bill_refund", id.as_str()),
    }
}

/// An account's view, if it exists.
pub(super) fn account(machine: &StateMachine, id: &Id) -> Option<Value> {
    machine.account(id).map(|account| account_json(id, account))
}

/// An authorization's view (never its code, which is not kept), if it exists in memory.
pub(super) fn authorization(machine: &StateMachine, id: &Id) -> Option<Value> {
    machine.authorization(id).map(|authorization| authorization_json(id, authorization))
}

/// An authorization's view (never its code, which is not kept).
pub(super) fn authorization_json(id: &Id, authorization: &Authorization) -> Value {
    let (status, settlement) = match &authorization.state {
        AuthorizationState::Active => ("active", None),
        AuthorizationState::Used(settlement) => ("used", Some(settlement.as_str())),
        AuthorizationState::Expired => ("expired", None),
        AuthorizationState::Revoked => ("revoked", None),
    };
    json!({
        "id": id.as_str(), "user": authorization.user.as_str(), "account": authorization.account.as_str(),
        "limit": authorization.limit, "currency": authorization.currency.alpha(), "status": status,
        "settlement": settlement, "expires_at": authorization.expires_at_ms / 1_000,
        "expires_at_ms": authorization.expires_at_ms,
    })
}

/// A POS settlement's view, as the settlement answered it.
pub(super) fn settlement_json(id: &Id, summary: SettlementSummary) -> Value {
    let mut view = json!({
        "id": id.as_str(), "user": summary.user.as_str(), "terminal": summary.terminal.as_str(),
        "amount": summary.amount, "currency": summary.currency.alpha(), "reversed": summary.reversed,
        "refunded": refunded(&summary.refunds), "refunds": refunds_json(&summary.refunds),
    });
    let answer = match summary.outcome {
        Outcome::Applied(Reply::Settled { approval_code, charged, discount }) => {
            json!({"approved": true, "approval_code": approval_code, "charged": charged, "discount": discount})
        }
        Outcome::Applied(_) => json!({"approved": true}),
        Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => {
            json!({"approved": false, "approval_code": null, "decline_code": rejection.code()})
        }
    };
    for (key, value) in answer.as_object().into_iter().flatten() {
        view[key] = value.clone();
    }
    view
}

/// A hold's view, if it exists.
pub(super) fn hold(machine: &StateMachine, id: &Id) -> Option<Value> {
    machine.hold(id).map(|hold| hold_json(id, hold))
}

/// A bill's view, if it exists.
pub(super) fn bill(machine: &StateMachine, id: &Id) -> Option<Value> {
    machine.bill(id).map(|bill| bill_json(id, bill))
}

/// A split's view, if it exists.
pub(super) fn split(machine: &StateMachine, id: &Id) -> Option<Value> {
    machine.split(id).map(|split| split_json(id, split))
}

/// A coupon's view with its current code, as the engine's lookups answer it (from memory or
/// storage).
pub(super) fn coupon_with_code(coupon_id: &Id, found: &CouponWithCode) -> Value {
    coupon_json(coupon_id, &found.coupon, Some(found.code.clone()))
}

/// A coupon's view with its current code, if it exists.
pub(super) fn coupon(machine: &StateMachine, id: &Id) -> Option<Value> {
    machine.coupon(id).map(|coupon| coupon_json(id, coupon, machine.coupon_code(id)))
}
