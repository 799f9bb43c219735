//! The inventory's plain types. Each validates once, at the edge; the service trusts them.

use std::num::NonZeroU32;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::InventoryError;

/// The code stock is kept under: the catalog's sku rule (`persistence::text::sku_problem`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(String);

impl Sku {
    /// Validates a sku.
    pub fn parse(raw: &str) -> Result<Self, InventoryError> {
        match persistence::text::sku_problem(raw) {
            Some(reason) => Err(InventoryError::Invalid {
                field: "sku",
                reason,
            }),
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

/// Who holds a reservation: an opaque id (the app passes an order's id; this context knows
/// nothing of orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Holder(Uuid);

impl Holder {
    /// The holder with this id.
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The id.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

/// Units of one sku to reserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLine {
    /// The sku.
    pub sku: Sku,
    /// How many units (never zero, by type).
    pub quantity: NonZeroU32,
}

/// A line that wants more than is available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    /// The sku.
    pub sku: Sku,
    /// Units the line wants.
    pub requested: i64,
    /// Units available now (0 for a sku without stock).
    pub available: i64,
}

/// A change to on hand: a non-zero whole number within ±10^9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delta(i64);

impl Delta {
    /// The largest change one adjustment makes, either way.
    pub const MAX: i64 = 1_000_000_000;

    /// Validates a delta.
    pub fn new(delta: i64) -> Result<Self, InventoryError> {
        if delta != 0 && (-Self::MAX..=Self::MAX).contains(&delta) {
            Ok(Self(delta))
        } else {
            Err(InventoryError::Invalid {
                field: "delta",
                reason: "must be a non-zero whole number between -1000000000 and 1000000000",
            })
        }
    }

    /// The change.
    pub fn get(&self) -> i64 {
        self.0
    }
}

/// Why on hand changed: 1 to 200 characters after trimming, something visible, no control or
/// format characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    /// Validates (and trims) a reason.
    pub fn parse(raw: &str) -> Result<Self, InventoryError> {
        let text = raw.trim();
        let invalid = |reason| InventoryError::Invalid {
            field: "reason",
            reason,
        };
        if text.is_empty() {
            return Err(invalid("must not be empty or blank"));
        }
        if text.chars().count() > 200 {
            return Err(invalid("must be at most 200 characters"));
        }
        if persistence::text::first_hidden(text).is_some() {
            return Err(invalid(
                "must not contain control or invisible formatting characters",
            ));
        }
        if !persistence::text::has_visible(text) {
            return Err(invalid("must contain a visible character"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The reason.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The stock of one sku.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stock {
    /// The sku.
    pub sku: Sku,
    /// Units in the warehouse.
    pub on_hand: i64,
    /// Units held by pending and paid orders.
    pub reserved: i64,
    /// Incremented by every change (adjustments, reservations, releases, sales): the `ETag`.
    pub version: i64,
    /// When it last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

impl Stock {
    /// Units that may still be reserved.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

/// One row of the adjustment ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// Stable id (UUID v7).
    pub id: Uuid,
    /// The change to on hand.
    pub delta: i64,
    /// Why.
    pub reason: Reason,
    /// When (UTC).
    pub created_at: DateTime<Utc>,
}
