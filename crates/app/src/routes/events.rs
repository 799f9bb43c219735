//! `GET /v1/events`: the integration-event feed, for admins, in commit order. The embedded
//! default that needs no broker; the NATS relay (`crate::relay`) publishes the same envelopes.

use axum::extract::State;
use axum::response::Response;
use persistence::outbox;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::respond::json;
use crate::AppError;
use crate::auth::Caller;
use crate::extract::ListParams;
use crate::problems;
use crate::state::AppState;
use crate::wire::{EventBody, EventPage};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The feed, as cursors name it.
const EVENTS_LIST: &str = "events";

/// Events in commit order, one page at a time (admins only).
///
/// A page shorter than `limit` means "caught up for now"; poll again with `next` and no event
/// is ever missed or repeated.
#[utoipa::path(get, path = "/v1/events", tag = "events", operation_id = "list_events",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events.", body = EventPage),
        (status = 400, description = "bad_request"),
        (status = 403, description = "forbidden"),
        (status = 422, description = "invalid_limit invalid_cursor"),
    ))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: ListParams,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    let page = params.page(&state.cursors, EVENTS_LIST)?;
    let after = match page.after {
        None => outbox::FeedPoint::START,
        Some(cursor) => outbox::point_of(&cursor).map_err(|_| {
            AppError::request(
                problems::INVALID_CURSOR,
                "after is not a cursor of the event feed: pass the \"next\" value of the \
                 previous page, unchanged.",
            )
        })?,
    };
    let events = outbox::read(&state.db, after, page.limit).await?;
    let next = events
        .items
        .last()
        .map(|event| outbox::cursor_after(event.point))
        .or(page.after)
        .map(|cursor| state.cursors.seal(cursor, EVENTS_LIST));
    let items = events.items.into_iter().map(EventBody::from).collect();
    Ok(json(&EventPage { items, next }))
}
