//! Merchants, terminals, operators, secure codes, POS settlements and bills.

use actix_web::web;
use kassa_engine::authority::Operation;
use kassa_engine::command::{Command, Reply, SettlePos, Submission, SubmitBill};
use kassa_engine::metadata::MetadataKind;
use kassa_engine::runtime::random_nonce;
use kassa_engine::state_machine::SettlementSummary;
use kassa_engine::{Currency, Engine, Id, Outcome, Rejection};

use super::super::requests::*;
use super::openapi::ErrorResponses;
use super::replies::{
    Authorized, BillSubmitted, MerchantRegistered, OperatorRegistered, Refunded, ReversedStatus, Settled,
    SettlementReversed, TerminalRegistered,
};
use super::views::{self, AuthorizationView, BillView, SettlementView};
use super::{Answer, Data, Lookup, ObjectView, blocking, get_with_metadata, id, now_ms, ok, submit, submit_and_view};
use crate::auth::Caller;
use crate::http::ApiError;
use crate::http::schemas::IdPath;

/// Register a merchant.
#[utoipa::path(post, path = "/v1/merchants", operation_id = "post_v1_merchants", tag = "admin",
    request_body = MerchantBody,
    responses((status = 200, description = "ok", body = MerchantRegistered), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::RegisterMerchant.name()))))]
pub(super) async fn register_merchant(state: Data, caller: Caller, body: web::Json<MerchantBody>) -> Answer {
    submit(&state, &caller, body.command()).await?;
    ok(&MerchantRegistered { id: body.id.clone(), account: body.account.clone() })
}

/// Register a POS terminal.
#[utoipa::path(post, path = "/v1/terminals", operation_id = "post_v1_terminals", tag = "admin",
    request_body = TerminalBody,
    responses((status = 200, description = "ok", body = TerminalRegistered), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::RegisterTerminal.name()))))]
pub(super) async fn register_terminal(state: Data, caller: Caller, body: web::Json<TerminalBody>) -> Answer {
    submit(&state, &caller, body.command()?).await?;
    ok(&TerminalRegistered { id: body.id.clone(), merchant: body.merchant.clone(), mac: body.mac_key.is_some() })
}

/// Register a merchant operator.
#[utoipa::path(post, path = "/v1/operators", operation_id = "post_v1_operators", tag = "admin",
    request_body = OperatorBody,
    responses((status = 200, description = "ok", body = OperatorRegistered), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::RegisterOperator.name()))))]
pub(super) async fn register_operator(state: Data, caller: Caller, body: web::Json<OperatorBody>) -> Answer {
    submit(&state, &caller, body.command()).await?;
    ok(&OperatorRegistered { id: body.id.clone(), merchant: body.merchant.clone() })
}

// ----- secure codes and POS ------------------------------------------------------------------

/// Authorize an account for a limit; returns the one-time secure code.
///
/// A retry (same id, user, account and limit) gets the first code back.
#[utoipa::path(post, path = "/v1/authorizations", operation_id = "post_v1_authorizations", tag = "pos",
    request_body = AuthorizeBody, responses((status = 200, description = "ok", body = Authorized), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::Authorize.name()))))]
pub(super) async fn authorize(state: Data, caller: Caller, body: web::Json<AuthorizeBody>) -> Answer {
    // A retry (same id, user, account and limit) gets the first code back from the engine.
    let reply = submit(&state, &caller, body.command(now_ms(), random_nonce())?).await?;
    let Reply::Authorized { code, expires_at_ms } = reply else { unreachable!("authorize answers Authorized") };
    ok(&Authorized {
        id: body.id.clone(),
        user: body.user.clone(),
        account: body.account.clone(),
        limit: body.limit,
        code,
        expires_at: expires_at_ms / 1_000,
        expires_at_ms,
    })
}

/// An authorization's state (never its code).
///
/// From storage once it has left memory.
#[utoipa::path(get, path = "/v1/authorizations/{id}", operation_id = "get_v1_authorizations_id", tag = "pos",
    params(IdPath), responses((status = 200, description = "ok", body = AuthorizationView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadAuthorization.name()))))]
pub(super) async fn get_authorization(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let authorization = id(&path)?;
    let (engine, principal, key) = (state.engine.clone(), caller.principal.clone(), authorization.clone());
    let found = blocking(move || engine.authorization(&principal, &key)).await?;
    let found = found.ok_or_else(|| ApiError::rejected(Rejection::AuthorizationNotFound))?;
    ok(&views::authorization_view(&authorization, &found))
}

/// A settlement as it was answered, and whether it was reversed.
///
/// With its metadata; from storage once it has left memory.
#[utoipa::path(get, path = "/v1/pos/settlements/{id}", operation_id = "get_v1_pos_settlements_id", tag = "pos",
    params(IdPath), responses((status = 200, description = "ok", body = SettlementView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadSettlement.name()))))]
pub(super) async fn get_settlement(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let object = (MetadataKind::Settlement, id(&path)?);
    let found = (Engine::settlement as Lookup<_>, views::settlement_view as ObjectView<SettlementSummary, _>);
    get_with_metadata(&state, &caller, object, found, Rejection::SettlementNotFound).await
}

