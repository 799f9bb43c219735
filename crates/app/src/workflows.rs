//! Application services: units of work that span bounded contexts.
//!
//! Each workflow that writes owns one explicit transaction and passes the same handle to every
//! context it calls, so the writes of all contexts commit together or not at all.

use identity::{Identity, IssuedSession, Password, Role};
use orders::{CustomerId, Order, Orders};
use persistence::{Db, Faults, Page, PageRequest};
use users::{Email, NewUser, User, UserId, UserStatus, Users, UsersError};

use crate::AppError;
use crate::auth::{Caller, account_of};

/// Fault points of the workflows, armed by failure-injection tests.
pub mod faults {
    use persistence::FaultPoint;

    /// Between the user row and the credential of a sign-up.
    pub const SIGN_UP_AFTER_USER_WRITE: FaultPoint =
        FaultPoint::new("app.sign_up.after_user_write");
    /// After the user's status changed, before the orders are cancelled.
    pub const DEACTIVATE_AFTER_USER_WRITE: FaultPoint =
        FaultPoint::new("app.deactivate_user.after_user_write");
    /// After the pending orders were cancelled, before the sessions are revoked.
    pub const DEACTIVATE_AFTER_ORDERS_WRITE: FaultPoint =
        FaultPoint::new("app.deactivate_user.after_orders_write");
    /// After the sessions were revoked, before the commit.
    pub const DEACTIVATE_AFTER_SESSIONS_WRITE: FaultPoint =
        FaultPoint::new("app.deactivate_user.after_sessions_write");
    /// Between the order row and its items during placement (owned by the orders context).
    pub const PLACE_AFTER_ORDER_ROW: FaultPoint = orders::faults::PLACE_AFTER_ORDER_ROW;
}

/// A user together with the role the identity context gives it: what the HTTP layer shows.
#[derive(Debug, Clone)]
pub struct UserView {
    /// The user as the users context keeps it.
    pub user: User,
    /// The user's role; `customer` for a user without a credential (created before sign-up
    /// required one).
    pub role: Role,
}

/// The cross-context workflows of the service.
#[derive(Clone)]
pub struct Workflows {
    db: Db,
    users: Users,
    orders: Orders,
    identity: Identity,
    faults: Faults,
}

impl Workflows {
    /// Workflows over the three contexts' services.
    pub fn new(db: Db, users: Users, orders: Orders, identity: Identity, faults: Faults) -> Self {
        Self {
            db,
            users,
            orders,
            identity,
            faults,
        }
    }

    /// Sign-up: the user and the credential are written in one transaction, so a failure
    /// between them leaves neither. The password is hashed before the transaction begins, so
    /// no database lock is held while argon2 runs.
    #[tracing::instrument(name = "workflows.sign_up", skip_all)]
    pub async fn sign_up(&self, new: NewUser, password: Password) -> Result<UserView, AppError> {
        let hash = self.identity.hash_password(password).await?;
        let tx = self.db.begin().await?;
        let user = self.users.register_in(&tx, new).await?;
        self.faults.check(faults::SIGN_UP_AFTER_USER_WRITE)?;
        self.identity
            .enroll(&tx, account_of(user.id), &hash, Role::Customer)
            .await?;
        tx.commit().await?;
        tracing::info!(user = %user.id, "user signed up");
        Ok(UserView {
            user,
            role: Role::Customer,
        })
    }

    /// Sign-in: the users context says who owns the address and whether the account is
    /// active; identity verifies the password (against a dummy hash when there is no active
    /// account, so every failure looks and takes alike) and issues the session.
    #[tracing::instrument(name = "workflows.sign_in", skip_all)]
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<IssuedSession, AppError> {
        let account = match Email::parse(email) {
            Ok(email) => self
                .users
                .find_by_email(&email)
                .await?
                .filter(|user| user.status == UserStatus::Active)
                .map(|user| account_of(user.id)),
            Err(_) => None,
        };
        let session = self.identity.sign_in(email, account, password).await?;
        tracing::info!(user = %session.account, "user signed in");
        Ok(session)
    }

