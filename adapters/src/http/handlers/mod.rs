//! The routes. Each handler decodes, submits once with the caller's principal, and encodes the
//! reply: the engine decides what the caller may do (`kassa_engine::authority`) inside the
//! commit, and a write's reply is rendered from the state right after it in the same engine
//! round trip (`Engine::submit_viewed`). Reads are checked against the same rules in the same
//! step as the read (`StateMachine::check_read`). The request bodies and their conversion into
//! commands are in [`super::requests`]; the JSON views in [`views`].

mod accounts;
mod events;
mod lists;
mod payments;
mod users;
mod views;

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{HttpResponse, web};
use kassa_engine::authority::Read;
use kassa_engine::command::{Command, Reply};
use kassa_engine::{Id, Outcome, Rejection, StateMachine};
use serde_json::{Value, json};

use super::requests::RequestError;
use super::{ApiError, AppState};
use crate::auth::Caller;

type Data = web::Data<AppState>;
type Answer = Result<HttpResponse, ApiError>;

/// Registers the routes.
pub(super) fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics))
        .route("/openapi.json", web::get().to(openapi))
        .route("/v1/keys", web::post().to(accounts::create_key))
        .route("/v1/keys/{id}", web::delete().to(accounts::revoke_key))
        .route("/v1/accounts", web::post().to(accounts::open_account))
        .route("/v1/accounts", web::get().to(lists::accounts))
        .route("/v1/accounts/{id}", web::get().to(accounts::get_account))
        .route("/v1/accounts/{id}/close", web::post().to(accounts::close_account))
        .route("/v1/accounts/{id}/deposits", web::post().to(accounts::deposit))
        .route("/v1/accounts/{id}/withdrawals", web::post().to(accounts::withdraw))
        .route("/v1/accounts/{id}/history", web::get().to(accounts::history))
        .route("/v1/transfers", web::post().to(accounts::transfer))
        .route("/v1/transfers/batch", web::post().to(accounts::transfer_batch))
        .route("/v1/transfers/{id}", web::get().to(accounts::get_transfer))
        .route("/v1/holds", web::post().to(accounts::place_hold))
        .route("/v1/holds", web::get().to(lists::holds))
        .route("/v1/holds/{id}", web::get().to(accounts::get_hold))
        .route("/v1/holds/{id}/capture", web::post().to(accounts::capture_hold))
        .route("/v1/holds/{id}/void", web::post().to(accounts::void_hold))
        .route("/v1/merchants", web::post().to(payments::register_merchant))
        .route("/v1/merchants/{id}/settlements", web::get().to(lists::merchant_settlements))
        .route("/v1/terminals", web::post().to(payments::register_terminal))
        .route("/v1/operators", web::post().to(payments::register_operator))
        .route("/v1/authorizations", web::post().to(payments::authorize))
        .route("/v1/authorizations", web::get().to(lists::authorizations))
        .route("/v1/authorizations/{id}", web::get().to(payments::get_authorization))
        .route("/v1/authorizations/{id}/revoke", web::post().to(payments::revoke_authorization))
        .route("/v1/pos/settlements", web::post().to(payments::settle))
        .route("/v1/pos/settlements/{id}", web::get().to(payments::get_settlement))
        .route("/v1/pos/settlements/{id}/reverse", web::post().to(payments::reverse))
        .route("/v1/pos/settlements/{id}/refunds", web::post().to(payments::refund_settlement))
        .route("/v1/bills", web::post().to(payments::open_bill))
        .route("/v1/bills", web::get().to(lists::bills))
        .route("/v1/bills/{id}", web::get().to(payments::get_bill))
        .route("/v1/bills/{id}/items", web::post().to(payments::add_bill_item))
        .route("/v1/bills/{id}/submit", web::post().to(payments::submit_bill))
        .route("/v1/bills/{id}/confirm", web::post().to(payments::confirm_bill))
        .route("/v1/bills/{id}/cancel", web::post().to(payments::cancel_bill))
        .route("/v1/bills/{id}/refunds", web::post().to(payments::refund_bill))
        .route("/v1/splits", web::post().to(users::request_split))
        .route("/v1/splits", web::get().to(lists::splits))
        .route("/v1/splits/{id}", web::get().to(users::get_split))
        .route("/v1/splits/{id}/pay", web::post().to(users::pay_split))
        .route("/v1/splits/{id}/cancel", web::post().to(users::cancel_split))
        .route("/v1/splits/{id}/refund", web::post().to(users::refund_split))
        .route("/v1/contacts", web::post().to(users::add_contact))
        .route("/v1/coupons", web::post().to(users::issue_coupon))
        .route("/v1/coupons/verify", web::post().to(users::verify_coupon))
        .route("/v1/coupons/redeem", web::post().to(users::redeem_coupon))
        .route("/v1/coupons/{id}", web::get().to(users::get_coupon))
        .route("/v1/coupons/{id}/share", web::post().to(users::share_coupon))
        .route("/v1/coupons/{id}/claim", web::post().to(users::claim_coupon))
        .route("/v1/users/{user}/pool", web::get().to(users::pool))
        .route("/v1/users/{user}/claimable", web::get().to(users::claimable))
        .route("/v1/users/{user}/coupons", web::get().to(lists::user_coupons))
        .route("/v1/users/{user}/splits", web::get().to(lists::user_splits))
        .route("/v1/quotes", web::post().to(users::quote))
        .route("/v1/events", web::get().to(events::events));
}

