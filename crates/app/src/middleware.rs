//! The middleware every request passes through, outermost first, so that one request's
//! cross-cutting path reads top to bottom here: its request id, its trace context and span,
//! its metrics, its errors as problems, then the limits on its size and time. The routes
//! themselves are in [`crate::routes`].

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower::util::{MapRequestLayer, MapResponseLayer};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::problem_for_bare_errors;
use crate::{AppError, metrics, problems, telemetry};

/// Largest accepted request body.
pub(crate) const BODY_LIMIT: usize = 1024 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the routes in the stack.
pub(crate) fn around(routes: Router, request_timeout: Duration) -> Router {
    routes.layer(
        ServiceBuilder::new()
            // The request id: a client's safe one is kept, anything else replaced by a UUID.
            .layer(MapRequestLayer::new(drop_unsafe_request_id))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            // The request's span, after the trace context is read and sampling decided, and one
            // INFO line per response inside it, so that it carries the request id too.
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                    .on_failure(log_failure),
            )
            .layer(from_fn(trace_response))
            .layer(from_fn(metrics::record_request))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            // Every error a layer or the framework answers with becomes a problem document.
            .layer(MapResponseLayer::new(problem_for_bare_errors))
            .layer(CatchPanicLayer::new())
            // The limits: head size, body size, time.
            .layer(from_fn(reject_oversized_head))
            .layer(from_fn(reject_oversized_body))
            .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                request_timeout,
            )),
    )
}

/// One field list for the request's two span callsites: a sampled request's span is the
/// OpenTelemetry layer's, an unsampled one's (target [`telemetry::UNSAMPLED_TARGET`]) is
/// never seen by it. A callsite's target must be a constant, hence the macro.
macro_rules! span_at {
    ($target:expr, $request:expr, $route:expr, $id:expr) => {
        tracing::info_span!(
            target: $target,
            "request",
            otel.name = %format_args!("{} {}", $request.method(), $route),
            otel.kind = "server",
            method = %$request.method(),
            path = %$request.uri().path(),
            http.route = $route,
            request_id = %$id,
            user_id = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        )
    };
}

/// The request's span. The route template names it in traces (never the raw path, which holds
/// ids); logs keep the path.
fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    telemetry::request_span(
        request.headers(),
        || span_at!(module_path!(), request, route, id),
        || span_at!(telemetry::UNSAMPLED_TARGET, request, route, id),
    )
}

/// An ERROR line for a failed request (a 5xx, a panic among them), except a 503: the service
/// answers those by design (a database away, readiness while draining) and says why at WARN
/// where it decides.
fn log_failure(failure: ServerErrorsFailureClass, latency: Duration, _: &tracing::Span) {
    match failure {
        ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => {}
        ServerErrorsFailureClass::StatusCode(status) => {
            tracing::error!(%status, latency_ms = latency.as_millis(), "response failed");
        }
        ServerErrorsFailureClass::Error(error) => {
            tracing::error!(%error, latency_ms = latency.as_millis(), "response failed");
        }
    }
}

/// Records the status on the request's span and hands the caller the trace in `traceparent`.
async fn trace_response(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    tracing::Span::current().record("http.response.status_code", response.status().as_u16());
    telemetry::write_traceparent(response.headers_mut());
    response
}

/// Longest `x-request-id` taken from a client; a longer one is replaced by a new id.
pub(crate) const MAX_REQUEST_ID: usize = 64;

/// Removes a client's `x-request-id` unless it is short and made of `[A-Za-z0-9._-]`, so that
/// [`SetRequestIdLayer`] generates a new one: a request id ends up in every log line and in
/// the response, and must not carry text a client chose to forge or bloat them.
fn drop_unsafe_request_id(mut request: Request) -> Request {
    let safe = request.headers().get_all("x-request-id").iter().count() == 1
        && request.headers().get("x-request-id").is_some_and(|id| {
            let id = id.as_bytes();
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID
                && id
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if !safe {
        request.headers_mut().remove("x-request-id");
    }
    request
}

/// How much of an oversized body is read and thrown away before the 413 is sent.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;
/// How long draining an oversized body may take.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Answers a body announced larger than [`BODY_LIMIT`] with 413 after reading and discarding
/// it (up to [`DRAIN_LIMIT`] and [`DRAIN_TIME`]), as servers with a lingering close do.
///
/// A client that writes its whole body before reading the response (Python's urllib does)
/// would otherwise see the connection reset under its write, not the 413: closing a socket
/// with unread data makes the kernel send a reset. A body beyond the bound is cut off.
async fn reject_oversized_body(request: Request, next: Next) -> Response {
    let announced = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(length) = announced.filter(|&length| length > BODY_LIMIT as u64) else {
        return next.run(request).await;
    };
    // A client that asked `Expect: 100-continue` waits for the answer before sending the
    // body; reading would invite the body it need not send.
    let waits = request
        .headers()
        .get(axum::http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let mut body = request.into_body();
    let drain = async {
        if waits {
            return false;
        }
        use http_body_util::BodyExt as _;
        let mut drained = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            drained += frame.data_ref().map_or(0, |data| data.len());
            if drained > DRAIN_LIMIT {
                return false;
            }
        }
        true
    };
    let complete = tokio::time::timeout(DRAIN_TIME, drain)
        .await
        .unwrap_or(false);
    let mut response = AppError::request(
        problems::PAYLOAD_TOO_LARGE,
        format!("The request body ({length} bytes) exceeds 1 MiB."),
    )
    .into_response();
    if !complete {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// Longest request target (path and query) the service reads; hyper itself refuses targets
/// of 64 KiB and more with a bare 414, before the service sees them.
const MAX_TARGET: usize = 8 * 1024;
/// Largest header block the service reads; hyper itself refuses more than 100 headers, or
/// a head larger than its read buffer, with a bare 431.
const MAX_HEADERS: usize = 16 * 1024;

/// Answers 414/431 as problem documents for the oversized requests that reach the service,
/// so a client gets the same shape of error as everywhere else.
async fn reject_oversized_head(request: Request, next: Next) -> Response {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// Counts ERROR events.
    #[derive(Clone, Default)]
    struct Errors(Arc<AtomicUsize>);

    impl<S: tracing::Subscriber> Layer<S> for Errors {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if *event.metadata().level() == tracing::Level::ERROR {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn errors_logged(failure: ServerErrorsFailureClass) -> usize {
        let errors = Errors::default();
        let subscriber = tracing_subscriber::registry().with(errors.clone());
        tracing::subscriber::with_default(subscriber, || {
            log_failure(failure, Duration::from_millis(3), &tracing::Span::none());
        });
        errors.0.load(Ordering::SeqCst)
    }

    #[test]
    fn a_503_is_not_an_error_line_but_other_failures_are() {
        use ServerErrorsFailureClass::{Error, StatusCode as Status};
        assert_eq!(errors_logged(Status(StatusCode::SERVICE_UNAVAILABLE)), 0);
        assert_eq!(errors_logged(Status(StatusCode::INTERNAL_SERVER_ERROR)), 1);
        assert_eq!(errors_logged(Error("panicked".to_owned())), 1);
    }
}
