//! Products and their stock on the wire.

use catalog::{
    Description, NewProduct, Prices, Product, ProductChanges, ProductName, ProductStatus, Sku,
};
use chrono::{DateTime, Utc};
use inventory::{Adjustment, Delta, Reason, Stock};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Fields;
use super::check::request_bodies;
use crate::AppError;

/// One price of a product.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceBody {
    /// ISO 4217 code: three upper-case letters, each currency at most once per product.
    #[schema(
        min_length = 3,
        max_length = 3,
        pattern = "^[A-Z]{3}$",
        example = "EUR"
    )]
    currency: String,
    /// Price of one unit in minor units (cents).
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64, example = 1250)]
    unit_price_cents: i64,
}

/// `POST /v1/products`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "sku": "BOOK-1", "name": "The Analytical Engine", "description": "A history.",
    "prices": [{"currency": "EUR", "unit_price_cents": 1250}]
}))]
pub(crate) struct CreateProductRequest {
    /// The product's identity, never changed: 1 to 64 of `[A-Za-z0-9._-]`, starting with a
    /// letter or digit.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$",
        example = "BOOK-1"
    )]
    sku: String,
    /// 1 to 200 characters, trimmed.
    #[schema(min_length = 1, max_length = 200, example = "The Analytical Engine")]
    name: String,
    /// 0 to 2000 characters, trimmed; empty when left out.
    #[serde(default)]
    #[schema(max_length = 2000, example = "A history.")]
    description: Option<String>,
    /// 1 to 20 prices, one per currency.
    #[schema(min_items = 1, max_items = 20)]
    prices: Vec<PriceBody>,
}

/// `PATCH /v1/products/{sku}`: what is sent changes, what is left out stays.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"prices": [{"currency": "EUR", "unit_price_cents": 1300}]}))]
pub(crate) struct UpdateProductRequest {
    /// A new name.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// A new description.
    #[serde(default)]
    #[schema(max_length = 2000)]
    description: Option<String>,
    /// A new price list, replacing the whole old one.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 20)]
    prices: Option<Vec<PriceBody>>,
}

/// `POST /v1/products/{sku}/stock/adjustments`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"delta": 25, "reason": "delivery 2026-12-02"}))]
pub(crate) struct AdjustStockRequest {
    /// The change to on hand: a non-zero whole number within ±10^9.
    #[schema(minimum = -1_000_000_000_i64, maximum = 1_000_000_000_i64, example = 25)]
    delta: i64,
    /// Why: 1 to 200 characters, trimmed.
    #[schema(min_length = 1, max_length = 200, example = "delivery 2026-12-02")]
    reason: String,
}

request_bodies!(
    CreateProductRequest,
    UpdateProductRequest,
    AdjustStockRequest
);

fn prices(raw: &[PriceBody]) -> Result<Prices, catalog::CatalogError> {
    let pairs: Vec<(String, i64)> = raw
        .iter()
        .map(|p| (p.currency.clone(), p.unit_price_cents))
        .collect();
    Prices::parse(&pairs)
}

impl CreateProductRequest {
    /// The new product, or a 422 naming every bad field.
    pub(crate) fn parse(self) -> Result<NewProduct, AppError> {
        let description = self.description.as_deref().unwrap_or_default();
        match (
            Sku::parse(&self.sku),
            ProductName::parse(&self.name),
            Description::parse(description),
            prices(&self.prices),
        ) {
            (Ok(sku), Ok(name), Ok(description), Ok(prices)) => Ok(NewProduct {
                sku,
                name,
                description,
                prices,
            }),
            (sku, name, description, prices) => {
                let mut fields = Fields::default();
                fields.record(sku);
                fields.record(name);
                fields.record(description);
                fields.record(prices);
                Err(fields.into_error())
            }
        }
    }
}

impl UpdateProductRequest {
    /// The changes, or a 422 naming every bad field.
    pub(crate) fn parse(self) -> Result<ProductChanges, AppError> {
        let name = self.name.as_deref().map(ProductName::parse).transpose();
        let description = self
            .description
            .as_deref()
            .map(Description::parse)
            .transpose();
        let prices = self.prices.as_deref().map(prices).transpose();
        match (name, description, prices) {
            (Ok(name), Ok(description), Ok(prices)) => Ok(ProductChanges {
                name,
                description,
                prices,
            }),
            (name, description, prices) => {
                let mut fields = Fields::default();
                fields.record(name);
                fields.record(description);
                fields.record(prices);
                Err(fields.into_error())
            }
        }
    }
}

impl AdjustStockRequest {
    /// The delta and reason, or a 422 naming every bad field.
    pub(crate) fn parse(self) -> Result<(Delta, Reason), AppError> {
        match (Delta::new(self.delta), Reason::parse(&self.reason)) {
            (Ok(delta), Ok(reason)) => Ok((delta, reason)),
            (delta, reason) => {
                let mut fields = Fields::default();
                fields.record(delta);
                fields.record(reason);
                Err(fields.into_error())
            }
        }
    }
}

