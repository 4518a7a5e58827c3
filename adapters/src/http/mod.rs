//! The HTTP/JSON adapter (actix-web): decode, authenticate, submit, encode. No business rule
//! and no authority decision lives here: the engine decides both, from the caller's principal,
//! inside the commit; this layer only maps JSON to commands and outcomes to status codes.
//!
//! Conventions (Stripe-like): amounts are integers in minor units with an ISO 4217 alpha
//! `currency`; client-chosen ids make every write idempotent; errors are
//! `{"error":{"code":"insufficient_funds","message":"..."}}` with 400 malformed, 401 no or bad
//! key, 403 out of scope, 404 unknown object, 409 id reused, 422 business rejection, 503 busy.
//!
//! [`requests`] (the JSON request bodies and their conversion into commands) and [`codes`] are
//! always there; everything else (routes, handlers, errors, [`AppState`], the OpenAPI document)
//! needs the feature `server`.
//!
//! The OpenAPI document (`GET /openapi.json`, [`openapi_document`]) is generated from the
//! handlers' own request and reply types with utoipa: [`schemas`] has the field schemas they
//! share (ids, amounts, currencies, metadata), `handlers/openapi.rs` the operations.

pub mod codes;
#[cfg(feature = "server")]
mod error;
#[cfg(feature = "server")]
mod handlers;
#[cfg(feature = "server")]
pub mod observe;
pub mod requests;
#[cfg(feature = "server")]
pub mod schemas;

#[cfg(feature = "server")]
use std::sync::Arc;

#[cfg(feature = "server")]
use actix_web::dev::Payload;
#[cfg(feature = "server")]
use actix_web::{FromRequest, HttpRequest, web};
#[cfg(feature = "server")]
use kassa_engine::Engine;
#[cfg(feature = "server")]
use metrics_exporter_prometheus::PrometheusHandle;

#[cfg(feature = "server")]
pub use error::{ApiError, ErrorBody, ErrorDetail};

#[cfg(feature = "server")]
use crate::auth::{Auth, Caller};

/// Largest request body accepted, in bytes.
pub const BODY_BYTES_MAX: usize = 64 * 1024;

/// Largest body of `POST /v1/transfers/batch`: room for its 1,000 transfers with ids of the
/// longest kind (about 250 bytes each).
pub const BATCH_BODY_BYTES_MAX: usize = 256 * 1024;

/// JSON bodies up to `limit` bytes; a malformed or larger one is 400 `malformed_request`.
#[cfg(feature = "server")]
fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|error, _| ApiError::bad_request(codes::MALFORMED_REQUEST, error.to_string()).into())
}

/// What every handler shares.
#[cfg(feature = "server")]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The API keys.
    pub auth: Arc<Auth>,
    /// Renders `/metrics`.
    pub metrics: Option<PrometheusHandle>,
}

#[cfg(feature = "server")]
impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Caller, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<AppState>>().expect("AppState is registered");
        let header = request
            .headers()
            .get("authorization")
            .or_else(|| request.headers().get("x-api-key"))
            .map(|value| value.to_str().unwrap_or("\u{0}"));
        let result = state.auth.authenticate(header).map_err(|error| {
            metrics::counter!("kassa_http_unauthorized_total").increment(1);
            tracing::info!(path = %request.path(), %error, "refused unauthenticated request");
            ApiError::unauthorized(error.to_string())
        });
        std::future::ready(result)
    }
}

/// The routes while the engine recovers: `/health` answers (the process is alive), `/ready`
/// and everything else 503 `recovering`.
#[cfg(feature = "server")]
pub fn configure_recovering(config: &mut web::ServiceConfig) {
    config.route("/health", web::get().to(handlers::health)).default_service(web::to(handlers::recovering));
}

/// Registers every route, the body limit and the JSON/path error handlers.
#[cfg(feature = "server")]
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(json_config(BODY_BYTES_MAX))
        .app_data(
            web::PathConfig::default()
                .error_handler(|error, _| ApiError::bad_request(codes::INVALID_PATH, error.to_string()).into()),
        )
        .app_data(
            web::QueryConfig::default()
                .error_handler(|error, _| ApiError::bad_request(codes::INVALID_QUERY, error.to_string()).into()),
        )
        .app_data(web::PayloadConfig::default().limit(BODY_BYTES_MAX));
    handlers::routes(config, json_config(BATCH_BODY_BYTES_MAX));
}

/// The OpenAPI 3.0.3 document of the HTTP API, as `GET /openapi.json` serves it: generated once
/// from the handlers' request and reply types (utoipa), with each operation's roles from the
/// engine's rules (`kassa_engine::authority::RULES`).
#[cfg(feature = "server")]
pub fn openapi_document() -> &'static str {
    handlers::openapi::document()
}
