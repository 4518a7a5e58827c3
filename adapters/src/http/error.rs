//! Errors as JSON: `{"error":{"code":"...","message":"..."}}` ([`ErrorBody`]).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use kassa_engine::{Id, Rejection, SubmitError};
use serde::Serialize;
use utoipa::ToSchema;

use super::codes;
use super::schemas::{self, ErrorCode};

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// An error's code and explanation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: an engine rejection's code or one of the HTTP layer's own.
    #[schema(value_type = ErrorCode)]
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// A refused atomic batch: the refused transfer's number, from 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub leg: Option<u32>,
    /// A refused atomic batch: the refused transfer's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schemas::id)]
    pub transfer: Option<Id>,
}

impl ErrorDetail {
    /// An error with `code` and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> ErrorDetail {
        ErrorDetail { code: code.into(), message: message.into(), leg: None, transfer: None }
    }

    /// A rejection's code, explained by its own words.
    pub fn of(rejection: Rejection) -> ErrorDetail {
        let code = rejection.code();
        ErrorDetail::new(code, code.replace('_', " "))
    }
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl ApiError {
    /// 400 with a code.
    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: code.into(), message: message.into() }
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::UNAUTHORIZED, code: codes::UNAUTHORIZED.into(), message: message.into() }
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::FORBIDDEN, code: Rejection::Forbidden.code().into(), message: message.into() }
    }

    /// 422: a well-formed request that this caller must complete (`code` says what).
    pub fn unprocessable(code: &str, message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, code: code.into(), message: message.into() }
    }

    /// 404 for an object the caller may not see or that does not exist.
    pub fn not_found(code: &str) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, code: code.into(), message: code.replace('_', " ") }
    }

    /// The answer to a business rejection.
    pub fn rejected(rejection: Rejection) -> ApiError {
        use Rejection::*;
        let status = match rejection {
            AccountNotFound
            | CounterpartyNotFound
            | HoldNotFound
            | MerchantNotFound
            | TerminalNotFound
            | OperatorNotFound
            | BillNotFound
            | SplitNotFound
            | CouponNotFound
            | SettlementNotFound
            | KeyNotFound
            | AuthorizationNotFound => StatusCode::NOT_FOUND,
            IdReused | AlreadyExists => StatusCode::CONFLICT,
            WrongMerchant | Forbidden => StatusCode::FORBIDDEN,
            // Capacity, not the request: retrying once older ids expire succeeds.
            IdTableFull => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let code = rejection.code();
        // A POS decline is answered 200 (`approved: false`), not through `error_response`, so
        // the secure-code failures a brute force produces are logged here.
        if matches!(rejection, IncorrectCode | CodeTriesExceeded) {
            tracing::warn!(code, "HTTP: secure code or challenge refused");
        }
        ApiError { status, code: code.into(), message: code.replace('_', " ") }
    }

    /// The answer when the engine could not take the request.
    pub fn unavailable(error: SubmitError) -> ApiError {
        let (status, code) = match error {
            SubmitError::Busy => (StatusCode::SERVICE_UNAVAILABLE, codes::BUSY),
            SubmitError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, codes::SHUTTING_DOWN),
            SubmitError::StorageFailed => (StatusCode::SERVICE_UNAVAILABLE, codes::STORAGE_FAILED),
            SubmitError::InvalidBatch => (StatusCode::BAD_REQUEST, codes::INVALID_BATCH),
            SubmitError::NotOwner { .. } => (StatusCode::SERVICE_UNAVAILABLE, codes::NOT_OWNER),
        };
        ApiError { status, code: code.into(), message: error.to_string() }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        log_refusal(self);
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("retry-after", "1"));
        }
        response.json(self.body())
    }
}

impl ApiError {
    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: ErrorDetail::new(&self.code, self.message.clone()) }
    }
}

/// Logs an error answer once, as it is sent: refusals of scope (403) as warnings; malformed
/// requests (400) and values past a limit (422 `invalid_*`: amounts, fields, rules) as
/// information; other business rejections (404, 409, 422: ordinary answers) and busy answers
/// (503: counted by `kassa_busy_total`, and far too many under overload to log one by one) at
/// debug level. 401 is logged by the key extractor, with the path.
fn log_refusal(error: &ApiError) {
    let (status, code, message) = (error.status.as_u16(), error.code.as_str(), error.message.as_str());
    match status {
        401 => {}
        403 => tracing::warn!(status, code, detail = message, "HTTP: request refused"),
        400 => tracing::info!(status, code, detail = message, "HTTP: request refused"),
        422 if code.starts_with("invalid_") => tracing::info!(status, code, detail = message, "HTTP: request refused"),
        _ => tracing::debug!(status, code, detail = message, "HTTP: request refused"),
    }
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> ApiError {
        ApiError::unavailable(error)
    }
}