/// Revoke an authorization (a lost phone): its secure code stops working at once; idempotent; a
/// used one answers 422 code_already_used.
///
/// Answered with the authorization, `"status": "revoked"` (or `expired`, which a revocation
/// leaves as it is).
#[utoipa::path(post, path = "/v1/authorizations/{id}/revoke", operation_id = "post_v1_authorizations_id_revoke",
    tag = "pos", params(IdPath),
    responses((status = 200, description = "ok", body = AuthorizationView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::RevokeAuthorization.name()))))]
pub(super) async fn revoke_authorization(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let authorization = id(&path)?;
    let command = Command::RevokeAuthorization { authorization: authorization.clone() };
    let (_, view) = submit_and_view(&state, caller.sends(command), views::authorization, authorization).await?;
    ok(&view)
}

/// The currency a settlement without one is in: its terminal's merchant account's (reads,
/// only when the body names no currency: the terminal's merchant on the home partition, then
/// the account where it lives; an unknown terminal is the engine's to refuse).
async fn default_currency(state: &Data, body: &SettleBody) -> Result<Currency, ApiError> {
    let terminal = body.terminal.clone();
    let engine = &state.engine;
    let account = engine
        .read(move |machine| Some(machine.merchant(&machine.terminal(&terminal)?.merchant)?.account.clone()))
        .await?;
    let Some(account) = account else { return Ok(Currency::EUR) };
    let lookup = account.clone();
    let found = engine.read_account(&account, move |machine| machine.account(&lookup).map(|a| a.currency)).await?;
    Ok(found.unwrap_or(Currency::EUR))
}

/// Settle a POS purchase with user id + secure code (declines answer approved=false); with a
/// location, the coupon's location-adjusted value applies.
#[utoipa::path(post, path = "/v1/pos/settlements", operation_id = "post_v1_pos_settlements", tag = "pos",
    request_body = SettleBody, responses((status = 200, description = "ok", body = Settled), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::SettlePos.name()))))]
pub(super) async fn settle(state: Data, caller: Caller, body: web::Json<SettleBody>) -> Answer {
    let fallback = if body.currency.is_some() { Currency::EUR } else { default_currency(&state, &body).await? };
    let command = body.command(fallback)?;
    let Command::SettlePos(SettlePos { currency, .. }) = command else {
        unreachable!("a settlement body makes SettlePos")
    };
    let declined = |rejection: Rejection| Settled {
        id: body.id.clone(),
        approved: false,
        approval_code: None,
        amount: None,
        charged: None,
        discount: None,
        currency: None,
        decline_code: Some(rejection.code()),
        message: Some(rejection.code().replace('_', " ")),
    };
    match state.engine.submit(caller.sends_with(command, metadata(body.metadata.as_ref())?)).await? {
        Outcome::Applied(Reply::Settled { approval_code, charged, discount }) => ok(&Settled {
            id: body.id.clone(),
            approved: true,
            approval_code: Some(approval_code),
            amount: Some(body.amount),
            charged: Some(charged),
            discount: Some(discount),
            currency: Some(currency.alpha()),
            decline_code: None,
            message: None,
        }),
        Outcome::Applied(other) => unreachable!("a settlement answers Settled, not {other:?}"),
        // A decline is an answer, not a failure of the request: the POS prints it.
        Outcome::Rejected(rejection) if !matches!(ApiError::rejected(rejection).status.as_u16(), 403 | 404 | 409) => {
            ok(&declined(rejection))
        }
        Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => Err(ApiError::rejected(rejection)),
    }
}

/// Reverse an approved settlement (gives back what its refunds left).
#[utoipa::path(post, path = "/v1/pos/settlements/{id}/reverse", operation_id = "post_v1_pos_settlements_id_reverse",
    tag = "pos", params(IdPath),
    responses((status = 200, description = "ok", body = SettlementReversed), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReversePos.name()))))]
pub(super) async fn reverse(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let settlement = id(&path)?;
    submit(&state, &caller, Command::ReversePos { settlement: settlement.clone() }).await?;
    ok(&SettlementReversed { id: settlement, status: ReversedStatus::Reversed })
}

/// Refund part of an approved settlement to the account it charged (idempotent by refund id
/// within the settlement; all refunds together at most the charge: 422 refund_exceeds_charge; at
/// most 16: too_many_refunds; a declined one: not_reversible).
#[utoipa::path(post, path = "/v1/pos/settlements/{id}/refunds", operation_id = "post_v1_pos_settlements_id_refunds",
    tag = "pos", params(IdPath), request_body = RefundBody,
    responses((status = 200, description = "ok", body = Refunded), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::RefundPos.name()))))]
pub(super) async fn refund_settlement(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<RefundBody>,
) -> Answer {
    let settlement = id(&path)?;
    let reply = submit(&state, &caller, Command::RefundPos(body.refund(&settlement))).await?;
    ok(&refunded(&body, reply, Some(settlement), None))
}

