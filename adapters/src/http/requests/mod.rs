//! The JSON request bodies of the HTTP API and their conversion into engine commands.
//!
//! This module is pure: no actix, no engine, no clock, no randomness. What a handler knows
//! besides the body (the id in the path, the time, a fresh nonce, the caller's operator, the
//! terminal's currency) arrives as arguments, so the fuzz target `fuzz/fuzz_targets/http_json.rs`
//! drives exactly the code the server runs: `serde_json` decoding (what `web::Json` does), then
//! the conversion. Every body refuses unknown fields. A conversion refuses with a
//! [`RequestError`]; it never panics.
//!
//! Authorization is not here: handlers check the caller before they convert, so the order of
//! their answers is unchanged.
//!
//! One file per group of routes: `accounts.rs` (keys, accounts, transfers, holds),
//! `payments.rs` (merchants, POS, bills, refunds), `users.rs` (splits, contacts, coupons); the
//! queries and what they share are here.
//!
//! With the feature `server`, the bodies derive their OpenAPI schemas (utoipa's `ToSchema`,
//! named as the document names them) and the queries their parameters (`IntoParams`); each
//! field's bounds come from `super::schemas`.

mod accounts;
mod payments;
#[cfg(test)]
mod tests;
mod users;

use std::fmt;

use kassa_engine::metadata::Metadata;
use kassa_engine::{Currency, Rejection};
use serde::Deserialize;

use super::codes;
#[cfg(feature = "server")]
use super::schemas;

pub use accounts::*;
pub use payments::*;
pub use users::*;

/// Why a request body does not make a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Malformed: answered 400 with `code` (`invalid_currency`, `invalid_expiry`, ...).
    Invalid {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
    /// Well-formed but refused by a rule the engine would apply too; answered as that rejection.
    Rejected(Rejection),
    /// Well-formed JSON of the right shape whose content breaks a rule of the HTTP layer's own
    /// (metadata keys): answered 422 with `code`, like a rejection.
    Unprocessable {
        /// Machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
    },
}

