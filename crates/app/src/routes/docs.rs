//! The API describing itself: the OpenAPI document, a reference page rendering it, and a page
//! per problem `type`.

use axum::Json;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::Path;
use crate::state::AppState;
use crate::{AppError, openapi, problems};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(document))
        .routes(routes!(problem_type))
        .routes(routes!(reference))
        .routes(routes!(redoc_script))
}

/// Redoc's standalone bundle (`crates/app/assets/redoc/README.md` says which release): served
/// by the service itself so that the reference page needs no CDN.
const REDOC_JS: &[u8] = include_bytes!("../../assets/redoc/redoc.standalone.js");

/// The reference page. Its URLs are relative so that it works behind a path prefix too.
const REFERENCE_PAGE: &str = "<!doctype html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>orders-backend API reference</title>
<style>body { margin: 0; }</style>
</head>
<body>
<redoc spec-url=\"openapi.json\"></redoc>
<script src=\"docs/redoc.standalone.js\"></script>
</body>
</html>
";

/// An interactive reference of this API, rendered in the browser from `/openapi.json` (no
/// token needed).
#[utoipa::path(get, path = "/docs", tag = "operations", operation_id = "reference",
    responses((status = 200, description = "The reference page (Redoc).", content_type = "text/html", body = String)))]
async fn reference() -> Html<&'static str> {
    Html(REFERENCE_PAGE)
}

/// The script that renders the reference page (Redoc's standalone bundle).
#[utoipa::path(get, path = "/docs/redoc.standalone.js", tag = "operations", operation_id = "reference_script",
    responses((status = 200, description = "Redoc's standalone bundle.", content_type = "text/javascript", body = String)))]
async fn redoc_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        REDOC_JS,
    )
        .into_response()
}

/// This document: the OpenAPI 3.1 description of the service (no token needed).
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI document.", body = Object)))]
async fn document() -> Json<&'static Value> {
    Json(openapi::document())
}

/// What a problem `type` means: the page every problem's `type` URI resolves to.
#[utoipa::path(get, path = "/problems/{code}", tag = "operations", operation_id = "problem_type",
    params(("code" = String, Path, description = "A problem `code`", example = "version_conflict")),
    responses(
        (status = 200, description = "A short page about the problem.", content_type = "text/html", body = String),
        (status = 404, description = "not_found"),
    ))]
async fn problem_type(Path(name): Path<String>) -> Result<Response, AppError> {
    let code = problems::by_name(&name)
        .ok_or_else(|| AppError::request(problems::NOT_FOUND, "No problem type has this code."))?;
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>HTTP {status}, <code>code: \"{name}\"</code></p><p>{about}</p></body></html>\n",
        title = escape(code.title),
        status = code.status.as_u16(),
        name = code.name,
        about = escape(code.about),
    );
    Ok((
        [(header::CACHE_CONTROL, "public, max-age=86400")],
        Html(page),
    )
        .into_response())
}

/// Text as HTML: the registry's sentences mention `<token>`.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
