//! The tables of the inventory. Private to this crate: their shape is an implementation
//! detail, matching migration `m20261202_000008` column for column.

pub mod stock;
pub mod stock_adjustments;
pub mod stock_reservations;
