use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use orders::{
    CustomerId, IdempotencyKey, NewOrder, NewOrderItem, Order, OrderId, OrderStatus, OrdersError,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{created, with_etag};
use crate::AppError;
use crate::auth::{Caller, forbidden};
use crate::extract::{Json, Path, optional_if_match};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/orders", post(place))
        .route("/v1/orders/{id}", get(fetch))
        .route("/v1/orders/{id}/{action}", post(transition))
}

/// The lifecycle moves a client can ask for, as the last path segment.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Action {
    Pay,
    Ship,
    Cancel,
}

impl Action {
    fn target(self) -> OrderStatus {
        match self {
            Self::Pay => OrderStatus::Paid,
            Self::Ship => OrderStatus::Shipped,
            Self::Cancel => OrderStatus::Cancelled,
        }
    }
}

#[derive(Deserialize)]
struct PlaceOrder {
    /// Customers may omit it (they order for themselves); admins must name the customer.
    user_id: Option<Uuid>,
    currency: String,
    items: Vec<NewOrderItem>,
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, AppError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        AppError::from(OrdersError::Invalid {
            field: "Idempotency-Key".to_owned(),
            reason: "must be visible ASCII",
        })
    })?;
    Ok(Some(IdempotencyKey::parse(text)?))
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

async fn place(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<PlaceOrder>,
) -> Result<Response, AppError> {
    let customer = customer_for(&caller, body.user_id)?;
    let key = idempotency_key(&headers)?;
    let order = NewOrder::new(customer, &body.currency, body.items)?;
    let placed = state.orders.place(order, key).await?;
    let location = format!("/v1/orders/{}", placed.order.id);
    let mut response = created(location, placed.order.version, &placed.order);
    if placed.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

fn order_response(status: StatusCode, order: &Order) -> Response {
    with_etag(status, order.version, order)
}

async fn fetch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, AppError> {
    let order = state.orders.get(OrderId::from_uuid(id)).await?;
    caller.require_owner_or_admin(&order)?;
    Ok(order_response(StatusCode::OK, &order))
}

/// `POST /v1/orders/{id}/pay|ship|cancel`; any other action is a 404 like any unknown path.
///
/// Owners may pay and cancel; only admins ship. A customer's move is scoped to its own orders
/// inside the one conditional `UPDATE`, so someone else's order is a 404 at no extra cost.
async fn transition(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(Uuid, Action)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let id = OrderId::from_uuid(id);
    if matches!(action, Action::Ship) && !caller.is_admin() {
        // 403 only for the owner, who may see the order; 404 for everyone else.
        let order = state.orders.get(id).await?;
        caller.require_owner_or_admin(&order)?;
        return Err(forbidden());
    }
    let expected = optional_if_match(&headers)?;
    let order = state
        .orders
        .transition(id, action.target(), expected, caller.order_scope())
        .await?;
    Ok(order_response(StatusCode::OK, &order))
}
