//! The orders bounded context.
//!
//! An order belongs to a customer, has one or more lines priced in one currency, and moves
//! through a small lifecycle (`pending → paid → shipped`, or `→ cancelled` before shipping).
//! Placement is idempotent per customer and key. Everything outside this crate works through
//! [`Orders`] and the plain types below; the tables behind them are private (`mod entity`), so
//! no other crate can read or write them directly, and no SeaORM type appears in the API.
//!
//! Customers belong to the users context, which this crate does not depend on: it asks about
//! them through the [`Customers`] port, which the app implements.

#![warn(missing_docs)]

mod customers;
mod domain;
mod entity;
mod error;
mod events;
pub mod faults;
mod schema;
mod service;

#[cfg(test)]
mod query_plan_tests;

pub use customers::{CustomerStanding, Customers};
pub use domain::{
    Currency, CustomerId, IdempotencyKey, Money, NewOrder, NewOrderItem, NewRequestedLine, Order,
    OrderId, OrderItem, OrderRequest, OrderStatus, Placed, Quantity, RequestedLine, Sku,
};
pub use error::OrdersError;
pub use events::OrderEvent;
pub use schema::declared_schema;
pub use service::{Orders, purge_expired_idempotency_keys};
