//! Errors as JSON: `{"error":{"code":"...","message":"..."}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use kassa_engine::{Rejection, SubmitError};

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
        ApiError { status: StatusCode::UNAUTHORIZED, code: "unauthorized".into(), message: message.into() }
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::FORBIDDEN, code: "forbidden".into(), message: message.into() }
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
            SubmitError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            SubmitError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            SubmitError::StorageFailed => (StatusCode::SERVICE_UNAVAILABLE, "storage_failed"),
            SubmitError::InvalidBatch => (StatusCode::BAD_REQUEST, "invalid_batch"),
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
        response.json(serde_json::json!({ "error": { "code": self.code, "message": self.message } }))
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
