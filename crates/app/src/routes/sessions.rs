//! Sign-in and sign-out: bearer sessions.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use identity::IdentityError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppError;
use crate::auth::BearerToken;
use crate::extract::Json;
use crate::state::AppState;
use crate::wire::{SessionBody, SignInRequest};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(sign_out))
}

/// Sign in: trades an e-mail address and password for a bearer token.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", operation_id = "sign_in",
    request_body = SignInRequest,
    responses(
        (status = 201, description = "Signed in; send the token as `Authorization: Bearer <token>`.", body = SessionBody, headers(
            ("Location" = String, description = "`/v1/sessions/current`"),
            ("Cache-Control" = String, description = "`no-store`: the body is a credential"))),
        (status = 401, description = "invalid_credentials"),
        (status = 429, description = "too_many_attempts"),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    Json(body): Json<SignInRequest>,
) -> Result<Response, AppError> {
    let session = state.workflows.sign_in(&body.email, &body.password).await?;
    let mut response =
        (StatusCode::CREATED, axum::Json(SessionBody::from(session))).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_static("/v1/sessions/current"),
    );
    // A credential: no cache may keep it (RFC 6749 §5.1 asks the same of token responses).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Sign out: revokes the token the request was made with.
///
/// It stops working at once on every instance because every request looks its session up in
/// the database. One statement: deleting the live session is also the check that the token
/// was valid.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions", operation_id = "sign_out",
    security(("bearer" = [])),
    responses((status = 204, description = "Signed out; the token no longer works.")))]
async fn sign_out(
    State(state): State<AppState>,
    BearerToken(token): BearerToken,
) -> Result<StatusCode, AppError> {
    if state.identity.sign_out(&token).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(IdentityError::Unauthenticated.into())
    }
}
