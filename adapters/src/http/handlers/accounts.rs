//! Keys, accounts, movements, transfers and holds.

use actix_web::{HttpResponse, web};
use kassa_engine::authority::{Operation, Read};
use kassa_engine::command::{Command, Outcome, RegisterApiKey, Reply, TransferBatch};
use kassa_engine::metadata::MetadataKind;
use kassa_engine::runtime::TransferStatus;
use kassa_engine::state_machine::ApiKey;
use kassa_engine::{Engine, Rejection, SubmitError};

use super::super::requests::*;
use super::events::query_error;
use super::openapi::ErrorResponses;
use super::pages::{History, HistoryLineView, ListObject};
use super::replies::{
    Applied, BatchApplied, BatchResult, CapturedStatus, HoldCaptured, KeyCreated, KeyRevoked, KeyStatus,
    MovementApplied, MovementKind, Rejected, TransferApplied, TransferFound, TransferObject, TransferRejected,
    TransferState,
};
use super::views::{self, AccountView, HoldView};
use super::{
    Answer, Data, get_view, get_with_metadata, id, now_ms, ok, read, submit, submit_and_view, submit_as, submit_viewed,
};
use crate::auth::{Caller, SCOPE_ID_LENGTH_MAX, new_key};
use crate::http::schemas::IdPath;
use crate::http::{ApiError, ErrorBody, ErrorDetail, codes};

/// Create an API key (admin).
#[utoipa::path(post, path = "/v1/keys", operation_id = "post_v1_keys", tag = "admin", request_body = CreateKey,
    responses((status = 200, description = "ok", body = KeyCreated), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::RegisterApiKey.name()))))]
pub(super) async fn create_key(state: Data, caller: Caller, body: web::Json<CreateKey>) -> Answer {
    let role = body.role(SCOPE_ID_LENGTH_MAX)?;
    let (key, key_id, secret_hash) = new_key();
    let register = RegisterApiKey { key_id: key_id.clone(), role: role.clone(), secret_hash };
    submit(&state, &caller, Command::RegisterApiKey(register)).await?;
    state.auth.remember_key(&key_id, ApiKey { role, secret_hash, revoked: false });
    ok(&KeyCreated { key_id: key_id.as_str().to_string(), key, role: body.role.clone() })
}

/// Revoke an API key: every listener refuses it from the next request.
#[utoipa::path(delete, path = "/v1/keys/{id}", operation_id = "delete_v1_keys_id", tag = "admin", params(IdPath),
    responses((status = 200, description = "ok", body = KeyRevoked), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::RevokeApiKey.name()))))]
pub(super) async fn revoke_key(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let key_id = id(&path)?;
    submit(&state, &caller, Command::RevokeApiKey { key_id: key_id.clone() }).await?;
    state.auth.forget_key(&key_id);
    ok(&KeyRevoked { key_id, status: KeyStatus::Revoked })
}

/// Open an account (idempotent by id, for its owner); an overdraft_limit above 0 is the admin's
/// only (open_account_with_overdraft).
#[utoipa::path(post, path = "/v1/accounts", operation_id = "post_v1_accounts", tag = "payments",
    request_body = OpenAccountBody, responses((status = 200, description = "ok", body = AccountView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::OpenAccount.name()))))]
pub(super) async fn open_account(state: Data, caller: Caller, body: web::Json<OpenAccountBody>) -> Answer {
    let (_, view) = submit_and_view(&state, caller.sends(body.command()?), views::account, body.id.clone()).await?;
    ok(&view)
}

/// An account's balances.
#[utoipa::path(get, path = "/v1/accounts/{id}", operation_id = "get_v1_accounts_id", tag = "payments", params(IdPath),
    responses((status = 200, description = "ok", body = AccountView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadAccount.name()))))]
pub(super) async fn get_account(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let account = id(&path)?;
    get_view(&state, &caller, Read::Account(account.clone()), account, views::account, Rejection::AccountNotFound).await
}

/// Close an empty account.
#[utoipa::path(post, path = "/v1/accounts/{id}/close", operation_id = "post_v1_accounts_id_close", tag = "payments",
    params(IdPath), responses((status = 200, description = "ok", body = AccountView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::CloseAccount.name()))))]
pub(super) async fn close_account(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let account = id(&path)?;
    let close = Command::CloseAccount { account: account.clone() };
    let (_, view) = submit_and_view(&state, caller.sends(close), views::account, account).await?;
    ok(&view)
}

/// Money in (admin only; idempotent by id).
#[utoipa::path(post, path = "/v1/accounts/{id}/deposits", operation_id = "post_v1_accounts_id_deposits",
    tag = "payments", params(IdPath), request_body = MovementBody,
    responses((status = 200, description = "ok", body = MovementApplied), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::Deposit.name()))))]
pub(super) async fn deposit(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<MovementBody>,
) -> Answer {
    movement(state, caller, path, body, true).await
}

