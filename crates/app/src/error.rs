//! The one place where errors become HTTP: every context's error enum is mapped here to an
//! RFC 9457 problem with a stable machine-readable `code`.
//!
//! Storage failures are logged with their detail and answered generically: 503
//! `database_unavailable` with `Retry-After` when the database is out of reach or timed out (a
//! retry may succeed), 500 `internal_error` otherwise. Clients never see SQL, driver messages or
//! connection strings.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use catalog::CatalogError;
use identity::IdentityError;
use inventory::InventoryError;
use orders::OrdersError;
use persistence::StoreError;
use users::UsersError;

use crate::problems::{self, Code, CurrentPrice, FieldError, Problem, Shortage};

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
    /// The catalog refused (unknown product, sku taken, a price or currency an order cannot
    /// have) or failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The inventory refused (not enough stock) or failed.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// A unit of work spanning contexts failed in storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request itself is unacceptable (bad JSON, bad header, bad query) before or outside
    /// any context, or an authorization rule refused it.
    #[error("{detail}")]
    Request {
        /// What kind of problem; it fixes the status.
        code: Code,
        /// What is wrong with this request, in the client's terms.
        detail: String,
    },
    /// Fields of the request are missing, unknown or invalid: 422 `validation_failed`
    /// listing every one, so that a form can mark each.
    #[error("{} field(s) are invalid", .0.len())]
    Validation(Vec<FieldError>),
}

impl AppError {
    /// A problem of `code` with this request's explanation.
    pub fn request(code: Code, detail: impl Into<String>) -> Self {
        Self::Request {
            code,
            detail: detail.into(),
        }
    }

    /// The bad fields this error names, if it is a validation failure; else the error itself.
    pub(crate) fn into_field_errors(self) -> Result<Vec<FieldError>, Self> {
        match self {
            Self::Validation(errors) => Ok(errors),
            Self::Users(UsersError::Invalid { field, reason })
            | Self::Identity(IdentityError::Invalid { field, reason }) => {
                Ok(vec![FieldError::new(field, reason)])
            }
            Self::Orders(OrdersError::Invalid { field, reason })
            | Self::Catalog(CatalogError::Invalid { field, reason }) => {
                Ok(vec![FieldError::new(field, reason)])
            }
            Self::Inventory(InventoryError::Invalid { field, reason }) => {
                Ok(vec![FieldError::new(field, reason)])
            }
            other => Err(other),
        }
    }

