//! `/v1/orders`: placing orders, reading them, and moving them through their lifecycle.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use orders::{CustomerId, OrderId, OrderStatus, OrdersError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::respond::{created, with_etag};
use crate::AppError;
use crate::auth::{Caller, forbidden};
use crate::extract::{Json, Path};
use crate::headers::{IfMatch, idempotency_key, optional_version};
use crate::metrics::IDEMPOTENT_REPLAYED;
use crate::state::AppState;
use crate::wire::{OrderBody, PlaceOrderRequest};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place))
        .routes(routes!(fetch))
        .routes(routes!(pay))
        .routes(routes!(ship))
        .routes(routes!(cancel))
}

/// Whom an order is placed for: a customer orders for itself, an admin for anyone it names.
fn customer_for(caller: &Caller, requested: Option<Uuid>) -> Result<CustomerId, AppError> {
    match (caller.is_admin(), requested.map(CustomerId::from_uuid)) {
        (false, None) => Ok(caller.customer()),
        (false, Some(id)) if id == caller.customer() => Ok(id),
        (false, Some(_)) => Err(forbidden()),
        (true, Some(id)) => Ok(id),
        (true, None) => Err(OrdersError::Invalid {
            field: "user_id".to_owned(),
            reason: "is required when an admin places an order",
        }
        .into()),
    }
}

/// Places an order priced by the catalog, reserving its stock; retrying with the same
/// `Idempotency-Key` and body returns the first order (and reserves nothing again).
#[utoipa::path(post, path = "/v1/orders", tag = "orders", operation_id = "place_order",
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "1 to 255 visible ASCII characters, scoped to the customer; at most once. A retry with the same key and body returns the original order.",
        example = "order-2026-11-25-0001")),
    request_body = PlaceOrderRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The order (new, or the original one on a replay).", body = OrderBody, headers(
            ("Location" = String, description = "The order's path"),
            ("ETag" = String, description = "The order's version, quoted"),
            ("Idempotent-Replayed" = String, description = "`true` when an earlier request with this key created the order")),
            links(
                ("GetOrder" = (operation_id = "get_order", parameters(("id" = "$response.body#/id")))),
                ("PayOrder" = (operation_id = "pay_order", parameters(("id" = "$response.body#/id")))),
                ("ShipOrder" = (operation_id = "ship_order", parameters(("id" = "$response.body#/id")))),
                ("CancelOrder" = (operation_id = "cancel_order", parameters(("id" = "$response.body#/id")))),
                ("OwnerOrders" = (operation_id = "list_user_orders", parameters(("id" = "$response.body#/user_id")))),
            )),
        (status = 400, description = "duplicate_header"),
        (status = 403, description = "forbidden"),
        (status = 409, description = "price_changed insufficient_stock"),
        (status = 422, description = "unknown_customer customer_deactivated unknown_product currency_not_offered idempotency_key_reused"),
    ))]
async fn place(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<PlaceOrderRequest>,
) -> Result<Response, AppError> {
    let key = idempotency_key(&headers)?;
    let customer = customer_for(&caller, body.user_id)?;
    let placed = state
        .workflows
        .place_order(body.parse(customer)?, key)
        .await?;
    let order = OrderBody::from(placed.order);
    let mut response = created(order.location(), order.version, &order);
    if placed.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

fn order_response(order: orders::Order) -> Response {
    let body = OrderBody::from(order);
    with_etag(StatusCode::OK, body.version, &body)
}

/// One order (its owner's, or any for an admin).
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders", operation_id = "get_order",
    params(("id" = Uuid, Path, description = "The order's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order with its lines.", body = OrderBody, headers(
            ("ETag" = String, description = "The order's version, quoted"))),
        (status = 404, description = "order_not_found"),
    ))]
async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    let order = state.orders.get(OrderId::from_uuid(id)).await?;
    caller.require_owner_or_admin(&order)?;
    Ok(order_response(order))
}

/// Pays a pending order (owner or admin).
#[utoipa::path(post, path = "/v1/orders/{id}/pay", tag = "orders", operation_id = "pay_order",
    params(("id" = Uuid, Path, description = "The order's id"), IfMatch),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The paid order.", body = OrderBody, headers(
            ("ETag" = String, description = "The new version, quoted"))),
        (status = 404, description = "order_not_found"),
        (status = 409, description = "illegal_transition"),
        (status = 412, description = "version_conflict"),
    ))]
async fn pay(
    state: State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    transition(&state, &caller, id, OrderStatus::Paid, &headers).await
}

/// Ships a paid order (admins only; the owner gets 403).
#[utoipa::path(post, path = "/v1/orders/{id}/ship", tag = "orders", operation_id = "ship_order",
    params(("id" = Uuid, Path, description = "The order's id"), IfMatch),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The shipped order.", body = OrderBody, headers(
            ("ETag" = String, description = "The new version, quoted"))),
        (status = 403, description = "forbidden"),
        (status = 404, description = "order_not_found"),
        (status = 409, description = "illegal_transition"),
        (status = 412, description = "version_conflict"),
    ))]
async fn ship(
    state: State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if !caller.is_admin() {
        // 403 only for the owner, who may see the order; 404 for everyone else.
        let order = state.orders.get(OrderId::from_uuid(id)).await?;
        caller.require_owner_or_admin(&order)?;
        return Err(forbidden());
    }
    transition(&state, &caller, id, OrderStatus::Shipped, &headers).await
}

/// Cancels a pending or paid order (owner or admin).
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders", operation_id = "cancel_order",
    params(("id" = Uuid, Path, description = "The order's id"), IfMatch),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The cancelled order.", body = OrderBody, headers(
            ("ETag" = String, description = "The new version, quoted"))),
        (status = 404, description = "order_not_found"),
        (status = 409, description = "illegal_transition"),
        (status = 412, description = "version_conflict"),
    ))]
async fn cancel(
    state: State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    transition(&state, &caller, id, OrderStatus::Cancelled, &headers).await
}

/// Moves an order to `to`. A customer's move is scoped to its own orders inside the one
/// conditional `UPDATE`, so someone else's order is a 404 at no extra cost.
async fn transition(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    to: OrderStatus,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let id = OrderId::from_uuid(id);
    let current = async {
        let order = state.orders.get(id).await?;
        caller.require_owner_or_admin(&order)?;
        Ok(order.version)
    };
    let expected = optional_version(IfMatch::from_headers(headers), current).await?;
    let order = state
        .workflows
        .transition(id, to, expected, caller.order_scope())
        .await?;
    Ok(order_response(order))
}
