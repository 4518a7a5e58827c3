//! The HTTP request that carries each engine command (`POST /v1/...` with its JSON body).

use kassa_engine::command::{Command, DeductionKind, DeductionRule, Refund, SplitShares};
use serde_json::{Value, json};

use crate::channel::Failure;

/// An HTTP request that carries one engine command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `POST` or `GET`.
    pub method: &'static str,
    /// The path, ids included.
    pub path: String,
    /// The JSON body.
    pub body: Option<String>,
    /// Sent with the merchant operator's key instead of the admin key.
    pub as_operator: bool,
}

fn post(path: String, body: Value) -> HttpRequest {
    HttpRequest { method: "POST", path, body: Some(body.to_string()), as_operator: false }
}

fn post_empty(path: String) -> HttpRequest {
    HttpRequest { method: "POST", path, body: None, as_operator: false }
}

/// A partial refund of the object of `collection` the refund names (a settlement or a bill).
fn refund_post(collection: &str, refund: &Refund) -> HttpRequest {
    post(format!("{collection}/{}/refunds", refund.of), json!({"id": refund.refund.as_str(), "amount": refund.amount}))
}

/// Whole seconds from `now_ms` until `at_ms`, rounded up, at least 1 (the API takes durations).
pub fn seconds_until(at_ms: u64, now_ms: u64) -> u64 {
    at_ms.saturating_sub(now_ms).div_ceil(1_000).max(1)
}

fn rule_json(rule: &DeductionRule) -> Result<Value, Failure> {
    match &rule.kind {
        DeductionKind::FixedOff { amount } => {
            Ok(json!({"type": "fixed_off", "amount": amount, "min_spend": rule.min_spend}))
        }
        DeductionKind::SpendSave { threshold, save } => {
            Ok(json!({"type": "spend_save", "threshold": threshold, "save": save, "min_spend": rule.min_spend}))
        }
        // The load generator issues only integer rules; a percentage would need a decimal.
        DeductionKind::PercentOff { .. } => Err(Failure::new("unsupported_by_loadgen")),
    }
}

/// The request for a command, or `unsupported_over_http` for commands the API does not take.
pub fn request_for(command: &Command, now_ms: u64) -> Result<HttpRequest, Failure> {
    match command {
        Command::OpenAccount(_)
        | Command::CloseAccount { .. }
        | Command::Deposit(_)
        | Command::Withdraw(_)
        | Command::Transfer(_)
        | Command::PlaceHold(_)
        | Command::CaptureHold(_)
        | Command::VoidHold { .. } => money_request(command, now_ms),
        Command::RegisterMerchant(_)
        | Command::RegisterTerminal(_)
        | Command::RegisterOperator(_)
        | Command::Authorize(_)
        | Command::SettlePos(_)
        | Command::ReversePos { .. }
        | Command::RevokeAuthorization { .. }
        | Command::RefundPos(_) => pos_request(command, now_ms),
        Command::OpenBill(_)
        | Command::AddBillItem(_)
        | Command::SubmitBill(_)
        | Command::ConfirmBill(_)
        | Command::CancelBill { .. }
        | Command::RefundBill(_) => bill_request(command, now_ms),
        Command::RequestSplit(_)
        | Command::PaySplitShare(_)
        | Command::CancelSplit { .. }
        | Command::RefundSplit { .. }
        | Command::AddContact(_) => split_request(command, now_ms),
        Command::IssueCoupon(_) | Command::ShareCoupon(_) | Command::ClaimCoupon(_) | Command::RedeemCoupon(_) => {
            coupon_request(command, now_ms)
        }
        Command::TransferBatch(_) | Command::RegisterApiKey(_) | Command::RevokeApiKey { .. } | Command::Tick => {
            Err(Failure::new("unsupported_over_http"))
        }
    }
}

