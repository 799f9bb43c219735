//! `/v1/users`: sign-up, reading, renaming and deactivating users, and a user's orders.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use users::UserId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::respond::{created, json, with_etag};
use crate::AppError;
use crate::auth::Caller;
use crate::extract::{Json, ListParams, Path};
use crate::headers::{IfMatch, required_version};
use crate::state::AppState;
use crate::wire::{OrderBody, OrderPage, RenameUserRequest, SignUpRequest, UserBody, UserPage};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up, list))
        .routes(routes!(fetch, rename))
        .routes(routes!(deactivate))
        .routes(routes!(orders))
}

/// The list of all users, as cursors name it.
const USERS_LIST: &str = "users";

/// The list of one user's orders, as cursors name it.
fn orders_list(user: UserId) -> String {
    format!("orders-of:{user}")
}

fn user_response(status: StatusCode, body: UserBody) -> Response {
    with_etag(status, body.version, &body)
}

/// Sign up: creates a customer (no token needed).
#[utoipa::path(post, path = "/v1/users", tag = "users", operation_id = "sign_up",
    request_body = SignUpRequest,
    responses(
        (status = 201, description = "Signed up; sign in next.", body = UserBody, headers(
            ("Location" = String, description = "The new user's path"),
            ("ETag" = String, description = "The user's version, quoted")),
            links(
                ("GetUser" = (operation_id = "get_user", parameters(("id" = "$response.body#/id")))),
                ("RenameUser" = (operation_id = "rename_user", parameters(("id" = "$response.body#/id")))),
                ("DeactivateUser" = (operation_id = "deactivate_user", parameters(("id" = "$response.body#/id")))),
                ("ListUserOrders" = (operation_id = "list_user_orders", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 409, description = "email_taken"),
        (status = 422, description = "validation_failed"),
    ))]
async fn sign_up(
    State(state): State<AppState>,
    Json(body): Json<SignUpRequest>,
) -> Result<Response, AppError> {
    let (new, password) = body.parse()?;
    let body = UserBody::from(state.workflows.sign_up(new, password).await?);
    Ok(created(body.location(), body.version, &body))
}

/// One user (self, or anyone for an admin).
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", operation_id = "get_user",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user.", body = UserBody, headers(
            ("ETag" = String, description = "The user's version, quoted"))),
        (status = 404, description = "user_not_found"),
    ))]
async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    let id = UserId::from_uuid(id);
    caller.require_self_or_admin(id)?;
    let view = state.workflows.user(&caller, id).await?;
    Ok(user_response(StatusCode::OK, view.into()))
}

/// Every user in registration order (admins only).
#[utoipa::path(get, path = "/v1/users", tag = "users", operation_id = "list_users",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users.", body = UserPage),
        (status = 400, description = "bad_request"),
        (status = 403, description = "forbidden"),
        (status = 422, description = "invalid_limit invalid_cursor"),
    ))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: ListParams,
) -> Result<Response, AppError> {
    caller.require_admin()?;
    let page = state
        .workflows
        .users(params.page(&state.cursors, USERS_LIST)?)
        .await?;
    let next = page.next.map(|c| state.cursors.seal(c, USERS_LIST));
    let items = page.items.into_iter().map(UserBody::from).collect();
    Ok(json(&UserPage { items, next }))
}

/// Renames a user; `If-Match` is required (`*`, or a list of ETags of which one is current).
#[utoipa::path(patch, path = "/v1/users/{id}", tag = "users", operation_id = "rename_user",
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("If-Match" = String, Header, description = "The ETag of the version being changed, a list of ETags, or `*`. Compared strongly: `W/` tags never match.", example = "\"1\""),
    ),
    request_body = RenameUserRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The renamed user.", body = UserBody, headers(
            ("ETag" = String, description = "The new version, quoted"))),
        (status = 404, description = "user_not_found"),
        (status = 412, description = "version_conflict"),
        (status = 428, description = "precondition_required"),
    ))]
async fn rename(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<RenameUserRequest>,
) -> Result<Response, AppError> {
    let id = UserId::from_uuid(id);
    caller.require_self_or_admin(id)?;
    let name = body.parse()?;
    let current = async { Ok(state.users.get(id).await?.version) };
    let expected = required_version(IfMatch::from_headers(&headers), current).await?;
    let user = state.users.rename(id, expected, name).await?;
    let view = state.workflows.view(&caller, user).await?;
    Ok(user_response(StatusCode::OK, view.into()))
}

/// Deactivates a user, cancels its pending orders and revokes its sessions, together.
#[utoipa::path(post, path = "/v1/users/{id}/deactivate", tag = "users", operation_id = "deactivate_user",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The deactivated user (unchanged if it already was).", body = UserBody, headers(
            ("ETag" = String, description = "The user's version, quoted"))),
        (status = 404, description = "user_not_found"),
    ))]
async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    let id = UserId::from_uuid(id);
    caller.require_self_or_admin(id)?;
    let view = state.workflows.deactivate_user(&caller, id).await?;
    Ok(user_response(StatusCode::OK, view.into()))
}

/// A user's orders, newest first.
#[utoipa::path(get, path = "/v1/users/{id}/orders", tag = "orders", operation_id = "list_user_orders",
    params(("id" = Uuid, Path, description = "The user's id"), ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the user's orders.", body = OrderPage),
        (status = 400, description = "bad_request"),
        (status = 404, description = "user_not_found"),
        (status = 422, description = "invalid_limit invalid_cursor"),
    ))]
async fn orders(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    params: ListParams,
) -> Result<Response, AppError> {
    let id = UserId::from_uuid(id);
    caller.require_self_or_admin(id)?;
    let list = orders_list(id);
    let page = state
        .workflows
        .user_orders(id, params.page(&state.cursors, &list)?)
        .await?;
    let next = page.next.map(|c| state.cursors.seal(c, &list));
    let items = page.items.into_iter().map(OrderBody::from).collect();
    Ok(json(&OrderPage { items, next }))
}
