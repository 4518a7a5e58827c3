//! `GET /v1/events`: the event feed, scoped by the caller's authority (`Engine::events`), with
//! an optional long poll.

use std::time::{Duration, Instant};

use actix_web::web;
use kassa_engine::SubmitError;
use kassa_engine::runtime::{EventPage as Page, QueryError};
use kassa_engine::wal::LineId;

use super::super::requests::EventsQuery;
use super::openapi::{ErrorResponses, readable_events};
use super::pages::{EventPage, EventView, ListObject};
use super::{Answer, Data, ok};
use crate::auth::Caller;
use crate::http::{ApiError, codes};

/// How often a waiting request looks again.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// The event feed, oldest first: every posting and state change of every acknowledged command,
/// at its position in the log (stable across restarts); the admin sees every event, a tenant
/// those of the objects it may read (the read rows of docs/tenancy.md; registrations and
/// wrong-code attempts are the admin's). Pages: limit 1..1000 (default 100), after = the
/// previous page's next_after; wait_ms (up to 30000) waits for an event when there is none yet
/// (long poll). A tenant's page looks at no more than 4,096 events.
#[utoipa::path(get, path = "/v1/events", operation_id = "get_v1_events", tag = "events", params(EventsQuery),
    responses((status = 200, description = "ok", body = EventPage), ErrorResponses),
    extensions(("x-kassa-roles" = json!(readable_events()))))]
pub(super) async fn events(state: Data, caller: Caller, query: web::Query<EventsQuery>) -> Answer {
    let limit = query.limit()?;
    let wait = Duration::from_millis(query.wait_ms()?);
    let mut after = match &query.after {
        Some(cursor) => {
            Some(cursor.parse().map_err(|error: String| ApiError::bad_request(codes::INVALID_CURSOR, error))?)
        }
        None => None,
    };
    let deadline = Instant::now() + wait;
    loop {
        let page = page(&state, &caller, after, limit).await?;
        if !page.events.is_empty() || page.has_more || Instant::now() >= deadline {
            return ok(&page_view(&page));
        }
        // Nothing yet: look again from where this page stopped.
        after = page.next_after;
        actix_web::rt::time::sleep(POLL_EVERY).await;
    }
}

async fn page(state: &Data, caller: &Caller, after: Option<LineId>, limit: usize) -> Result<Page, ApiError> {
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

fn page_view(page: &Page) -> EventPage {
    let data = page.events.iter().map(EventView::from).collect();
    let next_after = page.next_after.map(|id| id.to_string());
    EventPage { object: ListObject::List, data, has_more: page.has_more, next_after }
}
