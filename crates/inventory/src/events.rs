//! The inventory's integration events. Reservations, releases and sales are not events of
//! their own: the orders' events carry the lines that caused them.

use chrono::{DateTime, Utc};
use persistence::DomainEvent;

use crate::{Adjustment, Stock};

/// A committed change to a sku's stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockEvent {
    /// `stock.adjusted`: the stock after the adjustment, and the adjustment.
    Adjusted {
        /// The stock after the change.
        stock: Stock,
        /// The ledger row.
        adjustment: Adjustment,
    },
}

impl DomainEvent for StockEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Adjusted { .. } => "stock.adjusted",
        }
    }

    fn subject(&self) -> String {
        match self {
            Self::Adjusted { stock, .. } => stock.sku.as_str().to_owned(),
        }
    }

    fn time(&self) -> DateTime<Utc> {
        match self {
            Self::Adjusted { adjustment, .. } => adjustment.created_at,
        }
    }
}