    /// Deactivates a user, cancels the user's pending orders and revokes every session of the
    /// user in one transaction: a failure anywhere leaves all three unchanged.
    #[tracing::instrument(name = "workflows.deactivate_user", skip_all)]
    pub async fn deactivate_user(&self, caller: &Caller, id: UserId) -> Result<UserView, AppError> {
        let tx = self.db.begin().await?;
        let user = self.users.deactivate(&tx, id).await?;
        self.faults.check(faults::DEACTIVATE_AFTER_USER_WRITE)?;
        let cancelled = self
            .orders
            .cancel_pending_for_customer(&tx, CustomerId::from_uuid(id.as_uuid()))
            .await?;
        self.faults.check(faults::DEACTIVATE_AFTER_ORDERS_WRITE)?;
        let revoked = self.identity.revoke_all(&tx, account_of(id)).await?;
        self.faults.check(faults::DEACTIVATE_AFTER_SESSIONS_WRITE)?;
        tx.commit().await?;
        tracing::info!(user = %id, cancelled, revoked, "user deactivated");
        self.view(caller, user).await
    }

    /// One user with its role. The caller's own role is already known from its token, so
    /// only an admin looking at someone else costs a second (concurrent) query.
    #[tracing::instrument(name = "workflows.user", skip_all)]
    pub async fn user(&self, caller: &Caller, id: UserId) -> Result<UserView, AppError> {
        if caller.user == id {
            let user = self.users.get(id).await?;
            return Ok(UserView {
                user,
                role: caller.role,
            });
        }
        let (user, role) = tokio::join!(self.users.get(id), self.identity.role_of(account_of(id)));
        Ok(UserView {
            user: user?,
            role: role?.unwrap_or(Role::Customer),
        })
    }

    /// Attaches the role to a user the caller just changed.
    #[tracing::instrument(name = "workflows.view", skip_all)]
    pub async fn view(&self, caller: &Caller, user: User) -> Result<UserView, AppError> {
        let role = if caller.user == user.id {
            caller.role
        } else {
            self.identity
                .role_of(account_of(user.id))
                .await?
                .unwrap_or(Role::Customer)
        };
        Ok(UserView { user, role })
    }

    /// A page of users with their roles: two queries whatever the page size.
    #[tracing::instrument(name = "workflows.users", skip_all)]
    pub async fn users(&self, page: PageRequest) -> Result<Page<UserView>, AppError> {
        let page = self.users.list(page).await?;
        let accounts: Vec<_> = page.items.iter().map(|user| account_of(user.id)).collect();
        let roles = self.identity.roles_of(&accounts).await?;
        let items = page
            .items
            .into_iter()
            .map(|user| {
                let role = roles
                    .get(&account_of(user.id))
                    .copied()
                    .unwrap_or(Role::Customer);
                UserView { user, role }
            })
            .collect();
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// A user's orders, newest first; 404 for an unknown user rather than an empty list.
    ///
    /// The page is read first and the user looked up only when it is empty: orders are placed
    /// only for a customer the users context confirmed (under its row lock) and users are never
    /// deleted, so a page with orders proves the user exists. That spares the hot path a round
    /// trip (a quarter of its statements) and answers exactly as checking first would.
    #[tracing::instrument(name = "workflows.user_orders", skip_all)]
    pub async fn user_orders(
        &self,
        id: UserId,
        page: PageRequest,
    ) -> Result<Page<Order>, AppError> {
        let page = self
            .orders
            .list_for_customer(CustomerId::from_uuid(id.as_uuid()), page)
            .await?;
        if page.items.is_empty() && !self.users.exists(id).await? {
            return Err(UsersError::NotFound(id).into());
        }
        Ok(page)
    }
}
