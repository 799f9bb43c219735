//! The catalog's plain types. Each validates once, at the edge; the service trusts them.

use chrono::{DateTime, Utc};

use crate::CatalogError;

/// A product's identity: 1 to 64 characters of `[A-Za-z0-9._-]`, starting with a letter or a
/// digit. Case matters (`Book-1` and `book-1` are two products). Never changes.
///
/// ```
/// use catalog::Sku;
/// assert!(Sku::parse("BOOK-1").is_ok());
/// assert!(Sku::parse("-book").is_err());
/// assert!(Sku::parse("two words").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(String);

impl Sku {
    /// Validates a sku.
    pub fn parse(raw: &str) -> Result<Self, CatalogError> {
        match persistence::text::sku_problem(raw) {
            Some(reason) => Err(CatalogError::invalid("sku", reason)),
            None => Ok(Self(raw.to_owned())),
        }
    }

    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The sku.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Sku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A product's name: 1 to 200 characters after trimming, something visible, no control or
/// format characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    /// Validates (and trims) a name.
    pub fn parse(raw: &str) -> Result<Self, CatalogError> {
        let name = raw.trim();
        let invalid = |reason| CatalogError::invalid("name", reason);
        if name.is_empty() {
            return Err(invalid("must not be empty or blank"));
        }
        if name.chars().count() > 200 {
            return Err(invalid("must be at most 200 characters"));
        }
        check_text(name).map_err(invalid)?;
        Ok(Self(name.to_owned()))
    }

    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product's description: 0 to 2000 characters after trimming, no control or format
/// characters (line breaks included: a description is one paragraph).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    /// Validates (and trims) a description.
    pub fn parse(raw: &str) -> Result<Self, CatalogError> {
        let text = raw.trim();
        let invalid = |reason| CatalogError::invalid("description", reason);
        if text.chars().count() > 2000 {
            return Err(invalid("must be at most 2000 characters"));
        }
        if !text.is_empty() {
            check_text(text).map_err(invalid)?;
        }
        Ok(Self(text.to_owned()))
    }

    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The description (possibly empty).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_text(text: &str) -> Result<(), &'static str> {
    if persistence::text::first_hidden(text).is_some() {
        return Err("must not contain control or invisible formatting characters");
    }
    if !persistence::text::has_visible(text) {
        return Err("must contain a visible character");
    }
    Ok(())
}

/// An ISO 4217 currency code: three upper-case letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(String);

impl Currency {
    /// Validates a currency code (no case folding: the client sends it right).
    pub fn parse(raw: &str) -> Result<Self, CatalogError> {
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(CatalogError::invalid(
                "currency",
                "must be three upper-case letters (ISO 4217), like EUR",
            ))
        }
    }

    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount in minor units (cents): 0 to 10^12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Money(i64);

impl Money {
    /// The largest unit price: ten billion in major units.
    pub const MAX_CENTS: i64 = 1_000_000_000_000;

    /// Validates an amount.
    pub fn from_cents(cents: i64) -> Result<Self, CatalogError> {
        if (0..=Self::MAX_CENTS).contains(&cents) {
            Ok(Self(cents))
        } else {
            Err(CatalogError::invalid(
                "unit_price_cents",
                "must be between 0 and 1000000000000",
            ))
        }
    }

    pub(crate) fn from_stored(cents: i64) -> Self {
        Self(cents)
    }

    /// The amount in minor units.
    pub fn cents(&self) -> i64 {
        self.0
    }
}

/// One price of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// The currency.
    pub currency: Currency,
    /// The price of one unit in minor units of `currency`.
    pub unit_price_cents: Money,
}

/// A product's prices: 1 to 20, each currency at most once, kept in currency order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prices(Vec<Price>);

impl Prices {
    /// The most currencies one product is priced in.
    pub const MAX: usize = 20;

    /// Validates a price list given as (currency, cents) pairs; errors name the entry
    /// (`prices[1].currency`).
    pub fn parse(raw: &[(String, i64)]) -> Result<Self, CatalogError> {
        if raw.is_empty() {
            return Err(CatalogError::invalid(
                "prices",
                "must contain at least one price",
            ));
        }
        if raw.len() > Self::MAX {
            return Err(CatalogError::invalid(
                "prices",
                "must contain at most 20 prices",
            ));
        }
        let mut prices: Vec<Price> = Vec::with_capacity(raw.len());
        for (i, (currency, cents)) in raw.iter().enumerate() {
            let currency =
                Currency::parse(currency).map_err(|e| e.at(format!("prices[{i}].currency")))?;
            let unit_price_cents = Money::from_cents(*cents)
                .map_err(|e| e.at(format!("prices[{i}].unit_price_cents")))?;
            if prices.iter().any(|p| p.currency == currency) {
                return Err(CatalogError::invalid(
                    format!("prices[{i}].currency"),
                    "appears more than once",
                ));
            }
            prices.push(Price {
                currency,
                unit_price_cents,
            });
        }
        prices.sort_by(|a, b| a.currency.cmp(&b.currency));
        Ok(Self(prices))
    }

    pub(crate) fn from_stored(mut prices: Vec<Price>) -> Self {
        prices.sort_by(|a, b| a.currency.cmp(&b.currency));
        Self(prices)
    }

    /// The prices, in currency order.
    pub fn as_slice(&self) -> &[Price] {
        &self.0
    }
}

/// Whether a product is on sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductStatus {
    /// On sale: listed, and orders may name it.
    Active,
    /// Withdrawn: visible to admins only, refused in new orders; orders already placed keep it.
    Archived,
}

impl ProductStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }

    pub(crate) fn from_stored(stored: &str) -> Result<Self, CatalogError> {
        match stored {
            "active" => Ok(Self::Active),
            "archived" => Ok(Self::Archived),
            other => Err(persistence::StoreError::other(format!(
                "unknown product status {other:?}"
            ))
            .into()),
        }
    }
}

/// A validated new product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// Its identity.
    pub sku: Sku,
    /// Its name.
    pub name: ProductName,
    /// Its description (may be empty).
    pub description: Description,
    /// Its prices.
    pub prices: Prices,
}

/// What a change to a product sets; `None` leaves a field as it is. `prices` replaces the
/// whole list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductChanges {
    /// A new name.
    pub name: Option<ProductName>,
    /// A new description.
    pub description: Option<Description>,
    /// A new price list.
    pub prices: Option<Prices>,
}

/// A product as the HTTP layer and other contexts see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Identity.
    pub sku: Sku,
    /// Name.
    pub name: ProductName,
    /// Description.
    pub description: Description,
    /// Prices, in currency order.
    pub prices: Prices,
    /// On sale or archived.
    pub status: ProductStatus,
    /// Incremented by every change; the optimistic-locking token (HTTP `ETag`).
    pub version: i64,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

/// One page of products in sku order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPage {
    /// Up to the page's limit of products.
    pub items: Vec<Product>,
    /// The sku to resume after; `None` on the last page.
    pub next: Option<Sku>,
}

/// One line of an order to price: which sku (as the client wrote it; a sku the catalog could
/// never hold is simply unknown) and the unit price the buyer was shown, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote<'a> {
    /// The sku asked about.
    pub sku: &'a str,
    /// The price the client showed the buyer, in minor units, if it sent one.
    pub shown_cents: Option<i64>,
}
