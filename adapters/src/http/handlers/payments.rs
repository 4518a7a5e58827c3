//! Merchants, terminals, operators, secure codes, POS settlements and bills.

use actix_web::web;
use kassa_engine::command::{Command, Reply, SettlePos, Submission, SubmitBill};
use kassa_engine::metadata::MetadataKind;
use kassa_engine::runtime::random_nonce;
use kassa_engine::state_machine::SettlementSummary;
use kassa_engine::{Currency, Engine, Id, Outcome, Rejection};
use serde_json::{Value, json};

use super::super::requests::*;
use super::views;
use super::{Answer, Data, Lookup, ObjectView, blocking, get_with_metadata, id, now_ms, ok, submit, submit_and_view};
use crate::auth::Caller;
use crate::http::ApiError;

pub(super) async fn register_merchant(state: Data, caller: Caller, body: web::Json<MerchantBody>) -> Answer {
    submit(&state, &caller, body.command()).await?;
    ok(json!({"id": body.id.as_str(), "account": body.account.as_str()}))
}

pub(super) async fn register_terminal(state: Data, caller: Caller, body: web::Json<TerminalBody>) -> Answer {
    submit(&state, &caller, body.command()?).await?;
    ok(json!({"id": body.id.as_str(), "merchant": body.merchant.as_str(), "mac": body.mac_key.is_some()}))
}

pub(super) async fn register_operator(state: Data, caller: Caller, body: web::Json<OperatorBody>) -> Answer {
    submit(&state, &caller, body.command()).await?;
    ok(json!({"id": body.id.as_str(), "merchant": body.merchant.as_str()}))
}

// ----- secure codes and POS ------------------------------------------------------------------

pub(super) async fn authorize(state: Data, caller: Caller, body: web::Json<AuthorizeBody>) -> Answer {
    // A retry (same id, user, account and limit) gets the first code back from the engine.
    let reply = submit(&state, &caller, body.command(now_ms(), random_nonce())?).await?;
    let Reply::Authorized { code, expires_at_ms } = reply else { unreachable!("authorize answers Authorized") };
    ok(
        json!({"id": body.id.as_str(), "user": body.user.as_str(), "account": body.account.as_str(), "limit": body.limit, "code": code,
               "expires_at": expires_at_ms / 1_000, "expires_at_ms": expires_at_ms}),
    )
}

/// An authorization, for the app that made it (never its code, which is not kept); from
/// storage once it has left memory.
pub(super) async fn get_authorization(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let authorization = id(&path)?;
    let (engine, principal, key) = (state.engine.clone(), caller.principal.clone(), authorization.clone());
    let found = blocking(move || engine.authorization(&principal, &key)).await?;
    let found = found.ok_or_else(|| ApiError::rejected(Rejection::AuthorizationNotFound))?;
    ok(views::authorization_json(&authorization, &found))
}

/// A POS settlement as it was answered, for its terminal and merchant, with its metadata; from
/// storage once it has left memory.
pub(super) async fn get_settlement(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let object = (MetadataKind::Settlement, id(&path)?);
    let found = (Engine::settlement as Lookup<_>, settlement_view as ObjectView<SettlementSummary>);
    get_with_metadata(&state, &caller, object, found, Rejection::SettlementNotFound).await
}

fn settlement_view(id: &Id, summary: &SettlementSummary) -> Value {
    views::settlement_json(id, summary.clone())
}

/// Revokes an authorization's secure code (a lost phone): answered with the authorization,
/// `"status": "revoked"` (or `expired`, which a revocation leaves as it is).
pub(super) async fn revoke_authorization(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let authorization = id(&path)?;
    let command = Command::RevokeAuthorization { authorization: authorization.clone() };
    let (_, view) = submit_and_view(&state, caller.sends(command), views::authorization, authorization).await?;
    ok(view)
}

/// The currency a settlement without one is in: its terminal's merchant account's (a read,
/// only when the body names no currency; an unknown terminal is the engine's to refuse).
async fn default_currency(state: &Data, body: &SettleBody) -> Result<Currency, ApiError> {
    let terminal = body.terminal.clone();
    let found = state
        .engine
        .read(move |machine| {
            let merchant = machine.merchant(&machine.terminal(&terminal)?.merchant)?;
            Some(machine.account(&merchant.account)?.currency)
        })
        .await?;
    Ok(found.unwrap_or(Currency::EUR))
}