// ----- plumbing ------------------------------------------------------------------------------

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    u64::try_from(since_epoch.as_millis()).expect("milliseconds fit u64")
}

fn id(text: &str) -> Result<Id, ApiError> {
    Id::new(text).map_err(|error| ApiError::bad_request("invalid_id", format!("{text:?}: {error}")))
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> ApiError {
        match error {
            RequestError::Invalid { code, message } => ApiError::bad_request(code, message),
            RequestError::Rejected(rejection) => ApiError::rejected(rejection),
        }
    }
}

/// Submits `command` as the caller; a rejection is the error.
async fn submit(state: &Data, caller: &Caller, command: Command) -> Result<Reply, ApiError> {
    match state.engine.submit(caller.sends(command)).await? {
        Outcome::Applied(reply) => Ok(reply),
        Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => Err(ApiError::rejected(rejection)),
    }
}

/// Submits `command` as the caller and renders, from the state right after it, what it
/// changed: one engine round trip.
async fn submit_viewed<T: Send + 'static>(
    state: &Data,
    caller: &Caller,
    command: Command,
    view: impl FnOnce(&Reply, &StateMachine) -> T + Send + 'static,
) -> Result<(Reply, T), ApiError> {
    let answer = state
        .engine
        .submit_viewed(caller.sends(command), move |outcome, machine| match outcome {
            Outcome::Applied(reply) => {
                let rendered = view(&reply, machine);
                Ok((reply, rendered))
            }
            Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => Err(rejection),
        })
        .await?;
    answer.map_err(ApiError::rejected)
}

/// Submits `command` as the caller and answers its reply with `object`'s view right after it
/// (`view`, as [`get_view`] renders it): one engine round trip for a write and what it changed.
async fn submit_and_view(
    state: &Data,
    caller: &Caller,
    command: Command,
    view: fn(&StateMachine, &Id) -> Option<Value>,
    object: Id,
) -> Result<(Reply, Value), ApiError> {
    let (reply, rendered) = submit_viewed(state, caller, command, move |_, machine| view(machine, &object)).await?;
    Ok((reply, rendered.expect("an applied command's object exists")))
}

/// Runs `query` if the caller may make `read` (the engine's rules, in the same step).
async fn read<R: Send + 'static>(
    state: &Data,
    caller: &Caller,
    read: Read,
    query: impl FnOnce(&StateMachine) -> R + Send + 'static,
) -> Result<R, ApiError> {
    let principal = caller.principal.clone();
    // An account lives on its own partition; every other object on the home one.
    let partition = match &read {
        Read::Account(account) => state.engine.placement().of_account(account),
        _ => kassa_engine::partition::HOME_PARTITION,
    };
    let check_then_query = move |machine: &StateMachine| machine.check_read(&principal, &read).map(|()| query(machine));
    let answer = state.engine.read_partition(partition, check_then_query).await?;
    answer.map_err(ApiError::rejected)
}

/// A read the caller may make, answered with the object's view (`view`), or `missing` when
/// the object does not exist (which only the admin learns: to others it is `forbidden`).
async fn get_view(
    state: &Data,
    caller: &Caller,
    read: Read,
    object: Id,
    view: fn(&StateMachine, &Id) -> Option<Value>,
    missing: Rejection,
) -> Answer {
    let found = self::read(state, caller, read, move |machine| view(machine, &object)).await?;
    found.map_or_else(|| Err(ApiError::rejected(missing)), ok)
}

fn ok(body: Value) -> Answer {
    Ok(HttpResponse::Ok().json(body))
}

// ----- service -------------------------------------------------------------------------------

/// Liveness: the process answers.
pub(super) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: the engine is open and its storage works (after a storage failure the engine
/// stops and the server exits; until then this answers 503).
async fn ready(state: Data) -> HttpResponse {
    if state.engine.has_failed() {
        return HttpResponse::ServiceUnavailable().json(json!({"status": "storage_failed"}));
    }
    HttpResponse::Ok().json(json!({"status": "ready"}))
}

/// Any route but `/health` while the engine recovers.
pub(super) async fn recovering() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(("retry-after", "1"))
        .json(json!({"status": "recovering", "error": {"code": "recovering", "message": "the engine is recovering"}}))
}

async fn metrics(state: Data) -> HttpResponse {
    let body = state.metrics.as_ref().map(|handle| handle.render()).unwrap_or_default();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body)
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(include_str!("../../../openapi.json"))
}
