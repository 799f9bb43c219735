use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use users::{DisplayName, Email, NewUser, UserId};
use uuid::Uuid;

use super::{PageBody, created, with_etag};
use crate::AppError;
use crate::extract::{Json, ListParams, Path, Query, required_if_match};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users", post(create).get(list))
        .route("/v1/users/{id}", get(fetch).patch(rename))
        .route("/v1/users/{id}/deactivate", post(deactivate))
        .route("/v1/users/{id}/orders", get(orders))
}

#[derive(Deserialize)]
struct CreateUser {
    email: String,
    display_name: String,
}

async fn create(
    State(state): State<AppState>,
    Json(body): Json<CreateUser>,
) -> Result<Response, AppError> {
    let new = NewUser {
        email: Email::parse(&body.email)?,
        display_name: DisplayName::parse(&body.display_name)?,
    };
    let user = state.users.register(new).await?;
    Ok(created(
        format!("/v1/users/{}", user.id),
        user.version,
        &user,
    ))
}

async fn fetch(State(state): State<AppState>, Path(id): Path<Uuid>) -> Result<Response, AppError> {
    let user = state.users.get(UserId::from_uuid(id)).await?;
    Ok(with_etag(StatusCode::OK, user.version, &user))
}

async fn list(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let page = state.users.list(params.page()?).await?;
    Ok(axum::Json(PageBody::from(page)).into_response())
}

#[derive(Deserialize)]
struct RenameUser {
    display_name: String,
}

async fn rename(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<RenameUser>,
) -> Result<Response, AppError> {
    let expected = required_if_match(&headers)?;
    let name = DisplayName::parse(&body.display_name)?;
    let user = state
        .users
        .rename(UserId::from_uuid(id), expected, name)
        .await?;
    Ok(with_etag(StatusCode::OK, user.version, &user))
}

async fn deactivate(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    let user = state
        .workflows
        .deactivate_user(UserId::from_uuid(id))
        .await?;
    Ok(with_etag(StatusCode::OK, user.version, &user))
}

async fn orders(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let page = state
        .workflows
        .user_orders(UserId::from_uuid(id), params.page()?)
        .await?;
    Ok(axum::Json(PageBody::from(page)).into_response())
}
