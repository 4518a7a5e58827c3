//! The routes. Each handler decodes, submits once with the caller's principal, and encodes the
//! reply: the engine decides what the caller may do (`kassa_engine::authority`) inside the
//! commit, and a write's reply is rendered from the state right after it in the same engine
//! round trip (`Engine::submit_viewed`). Reads are checked against the same rules in the same
//! step as the read (`StateMachine::check_read`). The request bodies and their conversion into
//! commands are in [`super::requests`]; the replies are types that serialize to the JSON sent
//! and describe themselves in the OpenAPI document ([`views`], [`replies`], [`pages`]), which
//! [`openapi`] generates from the handlers' `#[utoipa::path]` attributes.

mod accounts;
mod events;
mod lists;
pub(super) mod openapi;
mod pages;
mod payments;
mod replies;
mod users;
mod views;

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{HttpResponse, web};
use kassa_engine::authority::Read;
use kassa_engine::command::{Command, Reply, Submission};
use kassa_engine::metadata::MetadataKind;
use kassa_engine::runtime::QueryError;
use kassa_engine::{Engine, Id, Outcome, Principal, Rejection, StateMachine, SubmitError};
use serde::Serialize;

use self::replies::{Health, Liveness, Readiness, Ready};
use self::views::WithMetadata;
use super::requests::RequestError;
use super::{ApiError, AppState, ErrorBody, ErrorDetail, codes};
use crate::auth::Caller;

type Data = web::Data<AppState>;
type Answer = Result<HttpResponse, ApiError>;

use actix_web::http::Method;

/// A routing table that remembers each path's methods, so that every other method on a known
/// path is answered 405 `method_not_allowed` with an `Allow` header (not 404).
struct Routes<'a> {
    config: &'a mut web::ServiceConfig,
    methods: Vec<(&'static str, Vec<&'static str>)>,
}

impl Routes<'_> {
    fn route<F, Args>(self, path: &'static str, method: Method, handler: F) -> Self
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        self.config.route(path, web::method(method.clone()).to(handler));
        self.remember(path, &method)
    }

    /// [`Routes::route`] for a path whose JSON bodies have limits of their own (`json`).
    fn route_with_json<F, Args>(self, path: &'static str, method: Method, handler: F, json: web::JsonConfig) -> Self
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        self.config.service(web::resource(path).app_data(json).route(web::method(method.clone()).to(handler)));
        self.remember(path, &method)
    }

    fn remember(mut self, path: &'static str, method: &Method) -> Self {
        let name = match *method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::DELETE => "DELETE",
            _ => unreachable!("the API uses GET, POST and DELETE"),
        };
        match self.methods.iter_mut().find(|(known, _)| *known == path) {
            Some((_, methods)) => methods.push(name),
            None => self.methods.push((path, vec![name])),
        }
        self
    }

    /// Registers the 405 answers, after every route, and the 404 of a path no route has (with
    /// the same JSON error body as every other error).
    fn finish(self) {
        self.config.default_service(web::to(|| async {
            let error = ErrorDetail::new(codes::ROUTE_NOT_FOUND, "no route has this path".to_string());
            HttpResponse::NotFound().json(ErrorBody { error })
        }));
        for (path, methods) in self.methods {
            let allow = methods.join(", ");
            self.config.route(
                path,
                web::route().to(move || {
                    let allow = allow.clone();
                    async move {
                        let error = ErrorDetail::new(codes::METHOD_NOT_ALLOWED, format!("this path answers {allow}"));
                        HttpResponse::MethodNotAllowed().insert_header(("allow", allow)).json(ErrorBody { error })
                    }
                }),
            );
        }
    }
}

