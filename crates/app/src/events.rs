//! The encoders of the contexts' integration events: the `data` of each event is the resource
//! as the HTTP API shows it, so a consumer of the feed or the stream reads the same JSON as a
//! client of `GET /v1/users/{id}` or `GET /v1/orders/{id}` (without the user's `role`, which
//! belongs to the identity context and is not part of a users event).
//!
//! The contexts emit plain typed events and know no JSON; the app hands each context an
//! [`Outbox`] built here (see `persistence::outbox` for the design).

use orders::{Order, OrderEvent, OrderStatus};
use persistence::{Faults, Outbox};
use serde_json::{Value, json};
use users::{User, UserEvent, UserStatus};

/// The users context's outbox: events carry the user as JSON.
pub fn user_outbox(faults: Faults) -> Outbox<UserEvent> {
    Outbox::new(|event: &UserEvent| user_json(event.user())).with_faults(faults)
}

/// The orders context's outbox: events carry the order (with its lines) as JSON.
pub fn order_outbox(faults: Faults) -> Outbox<OrderEvent> {
    Outbox::new(|event: &OrderEvent| order_json(event.order())).with_faults(faults)
}

/// A user as the HTTP API shows it, less the role.
pub fn user_json(user: &User) -> Value {
    let status = match user.status {
        UserStatus::Active => "active",
        UserStatus::Deactivated => "deactivated",
    };
    json!({
        "id": user.id.as_uuid(),
        "email": user.email.as_str(),
        "display_name": user.display_name.as_str(),
        "status": status,
        "version": user.version,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    })
}

/// An order as the HTTP API shows it.
pub fn order_json(order: &Order) -> Value {
    let status = match order.status {
        OrderStatus::Pending => "pending",
        OrderStatus::Paid => "paid",
        OrderStatus::Shipped => "shipped",
        OrderStatus::Cancelled => "cancelled",
    };
    let items: Vec<Value> = order
        .items
        .iter()
        .map(|item| {
            json!({
                "sku": item.sku.as_str(),
                "quantity": item.quantity.get(),
                "unit_price_cents": item.unit_price_cents.cents(),
            })
        })
        .collect();
    json!({
        "id": order.id.as_uuid(),
        "user_id": order.customer_id.as_uuid(),
        "status": status,
        "currency": order.currency.as_str(),
        "total_cents": order.total_cents.cents(),
        "items": items,
        "version": order.version,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    })
}