/// Accounts, deposits, withdrawals, transfers and holds.
fn money_request(command: &Command, now_ms: u64) -> Result<HttpRequest, Failure> {
    let request = match command {
        Command::OpenAccount(open) => post(
            "/v1/accounts".into(),
            json!({"id": open.account.as_str(), "currency": open.currency.alpha(), "overdraft_limit": open.overdraft_limit}),
        ),
        Command::CloseAccount { account } => post_empty(format!("/v1/accounts/{account}/close")),
        Command::Deposit(movement) => post(
            format!("/v1/accounts/{}/deposits", movement.account),
            json!({"id": movement.id.as_str(), "amount": movement.amount}),
        ),
        Command::Withdraw(movement) => post(
            format!("/v1/accounts/{}/withdrawals", movement.account),
            json!({"id": movement.id.as_str(), "amount": movement.amount}),
        ),
        Command::Transfer(transfer) => post(
            "/v1/transfers".into(),
            json!({"id": transfer.id.as_str(), "from": transfer.from.as_str(), "to": transfer.to.as_str(),
                   "amount": transfer.amount, "currency": transfer.currency.alpha()}),
        ),
        Command::PlaceHold(hold) => post(
            "/v1/holds".into(),
            json!({"id": hold.id.as_str(), "from": hold.from.as_str(), "to": hold.to.as_str(), "amount": hold.amount,
                   "currency": hold.currency.alpha(), "expires_in_s": seconds_until(hold.expires_at_ms, now_ms)}),
        ),
        Command::CaptureHold(capture) => {
            post(format!("/v1/holds/{}/capture", capture.hold), json!({"amount": capture.amount}))
        }
        Command::VoidHold { hold } => post_empty(format!("/v1/holds/{hold}/void")),
        _ => unreachable!("request_for sends only its own commands here"),
    };
    Ok(request)
}

/// Merchants, terminals, operators, authorizations and POS sales.
fn pos_request(command: &Command, now_ms: u64) -> Result<HttpRequest, Failure> {
    let request = match command {
        Command::RegisterMerchant(merchant) => post(
            "/v1/merchants".into(),
            json!({"id": merchant.merchant.as_str(), "account": merchant.account.as_str()}),
        ),
        Command::RegisterTerminal(terminal) => {
            let mut body = json!({"id": terminal.terminal.as_str(), "merchant": terminal.merchant.as_str()});
            if let Some(key) = &terminal.mac_key {
                body["mac_key"] = json!(key.iter().map(|byte| format!("{byte:02x}")).collect::<String>());
            }
            post("/v1/terminals".into(), body)
        }
        Command::RegisterOperator(operator) => post(
            "/v1/operators".into(),
            json!({"id": operator.operator.as_str(), "merchant": operator.merchant.as_str()}),
        ),
        Command::Authorize(authorize) => post(
            "/v1/authorizations".into(),
            json!({"id": authorize.id.as_str(), "user": authorize.user.as_str(), "account": authorize.account.as_str(),
                   "limit": authorize.limit, "expires_in_s": seconds_until(authorize.expires_at_ms, now_ms)}),
        ),
        Command::SettlePos(settle) => {
            if settle.hold_until_ms.is_some() {
                // Authorization holds are an ISO 8583 0100 only.
                return Err(Failure::new("unsupported_over_http"));
            }
            let mut body = json!({"id": settle.id.as_str(), "user": settle.user.as_str(), "code": settle.code,
                                  "amount": settle.amount, "terminal": settle.terminal.as_str(),
                                  "currency": settle.currency.alpha()});
            if let Some(coupon) = &settle.coupon {
                body["coupon"] = json!(coupon.as_str());
            }
            post("/v1/pos/settlements".into(), body)
        }
        Command::ReversePos { settlement } => post_empty(format!("/v1/pos/settlements/{settlement}/reverse")),
        Command::RevokeAuthorization { authorization } => {
            post_empty(format!("/v1/authorizations/{authorization}/revoke"))
        }
        Command::RefundPos(refund) => refund_post("/v1/pos/settlements", refund),
        _ => unreachable!("request_for sends only its own commands here"),
    };
    Ok(request)
}