/// Registers the routes.
pub(super) fn routes(config: &mut web::ServiceConfig, batch_json: web::JsonConfig) {
    Routes { config, methods: Vec::new() }
        .route("/health", Method::GET, health)
        .route("/ready", Method::GET, ready)
        .route("/metrics", Method::GET, metrics)
        .route("/openapi.json", Method::GET, openapi)
        .route("/v1/keys", Method::POST, accounts::create_key)
        .route("/v1/keys/{id}", Method::DELETE, accounts::revoke_key)
        .route("/v1/accounts", Method::POST, accounts::open_account)
        .route("/v1/accounts", Method::GET, lists::accounts)
        .route("/v1/accounts/{id}", Method::GET, accounts::get_account)
        .route("/v1/accounts/{id}/close", Method::POST, accounts::close_account)
        .route("/v1/accounts/{id}/deposits", Method::POST, accounts::deposit)
        .route("/v1/accounts/{id}/withdrawals", Method::POST, accounts::withdraw)
        .route("/v1/accounts/{id}/history", Method::GET, accounts::history)
        .route("/v1/transfers", Method::POST, accounts::transfer)
        .route_with_json("/v1/transfers/batch", Method::POST, accounts::transfer_batch, batch_json)
        .route("/v1/transfers/{id}", Method::GET, accounts::get_transfer)
        .route("/v1/holds", Method::POST, accounts::place_hold)
        .route("/v1/holds", Method::GET, lists::holds)
        .route("/v1/holds/{id}", Method::GET, accounts::get_hold)
        .route("/v1/holds/{id}/capture", Method::POST, accounts::capture_hold)
        .route("/v1/holds/{id}/void", Method::POST, accounts::void_hold)
        .route("/v1/merchants", Method::POST, payments::register_merchant)
        .route("/v1/merchants/{id}/settlements", Method::GET, lists::merchant_settlements)
        .route("/v1/terminals", Method::POST, payments::register_terminal)
        .route("/v1/operators", Method::POST, payments::register_operator)
        .route("/v1/authorizations", Method::POST, payments::authorize)
        .route("/v1/authorizations", Method::GET, lists::authorizations)
        .route("/v1/authorizations/{id}", Method::GET, payments::get_authorization)
        .route("/v1/authorizations/{id}/revoke", Method::POST, payments::revoke_authorization)
        .route("/v1/pos/settlements", Method::POST, payments::settle)
        .route("/v1/pos/settlements/{id}", Method::GET, payments::get_settlement)
        .route("/v1/pos/settlements/{id}/reverse", Method::POST, payments::reverse)
        .route("/v1/pos/settlements/{id}/refunds", Method::POST, payments::refund_settlement)
        .route("/v1/bills", Method::POST, payments::open_bill)
        .route("/v1/bills", Method::GET, lists::bills)
        .route("/v1/bills/{id}", Method::GET, payments::get_bill)
        .route("/v1/bills/{id}/items", Method::POST, payments::add_bill_item)
        .route("/v1/bills/{id}/submit", Method::POST, payments::submit_bill)
        .route("/v1/bills/{id}/confirm", Method::POST, payments::confirm_bill)
        .route("/v1/bills/{id}/cancel", Method::POST, payments::cancel_bill)
        .route("/v1/bills/{id}/refunds", Method::POST, payments::refund_bill)
        .route("/v1/splits", Method::POST, users::request_split)
        .route("/v1/splits", Method::GET, lists::splits)
        .route("/v1/splits/{id}", Method::GET, users::get_split)
        .route("/v1/splits/{id}/pay", Method::POST, users::pay_split)
        .route("/v1/splits/{id}/cancel", Method::POST, users::cancel_split)
        .route("/v1/splits/{id}/refund", Method::POST, users::refund_split)
        .route("/v1/contacts", Method::POST, users::add_contact)
        .route("/v1/coupons", Method::POST, users::issue_coupon)
        .route("/v1/coupons/verify", Method::POST, users::verify_coupon)
        .route("/v1/coupons/redeem", Method::POST, users::redeem_coupon)
        .route("/v1/coupons/{id}", Method::GET, users::get_coupon)
        .route("/v1/coupons/{id}/share", Method::POST, users::share_coupon)
        .route("/v1/coupons/{id}/claim", Method::POST, users::claim_coupon)
        .route("/v1/users/{user}/pool", Method::GET, users::pool)
        .route("/v1/users/{user}/claimable", Method::GET, users::claimable)
        .route("/v1/users/{user}/coupons", Method::GET, lists::user_coupons)
        .route("/v1/users/{user}/splits", Method::GET, lists::user_splits)
        .route("/v1/quotes", Method::POST, users::quote)
        .route("/v1/events", Method::GET, events::events)
        .finish();
}

// ----- plumbing ------------------------------------------------------------------------------

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    u64::try_from(since_epoch.as_millis()).expect("milliseconds fit u64")
}

fn id(text: &str) -> Result<Id, ApiError> {
    Id::new(text).map_err(|error| ApiError::bad_request(codes::INVALID_ID, format!("{text:?}: {error}")))
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> ApiError {
        match error {
            RequestError::Invalid { code, message } => ApiError::bad_request(code, message),
            RequestError::Rejected(rejection) => ApiError::rejected(rejection),
            RequestError::Unprocessable { code, message } => ApiError::unprocessable(code, message),
        }
    }
}

/// Submits `command` as the caller; a rejection is the error.
async fn submit(state: &Data, caller: &Caller, command: Command) -> Result<Reply, ApiError> {
    submit_as(state, caller.sends(command)).await
}

/// Submits `submission` (a command, its caller and maybe metadata); a rejection is the error.
async fn submit_as(state: &Data, submission: Submission) -> Result<Reply, ApiError> {
    match state.engine.submit(submission).await? {
        Outcome::Applied(reply) => Ok(reply),
        Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => Err(ApiError::rejected(rejection)),
    }
}

/// Submits `command` as the caller and renders, from the state right after it, what it
/// changed: one engine round trip.
async fn submit_viewed<T: Send + 'static>(
    state: &Data,
    submission: Submission,
    view: impl FnOnce(&Reply, &StateMachine) -> T + Send + 'static,
) -> Result<(Reply, T), ApiError> {
    let answer = state
        .engine
        .submit_viewed(submission, move |outcome, machine| match outcome {
            Outcome::Applied(reply) => {
                let rendered = view(&reply, machine);
                Ok((reply, rendered))
            }
            Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => Err(rejection),
        })
        .await?;
    answer.map_err(ApiError::rejected)
}

