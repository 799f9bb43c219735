use std::collections::HashMap;

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

    /// [`Customers::lock_standing`] for many customers at once (unknown ones are absent from
    /// the answer), with the same lock. Bulk placement calls this once per batch; the default
    /// asks one customer at a time, and an adapter that can answer in one round trip should.
    async fn lock_standings(
        &self,
        tx: &Tx,
        ids: &[CustomerId],
    ) -> Result<HashMap<CustomerId, CustomerStanding>, StoreError> {
        let mut standings = HashMap::with_capacity(ids.len());
        for &id in ids {
            if let Some(standing) = self.lock_standing(tx, id).await? {
                standings.insert(id, standing);
            }
        }
        Ok(standings)
    }

    /// Whether the customer exists (any status).
    async fn exists(&self, id: CustomerId) -> Result<bool, StoreError>;
}