pub(super) async fn settle(state: Data, caller: Caller, body: web::Json<SettleBody>) -> Answer {
    let fallback = if body.currency.is_some() { Currency::EUR } else { default_currency(&state, &body).await? };
    let command = body.command(fallback)?;
    let Command::SettlePos(SettlePos { currency, .. }) = command else {
        unreachable!("a settlement body makes SettlePos")
    };
    match state.engine.submit(caller.sends_with(command, metadata(body.metadata.as_ref())?)).await? {
        Outcome::Applied(Reply::Settled { approval_code, charged, discount }) => ok(json!({
            "id": body.id.as_str(), "approved": true, "approval_code": approval_code, "amount": body.amount,
            "charged": charged, "discount": discount, "currency": currency.alpha(),
        })),
        Outcome::Applied(other) => unreachable!("a settlement answers Settled, not {other:?}"),
        // A decline is an answer, not a failure of the request: the POS prints it.
        Outcome::Rejected(rejection) if !matches!(ApiError::rejected(rejection).status.as_u16(), 403 | 404 | 409) => {
            ok(json!({
                "id": body.id.as_str(), "approved": false, "approval_code": null, "decline_code": rejection.code(),
                "message": rejection.code().replace('_', " "),
            }))
        }
        Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => Err(ApiError::rejected(rejection)),
    }
}

pub(super) async fn reverse(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let settlement = id(&path)?;
    submit(&state, &caller, Command::ReversePos { settlement: settlement.clone() }).await?;
    ok(json!({"id": settlement.as_str(), "status": "reversed"}))
}

/// A partial refund of a POS settlement: `{"id", "settlement", "amount", "remaining"}`.
pub(super) async fn refund_settlement(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<RefundBody>,
) -> Answer {
    let settlement = id(&path)?;
    let reply = submit(&state, &caller, Command::RefundPos(body.refund(&settlement))).await?;
    refunded(&body, "settlement", &settlement, reply)
}

/// A partial refund of a paid bill: `{"id", "bill", "amount", "remaining"}`.
pub(super) async fn refund_bill(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<RefundBody>,
) -> Answer {
    let bill = id(&path)?;
    let reply = submit(&state, &caller, Command::RefundBill(body.refund(&bill))).await?;
    refunded(&body, "bill", &bill, reply)
}

/// The answer to a refund of `of` (a `kind`: settlement or bill).
fn refunded(body: &RefundBody, kind: &str, of: &kassa_engine::Id, reply: Reply) -> Answer {
    let Reply::Refunded { amount, remaining } = reply else { unreachable!("a refund answers Refunded") };
    ok(json!({"id": body.id.as_str(), kind: of.as_str(), "amount": amount, "remaining": remaining}))
}

// ----- bills ---------------------------------------------------------------------------------

/// Submits a bill command and answers the bill as it is right after it.
async fn bill_step(state: &Data, submission: Submission, bill: kassa_engine::Id) -> Answer {
    let (_, view) = submit_and_view(state, submission, views::bill, bill).await?;
    ok(view)
}

pub(super) async fn open_bill(state: Data, caller: Caller, body: web::Json<BillBody>) -> Answer {
    let submission = caller.sends_with(body.command(now_ms())?, metadata(body.metadata.as_ref())?);
    bill_step(&state, submission, body.id.clone()).await
}

pub(super) async fn get_bill(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let object = (MetadataKind::Bill, id(&path)?);
    get_with_metadata(&state, &caller, object, (Engine::bill, views::bill_json), Rejection::BillNotFound).await
}

pub(super) async fn add_bill_item(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<BillItemBody>,
) -> Answer {
    let bill = id(&path)?;
    bill_step(&state, caller.sends(body.command(&bill)), bill).await
}

pub(super) async fn submit_bill(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let bill = id(&path)?;
    // A resubmission answers the challenge issued first, whatever the nonce.
    let command = Command::SubmitBill(SubmitBill { bill: bill.clone(), nonce: random_nonce() });
    let (reply, mut view) = submit_and_view(&state, caller.sends(command), views::bill, bill).await?;
    let Reply::BillSubmitted { total, challenge } = reply else { unreachable!("submit answers BillSubmitted") };
    // The engine gives the challenge to the user's side only (the merchant side gets "").
    if let Value::Object(fields) = &mut view {
        let user = fields.get("user").cloned();
        fields.insert("total".into(), json!(total));
        fields.insert("challenge".into(), json!((!challenge.is_empty()).then_some(challenge)));
        fields.insert("verification_user".into(), user.unwrap_or(Value::Null));
    }
    ok(view)
}

pub(super) async fn confirm_bill(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ConfirmBody>,
) -> Answer {
    let bill = id(&path)?;
    bill_step(&state, caller.sends(body.command(&bill)), bill).await
}

pub(super) async fn cancel_bill(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let bill = id(&path)?;
    bill_step(&state, caller.sends(Command::CancelBill { bill: bill.clone() }), bill).await
}
