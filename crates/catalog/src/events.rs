//! The catalog's integration events: what happened to a product, as plain data. How an event
//! is encoded for other services is the app's business (see `persistence::outbox`).

use chrono::{DateTime, Utc};
use persistence::DomainEvent;

use crate::Product;

/// A committed change to a product, carrying the product as it was after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductEvent {
    /// `product.created`.
    Created(Product),
    /// `product.updated`: name, description or prices changed.
    Updated(Product),
    /// `product.archived`: no longer on sale.
    Archived(Product),
}

impl ProductEvent {
    /// The product after the change.
    pub fn product(&self) -> &Product {
        match self {
            Self::Created(product) | Self::Updated(product) | Self::Archived(product) => product,
        }
    }
}

impl DomainEvent for ProductEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Created(_) => "product.created",
            Self::Updated(_) => "product.updated",
            Self::Archived(_) => "product.archived",
        }
    }

    fn subject(&self) -> String {
        self.product().sku.as_str().to_owned()
    }

    fn time(&self) -> DateTime<Utc> {
        self.product().updated_at
    }
}
