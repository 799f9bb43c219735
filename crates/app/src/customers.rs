//! The orders context's `Customers` port, wired to the users context's public API.
//!
//! This adapter is the only place where the two contexts meet: orders never reads the users
//! table, and users never learns that orders exist.

use std::collections::HashMap;

use orders::{CustomerId, CustomerStanding, Customers};
use persistence::{StoreError, Tx};
use users::{UserId, UserStatus, Users, UsersError};

/// The users context seen through the orders context's port (also used by `cargo xtask seed`).
pub struct UsersAsCustomers(pub Users);

fn user_id(id: CustomerId) -> UserId {
    UserId::from_uuid(id.as_uuid())
}

fn store_error(err: UsersError) -> StoreError {
    match err {
        UsersError::Store(store) => store,
        other => StoreError::other(other.to_string()),
    }
}

fn standing(status: UserStatus) -> CustomerStanding {
    match status {
        UserStatus::Active => CustomerStanding::Active,
        UserStatus::Deactivated => CustomerStanding::Deactivated,
    }
}

#[async_trait::async_trait]
impl Customers for UsersAsCustomers {
    async fn lock_standing(
        &self,
        tx: &Tx,
        id: CustomerId,
    ) -> Result<Option<CustomerStanding>, StoreError> {
        let status = self
            .0
            .lock_standing(tx, user_id(id))
            .await
            .map_err(store_error)?;
        Ok(status.map(standing))
    }

    async fn lock_standings(
        &self,
        tx: &Tx,
        ids: &[CustomerId],
    ) -> Result<HashMap<CustomerId, CustomerStanding>, StoreError> {
        let users: Vec<UserId> = ids.iter().copied().map(user_id).collect();
        let statuses = self
            .0
            .lock_standings(tx, &users)
            .await
            .map_err(store_error)?;
        Ok(statuses
            .into_iter()
            .map(|(id, status)| (CustomerId::from_uuid(id.as_uuid()), standing(status)))
            .collect())
    }

    async fn exists(&self, id: CustomerId) -> Result<bool, StoreError> {
        self.0.exists(user_id(id)).await.map_err(store_error)
    }
}
