//! Sign-in and sign-out: bearer sessions.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use chrono::{DateTime, Utc};
use identity::IdentityError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::AppError;
use crate::auth::BearerToken;
use crate::extract::Json;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/sessions", post(sign_in))
        .route("/v1/sessions/current", delete(sign_out))
}

#[derive(Deserialize)]
struct SignIn {
    email: String,
    password: String,
}

/// The one response that ever carries a token.
#[derive(Serialize)]
struct SessionBody<'a> {
    token: &'a str,
    token_type: &'static str,
    expires_at: DateTime<Utc>,
    user_id: Uuid,
}

async fn sign_in(
    State(state): State<AppState>,
    Json(body): Json<SignIn>,
) -> Result<Response, AppError> {
    let session = state.workflows.sign_in(&body.email, &body.password).await?;
    let body = SessionBody {
        token: session.token.as_str(),
        token_type: "Bearer",
        expires_at: session.expires_at,
        user_id: session.account.as_uuid(),
    };
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_static("/v1/sessions/current"),
    );
    // A credential: no cache may keep it (RFC 6749 §5.1 asks the same of token responses).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Revokes the token the request was made with; it stops working at once on every instance
/// because every request looks its session up in the database. One statement: deleting the
/// live session is also the check that the token was valid.
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
