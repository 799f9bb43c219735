//! Routes and the middleware stack around them.

mod docs;
mod events;
mod health;
mod orders;
mod sessions;
mod users;

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
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
use utoipa_axum::router::OpenApiRouter;

use crate::error::problem_for_bare_errors;
use crate::extract::etag;
use crate::state::AppState;
use crate::{AppError, observability, problems, telemetry};

/// Largest accepted request body.
pub(crate) const BODY_LIMIT: usize = 1024 * 1024;

/// Every route together with its OpenAPI description: a route cannot be added without one.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    use utoipa::OpenApi as _;
    OpenApiRouter::with_openapi(crate::openapi::Base::openapi())
        .merge(health::routes())
        .merge(users::routes())
        .merge(orders::routes())
        .merge(sessions::routes())
        .merge(events::routes())
        .merge(docs::routes())
}

pub(crate) fn router(state: AppState, request_timeout: Duration) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let (routes, _) = api().split_for_parts();
    routes.with_state(state).layer(
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
                        // The route template names the span in traces (never the raw path,
                        // which holds ids); logs keep the path.
                        let route = request
                            .extensions()
                            .get::<MatchedPath>()
                            .map_or("unmatched", MatchedPath::as_str);
                        let span = tracing::info_span!(
                            "request",
                            otel.name = %format_args!("{} {route}", request.method()),
                            otel.kind = "server",
                            method = %request.method(),
                            path = %request.uri().path(),
                            http.route = route,
                            request_id = %id,
                            user_id = tracing::field::Empty,
                            http.response.status_code = tracing::field::Empty,
                        );
                        telemetry::continue_trace(&span, request.headers());
                        span
                    })
                    // One INFO line per request (status, latency) inside the request's span,
                    // so it carries the request id like every other line of the request.
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
            )
            .layer(axum::middleware::from_fn(observability::observe_request))
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(MapResponseLayer::new(problem_for_bare_errors))
            .layer(CatchPanicLayer::new())
            .layer(axum::middleware::from_fn(reject_oversized_head))
            .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                request_timeout,
            )),
    )
}

/// Longest request target (path and query) the service reads; hyper itself refuses targets
/// of 64 KiB and more with a bare 414, before the service sees them.
const MAX_TARGET: usize = 8 * 1024;
/// Largest header block the service reads; hyper itself refuses more than 100 headers, or
/// a head larger than its read buffer, with a bare 431.
const MAX_HEADERS: usize = 16 * 1024;

/// Answers 414/431 as problem documents for the oversized requests that reach the service,
/// so a client gets the same shape of error as everywhere else.
async fn reject_oversized_head(request: Request, next: axum::middleware::Next) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if target > MAX_TARGET {
        return AppError::request(
            problems::URI_TOO_LONG,
            "The request target exceeds 8 KiB; send large input in a body.",
        )
        .into_response();
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers > MAX_HEADERS {
        return AppError::request(
            problems::HEADERS_TOO_LARGE,
            "The request's headers exceed 16 KiB.",
        )
        .into_response();
    }
    next.run(request).await
}

/// A 200 JSON body.
pub(crate) fn json<T: Serialize>(body: &T) -> Response {
    axum::Json(body).into_response()
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
