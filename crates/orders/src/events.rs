//! The orders context's integration events: what happened to an order, as plain data. How an
//! event is encoded for other services is the app's business (see `persistence::outbox`).

use chrono::{DateTime, Utc};
use persistence::DomainEvent;

use crate::{Order, OrderStatus};

/// A committed change to an order, carrying the order (with its lines) as it was after the
/// change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    /// `order.placed`.
    Placed(Order),
    /// `order.paid`.
    Paid(Order),
    /// `order.shipped`.
    Shipped(Order),
    /// `order.cancelled`, by its customer, an admin or the customer's deactivation.
    Cancelled(Order),
}

impl OrderEvent {
    /// The event that says an order reached its current status.
    pub(crate) fn reached(order: Order) -> Self {
        match order.status {
            OrderStatus::Pending => Self::Placed(order),
            OrderStatus::Paid => Self::Paid(order),
            OrderStatus::Shipped => Self::Shipped(order),
            OrderStatus::Cancelled => Self::Cancelled(order),
        }
    }

    /// The order after the change.
    pub fn order(&self) -> &Order {
        match self {
            Self::Placed(order)
            | Self::Paid(order)
            | Self::Shipped(order)
            | Self::Cancelled(order) => order,
        }
    }
}

impl DomainEvent for OrderEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Placed(_) => "order.placed",
            Self::Paid(_) => "order.paid",
            Self::Shipped(_) => "order.shipped",
            Self::Cancelled(_) => "order.cancelled",
        }
    }

    fn subject(&self) -> String {
        self.order().id.as_uuid().to_string()
    }

    fn time(&self) -> DateTime<Utc> {
        self.order().updated_at
    }
}