/// Refund part of a paid bill to the account it charged (idempotent by refund id within the
/// bill; all refunds together at most the charge: 422 refund_exceeds_charge; at most 16:
/// too_many_refunds; an unpaid bill: not_reversible).
#[utoipa::path(post, path = "/v1/bills/{id}/refunds", operation_id = "post_v1_bills_id_refunds", tag = "bills",
    params(IdPath), request_body = RefundBody,
    responses((status = 200, description = "ok", body = Refunded), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::RefundBill.name()))))]
pub(super) async fn refund_bill(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<RefundBody>,
) -> Answer {
    let bill = id(&path)?;
    let reply = submit(&state, &caller, Command::RefundBill(body.refund(&bill))).await?;
    ok(&refunded(&body, reply, None, Some(bill)))
}

/// The answer to a refund of a settlement or a bill.
fn refunded(body: &RefundBody, reply: Reply, settlement: Option<Id>, bill: Option<Id>) -> Refunded {
    let Reply::Refunded { amount, remaining } = reply else { unreachable!("a refund answers Refunded") };
    Refunded { id: body.id.clone(), settlement, bill, amount, remaining }
}

// ----- bills ---------------------------------------------------------------------------------

/// Submits a bill command and answers the bill as it is right after it.
async fn bill_step(state: &Data, submission: Submission, bill: Id) -> Answer {
    let (_, view) = submit_and_view(state, submission, views::bill, bill).await?;
    ok(&view)
}

/// Open a virtual bill.
#[utoipa::path(post, path = "/v1/bills", operation_id = "post_v1_bills", tag = "bills", request_body = BillBody,
    responses((status = 200, description = "ok", body = BillView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::OpenBill.name()))))]
pub(super) async fn open_bill(state: Data, caller: Caller, body: web::Json<BillBody>) -> Answer {
    let submission = caller.sends_with(body.command(now_ms())?, metadata(body.metadata.as_ref())?);
    bill_step(&state, submission, body.id.clone()).await
}

/// A bill.
///
/// With its metadata; from storage once it has left memory.
#[utoipa::path(get, path = "/v1/bills/{id}", operation_id = "get_v1_bills_id", tag = "bills", params(IdPath),
    responses((status = 200, description = "ok", body = BillView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadBill.name()))))]
pub(super) async fn get_bill(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let object = (MetadataKind::Bill, id(&path)?);
    get_with_metadata(&state, &caller, object, (Engine::bill, views::bill_view), Rejection::BillNotFound).await
}

/// A terminal adds an item.
#[utoipa::path(post, path = "/v1/bills/{id}/items", operation_id = "post_v1_bills_id_items", tag = "bills",
    params(IdPath), request_body = BillItemBody,
    responses((status = 200, description = "ok", body = BillView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::AddBillItem.name()))))]
pub(super) async fn add_bill_item(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<BillItemBody>,
) -> Answer {
    let bill = id(&path)?;
    bill_step(&state, caller.sends(body.command(&bill)), bill).await
}

/// Total the bill and issue the user's challenge.
///
/// The challenge goes to the user's side only (the user's app or the admin); the merchant's
/// side gets `null`.
#[utoipa::path(post, path = "/v1/bills/{id}/submit", operation_id = "post_v1_bills_id_submit", tag = "bills",
    params(IdPath), responses((status = 200, description = "ok", body = BillSubmitted), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::SubmitBill.name()))))]
pub(super) async fn submit_bill(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let bill = id(&path)?;
    // A resubmission answers the challenge issued first, whatever the nonce.
    let command = Command::SubmitBill(SubmitBill { bill: bill.clone(), nonce: random_nonce() });
    let (reply, mut view) = submit_and_view(&state, caller.sends(command), views::bill, bill).await?;
    let Reply::BillSubmitted { total, challenge } = reply else { unreachable!("submit answers BillSubmitted") };
    // The engine gives the challenge to the user's side only (the merchant side gets "").
    view.total = total;
    let verification_user = view.user.clone();
    ok(&BillSubmitted { bill: view, challenge: (!challenge.is_empty()).then_some(challenge), verification_user })
}

/// The user confirms; the account is charged.
#[utoipa::path(post, path = "/v1/bills/{id}/confirm", operation_id = "post_v1_bills_id_confirm", tag = "bills",
    params(IdPath), request_body = ConfirmBody,
    responses((status = 200, description = "ok", body = BillView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ConfirmBill.name()))))]
pub(super) async fn confirm_bill(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ConfirmBody>,
) -> Answer {
    let bill = id(&path)?;
    bill_step(&state, caller.sends(body.command(&bill)), bill).await
}

/// Cancel an unpaid bill.
#[utoipa::path(post, path = "/v1/bills/{id}/cancel", operation_id = "post_v1_bills_id_cancel", tag = "bills",
    params(IdPath), responses((status = 200, description = "ok", body = BillView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::CancelBill.name()))))]
pub(super) async fn cancel_bill(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let bill = id(&path)?;
    bill_step(&state, caller.sends(Command::CancelBill { bill: bill.clone() }), bill).await
}
