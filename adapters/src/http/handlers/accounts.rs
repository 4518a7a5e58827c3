//! Keys, accounts, movements, transfers and holds.

use actix_web::{HttpResponse, web};
use kassa_engine::authority::Read;
use kassa_engine::command::{Command, Outcome, RegisterApiKey, Reply, TransferBatch};
use kassa_engine::metadata::MetadataKind;
use kassa_engine::runtime::TransferStatus;
use kassa_engine::state_machine::ApiKey;
use kassa_engine::{Engine, Rejection, SubmitError};
use serde_json::{Value, json};

use super::super::requests::*;
use super::events::query_error;
use super::views::{self, cause_json};
use super::{
    Answer, Data, get_view, get_with_metadata, id, now_ms, ok, read, submit, submit_and_view, submit_as, submit_viewed,
};
use crate::auth::{Caller, SCOPE_ID_LENGTH_MAX, new_key};
use crate::http::ApiError;

pub(super) async fn create_key(state: Data, caller: Caller, body: web::Json<CreateKey>) -> Answer {
    let role = body.role(SCOPE_ID_LENGTH_MAX)?;
    let (key, key_id, secret_hash) = new_key();
    let register = RegisterApiKey { key_id: key_id.clone(), role: role.clone(), secret_hash };
    submit(&state, &caller, Command::RegisterApiKey(register)).await?;
    state.auth.remember_key(&key_id, ApiKey { role, secret_hash, revoked: false });
    ok(json!({"key_id": key_id.as_str(), "key": key, "role": body.role}))
}

pub(super) async fn revoke_key(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let key_id = id(&path)?;
    submit(&state, &caller, Command::RevokeApiKey { key_id: key_id.clone() }).await?;
    state.auth.forget_key(&key_id);
    ok(json!({"key_id": key_id.as_str(), "status": "revoked"}))
}

pub(super) async fn open_account(state: Data, caller: Caller, body: web::Json<OpenAccountBody>) -> Answer {
    let (_, view) = submit_and_view(&state, caller.sends(body.command()?), views::account, body.id.clone()).await?;
    ok(view)
}

pub(super) async fn get_account(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let account = id(&path)?;
    get_view(&state, &caller, Read::Account(account.clone()), account, views::account, Rejection::AccountNotFound).await
}

pub(super) async fn close_account(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let account = id(&path)?;
    let close = Command::CloseAccount { account: account.clone() };
    let (_, view) = submit_and_view(&state, caller.sends(close), views::account, account).await?;
    ok(view)
}

pub(super) async fn deposit(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<MovementBody>,
) -> Answer {
    movement(state, caller, path, body, true).await
}

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
    let kind = if deposit { "deposit" } else { "withdrawal" };
    ok(
        json!({"id": body.id.as_str(), "object": kind, "account": account.as_str(), "amount": body.amount, "status": "applied", "balance": balance}),
    )
}

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
        Some(cursor) => Some(cursor.parse().map_err(|error: String| ApiError::bad_request("invalid_cursor", error))?),
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
    let data: Vec<Value> = lines
        .iter()
        .map(|line| {
            let (id, line) = (line.id, &line.record);
            let (kind, cause_id) = cause_json(&line.posting.cause);
            json!({
                "id": id.to_string(), "seq": line.seq, "at_ms": line.at_ms, "amount": line.posting.posted_delta,
                "held_change": line.posting.held_delta, "balance_after": line.posting.posted_after,
                "held_after": line.posting.held_after, "kind": kind, "ref": cause_id,
            })
        })
        .collect();
    // Stripe's list shape: newest first; the next page starts after the last line's id.
    ok(json!({"object": "list", "account": account.as_str(), "data": data, "has_more": has_more}))
}

// ----- transfers and holds -------------------------------------------------------------------

impl TransferBody {
    fn json(&self, status: &str) -> Value {
        json!({"id": self.id.as_str(), "from": self.from.as_str(), "to": self.to.as_str(), "amount": self.amount, "currency": self.currency, "status": status})
    }
}

pub(super) async fn transfer(state: Data, caller: Caller, body: web::Json<TransferBody>) -> Answer {
    submit_as(&state, caller.sends_with(body.command()?, metadata(body.metadata.as_ref())?)).await?;
    ok(body.json("applied"))
}

/// A transfer by id, as its postings tell it (the newest with that id): to the admin, or to a
/// tenant that may read its payer's or payee's account.
pub(super) async fn get_transfer(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let transfer = id(&path)?;
    let (engine, principal, key) = (state.engine.clone(), caller.principal.clone(), transfer.clone());
    let found = web::block(move || engine.transfer(&principal, &key))
        .await
        .map_err(|_| ApiError::unavailable(SubmitError::ShuttingDown))?
        .map_err(query_error)?;
    let Some(record) = found else { return Err(ApiError::not_found("transfer_not_found")) };
    let status = match record.status {
        TransferStatus::Posted => "posted",
        TransferStatus::InTransit => "in_transit",
        TransferStatus::Refunded => "refunded",
    };
    ok(json!({
        "id": transfer.as_str(), "object": "transfer", "from": record.from.as_str(),
        "to": record.to.as_ref().map(|to| to.as_str()), "amount": record.amount,
        "currency": record.currency.alpha(), "status": status, "debited_at_ms": record.debited_at_ms,
        "settled_at_ms": record.settled_at_ms, "debit_event": record.debit.to_string(),
        "credit_event": record.credit.map(|id| id.to_string()), "metadata": record.metadata,
    }))
}

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
            let transfer = body.transfers.get(leg as usize).map(|transfer| transfer.id.as_str());
            return Ok(HttpResponse::build(error.status).json(json!({"error": {
                "code": error.code, "leg": leg, "transfer": transfer,
                "message": format!("the atomic batch was not applied: transfer {leg} was refused ({})", error.code),
            }})));
        }
    };
    let results: Vec<Value> = body
        .transfers
        .iter()
        .zip(&outcomes)
        .map(|(transfer, outcome)| match outcome.rejection() {
            None => transfer.json("applied"),
            Some(rejection) => json!({"id": transfer.id.as_str(), "status": "rejected", "error": {"code": rejection.code(), "message": rejection.code().replace('_', " ")}}),
        })
        .collect();
    let applied = outcomes.iter().all(Outcome::is_applied);
    ok(json!({"atomic": body.atomic, "applied": applied, "results": results}))
}

pub(super) async fn place_hold(state: Data, caller: Caller, body: web::Json<HoldBody>) -> Answer {
    let submission = caller.sends_with(body.command(now_ms())?, metadata(body.metadata.as_ref())?);
    let (_, view) = submit_and_view(&state, submission, views::hold, body.id.clone()).await?;
    ok(view)
}

/// A hold with its metadata; from storage once it has left memory.
pub(super) async fn get_hold(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let object = (MetadataKind::Hold, id(&path)?);
    get_with_metadata(&state, &caller, object, (Engine::hold, views::hold_json), Rejection::HoldNotFound).await
}

pub(super) async fn capture_hold(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<CaptureBody>,
) -> Answer {
    let hold = id(&path)?;
    let reply = submit(&state, &caller, body.command(&hold)).await?;
    let Reply::Captured { captured, released } = reply else { unreachable!("a capture answers Captured") };
    ok(json!({"id": hold.as_str(), "status": "captured", "captured": captured, "released": released}))
}

pub(super) async fn void_hold(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let hold = id(&path)?;
    let void = Command::VoidHold { hold: hold.clone() };
    let (_, view) = submit_and_view(&state, caller.sends(void), views::hold, hold).await?;
    ok(view)
}
