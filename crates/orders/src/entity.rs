//! The tables of the orders context. Private to this crate: their shape is an implementation
//! detail, matching migrations `m20261125_000002` and `m20261125_000003` column for column.

pub mod idempotency_keys;
pub mod order_items;
pub mod orders;
