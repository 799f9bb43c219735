use persistence::{StoreError, Tx};

use crate::CustomerId;

/// Whether a customer may place orders, as the customers' owner (the users context) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerStanding {
    /// May place orders.
    Active,
    /// Exists but may no longer place orders.
    Deactivated,
}

/// The port through which the orders context asks about customers.
///
/// Customers belong to another context; this crate does not depend on it. The app implements
/// this trait on top of the users context and hands it to [`crate::Orders::new`], which keeps
/// the dependency pointing one way and lets tests substitute an in-memory fake.
#[async_trait::async_trait]
pub trait Customers: Send + Sync {
    /// Status of the customer, read under a row lock held until `tx` ends (None = unknown).
    ///
    /// The lock is what keeps "the customer is active" true until the order commits: a
    /// concurrent deactivation (which cancels pending orders) waits for it, so it cannot miss
    /// an order placed in between.
    async fn lock_standing(
        &self,
        tx: &Tx,
        id: CustomerId,
    ) -> Result<Option<CustomerStanding>, StoreError>;

    /// Whether the customer exists (any status).
    async fn exists(&self, id: CustomerId) -> Result<bool, StoreError>;
}