impl RequestError {
    /// A malformed request.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> RequestError {
        RequestError::Invalid { code, message: message.into() }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Invalid { code, message } => write!(f, "{code}: {message}"),
            RequestError::Rejected(rejection) => write!(f, "rejected: {}", rejection.code()),
            RequestError::Unprocessable { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

impl std::error::Error for RequestError {}

/// An ISO 4217 alpha code (`"EUR"`) as a supported currency.
pub fn currency(alpha: &str) -> Result<Currency, RequestError> {
    Currency::from_alpha(alpha).map_err(|_| {
        RequestError::invalid(codes::INVALID_CURRENCY, format!("{alpha:?} is not a supported ISO 4217 code"))
    })
}

/// The instant `seconds` after `now_ms`; one that does not fit a `u64` of milliseconds is
/// refused `invalid_expiry` (422), as the engine refuses any other expiry too far ahead.
pub fn expiry(now_ms: u64, seconds: u64) -> Result<u64, RequestError> {
    seconds
        .checked_mul(1_000)
        .and_then(|ms| ms.checked_add(now_ms))
        .ok_or(RequestError::Rejected(Rejection::InvalidExpiry))
}

/// A request's `metadata` object (string values only), as the engine's bounded [`Metadata`]:
/// a value that is not a string is malformed (400 `invalid_metadata`); a key, a value or a count
/// outside the bounds is content the API refuses (422 `invalid_metadata`: OpenAPI 3.0 cannot
/// describe which keys an object may have, so a key the document allows may still be refused).
pub fn metadata(body: Option<&MetadataBody>) -> Result<Option<Metadata>, RequestError> {
    let Some(MetadataBody(map)) = body else { return Ok(None) };
    let entries = map.iter().map(|(key, value)| match value {
        serde_json::Value::String(text) => Ok((key.clone(), text.clone())),
        _ => Err(RequestError::invalid(codes::INVALID_METADATA, format!("metadata value of {key:?} is not a string"))),
    });
    let entries = entries.collect::<Result<Vec<_>, _>>()?;
    let unprocessable = |message: String| RequestError::Unprocessable { code: codes::INVALID_METADATA, message };
    let metadata = Metadata::new(entries).map_err(|error| unprocessable(error.to_string()))?;
    Ok((!metadata.is_empty()).then_some(metadata))
}

/// A request's `metadata` object as it was sent, every entry kept: a JSON map type would keep
/// only the last of two entries with one key, so a duplicate would pass unseen; here it reaches
/// [`Metadata::new`], which refuses it (422 `invalid_metadata`), as the binary protocol does.
#[derive(Debug, Clone, Default)]
pub struct MetadataBody(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for MetadataBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<MetadataBody, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = MetadataBody;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a metadata object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<MetadataBody, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(MetadataBody(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

// ----- queries ---------------------------------------------------------------------------------

/// The query of a list in pages: `limit` (default 100, clamped to 1..=1000) and the id of the
/// last item of the previous page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct PageQuery {
    /// Most items returned.
    #[cfg_attr(feature = "server", param(schema_with = schemas::page_limit))]
    pub limit: Option<usize>,
    /// The last item of the previous page.
    #[cfg_attr(feature = "server", param(schema_with = schemas::id_cursor))]
    pub starting_after: Option<String>,
}

/// Most items one page may hold.
pub const PAGE_LIMIT_MAX: usize = 1_000;

/// A page size asked for: 100 unless given; outside 1..=[`PAGE_LIMIT_MAX`] it is refused
/// (`invalid_limit`), never silently changed.
pub fn page_limit(limit: Option<usize>) -> Result<usize, RequestError> {
    match limit {
        None => Ok(100),
        Some(limit) if (1..=PAGE_LIMIT_MAX).contains(&limit) => Ok(limit),
        Some(limit) => {
            Err(RequestError::invalid(codes::INVALID_LIMIT, format!("limit {limit} is not within 1..=1000")))
        }
    }
}

impl PageQuery {
    /// The page size asked for ([`page_limit`]).
    pub fn limit(&self) -> Result<usize, RequestError> {
        page_limit(self.limit)
    }
}

/// The query of `GET /v1/events`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct EventsQuery {
    /// Most events returned (default 100, 1..=1000).
    #[cfg_attr(feature = "server", param(schema_with = schemas::page_limit))]
    pub limit: Option<usize>,
    /// The `next_after` of the previous page (`"<seq>.<index>"`): this page holds later events.
    #[cfg_attr(feature = "server", param(schema_with = schemas::cursor))]
    pub after: Option<String>,
    /// Wait up to this many milliseconds (at most 30,000) for an event when there is none yet.
    #[cfg_attr(feature = "server", param(schema_with = schemas::wait_ms))]
    pub wait_ms: Option<u64>,
}

/// The longest `GET /v1/events` may wait for an event (`wait_ms`).
pub const EVENTS_WAIT_MS_MAX: u64 = 30_000;

impl EventsQuery {
    /// The page size asked for ([`page_limit`]).
    pub fn limit(&self) -> Result<usize, RequestError> {
        page_limit(self.limit)
    }

    /// How long to wait for an event: 0 unless given; more than [`EVENTS_WAIT_MS_MAX`] is
    /// refused (`invalid_wait`).
    pub fn wait_ms(&self) -> Result<u64, RequestError> {
        match self.wait_ms {
            Some(wait) if wait > EVENTS_WAIT_MS_MAX => {
                Err(RequestError::invalid(codes::INVALID_WAIT, format!("wait_ms {wait} is more than 30000")))
            }
            wait => Ok(wait.unwrap_or(0)),
        }
    }
}

/// The query of `GET /v1/accounts/{id}/history`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct HistoryQuery {
    /// Most lines returned (default 100, 1..=1000).
    #[cfg_attr(feature = "server", param(schema_with = schemas::page_limit))]
    pub limit: Option<usize>,
    /// The id of the last line of the previous page: this page holds older lines.
    #[cfg_attr(feature = "server", param(schema_with = schemas::cursor))]
    pub starting_after: Option<String>,
}
