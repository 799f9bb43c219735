use persistence::StoreError;

use crate::{CustomerId, OrderId, OrderStatus};

/// Everything that can go wrong in the orders context, as the app's one error mapping sees it.
#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// Input failed validation; `field` names the offending field for clients, down to the
    /// line (`items[2].quantity`).
    #[error("{field}: {reason}")]
    Invalid {
        /// The input field at fault, as a path into the request.
        field: String,
        /// What is wrong with it, in words fit for a client.
        reason: &'static str,
    },
    /// No customer has this id, so it cannot place orders.
    #[error("customer {0} does not exist")]
    UnknownCustomer(CustomerId),
    /// The customer exists but was deactivated: it can no longer place orders.
    #[error("customer {0} is deactivated")]
    CustomerDeactivated(CustomerId),
    /// No order has this id.
    #[error("order {0} does not exist")]
    NotFound(OrderId),
    /// The lifecycle does not allow this move from the order's current status.
    #[error("an order that is {from} cannot become {to}")]
    IllegalTransition {
        /// The status the order is in.
        from: OrderStatus,
        /// The status the caller asked for.
        to: OrderStatus,
    },
    /// The caller acted on a stale copy: somebody else changed the order first.
    #[error("order was changed concurrently: expected version {expected}, current is {current}")]
    VersionConflict {
        /// The version the caller based its change on.
        expected: i64,
        /// The version stored now.
        current: i64,
    },
    /// The idempotency key was already used by this customer for a different request body.
    #[error("the idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    /// The storage layer failed; details are for logs only.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OrdersError {
    /// Whether this is the unique violation of an idempotency key that a concurrent request
    /// committed first (see [`crate::Orders::insert_in`]).
    pub fn is_key_race(&self) -> bool {
        matches!(self, Self::Store(err) if err.is_unique_violation())
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: &'static str) -> Self {
        Self::Invalid {
            field: field.into(),
            reason,
        }
    }

    /// The same validation error reported at another field path (a line item's field inside
    /// the order request); other errors pass through unchanged.
    pub(crate) fn at(self, field: impl Into<String>) -> Self {
        match self {
            Self::Invalid { reason, .. } => Self::invalid(field, reason),
            other => other,
        }
    }
}
