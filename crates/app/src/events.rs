//! The encoders of the contexts' integration events: the `data` of each event is the resource
//! as the HTTP API shows it, so a consumer of the feed or the stream reads the same JSON as a
//! client of `GET /v1/users/{id}` or `GET /v1/orders/{id}` (without the user's `role`, which
//! belongs to the identity context and is not part of a users event).
//!
//! The contexts emit plain typed events and know no JSON; the app hands each context an
//! [`Outbox`] built here (see `persistence::outbox` for the design).

use catalog::ProductEvent;
use inventory::StockEvent;
use orders::{Order, OrderEvent};
use persistence::{Faults, Outbox};
use serde_json::Value;
use users::{User, UserEvent};

use crate::wire::{AdjustedBody, OrderBody, ProductBody, UserEventBody};

/// The users context's outbox: events carry the user as JSON.
pub fn user_outbox(faults: Faults) -> Outbox<UserEvent> {
    Outbox::new(|event: &UserEvent| user_json(event.user())).with_faults(faults)
}

/// The orders context's outbox: events carry the order (with its lines) as JSON.
pub fn order_outbox(faults: Faults) -> Outbox<OrderEvent> {
    Outbox::new(|event: &OrderEvent| order_json(event.order())).with_faults(faults)
}

/// The catalog's outbox: events carry the product as JSON, less `available` (stock is the
/// inventory's, and has events of its own).
pub fn product_outbox(faults: Faults) -> Outbox<ProductEvent> {
    Outbox::new(|event: &ProductEvent| {
        let mut product = serde_json::to_value(ProductBody::new(event.product().clone(), 0))
            .unwrap_or(Value::Null);
        if let Some(fields) = product.as_object_mut() {
            fields.remove("available");
        }
        product
    })
    .with_faults(faults)
}

/// The inventory's outbox: `stock.adjusted` carries what the adjustment answered.
pub fn stock_outbox(faults: Faults) -> Outbox<StockEvent> {
    Outbox::new(|event: &StockEvent| match event {
        StockEvent::Adjusted { stock, adjustment } => {
            serde_json::to_value(AdjustedBody::new(stock.clone(), adjustment.clone()))
                .unwrap_or(Value::Null)
        }
    })
    .with_faults(faults)
}

/// A user as the HTTP API shows it, less the role.
pub fn user_json(user: &User) -> Value {
    serde_json::to_value(UserEventBody::from(user)).unwrap_or(Value::Null)
}

/// An order as the HTTP API shows it: the very wire type `GET /v1/orders/{id}` answers with.
pub fn order_json(order: &Order) -> Value {
    serde_json::to_value(OrderBody::from(order.clone())).unwrap_or(Value::Null)
}
