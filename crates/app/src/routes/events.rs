//! `GET /v1/events`: the integration-event feed, for admins, in commit order. The embedded
//! default that needs no broker; the NATS relay (`crate::relay`) publishes the same envelopes.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use persistence::outbox;

use super::PageBody;
use crate::AppError;
use crate::auth::Caller;
use crate::extract::{ListParams, Query};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/events", get(list))
}

/// `?after=CURSOR&limit=N` → `{"items":[CloudEvents envelope…],"next"}`.
///
/// Unlike the other lists, a feed has no last page: events keep coming. So `next` is always
/// where to resume (after this page's last event, or the same cursor when nothing new has
/// committed), and a consumer that polls with it never misses or repeats an event; it is `null`
/// only while the feed is empty and no cursor was given. A page shorter than `limit` means
/// "caught up for now".
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    let page = params.page()?;
    let after = match page.after {
        None => 0,
        Some(cursor) => outbox::position_of(&cursor).map_err(|err| {
            AppError::request(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_cursor",
                err.to_string(),
            )
        })?,
    };
    let events = outbox::read(&state.db, after, page.limit).await?;
    let next = events
        .items
        .last()
        .map(|event| outbox::cursor_after(event.position))
        .or(page.after);
    Ok(axum::Json(PageBody {
        items: events.items,
        next: next.map(|cursor| cursor.encode()),
    })
    .into_response())
}
