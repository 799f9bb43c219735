//! Extractors whose rejections are problem documents: JSON bodies, path parameters and the
//! list parameters (`limit`, `after`). The contract's headers are parsed in
//! [`crate::headers`].
//!
//! Every rejection here is worded for the client: no serde or axum message (which name Rust
//! types) ever reaches a `detail`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use persistence::{CursorCodec, Limit, PageRequest};
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::IntoParams;

use crate::AppError;
use crate::problems::{self, FieldError};
use crate::wire::check::RequestBody;

/// A JSON request body, checked against its documented schema (every missing, unknown or
/// mistyped field is reported at once, as 422 `validation_failed`) before it is deserialised.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        if !is_json(request.headers()) {
            return Err(AppError::request(
                problems::UNSUPPORTED_MEDIA_TYPE,
                "Send the body as JSON with Content-Type: application/json.",
            ));
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => AppError::request(
                        problems::PAYLOAD_TOO_LARGE,
                        "The request body exceeds 1 MiB.",
                    ),
                    _ => AppError::request(
                        problems::MALFORMED_JSON,
                        "The request body could not be read completely.",
                    ),
                })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|err| {
            AppError::request(
                problems::MALFORMED_JSON,
                format!(
                    "The body is not valid JSON (line {}, column {}).",
                    err.line(),
                    err.column()
                ),
            )
        })?;
        let errors = T::shape().check(&value);
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        serde_json::from_value(value).map(Json).map_err(|err| {
            // The schema check passed, so this is a gap between schema and type: log it for
            // us, and tell the client only what it can act on.
            tracing::warn!(error = %err, "a body that matches its schema did not deserialise");
            AppError::Validation(vec![FieldError::new(
                "body",
                "does not match the documented schema",
            )])
        })
    }
}

/// `application/json` or any `application/*+json`, parameters (charset) allowed.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// `axum::extract::Path`, answering 404 problem+json when an id is not a UUID: such a path
/// cannot name any resource.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|_| {
                AppError::request(
                    problems::NOT_FOUND,
                    "No resource lives at this path: ids are UUIDs.",
                )
            })
    }
}

/// `?limit=N&after=CURSOR`. Other parameters are ignored.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20, example = 20)]
    limit: Option<String>,
    /// The `next` of the previous page of the same list; omit for the first page.
    #[param(value_type = Option<String>)]
    after: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let axum::extract::Query(pairs) =
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map_err(
                |_| AppError::request(problems::BAD_REQUEST, "The query string is not valid."),
            )?;
        let mut params = Self::default();
        for (name, value) in pairs {
            let (slot, code) = match name.as_str() {
                "limit" => (&mut params.limit, problems::INVALID_LIMIT),
                "after" => (&mut params.after, problems::INVALID_CURSOR),
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(AppError::request(
                    code,
                    format!("Give {name} at most once."),
                ));
            }
        }
        Ok(params)
    }
}

impl ListParams {
    /// The page request: limit 1..=100 (default 20), and a cursor this service sealed for the
    /// list named `list`.
    pub fn page(&self, cursors: &CursorCodec, list: &str) -> Result<PageRequest, AppError> {
        let limit = self.limit()?;
        let after = self
            .after
            .as_deref()
            .map(|token| cursors.open(token, list).map_err(|_| invalid_cursor()))
            .transpose()?;
        Ok(PageRequest { limit, after })
    }

    /// The page request of a list ordered by a text key (products, by sku): the limit, and
    /// the key after which the page starts.
    pub fn text_page(
        &self,
        cursors: &CursorCodec,
        list: &str,
    ) -> Result<(Limit, Option<String>), AppError> {
        let after = self
            .after
            .as_deref()
            .map(|token| cursors.open_text(token, list).map_err(|_| invalid_cursor()))
            .transpose()?;
        Ok((self.limit()?, after))
    }

    fn limit(&self) -> Result<Limit, AppError> {
        Ok(match self.limit.as_deref() {
            None => Limit::default(),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .and_then(|n| Limit::new(n).ok())
                .ok_or_else(|| {
                    AppError::request(
                        problems::INVALID_LIMIT,
                        "limit must be a whole number from 1 to 100.",
                    )
                })?,
        })
    }
}

fn invalid_cursor() -> AppError {
    AppError::request(
        problems::INVALID_CURSOR,
        "after is not a cursor of this list: pass the \"next\" value of the previous page of \
         the same list, unchanged.",
    )
}
