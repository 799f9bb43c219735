//! Orders and order requests: validated once, from the client's lines, into what is stored.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::OrdersError;

use super::values::*;

/// One line of an order request as the client sent it, not yet validated: the input of
/// [`NewOrder::new`], which reports errors against the line's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrderItem {
    /// The SKU ordered.
    pub sku: String,
    /// How many units (must be at least 1).
    pub quantity: i64,
    /// The price of one unit in minor units (must not be negative).
    pub unit_price_cents: i64,
}

/// One validated line of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    /// The SKU ordered.
    pub sku: Sku,
    /// How many units.
    pub quantity: Quantity,
    /// The price of one unit, in minor units of the order's currency.
    pub unit_price_cents: Money,
}

/// A validated order request: at least one line, every field well-formed, and a total that
/// fits in 64 bits. Only [`NewOrder::new`] builds one, so holding a `NewOrder` proves all that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    id: OrderId,
    customer: CustomerId,
    currency: Currency,
    items: Vec<OrderItem>,
    total: Money,
    /// What an idempotency key of this order remembers: the fingerprint of the request it
    /// came from (see [`OrderRequest::fingerprint`]).
    request_hash: String,
}

impl NewOrder {
    /// The most lines one order may have: bounds the work (and the bound parameters of the
    /// single multi-row insert) that one request can cause.
    pub const MAX_ITEMS: usize = 100;

    /// Validates an order request, once, at the edge. Errors name the field, down to the line:
    /// `currency`, `items`, `items[2].quantity`.
    pub fn new(
        customer: CustomerId,
        currency: &str,
        items: Vec<NewOrderItem>,
    ) -> Result<Self, OrdersError> {
        let currency = Currency::parse(currency)?;
        if items.is_empty() {
            return Err(OrdersError::invalid(
                "items",
                "must contain at least one item",
            ));
        }
        if items.len() > Self::MAX_ITEMS {
            return Err(OrdersError::invalid(
                "items",
                "must contain at most 100 items",
            ));
        }
        let items = items
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                Ok(OrderItem {
                    sku: Sku::parse(&raw.sku).map_err(|e| e.at(format!("items[{i}].sku")))?,
                    quantity: Quantity::new(raw.quantity)
                        .map_err(|e| e.at(format!("items[{i}].quantity")))?,
                    unit_price_cents: Money::from_cents(raw.unit_price_cents)
                        .map_err(|e| e.at(format!("items[{i}].unit_price_cents")))?,
                })
            })
            .collect::<Result<Vec<_>, OrdersError>>()?;
        Self::from_items(customer, currency, items, None)
    }

    /// The order of validated lines: a fresh id, the total checked for overflow.
    fn from_items(
        customer: CustomerId,
        currency: Currency,
        items: Vec<OrderItem>,
        request_hash: Option<String>,
    ) -> Result<Self, OrdersError> {
        let total =
            total_of(&items).ok_or_else(|| OrdersError::invalid("items", "total overflows"))?;
        let request_hash = request_hash
            .unwrap_or_else(|| fingerprint(customer, &currency, items.iter().map(Line::priced)));
        Ok(Self {
            id: OrderId::from_uuid(persistence::new_id()),
            customer,
            currency,
            items,
            total,
            request_hash,
        })
    }

    /// The id the order will have once placed.
    pub fn id(&self) -> OrderId {
        self.id
    }

    /// Who places the order.
    pub fn customer(&self) -> CustomerId {
        self.customer
    }

    /// The currency of every price in the order.
    pub fn currency(&self) -> &Currency {
        &self.currency
    }

    /// The lines, in the client's order.
    pub fn items(&self) -> &[OrderItem] {
        &self.items
    }

    /// The sum of quantity × unit price over the lines.
    pub fn total(&self) -> Money {
        self.total
    }

    pub(crate) fn request_hash(&self) -> &str {
        &self.request_hash
    }
}

/// One line as a fingerprint sees it.
struct Line<'a> {
    sku: &'a str,
    quantity: i64,
    shown_cents: Option<i64>,
}

impl<'a> Line<'a> {
    fn priced(item: &'a OrderItem) -> Self {
        Self {
            sku: item.sku.as_str(),
            quantity: item.quantity.get(),
            shown_cents: Some(item.unit_price_cents.cents()),
        }
    }
}

/// The hex SHA-256 of a canonical serialisation of a request (customer, currency, lines in
/// order): what tells a retry of a request from a different request under the same
/// idempotency key. Versioned and length-prefixed so that no two requests share an encoding.
/// A request whose every line names a price keeps the `v1` encoding keys were recorded with
/// before the catalog priced orders, so a retry across the upgrade still replays.
fn fingerprint<'a>(
    customer: CustomerId,
    currency: &Currency,
    lines: impl Iterator<Item = Line<'a>> + Clone,
) -> String {
    let version = if lines.clone().all(|line| line.shown_cents.is_some()) {
        "v1"
    } else {
        "v2"
    };
    let mut canonical = format!(
        "orders.place.{version}\ncustomer={}\ncurrency={}\n",
        customer.as_uuid().hyphenated(),
        currency.as_str()
    );
    for line in lines {
        let price = line
            .shown_cents
            .map_or_else(|| "-".to_owned(), |cents| cents.to_string());
        canonical.push_str(&format!(
            "item={}:{}|{}|{price}\n",
            line.sku.len(),
            line.sku,
            line.quantity,
        ));
    }
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// One line of an order request as the client sent it, not yet validated: the input of
/// [`OrderRequest::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequestedLine {
    /// The SKU ordered.
    pub sku: String,
    /// How many units.
    pub quantity: i64,
    /// The unit price the client showed the buyer, in minor units, if it sent one.
    pub unit_price_cents: Option<i64>,
}