/// Money out (idempotent by id).
#[utoipa::path(post, path = "/v1/accounts/{id}/withdrawals", operation_id = "post_v1_accounts_id_withdrawals",
    tag = "payments", params(IdPath), request_body = MovementBody,
    responses((status = 200, description = "ok", body = MovementApplied), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::Withdraw.name()))))]
pub(super) async fn withdraw(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<MovementBody>,
) -> Answer {
    movement(state, caller, path, body, false).await
}

async fn movement(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<MovementBody>,
    deposit: bool,
) -> Answer {
    let account = id(&path)?;
    let key = account.clone();
    let command = body.command(&account, deposit);
    let (_, balance) =
        submit_viewed(&state, caller.sends(command), move |_, machine| machine.account(&key).map(|a| a.posted)).await?;
    let object = if deposit { MovementKind::Deposit } else { MovementKind::Withdrawal };
    ok(&MovementApplied {
        id: body.id.clone(),
        object,
        account,
        amount: body.amount,
        status: Applied::Applied,
        balance,
    })
}

/// Postings, newest first, in pages (Stripe style: limit 1..1000, default 100; starting_after =
/// the last line's id of the previous page; has_more).
#[utoipa::path(get, path = "/v1/accounts/{id}/history", operation_id = "get_v1_accounts_id_history",
    tag = "payments", params(IdPath, HistoryQuery),
    responses((status = 200, description = "ok", body = History), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadAccount.name()))))]
pub(super) async fn history(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Answer {
    let account = id(&path)?;
    let key = account.clone();
    if !read(&state, &caller, Read::Account(account.clone()), move |machine| machine.account(&key).is_some()).await? {
        return Err(ApiError::rejected(Rejection::AccountNotFound));
    }
    let limit = super::super::requests::page_limit(query.limit)?;
    let starting_after = match &query.starting_after {
        Some(cursor) => {
            Some(cursor.parse().map_err(|error: String| ApiError::bad_request(codes::INVALID_CURSOR, error))?)
        }
        None => None,
    };
    // RocksDB reads (and the wait for the indexer) block: keep them off the actix worker.
    let (engine, key) = (state.engine.clone(), account.clone());
    let (lines, has_more) = web::block(move || engine.history_page(&key, limit, starting_after))
        .await
        .map_err(|_| ApiError::unavailable(SubmitError::ShuttingDown))?
        .map_err(|error| {
            tracing::error!(%error, "history read failed");
            ApiError::unavailable(SubmitError::StorageFailed)
        })?;
    let data = lines.iter().map(HistoryLineView::from).collect();
    // Stripe's list shape: newest first; the next page starts after the last line's id.
    ok(&History { object: ListObject::List, account, data, has_more })
}

// ----- transfers and holds -------------------------------------------------------------------

impl TransferBody {
    fn applied(&self) -> TransferApplied {
        TransferApplied {
            id: self.id.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            amount: self.amount,
            currency: self.currency.clone(),
            status: Applied::Applied,
        }
    }
}

/// Transfer (idempotent by id).
#[utoipa::path(post, path = "/v1/transfers", operation_id = "post_v1_transfers", tag = "payments",
    request_body = TransferBody, responses((status = 200, description = "ok", body = TransferApplied), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::Transfer.name()))))]
pub(super) async fn transfer(state: Data, caller: Caller, body: web::Json<TransferBody>) -> Answer {
    submit_as(&state, caller.sends_with(body.command()?, metadata(body.metadata.as_ref())?)).await?;
    ok(&body.applied())
}

/// A transfer by id (the newest with that id), as its postings tell it: status posted,
/// in_transit (debited, its payee's partition has not credited it yet) or refunded (refused by
/// the payee's partition); a transfer refused outright posts nothing and is not found.
///
/// To the admin, or a tenant that may read the payer's or the payee's account (read_account);
/// to anyone else an unknown id is 403.
#[utoipa::path(get, path = "/v1/transfers/{id}", operation_id = "get_v1_transfers_id", tag = "payments",
    params(IdPath), responses((status = 200, description = "ok", body = TransferFound), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadAccount.name()))))]
pub(super) async fn get_transfer(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let transfer = id(&path)?;
    let (engine, principal, key) = (state.engine.clone(), caller.principal.clone(), transfer.clone());
    let found = web::block(move || engine.transfer(&principal, &key))
        .await
        .map_err(|_| ApiError::unavailable(SubmitError::ShuttingDown))?
        .map_err(query_error)?;
    let Some(record) = found else { return Err(ApiError::not_found(codes::TRANSFER_NOT_FOUND)) };
    let status = match record.status {
        TransferStatus::Posted => TransferState::Posted,
        TransferStatus::InTransit => TransferState::InTransit,
        TransferStatus::Refunded => TransferState::Refunded,
    };
    ok(&TransferFound {
        id: transfer,
        object: TransferObject::Transfer,
        from: record.from,
        to: record.to,
        amount: record.amount,
        currency: record.currency.alpha(),
        status,
        debited_at_ms: record.debited_at_ms,
        settled_at_ms: record.settled_at_ms,
        debit_event: record.debit.to_string(),
        credit_event: record.credit.map(|id| id.to_string()),
        metadata: record.metadata,
    })
}