    /// The problem document a client sees. Context errors keep their own wording, which is
    /// written for clients; storage failures are logged and answered generically.
    fn problem(&self) -> Problem {
        match self {
            Self::Users(err) => match err {
                UsersError::Invalid { field, reason } => {
                    validation(vec![FieldError::new(*field, *reason)])
                }
                UsersError::EmailTaken => Problem::new(
                    problems::EMAIL_TAKEN,
                    "An account with this e-mail address already exists.",
                ),
                UsersError::NotFound(_) => Problem::new(problems::USER_NOT_FOUND, err.to_string()),
                UsersError::VersionConflict { .. } => {
                    Problem::new(problems::VERSION_CONFLICT, stale(err))
                }
                UsersError::Store(store) => storage(store),
            },
            Self::Orders(err) => match err {
                OrdersError::Invalid { field, reason } => {
                    validation(vec![FieldError::new(field.clone(), *reason)])
                }
                OrdersError::UnknownCustomer(_) => {
                    Problem::new(problems::UNKNOWN_CUSTOMER, err.to_string())
                }
                OrdersError::CustomerDeactivated(_) => {
                    Problem::new(problems::CUSTOMER_DEACTIVATED, err.to_string())
                }
                OrdersError::NotFound(_) => {
                    Problem::new(problems::ORDER_NOT_FOUND, err.to_string())
                }
                OrdersError::IllegalTransition { .. } => {
                    Problem::new(problems::ILLEGAL_TRANSITION, err.to_string())
                }
                OrdersError::VersionConflict { .. } => {
                    Problem::new(problems::VERSION_CONFLICT, stale(err))
                }
                OrdersError::IdempotencyKeyReused => Problem::new(
                    problems::IDEMPOTENCY_KEY_REUSED,
                    "This Idempotency-Key was already used for a different request.",
                ),
                OrdersError::Store(store) => storage(store),
            },
            Self::Identity(err) => match err {
                IdentityError::Invalid { field, reason } => {
                    validation(vec![FieldError::new(*field, *reason)])
                }
                IdentityError::InvalidCredentials => Problem::new(
                    problems::INVALID_CREDENTIALS,
                    "The e-mail address or the password is wrong.",
                ),
                IdentityError::TooManyAttempts { retry_after } => Problem::new(
                    problems::TOO_MANY_ATTEMPTS,
                    format!(
                        "Too many failed sign-ins for this address; try again in {} s.",
                        retry_after_secs(*retry_after)
                    ),
                ),
                IdentityError::Unauthenticated => Problem::new(
                    problems::UNAUTHENTICATED,
                    "Send a valid bearer token: Authorization: Bearer <token>.",
                ),
                IdentityError::NotFound(_) => {
                    Problem::new(problems::USER_NOT_FOUND, err.to_string())
                }
                IdentityError::Hashing => {
                    tracing::error!("password hashing failed");
                    internal_problem()
                }
                IdentityError::Store(store) => storage(store),
            },
            Self::Catalog(err) => match err {
                CatalogError::Invalid { field, reason } => {
                    validation(vec![FieldError::new(field.clone(), *reason)])
                }
                CatalogError::SkuTaken(_) => Problem::new(problems::SKU_TAKEN, err.to_string()),
                CatalogError::NotFound(_) => {
                    Problem::new(problems::PRODUCT_NOT_FOUND, err.to_string())
                }
                CatalogError::VersionConflict { .. } => {
                    Problem::new(problems::VERSION_CONFLICT, stale(err))
                }
                CatalogError::UnknownProducts(lines) => {
                    lines_at_fault(problems::UNKNOWN_PRODUCT, lines, "names no product on sale")
                }
                CatalogError::CurrencyNotOffered(lines) => lines_at_fault(
                    problems::CURRENCY_NOT_OFFERED,
                    lines,
                    "has no price in the order's currency",
                ),
                CatalogError::PriceChanged(changed) => {
                    let mut problem = Problem::new(
                        problems::PRICE_CHANGED,
                        format!(
                            "{} line(s) were sent with a price that is not the current one; nothing was reserved.",
                            changed.len()
                        ),
                    );
                    problem.prices = Some(
                        changed
                            .iter()
                            .map(|(sku, price)| CurrentPrice {
                                sku: sku.as_str().to_owned(),
                                unit_price_cents: price.cents(),
                            })
                            .collect(),
                    );
                    problem
                }
                CatalogError::Store(store) => storage(store),
            },
            Self::Inventory(err) => match err {
                InventoryError::Invalid { field, reason } => {
                    validation(vec![FieldError::new(*field, *reason)])
                }
                InventoryError::NotFound(sku) => Problem::new(
                    problems::PRODUCT_NOT_FOUND,
                    format!("no product has sku {sku}"),
                ),
                InventoryError::InsufficientStock(shortages) => {
                    let mut problem = Problem::new(
                        problems::INSUFFICIENT_STOCK,
                        format!(
                            "{} line(s) want more units than are available; nothing was reserved.",
                            shortages.len()
                        ),
                    );
                    problem.shortages = Some(
                        shortages
                            .iter()
                            .map(|s| Shortage {
                                sku: s.sku.as_str().to_owned(),
                                requested: s.requested,
                                available: s.available,
                            })
                            .collect(),
                    );
                    problem
                }
                InventoryError::BelowReserved { .. } => {
                    Problem::new(problems::INSUFFICIENT_STOCK, err.to_string())
                }
                InventoryError::VersionConflict { .. } => {
                    Problem::new(problems::VERSION_CONFLICT, stale(err))
                }
                InventoryError::Store(store) => storage(store),
            },
            Self::Store(store) => storage(store),
            Self::Request { code, detail } => Problem::new(*code, detail.clone()),
            Self::Validation(errors) => validation(errors.clone()),
        }
    }
}

