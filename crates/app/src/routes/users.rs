use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use identity::Password;
use serde::{Deserialize, Serialize};
use users::{DisplayName, Email, NewUser, User, UserId};
use uuid::Uuid;

use super::{PageBody, created, with_etag};
use crate::AppError;
use crate::auth::Caller;
use crate::extract::{Json, ListParams, Path, Query, required_if_match};
use crate::state::AppState;
use crate::workflows::UserView;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users", post(sign_up).get(list))
        .route("/v1/users/{id}", get(fetch).patch(rename))
        .route("/v1/users/{id}/deactivate", post(deactivate))
        .route("/v1/users/{id}/orders", get(orders))
}

/// A user on the wire: the users context's user plus the identity context's role.
#[derive(Serialize)]
struct UserBody {
    #[serde(flatten)]
    user: User,
    role: &'static str,
}

impl From<UserView> for UserBody {
    fn from(view: UserView) -> Self {
        Self {
            user: view.user,
            role: view.role.as_str(),
        }
    }
}

fn user_response(status: StatusCode, view: UserView) -> Response {
    let version = view.user.version;
    with_etag(status, version, &UserBody::from(view))
}

#[derive(Deserialize)]
struct SignUp {
    email: String,
    display_name: String,
    password: String,
}

async fn sign_up(
    State(state): State<AppState>,
    Json(body): Json<SignUp>,
) -> Result<Response, AppError> {
    let new = NewUser {
        email: Email::parse(&body.email)?,
        display_name: DisplayName::parse(&body.display_name)?,
    };
    let password = Password::parse(&body.password)?;
    let view = state.workflows.sign_up(new, password).await?;
    let version = view.user.version;
    let location = format!("/v1/users/{}", view.user.id);
    Ok(created(location, version, &UserBody::from(view)))
}

async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    let id = UserId::from_uuid(id);
    caller.require_self_or_admin(id)?;
    let view = state.workflows.user(&caller, id).await?;
    Ok(user_response(StatusCode::OK, view))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    let page = state.workflows.users(params.page()?).await?;
    let page = PageBody::from(page).map(UserBody::from);
    Ok(axum::Json(page).into_response())
}

#[derive(Deserialize)]
struct RenameUser {
    display_name: String,
}

async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<RenameUser>,
) -> Result<Response, AppError> {
    let id = UserId::from_uuid(id);
    caller.require_self_or_admin(id)?;
    let expected = required_if_match(&headers)?;
    let name = DisplayName::parse(&body.display_name)?;
    let user = state.users.rename(id, expected, name).await?;
    let view = state.workflows.view(&caller, user).await?;
    Ok(user_response(StatusCode::OK, view))
}

async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    let id = UserId::from_uuid(id);
    caller.require_self_or_admin(id)?;
    let view = state.workflows.deactivate_user(&caller, id).await?;
    Ok(user_response(StatusCode::OK, view))
}

async fn orders(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<ListParams>,
) -> Result<Response, AppError> {
    let id = UserId::from_uuid(id);
    caller.require_self_or_admin(id)?;
    let page = state.workflows.user_orders(id, params.page()?).await?;
    Ok(axum::Json(PageBody::from(page)).into_response())
}
