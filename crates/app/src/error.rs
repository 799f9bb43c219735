//! The one place where errors become HTTP: every context's error enum is mapped here to an
//! RFC 9457 problem with a stable machine-readable `code`.
//!
//! Storage failures are logged with their detail and answered with a generic 500: clients never
//! see SQL, driver messages or connection strings.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use identity::IdentityError;
use orders::OrdersError;
use persistence::StoreError;
use serde::Serialize;
use users::UsersError;

/// Anything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The users context refused or failed.
    #[error(transparent)]
    Users(#[from] UsersError),
    /// The orders context refused or failed.
    #[error(transparent)]
    Orders(#[from] OrdersError),
    /// The identity context refused (bad credentials, no valid token, throttled) or failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A unit of work spanning contexts failed in storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request itself is malformed (bad JSON, bad id, bad header) before any context sees it.
    #[error("{detail}")]
    Request {
        /// HTTP status to answer with.
        status: StatusCode,
        /// Stable machine-readable code.
        code: &'static str,
        /// Human-readable explanation.
        detail: String,
    },
}

impl AppError {
    /// A malformed request.
    pub fn request(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self::Request {
            status,
            code,
            detail: detail.into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, String) {
        use StatusCode as S;
        match self {
            Self::Users(err) => match err {
                UsersError::Invalid { .. } => (
                    S::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    err.to_string(),
                ),
                UsersError::EmailTaken => (S::CONFLICT, "email_taken", err.to_string()),
                UsersError::NotFound(_) => (S::NOT_FOUND, "user_not_found", err.to_string()),
                UsersError::VersionConflict { .. } => {
                    (S::PRECONDITION_FAILED, "version_conflict", err.to_string())
                }
                UsersError::Store(store) => internal(store),
            },
            Self::Orders(err) => match err {
                OrdersError::Invalid { .. } => (
                    S::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    err.to_string(),
                ),
                OrdersError::UnknownCustomer(_) => {
                    (S::UNPROCESSABLE_ENTITY, "unknown_customer", err.to_string())
                }
                OrdersError::CustomerDeactivated(_) => (
                    S::UNPROCESSABLE_ENTITY,
                    "customer_deactivated",
                    err.to_string(),
                ),
                OrdersError::NotFound(_) => (S::NOT_FOUND, "order_not_found", err.to_string()),
                OrdersError::IllegalTransition { .. } => {
                    (S::CONFLICT, "illegal_transition", err.to_string())
                }
                OrdersError::VersionConflict { .. } => {
                    (S::PRECONDITION_FAILED, "version_conflict", err.to_string())
                }
                OrdersError::IdempotencyKeyReused => (
                    S::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    err.to_string(),
                ),
                OrdersError::Store(store) => internal(store),
            },
            Self::Identity(err) => match err {
                IdentityError::Invalid { .. } => (
                    S::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    err.to_string(),
                ),
                IdentityError::InvalidCredentials => (
                    S::UNAUTHORIZED,
                    "invalid_credentials",
                    "The e-mail address or the password is wrong.".to_owned(),
                ),
                IdentityError::TooManyAttempts { retry_after } => (
                    S::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    format!(
                        "Too many failed sign-ins for this address; try again in {} s.",
                        retry_after_secs(*retry_after)
                    ),
                ),
                IdentityError::Unauthenticated => (
                    S::UNAUTHORIZED,
                    "unauthenticated",
                    "Send a valid bearer token: Authorization: Bearer <token>.".to_owned(),
                ),
                IdentityError::NotFound(_) => (S::NOT_FOUND, "user_not_found", err.to_string()),
                IdentityError::Hashing => {
                    tracing::error!("password hashing failed");
                    internal_parts()
                }
                IdentityError::Store(store) => internal(store),
            },
            Self::Store(store) => internal(store),
            Self::Request {
                status,
                code,
                detail,
            } => (*status, code, detail.clone()),
        }
    }
}

fn internal(err: &StoreError) -> (StatusCode, &'static str, String) {
    tracing::error!(error = %err.detail(), kind = ?err.kind(), "storage failure");
    internal_parts()
}

fn internal_parts() -> (StatusCode, &'static str, String) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "The server could not complete the request. It has been logged.".to_owned(),
    )
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize)]
pub(crate) struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
    code: &'static str,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// Whole seconds for `Retry-After`, rounded up so a client never retries too early.
fn retry_after_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, detail) = self.parts();
        let mut response = Problem::new(status, code, detail).into_response();
        let headers = response.headers_mut();
        // RFC 9110: every 401 names the scheme that would work.
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::Identity(IdentityError::TooManyAttempts { retry_after }) = self {
            headers.insert(header::RETRY_AFTER, retry_after_secs(retry_after).into());
        }
        response
    }
}

/// Turns error responses produced outside the handlers (unknown route, wrong method, body too
/// large, timeout, panic) into problem documents, so every error a client sees has one shape.
pub(crate) fn problem_for_bare_errors<B>(response: axum::http::Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response = response.map(axum::body::Body::new);
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "No resource lives at this path."),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "This path does not accept this method.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "The request body exceeds 1 MiB."),
        StatusCode::REQUEST_TIMEOUT => (
            "request_timeout",
            "The request took too long and was abandoned.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "Send JSON with Content-Type: application/json.",
        ),
        s if s.is_server_error() => (
            "internal_error",
            "The server could not complete the request. It has been logged.",
        ),
        _ => ("bad_request", "The request could not be processed."),
    };
    let mut problem = Problem::new(status, code, detail).into_response();
    // Keep headers such as `Allow` and `x-request-id`.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}
