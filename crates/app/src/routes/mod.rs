//! Routes and the middleware stack around them.

mod events;
mod health;
mod orders;
mod sessions;
mod users;

use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower::ServiceBuilder;
use tower::util::MapResponseLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::problem_for_bare_errors;
use crate::extract::etag;
use crate::state::AppState;

/// Largest accepted request body.
pub(crate) const BODY_LIMIT: usize = 1024 * 1024;

pub(crate) fn router(state: AppState, request_timeout: Duration) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(health::routes())
        .merge(users::routes())
        .merge(orders::routes())
        .merge(sessions::routes())
        .merge(events::routes())
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &Request| {
                            let id = request
                                .headers()
                                .get("x-request-id")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-");
                            tracing::info_span!(
                                "request",
                                method = %request.method(),
                                path = %request.uri().path(),
                                request_id = %id,
                            )
                        })
                        // One INFO line per request (status, latency) inside the request's span,
                        // so it carries the request id like every other line of the request.
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(MapResponseLayer::new(problem_for_bare_errors))
                .layer(CatchPanicLayer::new())
                .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    request_timeout,
                )),
        )
}

/// A JSON body with the resource's version as a strong `ETag`.
pub(crate) fn with_etag<T: Serialize>(status: StatusCode, version: i64, body: &T) -> Response {
    (
        status,
        [(axum::http::header::ETAG, etag(version))],
        axum::Json(body),
    )
        .into_response()
}

/// A 201 for a new resource: its JSON, its `ETag` and its `Location`.
pub(crate) fn created<T: Serialize>(location: String, version: i64, body: &T) -> Response {
    let mut response = with_etag(StatusCode::CREATED, version, body);
    if let Ok(location) = location.parse() {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, location);
    }
    response
}

/// A list page as the contract shapes it: `{"items": [...], "next": cursor | null}`.
#[derive(Serialize)]
pub(crate) struct PageBody<T> {
    items: Vec<T>,
    next: Option<String>,
}

impl<T> PageBody<T> {
    /// The same page with each item converted (domain type to wire type).
    pub(crate) fn map<U>(self, f: impl FnMut(T) -> U) -> PageBody<U> {
        PageBody {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

impl<T> From<persistence::Page<T>> for PageBody<T> {
    fn from(page: persistence::Page<T>) -> Self {
        Self {
            items: page.items,
            next: page.next.map(|cursor| cursor.encode()),
        }
    }
}
