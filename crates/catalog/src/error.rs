use persistence::StoreError;

use crate::{Money, Sku};

/// Everything that can go wrong in the catalog context, as the app's one error mapping sees it.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Input failed validation; `field` names the offending field for clients
    /// (`prices[1].currency`).
    #[error("{field}: {reason}")]
    Invalid {
        /// The input field at fault.
        field: String,
        /// What is wrong with it, in words fit for a client.
        reason: &'static str,
    },
    /// Another product already has this sku.
    #[error("a product with sku {0} already exists")]
    SkuTaken(Sku),
    /// No product has this sku (or the caller may not see it: archived).
    #[error("no product has sku {0}")]
    NotFound(Sku),
    /// The caller edited a stale copy: somebody else changed the product first.
    #[error("product was changed concurrently: expected version {expected}, current is {current}")]
    VersionConflict {
        /// The version the caller based its change on.
        expected: i64,
        /// The version stored now.
        current: i64,
    },
    /// Lines of a quote name no active product: the positions of those lines (0-based, in
    /// the order asked).
    #[error("{} line(s) name no product on sale", .0.len())]
    UnknownProducts(Vec<usize>),
    /// Lines of a quote name products without a price in the asked currency (positions).
    #[error("{} line(s) are not offered in this currency", .0.len())]
    CurrencyNotOffered(Vec<usize>),
    /// The prices the buyer was shown differ from the current ones: every such line's sku
    /// and current price.
    #[error("{} price(s) changed", .0.len())]
    PriceChanged(Vec<(Sku, Money)>),
    /// The storage layer failed; details are for logs only.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CatalogError {
    pub(crate) fn invalid(field: impl Into<String>, reason: &'static str) -> Self {
        Self::Invalid {
            field: field.into(),
            reason,
        }
    }

    /// The same validation error at another field path; other errors pass through.
    pub(crate) fn at(self, field: impl Into<String>) -> Self {
        match self {
            Self::Invalid { reason, .. } => Self::invalid(field, reason),
            other => other,
        }
    }
}