/// Several transfers; atomic: all or nothing.
///
/// A refused atomic batch answers the refused transfer's error, naming it (`leg`, `transfer`).
#[utoipa::path(post, path = "/v1/transfers/batch", operation_id = "post_v1_transfers_batch", tag = "payments",
    request_body = BatchBody, responses((status = 200, description = "ok", body = BatchApplied), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::TransferBatch.name()))))]
pub(super) async fn transfer_batch(state: Data, caller: Caller, body: web::Json<BatchBody>) -> Answer {
    body.check_size()?;
    // One command for every transfer of the batch: metadata is for a single transfer.
    if body.transfers.iter().any(|transfer| transfer.metadata.is_some()) {
        return Err(ApiError::rejected(Rejection::MetadataNotSupported));
    }
    let transfers = body.transfers.iter().map(TransferBody::transfer).collect::<Result<Vec<_>, _>>()?;
    let command = Command::TransferBatch(TransferBatch { atomic: body.atomic, transfers });
    let outcomes = match state.engine.submit(caller.sends(command)).await? {
        Outcome::Applied(Reply::TransferBatch(outcomes)) => outcomes,
        Outcome::Applied(other) => unreachable!("a batch answers a batch, not {other:?}"),
        Outcome::Rejected(rejection) => return Err(ApiError::rejected(rejection)),
        // An atomic batch refused as a whole: its status and code are the failing transfer's.
        Outcome::BatchRejected { leg, rejection } => {
            let error = ApiError::rejected(rejection);
            let transfer = body.transfers.get(leg as usize).map(|transfer| transfer.id.clone());
            let message = format!("the atomic batch was not applied: transfer {leg} was refused ({})", error.code);
            let detail = ErrorDetail { code: error.code, message, leg: Some(leg), transfer };
            return Ok(HttpResponse::build(error.status).json(ErrorBody { error: detail }));
        }
    };
    let results = body
        .transfers
        .iter()
        .zip(&outcomes)
        .map(|(transfer, outcome)| match outcome.rejection() {
            None => BatchResult::Applied(transfer.applied()),
            Some(rejection) => BatchResult::Rejected(TransferRejected {
                id: transfer.id.clone(),
                status: Rejected::Rejected,
                error: ErrorDetail::of(rejection),
            }),
        })
        .collect();
    let applied = outcomes.iter().all(Outcome::is_applied);
    ok(&BatchApplied { atomic: body.atomic, applied, results })
}

/// Place a hold.
#[utoipa::path(post, path = "/v1/holds", operation_id = "post_v1_holds", tag = "payments", request_body = HoldBody,
    responses((status = 200, description = "ok", body = HoldView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::PlaceHold.name()))))]
pub(super) async fn place_hold(state: Data, caller: Caller, body: web::Json<HoldBody>) -> Answer {
    let submission = caller.sends_with(body.command(now_ms())?, metadata(body.metadata.as_ref())?);
    let (_, view) = submit_and_view(&state, submission, views::hold, body.id.clone()).await?;
    ok(&view)
}

/// A hold, with its metadata (from storage once it has left memory).
#[utoipa::path(get, path = "/v1/holds/{id}", operation_id = "get_v1_holds_id", tag = "payments", params(IdPath),
    responses((status = 200, description = "ok", body = HoldView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadHold.name()))))]
pub(super) async fn get_hold(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let object = (MetadataKind::Hold, id(&path)?);
    get_with_metadata(&state, &caller, object, (Engine::hold, views::hold_view), Rejection::HoldNotFound).await
}

/// Capture up to the held amount; the rest is released.
#[utoipa::path(post, path = "/v1/holds/{id}/capture", operation_id = "post_v1_holds_id_capture", tag = "payments",
    params(IdPath), request_body = CaptureBody,
    responses((status = 200, description = "ok", body = HoldCaptured), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::CaptureHold.name()))))]
pub(super) async fn capture_hold(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<CaptureBody>,
) -> Answer {
    let hold = id(&path)?;
    let reply = submit(&state, &caller, body.command(&hold)).await?;
    let Reply::Captured { captured, released } = reply else { unreachable!("a capture answers Captured") };
    ok(&HoldCaptured { id: hold, status: CapturedStatus::Captured, captured, released })
}

/// Release a hold.
#[utoipa::path(post, path = "/v1/holds/{id}/void", operation_id = "post_v1_holds_id_void", tag = "payments",
    params(IdPath), responses((status = 200, description = "ok", body = HoldView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::VoidHold.name()))))]
pub(super) async fn void_hold(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let hold = id(&path)?;
    let void = Command::VoidHold { hold: hold.clone() };
    let (_, view) = submit_and_view(&state, caller.sends(void), views::hold, hold).await?;
    ok(&view)
}
