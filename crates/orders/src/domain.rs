use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
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

#[cfg(test)]
mod tests {
    use super::*;

    fn customer() -> CustomerId {
        CustomerId::from_uuid(Uuid::now_v7())
    }

    fn item(sku: &str, quantity: i64, unit_price_cents: i64) -> NewOrderItem {
        NewOrderItem {
            sku: sku.to_owned(),
            quantity,
            unit_price_cents,
        }
    }

    fn invalid_field(result: Result<NewOrder, OrdersError>) -> (String, &'static str) {
        match result {
            Err(OrdersError::Invalid { field, reason }) => (field, reason),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn transition_table_is_exactly_the_lifecycle() {
        use OrderStatus::{Cancelled, Paid, Pending, Shipped};
        let legal = [
            (Pending, Paid),
            (Paid, Shipped),
            (Pending, Cancelled),
            (Paid, Cancelled),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = legal.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                match from.transition_to(to) {
                    Ok(next) => {
                        assert!(expected, "{from} -> {to} should be illegal");
                        assert_eq!(next, to);
                    }
                    Err(OrdersError::IllegalTransition { from: f, to: t }) => {
                        assert!(!expected, "{from} -> {to} should be legal");
                        assert_eq!((f, t), (from, to));
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
        }
    }

    #[test]
    fn update_guards_follow_the_table() {
        use OrderStatus::{Cancelled, Paid, Pending, Shipped};
        assert_eq!(OrderStatus::sources_of(Paid), vec![Pending]);
        assert_eq!(OrderStatus::sources_of(Shipped), vec![Paid]);
        assert_eq!(OrderStatus::sources_of(Cancelled), vec![Pending, Paid]);
        assert!(OrderStatus::sources_of(Pending).is_empty());
    }

    #[test]
    fn status_spelling_round_trips() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::from_stored(status.as_str()).unwrap(), status);
        }
        assert!(OrderStatus::from_stored("PAID").is_err());
    }

    #[test]
    fn currency_must_be_three_upper_case_ascii_letters() {
        assert_eq!(Currency::parse("USD").unwrap().as_str(), "USD");
        for raw in ["usd", "US", "USDX", "", "U5D", "ÜSD", " USD", "USD "] {
            match Currency::parse(raw) {
                Err(OrdersError::Invalid { field, .. }) => assert_eq!(field, "currency"),
                other => panic!("{raw:?} should be invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn sku_rules() {
        assert_eq!(Sku::parse("A-1").unwrap().as_str(), "A-1");
        assert_eq!(Sku::parse(" padded ").unwrap().as_str(), " padded ");
        assert!(Sku::parse(&"é".repeat(64)).is_ok());
        for raw in [
            String::new(),
            "   ".to_owned(),
            "a\tb".to_owned(),
            "x".repeat(65),
            "A\u{200B}1".to_owned(),
            "A-1\u{202E}".to_owned(),
            "\u{2067}A-1".to_owned(),
            "\u{FEFF}A-1".to_owned(),
            "\u{3164}".to_owned(),
        ] {
            match Sku::parse(&raw) {
                Err(OrdersError::Invalid { field, .. }) => assert_eq!(field, "sku", "{raw:?}"),
                other => panic!("{raw:?} should be invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn idempotency_key_rules() {
        assert!(IdempotencyKey::parse("a").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_ok());
        assert!(IdempotencyKey::parse("~!@#$%^&*()_+").is_ok());
        for raw in [
            String::new(),
            "k".repeat(256),
            "a b".to_owned(),
            "é".to_owned(),
        ] {
            match IdempotencyKey::parse(&raw) {
                Err(OrdersError::Invalid { field, .. }) => assert_eq!(field, "idempotency_key"),
                other => panic!("{raw:?} should be invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn new_order_computes_the_total() {
        let order = NewOrder::new(
            customer(),
            "EUR",
            vec![item("A", 2, 150), item("B", 1, 1000), item("C", 3, 0)],
        )
        .unwrap();
        assert_eq!(order.total().cents(), 1300);
        assert_eq!(order.items().len(), 3);
        assert_eq!(order.items()[1].sku.as_str(), "B");
    }

    #[test]
    fn new_order_errors_name_the_field_and_line() {
        let c = customer();
        assert_eq!(invalid_field(NewOrder::new(c, "EUR", vec![])).0, "items");
        assert_eq!(
            invalid_field(NewOrder::new(c, "eur", vec![item("A", 1, 1)])).0,
            "currency"
        );
        let lines = vec![item("A", 1, 1), item("B", 1, 1), item("C", 0, 1)];
        assert_eq!(
            invalid_field(NewOrder::new(c, "EUR", lines)).0,
            "items[2].quantity"
        );
        let lines = vec![item("A", 1, -1)];
        assert_eq!(
            invalid_field(NewOrder::new(c, "EUR", lines)).0,
            "items[0].unit_price_cents"
        );
        let lines = vec![item("A", 1, 1), item("", 1, 1)];
        assert_eq!(
            invalid_field(NewOrder::new(c, "EUR", lines)).0,
            "items[1].sku"
        );
        let lines = vec![item("A", -3, 1)];
        assert_eq!(
            invalid_field(NewOrder::new(c, "EUR", lines)).0,
            "items[0].quantity"
        );
        for sku in ["   ".to_owned(), "x".repeat(65)] {
            let lines = vec![item(&sku, 1, 1)];
            assert_eq!(
                invalid_field(NewOrder::new(c, "EUR", lines)).0,
                "items[0].sku"
            );
        }
        for currency in ["US", "USDX"] {
            let lines = vec![item("A", 1, 1)];
            assert_eq!(
                invalid_field(NewOrder::new(c, currency, lines)).0,
                "currency"
            );
        }
        let lines = vec![item("A", 1, 1); NewOrder::MAX_ITEMS + 1];
        assert_eq!(invalid_field(NewOrder::new(c, "EUR", lines)).0, "items");
        assert!(NewOrder::new(c, "EUR", vec![item("A", 1, 1); NewOrder::MAX_ITEMS]).is_ok());
    }

    #[test]
    fn total_overflow_is_an_error_not_a_wrap() {
        let c = customer();
        // A single line whose product overflows.
        let (field, reason) = invalid_field(NewOrder::new(c, "EUR", vec![item("A", 2, i64::MAX)]));
        assert_eq!((field.as_str(), reason), ("items", "total overflows"));
        // Lines that fit alone but not summed.
        let lines = vec![item("A", 1, i64::MAX), item("B", 1, 1)];
        assert_eq!(
            invalid_field(NewOrder::new(c, "EUR", lines)).1,
            "total overflows"
        );
        // Exactly i64::MAX is fine.
        let order = NewOrder::new(c, "EUR", vec![item("A", 1, i64::MAX)]).unwrap();
        assert_eq!(order.total().cents(), i64::MAX);
    }

    #[test]
    fn fingerprint_depends_on_every_part_of_the_request() {
        let c = customer();
        let base = NewOrder::new(c, "EUR", vec![item("A", 1, 100), item("B", 2, 5)]).unwrap();
        let same = NewOrder::new(c, "EUR", vec![item("A", 1, 100), item("B", 2, 5)]).unwrap();
        assert_eq!(base.request_hash(), same.request_hash());
        assert_eq!(base.request_hash().len(), 64);
        let variants = [
            NewOrder::new(customer(), "EUR", vec![item("A", 1, 100), item("B", 2, 5)]),
            NewOrder::new(c, "USD", vec![item("A", 1, 100), item("B", 2, 5)]),
            NewOrder::new(c, "EUR", vec![item("B", 2, 5), item("A", 1, 100)]),
            NewOrder::new(c, "EUR", vec![item("A", 1, 100), item("B", 2, 6)]),
            NewOrder::new(c, "EUR", vec![item("A", 1, 100), item("B", 3, 5)]),
            NewOrder::new(c, "EUR", vec![item("A", 1, 100)]),
            // A separator inside a SKU cannot forge another request's encoding.
            NewOrder::new(c, "EUR", vec![item("A:1|100", 1, 100)]),
        ];
        for variant in variants {
            assert_ne!(base.request_hash(), variant.unwrap().request_hash());
        }
    }
}