/// Bills and their refunds.
fn bill_request(command: &Command, now_ms: u64) -> Result<HttpRequest, Failure> {
    let request = match command {
        Command::OpenBill(open) => post(
            "/v1/bills".into(),
            json!({"id": open.bill.as_str(), "user": open.user.as_str(), "account": open.account.as_str(),
                   "merchant": open.merchant.as_str(),
                   "opens_in_s": open.opens_at_ms.saturating_sub(now_ms) / 1_000,
                   "expires_in_s": seconds_until(open.closes_at_ms, now_ms)}),
        ),
        Command::AddBillItem(item) => post(
            format!("/v1/bills/{}/items", item.bill),
            json!({"terminal": item.terminal.as_str(), "item_ref": item.item_ref, "quantity": item.quantity,
                   "unit_amount": item.unit_amount}),
        ),
        Command::SubmitBill(submit) => post_empty(format!("/v1/bills/{}/submit", submit.bill)),
        Command::ConfirmBill(confirm) => {
            let mut body = json!({"challenge": confirm.challenge});
            if let Some(coupon) = &confirm.coupon {
                body["coupon"] = json!(coupon.as_str());
            }
            post(format!("/v1/bills/{}/confirm", confirm.bill), body)
        }
        Command::CancelBill { bill } => post_empty(format!("/v1/bills/{bill}/cancel")),
        Command::RefundBill(refund) => refund_post("/v1/bills", refund),
        _ => unreachable!("request_for sends only its own commands here"),
    };
    Ok(request)
}

/// Splits and contacts.
fn split_request(command: &Command, now_ms: u64) -> Result<HttpRequest, Failure> {
    let request = match command {
        Command::RequestSplit(request) => {
            let members: Vec<Value> = request
                .members
                .iter()
                .map(|member| json!({"user": member.user.as_str(), "account": member.account.as_str()}))
                .collect();
            let mut body = json!({"id": request.split.as_str(), "requester": request.requester.as_str(),
                                  "requester_account": request.requester_account.as_str(), "total": request.total,
                                  "currency": request.currency.alpha(), "members": members,
                                  "expires_in_s": seconds_until(request.expires_at_ms, now_ms)});
            if let SplitShares::Explicit(shares) = &request.shares {
                body["shares"] = json!(shares);
            }
            post("/v1/splits".into(), body)
        }
        Command::PaySplitShare(pay) => {
            post(format!("/v1/splits/{}/pay", pay.split), json!({"member": pay.member.as_str()}))
        }
        Command::CancelSplit { split } => post_empty(format!("/v1/splits/{split}/cancel")),
        Command::AddContact(add) => {
            post("/v1/contacts".into(), json!({"user": add.user.as_str(), "contact": add.contact.as_str()}))
        }
        Command::RefundSplit { split } => post_empty(format!("/v1/splits/{split}/refund")),
        _ => unreachable!("request_for sends only its own commands here"),
    };
    Ok(request)
}

/// Coupons.
fn coupon_request(command: &Command, now_ms: u64) -> Result<HttpRequest, Failure> {
    let request = match command {
        Command::IssueCoupon(issue) => {
            if !issue.adjustments.is_empty() {
                return Err(Failure::new("unsupported_by_loadgen"));
            }
            let mut body = json!({"id": issue.coupon.as_str(), "merchant": issue.merchant.as_str(),
                                  "holder": issue.holder.as_str(), "currency": issue.currency.alpha(),
                                  "rule": rule_json(&issue.rule)?,
                                  "starts_in_s": issue.valid_from_ms.saturating_sub(now_ms) / 1_000,
                                  "expires_in_s": seconds_until(issue.valid_until_ms, now_ms)});
            if let Some(reward) = &issue.reward {
                body["reward"] = rule_json(reward)?;
            }
            post("/v1/coupons".into(), body)
        }
        Command::ShareCoupon(share) => {
            post(format!("/v1/coupons/{}/share", share.coupon), json!({"user": share.user.as_str()}))
        }
        Command::ClaimCoupon(claim) => {
            post(format!("/v1/coupons/{}/claim", claim.coupon), json!({"user": claim.claimer.as_str()}))
        }
        Command::RedeemCoupon(redeem) => {
            if redeem.location.is_some() {
                return Err(Failure::new("unsupported_by_loadgen"));
            }
            // The operator is the key's: the request carries no operator field.
            HttpRequest {
                as_operator: true,
                ..post(
                    "/v1/coupons/redeem".into(),
                    json!({"id": redeem.id.as_str(), "code": redeem.code, "amount": redeem.amount}),
                )
            }
        }
        _ => unreachable!("request_for sends only its own commands here"),
    };
    Ok(request)
}