/// 422 `validation_failed` naming every bad field, in the detail and in `errors`.
fn validation(errors: Vec<FieldError>) -> Problem {
    let each: Vec<String> = errors
        .iter()
        .map(|e| format!("{} {}", e.field, e.reason))
        .collect();
    let detail = format!("{}.", each.join("; "));
    let mut problem = Problem::new(problems::VALIDATION_FAILED, detail);
    problem.errors = Some(errors);
    problem
}

/// A refusal naming order lines (`items[2].sku`) in `errors`.
fn lines_at_fault(code: Code, lines: &[usize], reason: &str) -> Problem {
    let errors: Vec<FieldError> = lines
        .iter()
        .map(|i| FieldError::new(format!("items[{i}].sku"), reason))
        .collect();
    let each: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
    let mut problem = Problem::new(code, format!("{} {reason}.", each.join(", ")));
    problem.errors = Some(errors);
    problem
}

/// A stale `If-Match`: the versions are the client's business, the wording is ours.
fn stale(err: &impl std::fmt::Display) -> String {
    format!("If-Match names no current version of this resource: {err}.")
}

/// A storage failure: 503 when the database is unavailable (the pool's acquire timeout, a
/// broken connection, a statement or busy timeout), 500 for anything else.
fn storage(err: &StoreError) -> Problem {
    if err.is_unavailable() {
        tracing::warn!(error = %err.detail(), "database unavailable");
        return Problem::new(
            problems::DATABASE_UNAVAILABLE,
            "The database is unavailable or overloaded; retry after the Retry-After delay.",
        );
    }
    tracing::error!(error = %err.detail(), kind = ?err.kind(), "storage failure");
    internal_problem()
}

/// What `Retry-After` says on a 503: long enough for a pool to drain or a connection to be
/// re-established, short enough that clients come back soon after an outage ends.
pub(crate) const DATABASE_RETRY_AFTER_SECS: u32 = 2;

fn internal_problem() -> Problem {
    Problem::new(
        problems::INTERNAL_ERROR,
        "The server could not complete the request. It has been logged.",
    )
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
        let mut response = self.problem().into_response();
        let status = response.status();
        let headers = response.headers_mut();
        // RFC 9110: every 401 names the scheme that would work.
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::Identity(IdentityError::TooManyAttempts { retry_after }) = self {
            headers.insert(header::RETRY_AFTER, retry_after_secs(retry_after).into());
        }
        // RFC 9110: a 503 may say when to come back; ours always does.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, DATABASE_RETRY_AFTER_SECS.into());
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
    let code = match status {
        StatusCode::NOT_FOUND => problems::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED => problems::METHOD_NOT_ALLOWED,
        StatusCode::PAYLOAD_TOO_LARGE => problems::PAYLOAD_TOO_LARGE,
        StatusCode::REQUEST_TIMEOUT => problems::REQUEST_TIMEOUT,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => problems::UNSUPPORTED_MEDIA_TYPE,
        StatusCode::URI_TOO_LONG => problems::URI_TOO_LONG,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => problems::HEADERS_TOO_LARGE,
        s if s.is_server_error() => problems::INTERNAL_ERROR,
        _ => problems::BAD_REQUEST,
    };
    let detail = match code {
        problems::NOT_FOUND => "No resource lives at this path.",
        problems::METHOD_NOT_ALLOWED => "This path does not accept this method.",
        problems::REQUEST_TIMEOUT => "The request took too long and was abandoned.",
        _ => code.about,
    };
    let mut body = Problem::new(code, detail);
    // A status the registry has no code for (501, 502, …) keeps its own number.
    body.status = status.as_u16();
    let mut problem = body.into_response();
    // Keep headers such as `Allow` and `x-request-id`.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}
