//! `GET /v1/events`: the event feed, scoped by the caller's authority (`Engine::events`), with
//! an optional long poll.

use std::time::{Duration, Instant};

use actix_web::web;
use kassa_engine::runtime::{EventPage, QueryError};
use kassa_engine::wal::{EventLine, LineId};
use kassa_engine::{Event, SubmitError};
use serde_json::{Value, json};

use super::super::requests::EventsQuery;
use super::views::cause_json;
use super::{Answer, Data, ok};
use crate::auth::Caller;
use crate::http::ApiError;

/// How often a waiting request looks again.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// A page of events after `after` (oldest first); with `wait_ms`, waits up to that long
/// (at most 30 s) for one to arrive. The next page starts after `next_after`.
pub(super) async fn events(state: Data, caller: Caller, query: web::Query<EventsQuery>) -> Answer {
    let limit = query.limit()?;
    let wait = Duration::from_millis(query.wait_ms()?);
    let mut after = match &query.after {
        Some(cursor) => Some(cursor.parse().map_err(|error: String| ApiError::bad_request("invalid_cursor", error))?),
        None => None,
    };
    let deadline = Instant::now() + wait;
    loop {
        let page = page(&state, &caller, after, limit).await?;
        if !page.events.is_empty() || page.has_more || Instant::now() >= deadline {
            return ok(page_json(&page));
        }
        // Nothing yet: look again from where this page stopped.
        after = page.next_after;
        actix_web::rt::time::sleep(POLL_EVERY).await;
    }
}

async fn page(state: &Data, caller: &Caller, after: Option<LineId>, limit: usize) -> Result<EventPage, ApiError> {
    // RocksDB reads (and the wait for the indexer) block: keep them off the actix worker.
    let (engine, principal) = (state.engine.clone(), caller.principal.clone());
    let answer = web::block(move || engine.events(&principal, after, limit))
        .await
        .map_err(|_| ApiError::unavailable(SubmitError::ShuttingDown))?;
    answer.map_err(query_error)
}

/// A failed query of derived data as an HTTP error.
pub(super) fn query_error(error: QueryError) -> ApiError {
    match error {
        QueryError::Engine(error) => ApiError::from(error),
        QueryError::Forbidden => ApiError::rejected(kassa_engine::Rejection::Forbidden),
        QueryError::Storage(error) => {
            tracing::error!(%error, "reading derived data (events, transfers) failed");
            ApiError::unavailable(SubmitError::StorageFailed)
        }
    }
}

fn page_json(page: &EventPage) -> Value {
    let data: Vec<Value> = page.events.iter().map(event_json).collect();
    let next_after = page.next_after.map(|id| id.to_string());
    json!({"object": "list", "data": data, "has_more": page.has_more, "next_after": next_after})
}

/// One event: its position (`id`, the cursor), when, and what happened.
fn event_json(line: &EventLine) -> Value {
    let record = &line.record;
    let mut view = json!({
        "id": line.id.to_string(), "seq": line.id.seq, "at_ms": record.at_ms, "partition": record.partition,
    });
    let what = match &record.event {
        Event::Posting(posting) => {
            let (kind, cause) = cause_json(&posting.cause);
            json!({
                "type": "posting", "account": posting.account.as_str(), "amount": posting.posted_delta,
                "held_change": posting.held_delta, "balance_after": posting.posted_after,
                "held_after": posting.held_after, "kind": kind, "ref": cause,
            })
        }
        Event::Changed { object, id, change } => {
            json!({"type": "changed", "object": object, "object_id": id.as_str(), "change": change})
        }
        Event::CodeRejected { subject } => json!({"type": "code_rejected", "subject": subject.as_str()}),
        Event::Annotated { kind, id, metadata, .. } => {
            json!({"type": "annotated", "object": kind.name(), "object_id": id.as_str(), "metadata": metadata})
        }
    };
    for (key, value) in what.as_object().into_iter().flatten() {
        view[key] = value.clone();
    }
    view
}
