//! Orders on the wire.

use chrono::{DateTime, Utc};
use orders::{
    Currency, CustomerId, Money, NewRequestedLine, Order, OrderItem, OrderRequest, OrderStatus,
    Quantity, Sku,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Fields;
use super::check::request_bodies;
use crate::AppError;

/// `POST /v1/orders`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "currency": "EUR",
    "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price_cents": 1250}]
}))]
pub(crate) struct PlaceOrderRequest {
    /// Whose order: a customer may omit it (or name itself); an admin must name the customer.
    #[serde(default)]
    pub(crate) user_id: Option<Uuid>,
    /// ISO 4217 code: three upper-case letters.
    #[schema(
        min_length = 3,
        max_length = 3,
        pattern = "^[A-Z]{3}$",
        example = "EUR"
    )]
    currency: String,
    /// The lines, 1 to 100, in the order given, each sku at most once.
    #[schema(min_items = 1, max_items = 100)]
    items: Vec<OrderLineRequest>,
}

/// One line of a new order.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderLineRequest {
    /// The product's sku (`GET /v1/products`).
    #[schema(min_length = 1, max_length = 64, example = "BOOK-1")]
    sku: String,
    /// How many units: 1 to 1000000.
    #[schema(minimum = 1, maximum = 1_000_000, example = 2)]
    quantity: i64,
    /// The unit price the client showed the buyer, in minor units: the server prices every
    /// line from the catalog, and answers 409 `price_changed` if this differs. Leave it out
    /// to accept the current price.
    #[serde(default)]
    #[schema(minimum = 0, example = 1250)]
    unit_price_cents: Option<i64>,
}

request_bodies!(PlaceOrderRequest);

impl PlaceOrderRequest {
    /// The validated request for `customer`, or a 422 naming every bad field (down to the
    /// line: `items[2].quantity`), including the rules over the whole request (how many
    /// lines, a sku twice) that only [`OrderRequest::new`] knows.
    pub(crate) fn parse(self, customer: CustomerId) -> Result<OrderRequest, AppError> {
        let mut fields = Fields::default();
        let currency = Currency::parse(&self.currency);
        // With a bad currency the request is only checked, never placed; "XXX" (ISO 4217's
        // "no currency") lets `OrderRequest::new` go on to the request-wide rules.
        let checked_currency = if currency.is_ok() {
            self.currency.as_str()
        } else {
            "XXX"
        };
        fields.record(currency);
        for (i, line) in self.items.iter().enumerate() {
            let at = |field: String| format!("items[{i}].{field}");
            fields.record_at(Sku::parse(&line.sku), at);
            fields.record_at(Quantity::new(line.quantity), at);
            if let Some(cents) = line.unit_price_cents {
                fields.record_at(Money::from_cents(cents), at);
            }
        }
        let lines = self
            .items
            .into_iter()
            .map(|line| NewRequestedLine {
                sku: line.sku,
                quantity: line.quantity,
                unit_price_cents: line.unit_price_cents,
            })
            .collect();
        // `OrderRequest::new` stops at its first error; adding it to the field-by-field ones
        // above (once) reports the request-wide rules too.
        match OrderRequest::new(customer, checked_currency, lines) {
            Ok(request) => fields.finish().map(|()| request),
            Err(err) => {
                fields.record(Err::<(), _>(err));
                Err(fields.into_error())
            }
        }
    }
}

/// Where an order is in its lifecycle: `pending → paid → shipped`, `pending|paid → cancelled`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OrderStatusBody {
    /// Placed, not yet paid.
    Pending,
    /// Paid, not yet shipped.
    Paid,
    /// Handed to the carrier (final).
    Shipped,
    /// Called off before shipping (final).
    Cancelled,
}

impl From<OrderStatus> for OrderStatusBody {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Pending => Self::Pending,
            OrderStatus::Paid => Self::Paid,
            OrderStatus::Shipped => Self::Shipped,
            OrderStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// One line of an order.
#[derive(Serialize, ToSchema)]
pub(crate) struct OrderItemBody {
    /// Stock-keeping unit, exactly as ordered.
    #[schema(example = "BOOK-1")]
    sku: String,
    /// Units ordered (at least 1).
    #[schema(minimum = 1, example = 2)]
    quantity: i64,
    /// Price of one unit in minor units: the catalog's, when the order was placed.
    #[schema(minimum = 0, example = 1250)]
    unit_price_cents: i64,
}

impl From<OrderItem> for OrderItemBody {
    fn from(item: OrderItem) -> Self {
        Self {
            sku: item.sku.as_str().to_owned(),
            quantity: item.quantity.get(),
            unit_price_cents: item.unit_price_cents.cents(),
        }
    }
}

/// An order as clients see it.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f0c2-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
    "user_id": "0192f0c1-8d2e-7c3a-9b4e-1f2a3b4c5d6e",
    "status": "pending",
    "currency": "EUR",
    "total_cents": 2500,
    "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price_cents": 1250}],
    "version": 1,
    "created_at": "2026-11-25T10:00:00Z",
    "updated_at": "2026-11-25T10:00:00Z"
}))]
pub(crate) struct OrderBody {
    /// Stable id (UUID v7).
    id: Uuid,
    /// The customer who owns the order.
    user_id: Uuid,
    /// Lifecycle state.
    status: OrderStatusBody,
    /// ISO 4217 code of every amount.
    currency: String,
    /// Σ quantity × unit price, in minor units, fixed at placement.
    #[schema(minimum = 0)]
    total_cents: i64,
    /// The lines, in placement order.
    items: Vec<OrderItemBody>,
    /// Bumped by every change; the `ETag` is this number in quotes.
    pub(crate) version: i64,
    /// When the order was placed (UTC).
    created_at: DateTime<Utc>,
    /// When the order last changed (UTC).
    updated_at: DateTime<Utc>,
}

impl From<Order> for OrderBody {
    fn from(order: Order) -> Self {
        Self {
            id: order.id.as_uuid(),
            user_id: order.customer_id.as_uuid(),
            status: order.status.into(),
            currency: order.currency.as_str().to_owned(),
            total_cents: order.total_cents.cents(),
            items: order.items.into_iter().map(OrderItemBody::from).collect(),
            version: order.version,
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }
}

impl OrderBody {
    /// Where the order lives.
    pub(crate) fn location(&self) -> String {
        format!("/v1/orders/{}", self.id)
    }
}

/// A page of one user's orders, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct OrderPage {
    /// Up to `limit` orders.
    pub(crate) items: Vec<OrderBody>,
    /// Pass as `after` for the next page; `null` on the last page. Valid only for this list.
    pub(crate) next: Option<String>,
}