/// One validated line of an order request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedLine {
    /// The SKU ordered.
    pub sku: Sku,
    /// How many units.
    pub quantity: Quantity,
    /// The unit price the client showed the buyer, if it sent one.
    pub shown_price: Option<Money>,
}

/// A validated request for an order, before it is priced: 1 to 100 lines, each SKU at most
/// once. The server prices it ([`OrderRequest::priced`]) from the catalog; this context only
/// knows that prices come from elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    customer: CustomerId,
    currency: Currency,
    lines: Vec<RequestedLine>,
}

impl OrderRequest {
    /// Validates a request, once, at the edge. Errors name the field, down to the line; the
    /// first failure is returned (the HTTP layer checks each field itself to report them all).
    pub fn new(
        customer: CustomerId,
        currency: &str,
        lines: Vec<NewRequestedLine>,
    ) -> Result<Self, OrdersError> {
        let currency = Currency::parse(currency)?;
        if lines.is_empty() {
            return Err(OrdersError::invalid(
                "items",
                "must contain at least one item",
            ));
        }
        if lines.len() > NewOrder::MAX_ITEMS {
            return Err(OrdersError::invalid(
                "items",
                "must contain at most 100 items",
            ));
        }
        let mut seen = std::collections::HashSet::with_capacity(lines.len());
        let lines = lines
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                let sku = Sku::parse(&raw.sku).map_err(|e| e.at(format!("items[{i}].sku")))?;
                if !seen.insert(sku.clone()) {
                    return Err(OrdersError::invalid(
                        format!("items[{i}].sku"),
                        "appears in an earlier line; order each SKU once",
                    ));
                }
                Ok(RequestedLine {
                    sku,
                    quantity: Quantity::new(raw.quantity)
                        .map_err(|e| e.at(format!("items[{i}].quantity")))?,
                    shown_price: raw
                        .unit_price_cents
                        .map(Money::from_cents)
                        .transpose()
                        .map_err(|e| e.at(format!("items[{i}].unit_price_cents")))?,
                })
            })
            .collect::<Result<Vec<_>, OrdersError>>()?;
        Ok(Self {
            customer,
            currency,
            lines,
        })
    }

    /// Who orders.
    pub fn customer(&self) -> CustomerId {
        self.customer
    }

    /// The currency the order is to be priced in.
    pub fn currency(&self) -> &Currency {
        &self.currency
    }

    /// The lines, in the client's order.
    pub fn lines(&self) -> &[RequestedLine] {
        &self.lines
    }

    /// The order at these unit prices (one per line, in line order, in minor units), with a
    /// fresh id; an error if the count differs or the total overflows 64 bits.
    pub fn priced(&self, unit_prices: &[i64]) -> Result<NewOrder, OrdersError> {
        if unit_prices.len() != self.lines.len() {
            return Err(OrdersError::invalid("items", "every line needs one price"));
        }
        let items = self
            .lines
            .iter()
            .zip(unit_prices)
            .enumerate()
            .map(|(i, (line, &cents))| {
                Ok(OrderItem {
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                    unit_price_cents: Money::from_cents(cents)
                        .map_err(|e| e.at(format!("items[{i}].unit_price_cents")))?,
                })
            })
            .collect::<Result<Vec<_>, OrdersError>>()?;
        NewOrder::from_items(
            self.customer,
            self.currency.clone(),
            items,
            Some(self.fingerprint()),
        )
    }

    /// The fingerprint an idempotency key of this request remembers.
    pub(crate) fn fingerprint(&self) -> String {
        fingerprint(
            self.customer,
            &self.currency,
            self.lines.iter().map(|line| Line {
                sku: line.sku.as_str(),
                quantity: line.quantity.get(),
                shown_cents: line.shown_price.map(|m| m.cents()),
            }),
        )
    }
}

/// Σ quantity × unit price, or `None` on 64-bit overflow.
fn total_of(items: &[OrderItem]) -> Option<Money> {
    items.iter().try_fold(Money::ZERO, |total, item| {
        total.checked_add(item.unit_price_cents.checked_mul(item.quantity)?)
    })
}

/// An order as the HTTP layer and other contexts see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Stable identity.
    pub id: OrderId,
    /// The owning customer (a user id).
    pub customer_id: CustomerId,
    /// Lifecycle state.
    pub status: OrderStatus,
    /// The currency of every amount in the order.
    pub currency: Currency,
    /// Σ quantity × unit price, fixed at placement.
    pub total_cents: Money,
    /// The lines, in placement order.
    pub items: Vec<OrderItem>,
    /// Incremented by every change; the optimistic-locking token (HTTP `ETag`).
    pub version: i64,
    /// When the order was placed (UTC).
    pub created_at: DateTime<Utc>,
    /// When the order last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// The outcome of [`crate::Orders::place`]: the order, and whether it was created by an earlier
/// request with the same idempotency key (`replayed`) rather than by this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The order the request stands for.
    pub order: Order,
    /// `true` when an earlier request with the same key and body created it.
    pub replayed: bool,
}
