//! The values an order is made of, each valid by construction: ids, currency, SKU, quantity,
//! money, idempotency key and status.

use std::fmt;

use uuid::Uuid;

use crate::OrdersError;

/// An order's id (UUID v7: creation-ordered, so "newest first" is "highest id first").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderId(Uuid);

impl OrderId {
    /// Wraps an id that came from outside (a URL, a cursor).
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The raw UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of the customer who owns an order. Customers are users of the users context; this
/// crate knows them only by id and through the [`crate::Customers`] port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomerId(Uuid);

impl CustomerId {
    /// Wraps an id that came from outside (a URL, the users context).
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The raw UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An ISO 4217-shaped currency code: exactly three ASCII upper-case letters (`EUR`, `USD`).
///
/// Only the shape is checked, not membership of the ISO list: the list changes, the shape does
/// not, and a code we do not price in is a business decision above this crate.
///
/// ```
/// use orders::Currency;
/// assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
/// assert!(Currency::parse("eur").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Currency(String);

impl Currency {
    /// A value read back from the table, trusted as stored: it passed the rules of the day it
    /// was written, and a rule tightened since must not make the row unreadable.
    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// Validates a currency code (no trimming, no case folding: the client sends it right).
    pub fn parse(raw: &str) -> Result<Self, OrdersError> {
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(OrdersError::invalid(
                "currency",
                "must be three upper-case letters (ISO 4217), like EUR",
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stock-keeping unit: 1 to 64 characters, at least one visible, no control or format
/// characters (no bidi override or zero-width character makes two SKUs look alike). Stored
/// exactly as given (no trimming): SKUs are opaque codes of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sku(String);

impl Sku {
    /// A value read back from the table, trusted as stored (see [`Currency::from_stored`]).
    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The longest accepted SKU, in characters (the column is `varchar(64)`).
    pub const MAX_CHARS: usize = 64;

    /// Validates a SKU.
    pub fn parse(raw: &str) -> Result<Self, OrdersError> {
        let invalid = |reason| OrdersError::invalid("sku", reason);
        if raw.trim().is_empty() {
            return Err(invalid("must not be empty or blank"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(invalid("must be at most 64 characters"));
        }
        if persistence::text::first_hidden(raw).is_some() {
            return Err(invalid(
                "must not contain control or invisible formatting characters",
            ));
        }
        if !persistence::text::has_visible(raw) {
            return Err(invalid("must contain a visible character"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The SKU.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many units of a SKU a line orders: 1 to 10^6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quantity(i64);

impl Quantity {
    /// A value read back from the table, trusted as stored (see [`Currency::from_stored`]).
    pub(crate) fn from_stored(stored: i64) -> Self {
        Self(stored)
    }

    /// The most units one line may order.
    pub const MAX: i64 = 1_000_000;

    /// Validates a quantity.
    pub fn new(value: i64) -> Result<Self, OrdersError> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(OrdersError::invalid(
                "quantity",
                "must be between 1 and 1000000",
            ))
        }
    }

    /// The number of units.
    pub fn get(&self) -> i64 {
        self.0
    }
}

/// An amount of money in minor units of the order's currency (cents), never negative.
///
/// Integer minor units keep arithmetic exact; every sum and product is checked, so an absurd
/// order is rejected instead of wrapping around to a small or negative total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Money(i64);

impl Money {
    /// A value read back from the table, trusted as stored (see [`Currency::from_stored`]).
    pub(crate) fn from_stored(stored: i64) -> Self {
        Self(stored)
    }

    /// Nothing.
    pub const ZERO: Money = Money(0);

    /// Validates an amount in minor units.
    pub fn from_cents(cents: i64) -> Result<Self, OrdersError> {
        if cents >= 0 {
            Ok(Self(cents))
        } else {
            Err(OrdersError::invalid(
                "unit_price_cents",
                "must not be negative",
            ))
        }
    }

    /// The amount in minor units.
    pub fn cents(&self) -> i64 {
        self.0
    }

    /// `self * quantity`, or `None` when it does not fit in 64 bits.
    pub fn checked_mul(self, quantity: Quantity) -> Option<Money> {
        self.0.checked_mul(quantity.0).map(Self)
    }

    /// `self + other`, or `None` when it does not fit in 64 bits.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Self)
    }
}

/// A client-chosen key that makes retrying a placement safe: 1 to 255 visible ASCII
/// characters (no spaces), scoped to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest accepted key (the column is `varchar(255)`).
    pub const MAX_LEN: usize = 255;

    /// Validates a key.
    pub fn parse(raw: &str) -> Result<Self, OrdersError> {
        let invalid = |reason| OrdersError::invalid("idempotency_key", reason);
        if raw.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(invalid("must be at most 255 characters"));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid("must be visible ASCII characters only"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an order is in its lifecycle: `pending → paid → shipped`, and `pending`/`paid →
/// cancelled`. `shipped` and `cancelled` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Placed, not yet paid.
    Pending,
    /// Paid, not yet shipped.
    Paid,
    /// Handed to the carrier. Final.
    Shipped,
    /// Called off before shipping. Final.
    Cancelled,
}

impl OrderStatus {
    /// Every status, for exhaustive checks over the lifecycle.
    pub const ALL: [OrderStatus; 4] = [Self::Pending, Self::Paid, Self::Shipped, Self::Cancelled];

    /// The lifecycle's transition table, and the only place it is written down: whether an
    /// order in `self` may move to `to`.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::{Cancelled, Paid, Pending, Shipped};
        matches!(
            (self, to),
            (Pending, Paid) | (Paid, Shipped) | (Pending, Cancelled) | (Paid, Cancelled)
        )
    }

    /// The move from `self` to `to`, or [`OrdersError::IllegalTransition`] when the table
    /// forbids it.
    pub fn transition_to(self, to: OrderStatus) -> Result<OrderStatus, OrdersError> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(OrdersError::IllegalTransition { from: self, to })
        }
    }

    /// The statuses from which an order may move to `to`: the `status IN (...)` guard of the
    /// conditional update that performs the move.
    pub(crate) fn sources_of(to: OrderStatus) -> Vec<OrderStatus> {
        Self::ALL
            .into_iter()
            .filter(|from| from.can_become(to))
            .collect()
    }

    /// The stored spelling (also what the HTTP layer shows).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Paid => "paid",
            Self::Shipped => "shipped",
            Self::Cancelled => "cancelled",
        }
    }

    pub(crate) fn from_stored(raw: &str) -> Result<Self, OrdersError> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
            .ok_or_else(|| {
                persistence::StoreError::other(format!("unknown order status {raw:?}")).into()
            })
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
