//! The success responses handlers build.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::headers::etag;

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