/// How an object in memory is shown: its view, if it exists.
type View<V> = fn(&StateMachine, &Id) -> Option<V>;

/// Submits `command` as the caller and answers its reply with `object`'s view right after it
/// (`view`, as [`get_view`] renders it): one engine round trip for a write and what it changed.
async fn submit_and_view<V: Send + 'static>(
    state: &Data,
    submission: Submission,
    view: View<V>,
    object: Id,
) -> Result<(Reply, V), ApiError> {
    let (reply, rendered) = submit_viewed(state, submission, move |_, machine| view(machine, &object)).await?;
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
    // An account lives on its own partition, a hold with its payer, the rest on the home one.
    let partition = state.engine.partition_of_read(&read).map_err(events::query_error)?;
    let check_then_query = move |machine: &StateMachine| machine.check_read(&principal, &read).map(|()| query(machine));
    let answer = state.engine.read_partition(partition, check_then_query).await?;
    answer.map_err(ApiError::rejected)
}

/// A read the caller may make, answered with the object's view (`view`), or `missing` when
/// the object does not exist (which only the admin learns: to others it is `forbidden`).
async fn get_view<V: Serialize + Send + 'static>(
    state: &Data,
    caller: &Caller,
    read: Read,
    object: Id,
    view: View<V>,
    missing: Rejection,
) -> Answer {
    let found = self::read(state, caller, read, move |machine| view(machine, &object)).await?;
    found.map_or_else(|| Err(ApiError::rejected(missing)), |view| ok(&view))
}

/// An engine lookup of one object that may have left memory (`kassa_engine::runtime::ObjectPage`
/// has the lists): the object if the caller may read it, `None` if it does not exist.
type Lookup<T> = fn(&Engine, &Principal, &Id) -> Result<Option<T>, QueryError>;

/// How an object found by a [`Lookup`] is shown.
type ObjectView<T, V> = fn(&Id, &T) -> V;

/// An object that may have left memory for storage, looked up through the engine under the read
/// rules, with its `metadata` (an object, empty when nothing was attached); `missing` when it
/// does not exist (which only the admin learns: to others it is `forbidden`).
async fn get_with_metadata<T: Send + 'static, V: WithMetadata + Serialize>(
    state: &Data,
    caller: &Caller,
    (kind, object): (MetadataKind, Id),
    (lookup, view): (Lookup<T>, ObjectView<T, V>),
    missing: Rejection,
) -> Answer {
    let (engine, principal, key) = (state.engine.clone(), caller.principal.clone(), object.clone());
    let found = blocking(move || {
        let Some(found) = lookup(&engine, &principal, &key)? else { return Ok(None) };
        Ok(Some((found, engine.metadata(&principal, kind, &key)?)))
    })
    .await?;
    let (found, metadata) = found.ok_or_else(|| ApiError::rejected(missing))?;
    ok(&view(&object, &found).with_metadata(metadata))
}

/// Runs an engine query that reads storage (blocking) off the async workers.
async fn blocking<R: Send + 'static>(
    query: impl FnOnce() -> Result<R, QueryError> + Send + 'static,
) -> Result<R, ApiError> {
    web::block(query).await.map_err(|_| ApiError::unavailable(SubmitError::ShuttingDown))?.map_err(events::query_error)
}

/// 200 with `body` as JSON.
fn ok(body: &impl Serialize) -> Answer {
    Ok(HttpResponse::Ok().json(body))
}

// ----- service -------------------------------------------------------------------------------

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", operation_id = "get_health", tag = "service", security(()),
    responses((status = 200, description = "ok", body = Health)))]
pub(super) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: Liveness::Ok })
}

/// Readiness: 503 while the engine recovers or after a storage failure.
///
/// After a storage failure the engine stops and the server exits; until then this answers 503.
#[utoipa::path(get, path = "/ready", operation_id = "get_ready", tag = "service", security(()),
    responses((status = 200, description = "ready", body = Ready),
        (status = 503, description = "recovering or storage_failed", body = Ready)))]
async fn ready(state: Data) -> HttpResponse {
    if state.engine.has_failed() {
        return HttpResponse::ServiceUnavailable().json(Ready { status: Readiness::StorageFailed, error: None });
    }
    HttpResponse::Ok().json(Ready { status: Readiness::Ready, error: None })
}

/// Any route but `/health` while the engine recovers.
pub(super) async fn recovering() -> HttpResponse {
    let error = ErrorDetail::new(codes::RECOVERING, "the engine is recovering");
    HttpResponse::ServiceUnavailable()
        .insert_header(("retry-after", "1"))
        .json(Ready { status: Readiness::Recovering, error: Some(error) })
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", operation_id = "get_metrics", tag = "service", security(()),
    responses((status = 200, description = "text exposition format", content_type = "text/plain", body = String)))]
async fn metrics(state: Data) -> HttpResponse {
    let body = state.metrics.as_ref().map(|handle| handle.render()).unwrap_or_default();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body)
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", operation_id = "get_openapi_json", tag = "service", security(()),
    responses((status = 200, description = "OpenAPI 3.0.3", body = Object)))]
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(openapi::document())
}
