use persistence::StoreError;

use crate::{Shortage, Sku};

/// Everything that can go wrong in the inventory context, as the app's one error mapping sees
/// it.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Input failed validation; `field` names the offending field for clients.
    #[error("{field}: {reason}")]
    Invalid {
        /// The input field at fault.
        field: &'static str,
        /// What is wrong with it, in words fit for a client.
        reason: &'static str,
    },
    /// No stock is kept for this sku.
    #[error("no stock is kept for sku {0}")]
    NotFound(Sku),
    /// Lines want more than is available: every short line.
    #[error("{} line(s) want more than is available", .0.len())]
    InsufficientStock(Vec<Shortage>),
    /// An adjustment would take on hand below what is reserved, or below zero.
    #[error("on hand would drop to {on_hand}, below the {reserved} unit(s) reserved or zero")]
    BelowReserved {
        /// What on hand would become.
        on_hand: i64,
        /// What is reserved now.
        reserved: i64,
    },
    /// The caller adjusted a stale copy: the stock changed first.
    #[error("stock was changed concurrently: expected version {expected}, current is {current}")]
    VersionConflict {
        /// The version the caller based its change on.
        expected: i64,
        /// The version stored now.
        current: i64,
    },
    /// The storage layer failed; details are for logs only.
    #[error(transparent)]
    Store(#[from] StoreError),
}
