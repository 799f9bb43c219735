//! The inventory bounded context.
//!
//! Stock is kept per sku: units on hand and units reserved, `available` being the difference.
//! A placed order holds one reservation per line (keyed by the order and the sku); cancelling
//! releases it, shipping turns it into a sale (on hand and reserved both drop). Every change to
//! on hand outside a sale is an adjustment, a ledger row with its delta and reason. At every
//! commit `0 <= reserved <= on_hand` (the table's checks say so too).
//!
//! Orders and products belong to other contexts: a reservation's holder is an opaque
//! [`Holder`] id (the app passes an order's id), and a sku is just a code here.

#![warn(missing_docs)]

mod domain;
mod entity;
mod error;
mod events;
pub mod faults;
mod schema;
mod service;

pub use domain::{Adjustment, Delta, Holder, Reason, Shortage, Sku, Stock, StockLine};
pub use error::InventoryError;
pub use events::StockEvent;
pub use schema::declared_schema;
pub use service::Inventory;