/// Whether a product is on sale.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProductStatusBody {
    /// On sale.
    Active,
    /// Withdrawn: visible to admins only; new orders refuse it.
    Archived,
}

/// A product as clients see it.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "sku": "BOOK-1", "name": "The Analytical Engine", "description": "A history.",
    "prices": [{"currency": "EUR", "unit_price_cents": 1250}], "status": "active",
    "available": 25, "version": 1,
    "created_at": "2026-12-02T10:00:00Z", "updated_at": "2026-12-02T10:00:00Z"
}))]
pub(crate) struct ProductBody {
    /// The product's identity.
    #[schema(example = "BOOK-1")]
    pub(crate) sku: String,
    /// Its name.
    name: String,
    /// Its description (may be empty).
    description: String,
    /// Its prices, in currency order.
    prices: Vec<PriceBody>,
    /// On sale or archived.
    status: ProductStatusBody,
    /// Units on hand minus units reserved by pending and paid orders.
    #[schema(minimum = 0)]
    available: i64,
    /// Bumped by every change; the `ETag` is this number in quotes.
    pub(crate) version: i64,
    /// When it was created (UTC).
    created_at: DateTime<Utc>,
    /// When it last changed (UTC).
    updated_at: DateTime<Utc>,
}

impl ProductBody {
    /// The product with `available` units (from the inventory).
    pub(crate) fn new(product: Product, available: i64) -> Self {
        Self {
            sku: product.sku.as_str().to_owned(),
            name: product.name.as_str().to_owned(),
            description: product.description.as_str().to_owned(),
            prices: product
                .prices
                .as_slice()
                .iter()
                .map(|p| PriceBody {
                    currency: p.currency.as_str().to_owned(),
                    unit_price_cents: p.unit_price_cents.cents(),
                })
                .collect(),
            status: match product.status {
                ProductStatus::Active => ProductStatusBody::Active,
                ProductStatus::Archived => ProductStatusBody::Archived,
            },
            available,
            version: product.version,
            created_at: product.created_at,
            updated_at: product.updated_at,
        }
    }

    /// Where the product lives.
    pub(crate) fn location(&self) -> String {
        format!("/v1/products/{}", self.sku)
    }
}

/// A page of products in sku order.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProductPage {
    /// Up to `limit` products.
    pub(crate) items: Vec<ProductBody>,
    /// Pass as `after` for the next page; `null` on the last page. Valid only for this list.
    pub(crate) next: Option<String>,
}

/// A sku's stock.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "sku": "BOOK-1", "on_hand": 30, "reserved": 5, "available": 25, "version": 3,
    "updated_at": "2026-12-02T10:00:00Z"
}))]
pub(crate) struct StockBody {
    /// The sku.
    sku: String,
    /// Units in the warehouse.
    #[schema(minimum = 0)]
    on_hand: i64,
    /// Units held by pending and paid orders.
    #[schema(minimum = 0)]
    reserved: i64,
    /// On hand minus reserved.
    #[schema(minimum = 0)]
    available: i64,
    /// Bumped by every change; the `ETag` is this number in quotes.
    pub(crate) version: i64,
    /// When it last changed (UTC).
    updated_at: DateTime<Utc>,
}

impl From<Stock> for StockBody {
    fn from(stock: Stock) -> Self {
        Self {
            available: stock.available(),
            sku: stock.sku.as_str().to_owned(),
            on_hand: stock.on_hand,
            reserved: stock.reserved,
            version: stock.version,
            updated_at: stock.updated_at,
        }
    }
}

/// One row of the adjustment ledger.
#[derive(Serialize, ToSchema)]
pub(crate) struct AdjustmentBody {
    /// Stable id (UUID v7).
    id: Uuid,
    /// The change to on hand.
    delta: i64,
    /// Why.
    reason: String,
    /// When (UTC).
    created_at: DateTime<Utc>,
}

/// The answer to an adjustment: the stock after it, and its ledger row.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "stock": {"sku": "BOOK-1", "on_hand": 30, "reserved": 5, "available": 25, "version": 4,
              "updated_at": "2026-12-02T10:00:00Z"},
    "adjustment": {"id": "0193a1b2-0c3d-7e4f-8a5b-6c7d8e9f0a1b", "delta": 25,
                   "reason": "delivery 2026-12-02", "created_at": "2026-12-02T10:00:00Z"}
}))]
pub(crate) struct AdjustedBody {
    /// The stock after the adjustment.
    pub(crate) stock: StockBody,
    /// The ledger row.
    adjustment: AdjustmentBody,
}

impl AdjustedBody {
    pub(crate) fn new(stock: Stock, adjustment: Adjustment) -> Self {
        Self {
            stock: stock.into(),
            adjustment: AdjustmentBody {
                id: adjustment.id,
                delta: adjustment.delta,
                reason: adjustment.reason.as_str().to_owned(),
                created_at: adjustment.created_at,
            },
        }
    }
}
