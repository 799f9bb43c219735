//! The catalog bounded context.
//!
//! A product is a sku with a name, a description and one price per currency, `active` (on
//! sale) or `archived` (kept for the record, no longer sold). The server prices every order
//! from here: [`Catalog::quote_in`] answers the current unit price of each line in the order's
//! currency, inside the placing transaction. Everything outside this crate works through
//! [`Catalog`] and the plain types below; the tables behind them are private (`mod entity`).
//!
//! Stock is not the catalog's business: the inventory context keeps it, and the app puts the
//! two side by side.

#![warn(missing_docs)]

mod domain;
mod entity;
mod error;
mod events;
mod schema;
mod service;

#[cfg(test)]
mod query_plan_tests;

pub use domain::{
    Currency, Description, Money, NewProduct, Price, Prices, Product, ProductChanges, ProductName,
    ProductPage, ProductStatus, Quote, Sku,
};
pub use error::CatalogError;
pub use events::ProductEvent;
pub use schema::declared_schema;
pub use service::Catalog;
