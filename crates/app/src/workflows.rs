//! Application services: units of work that span bounded contexts.
//!
//! Each workflow owns one explicit transaction and passes the same handle to every context it
//! calls, so the writes of both contexts commit together or not at all.

use orders::{CustomerId, Order, Orders};
use persistence::{Db, Faults, Page, PageRequest};
use users::{User, UserId, Users, UsersError};

use crate::AppError;

/// Fault points of the workflows, armed by failure-injection tests.
pub mod faults {
    use persistence::FaultPoint;

    /// Between the users write and the orders write of a deactivation.
    pub const DEACTIVATE_AFTER_USER_WRITE: FaultPoint =
        FaultPoint::new("app.deactivate_user.after_user_write");
    /// Between the order row and its items during placement (owned by the orders context).
    pub const PLACE_AFTER_ORDER_ROW: FaultPoint = orders::faults::PLACE_AFTER_ORDER_ROW;
}

/// The cross-context workflows of the service.
#[derive(Clone)]
pub struct Workflows {
    db: Db,
    users: Users,
    orders: Orders,
    faults: Faults,
}

impl Workflows {
    /// Workflows over the two contexts' services.
    pub fn new(db: Db, users: Users, orders: Orders, faults: Faults) -> Self {
        Self {
            db,
            users,
            orders,
            faults,
        }
    }

    /// Deactivates a user and cancels the user's pending orders in one transaction: a failure
    /// anywhere leaves the user active and the orders pending.
    pub async fn deactivate_user(&self, id: UserId) -> Result<User, AppError> {
        let tx = self.db.begin().await?;
        let user = self.users.deactivate(&tx, id).await?;
        self.faults.check(faults::DEACTIVATE_AFTER_USER_WRITE)?;
        let cancelled = self
            .orders
            .cancel_pending_for_customer(&tx, CustomerId::from_uuid(id.as_uuid()))
            .await?;
        tx.commit().await?;
        tracing::info!(user = %id, cancelled, "user deactivated");
        Ok(user)
    }

    /// A user's orders, newest first; 404 for an unknown user rather than an empty list.
    pub async fn user_orders(
        &self,
        id: UserId,
        page: PageRequest,
    ) -> Result<Page<Order>, AppError> {
        if !self.users.exists(id).await? {
            return Err(UsersError::NotFound(id).into());
        }
        Ok(self
            .orders
            .list_for_customer(CustomerId::from_uuid(id.as_uuid()), page)
            .await?)
    }
}
