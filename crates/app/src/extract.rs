//! Extractors whose rejections are problem documents, and the parsing of headers and query
//! parameters that the contract gives meaning to (If-Match, Idempotency-Key, limit/after).

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::{HeaderMap, StatusCode, header};
use persistence::{Cursor, Limit, PageRequest};
use serde::Deserialize;

use crate::AppError;

/// `axum::Json`, answering problem+json when the body is not acceptable.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct Json<T>(pub T);

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
            _ => "malformed_json",
        };
        AppError::request(status, code, rejection.body_text())
    }
}

/// `axum::extract::Path`, answering 404 problem+json when an id is not a UUID: such a path
/// cannot name any resource.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::request(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No resource lives at this path: {}", rejection.body_text()),
        )
    }
}

/// `?limit=N&after=CURSOR`, kept as text so that bad values get our own error codes.
#[derive(Debug, Deserialize)]
pub struct ListParams {
    limit: Option<String>,
    after: Option<String>,
}

impl ListParams {
    /// Validates the page request: limit 1..=100 (default 20), cursor one we issued.
    pub fn page(&self) -> Result<PageRequest, AppError> {
        let limit = match self.limit.as_deref() {
            None => Limit::default(),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .and_then(|n| Limit::new(n).ok())
                .ok_or_else(|| {
                    AppError::request(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_limit",
                        format!("limit must be a whole number from 1 to 100, got {raw:?}"),
                    )
                })?,
        };
        let after = self
            .after
            .as_deref()
            .map(|token| {
                Cursor::decode(token).map_err(|err| {
                    AppError::request(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_cursor",
                        err.to_string(),
                    )
                })
            })
            .transpose()?;
        Ok(PageRequest { limit, after })
    }
}

/// `axum::extract::Query<ListParams>` with a problem+json rejection.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

impl From<axum::extract::rejection::QueryRejection> for AppError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        AppError::request(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
            rejection.body_text(),
        )
    }
}

/// The version a client's `If-Match` names (our ETags are `"<version>"`).
/// Missing: 428, the contract requires optimistic locking. Unparseable: 412, it cannot match.
pub fn required_if_match(headers: &HeaderMap) -> Result<i64, AppError> {
    match optional_if_match(headers)? {
        Some(version) => Ok(version),
        None => Err(AppError::request(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "Send If-Match with the ETag of the version you are changing.",
        )),
    }
}

/// Like [`required_if_match`], for endpoints where the precondition is optional.
pub fn optional_if_match(headers: &HeaderMap) -> Result<Option<i64>, AppError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let stale = || {
        AppError::request(
            StatusCode::PRECONDITION_FAILED,
            "version_conflict",
            "If-Match does not name a current version of this resource.",
        )
    };
    let text = value.to_str().map_err(|_| stale())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let unquoted = text
        .strip_prefix("W/")
        .unwrap_or(text)
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or_else(stale)?;
    unquoted.parse::<i64>().map(Some).map_err(|_| stale())
}

/// The `ETag` value for a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_if_match(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn if_match_parses_our_etags() {
        assert_eq!(required_if_match(&with_if_match("\"3\"")).unwrap(), 3);
        assert_eq!(required_if_match(&with_if_match("W/\"4\"")).unwrap(), 4);
        assert!(matches!(
            required_if_match(&HeaderMap::new()),
            Err(AppError::Request {
                status: StatusCode::PRECONDITION_REQUIRED,
                ..
            })
        ));
        assert!(matches!(
            required_if_match(&with_if_match("3")),
            Err(AppError::Request {
                status: StatusCode::PRECONDITION_FAILED,
                ..
            })
        ));
        assert_eq!(optional_if_match(&HeaderMap::new()).unwrap(), None);
        assert_eq!(etag(7), "\"7\"");
    }
}
