//! Application services: units of work that span bounded contexts.
//!
//! Each workflow that writes owns one explicit transaction and passes the same handle to every
//! context it calls, so the writes of all contexts commit together or not at all.

use std::collections::HashMap;
use std::num::NonZeroU32;

use catalog::{Catalog, NewProduct, Product, ProductPage, Quote};
use identity::{Identity, IssuedSession, Password, Role};
use inventory::{Holder, Inventory, StockLine};
use orders::{
    CustomerId, IdempotencyKey, Order, OrderId, OrderRequest, OrderStatus, Orders, OrdersError,
    Placed,
};
use persistence::{Db, Faults, Limit, Page, PageRequest, StoreError, Tx};
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
    /// After the pending orders were cancelled, before their reservations are released.
    pub const DEACTIVATE_AFTER_ORDERS_WRITE: FaultPoint =
        FaultPoint::new("app.deactivate_user.after_orders_write");
    /// After the cancelled orders' reservations were released, before the sessions are
    /// revoked.
    pub const DEACTIVATE_AFTER_STOCK_WRITE: FaultPoint =
        FaultPoint::new("app.deactivate_user.after_stock_write");
    /// After the sessions were revoked, before the commit.
    pub const DEACTIVATE_AFTER_SESSIONS_WRITE: FaultPoint =
        FaultPoint::new("app.deactivate_user.after_sessions_write");
    /// After the customer was locked and the lines priced, before anything is reserved: a
    /// gate here lets a test line many placements up so their reservations really race.
    pub const PLACE_BEFORE_RESERVATION: FaultPoint =
        FaultPoint::new("app.place_order.before_reservation");
    /// After the stock was reserved, before the order is written.
    pub const PLACE_AFTER_RESERVATION: FaultPoint =
        FaultPoint::new("app.place_order.after_reservation");
    /// Between the order row and its items during placement (owned by the orders context).
    pub const PLACE_AFTER_ORDER_ROW: FaultPoint = orders::faults::PLACE_AFTER_ORDER_ROW;
    /// After the order, its lines, its key and `order.placed` were written, before the commit.
    pub const PLACE_AFTER_ORDER_WRITE: FaultPoint =
        FaultPoint::new("app.place_order.after_order_write");
    /// After a pay, ship or cancel changed the order (and appended its event), before its
    /// stock is released or sold.
    pub const TRANSITION_AFTER_ORDER_WRITE: FaultPoint =
        FaultPoint::new("app.transition.after_order_write");
    /// After a ship or cancel released or sold the order's stock, before the commit.
    pub const TRANSITION_AFTER_STOCK_WRITE: FaultPoint =
        FaultPoint::new("app.transition.after_stock_write");
    /// After a new product's row (and `product.created`), before its stock row.
    pub const CREATE_PRODUCT_AFTER_PRODUCT_WRITE: FaultPoint =
        FaultPoint::new("app.create_product.after_product_write");
    /// After a new product's stock row, before the commit.
    pub const CREATE_PRODUCT_AFTER_STOCK_WRITE: FaultPoint =
        FaultPoint::new("app.create_product.after_stock_write");
    /// After an adjustment's stock row, before its ledger row (owned by the inventory).
    pub const ADJUST_AFTER_STOCK_WRITE: FaultPoint = inventory::faults::ADJUST_AFTER_STOCK_WRITE;
    /// After an adjustment's ledger row, before `stock.adjusted` (owned by the inventory).
    pub const ADJUST_AFTER_LEDGER_WRITE: FaultPoint = inventory::faults::ADJUST_AFTER_LEDGER_WRITE;
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

/// A product with the units available of it: what the HTTP layer shows.
#[derive(Debug, Clone)]
pub struct ProductView {
    /// The product as the catalog keeps it.
    pub product: Product,
    /// Units on hand minus units reserved (from the inventory).
    pub available: i64,
}

/// The services of the five contexts, for [`Workflows::new`].
#[derive(Clone)]
pub struct Contexts {
    /// Users.
    pub users: Users,
    /// Orders.
    pub orders: Orders,
    /// Identity.
    pub identity: Identity,
    /// Catalog.
    pub catalog: Catalog,
    /// Inventory.
    pub inventory: Inventory,
}

/// The cross-context workflows of the service.
#[derive(Clone)]
pub struct Workflows {
    db: Db,
    users: Users,
    orders: Orders,
    identity: Identity,
    catalog: Catalog,
    inventory: Inventory,
    faults: Faults,
}

/// The inventory's name for an order's reservations.
fn holder(id: OrderId) -> Holder {
    Holder::from_uuid(id.as_uuid())
}

/// Ends a transaction that only read.
async fn finish_read(tx: Tx) {
    if let Err(err) = tx.rollback().await {
        tracing::warn!(error = %err.detail(), "rollback of a read-only transaction failed");
    }
}

/// Whether a placement under a key may have been refused only because a concurrent request
/// with the same key got there first: then that request's order is the answer.
fn may_be_lost_race(err: &AppError) -> bool {
    match err {
        AppError::Orders(err) => {
            err.is_key_race()
                || matches!(
                    err,
                    OrdersError::UnknownCustomer(_) | OrdersError::CustomerDeactivated(_)
                )
        }
        AppError::Catalog(err) => !matches!(err, catalog::CatalogError::Store(_)),
        AppError::Inventory(err) => matches!(err, inventory::InventoryError::InsufficientStock(_)),
        _ => false,
    }
}

impl Workflows {
    /// Workflows over the contexts' services.
    pub fn new(db: Db, contexts: Contexts, faults: Faults) -> Self {
        Self {
            db,
            users: contexts.users,
            orders: contexts.orders,
            identity: contexts.identity,
            catalog: contexts.catalog,
            inventory: contexts.inventory,
            faults,
        }
    }

    /// Places an order, in one transaction: the idempotency key first (a replay reserves
    /// nothing), then the customer's standing (locked), the catalog's price of every line in
    /// the order's currency, the reservation of every line (stock rows locked in sku order),
    /// and the order with its lines at those prices and `order.placed`. Any refusal
    /// (`unknown_product`, `currency_not_offered`, `price_changed`, `insufficient_stock`, a
    /// deactivated customer) writes nothing.
    ///
    /// Under a key, a refusal or a lost race for the key is checked against the key once
    /// more on a fresh snapshot: a retry that raced its own original (and found the stock it
    /// had taken gone) answers with the original order, as a retry should.
    #[tracing::instrument(name = "workflows.place_order", skip_all)]
    pub async fn place_order(
        &self,
        request: OrderRequest,
        key: Option<IdempotencyKey>,
    ) -> Result<Placed, AppError> {
        let tx = self.db.begin().await?;
        if let Some(key) = &key
            && let Some(placed) = self.orders.replay_in(&tx, &request, key).await?
        {
            finish_read(tx).await;
            return Ok(placed);
        }
        match self.place_in(&tx, &request, key.as_ref()).await {
            Ok(order) => {
                tx.commit().await?;
                Ok(Placed {
                    order,
                    replayed: false,
                })
            }
            Err(err) => {
                drop(tx);
                if let Some(key) = &key
                    && may_be_lost_race(&err)
                    && let Some(placed) = self.orders.replay_committed(&request, key).await?
                {
                    return Ok(placed);
                }
                Err(err)
            }
        }
    }

    /// The writing steps of [`Workflows::place_order`], in the caller's transaction.
    async fn place_in(
        &self,
        tx: &Tx,
        request: &OrderRequest,
        key: Option<&IdempotencyKey>,
    ) -> Result<Order, AppError> {
        self.orders.lock_customer_in(tx, request.customer()).await?;
        let prices = self
            .catalog
            .quote_in(tx, request.currency().as_str(), &quotes(request))
            .await?;
        let cents: Vec<i64> = prices.iter().map(|p| p.cents()).collect();
        let order = request.priced(&cents)?;
        self.faults.pass(faults::PLACE_BEFORE_RESERVATION).await?;
        self.inventory
            .reserve_in(tx, holder(order.id()), &stock_lines(request)?)
            .await?;
        self.faults.check(faults::PLACE_AFTER_RESERVATION)?;
        let order = self.orders.insert_in(tx, &order, key).await?;
        self.faults.check(faults::PLACE_AFTER_ORDER_WRITE)?;
        Ok(order)
    }

    /// Pays, ships or cancels an order in one transaction with what it does to the stock:
    /// a cancel releases the order's reservations, a ship turns them into a sale. A
    /// customer's move is scoped to its own orders (`owner`) inside the conditional `UPDATE`.
    #[tracing::instrument(name = "workflows.transition", skip_all)]
    pub async fn transition(
        &self,
        id: OrderId,
        to: OrderStatus,
        expected_version: Option<i64>,
        owner: Option<CustomerId>,
    ) -> Result<Order, AppError> {
        let tx = self.db.begin().await?;
        let order = self
            .orders
            .transition_in(&tx, id, to, expected_version, owner)
            .await?;
        self.faults.check(faults::TRANSITION_AFTER_ORDER_WRITE)?;
        match to {
            OrderStatus::Cancelled => self.inventory.release_in(&tx, &[holder(id)]).await?,
            OrderStatus::Shipped => self.inventory.sell_in(&tx, holder(id)).await?,
            OrderStatus::Pending | OrderStatus::Paid => {}
        }
        self.faults.check(faults::TRANSITION_AFTER_STOCK_WRITE)?;
        tx.commit().await?;
        Ok(order)
    }

    /// Creates a product and starts keeping its stock (nothing on hand), in one transaction.
    #[tracing::instrument(name = "workflows.create_product", skip_all)]
    pub async fn create_product(&self, new: NewProduct) -> Result<ProductView, AppError> {
        let tx = self.db.begin().await?;
        let product = self.catalog.create_in(&tx, new).await?;
        self.faults
            .check(faults::CREATE_PRODUCT_AFTER_PRODUCT_WRITE)?;
        let stock = self
            .inventory
            .track_in(&tx, &stock_sku(product.sku.as_str())?)
            .await?;
        self.faults
            .check(faults::CREATE_PRODUCT_AFTER_STOCK_WRITE)?;
        tx.commit().await?;
        Ok(ProductView {
            product,
            available: stock.available(),
        })
    }

    /// One product with what is available of it: two statements.
    #[tracing::instrument(name = "workflows.product", skip_all)]
    pub async fn product(
        &self,
        sku: &catalog::Sku,
        with_archived: bool,
    ) -> Result<ProductView, AppError> {
        let product = self.catalog.get(sku, with_archived).await?;
        self.product_view(product).await
    }

    /// A product the caller just changed, with what is available of it.
    pub async fn product_view(&self, product: Product) -> Result<ProductView, AppError> {
        let available = self.inventory.available(&[product.sku.as_str()]).await?;
        Ok(ProductView {
            available: available.get(product.sku.as_str()).copied().unwrap_or(0),
            product,
        })
    }

    /// A page of products in sku order with what is available of each: two statements
    /// whatever the page size (the products, then their stock).
    #[tracing::instrument(name = "workflows.products", skip_all)]
    pub async fn products(
        &self,
        after: Option<&catalog::Sku>,
        limit: Limit,
        with_archived: bool,
    ) -> Result<(Vec<ProductView>, Option<catalog::Sku>), AppError> {
        let ProductPage { items, next } = self.catalog.list(after, limit, with_archived).await?;
        let skus: Vec<&str> = items.iter().map(|p| p.sku.as_str()).collect();
        let available: HashMap<String, i64> = self.inventory.available(&skus).await?;
        let items = items
            .into_iter()
            .map(|product| ProductView {
                available: available.get(product.sku.as_str()).copied().unwrap_or(0),
                product,
            })
            .collect();
        Ok((items, next))
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

    /// Deactivates a user, cancels the user's pending orders (releasing their reservations)
    /// and revokes every session of the user in one transaction: a failure anywhere leaves
    /// all of it unchanged.
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
        let holders: Vec<Holder> = cancelled.iter().copied().map(holder).collect();
        self.inventory.release_in(&tx, &holders).await?;
        self.faults.check(faults::DEACTIVATE_AFTER_STOCK_WRITE)?;
        let cancelled = cancelled.len();
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

    /// Places many orders in one transaction, as a bulk load does (`cargo xtask seed`): what
    /// that many [`Workflows::place_order`] calls without idempotency keys would write (every
    /// customer's standing checked and locked, every line priced by the catalog in its order's
    /// currency, every line reserved, the orders with their lines and `order.placed`), with a
    /// fixed number of statements for the whole batch. Any refusal (of any order) refuses the
    /// batch and writes nothing.
    ///
    /// The stock is reserved last, just before the commit: a batch over a small catalog locks
    /// most of its stock rows, so concurrent batches queue there; reserving last holds those
    /// locks for the reservation and the commit only, not while the orders, lines and events
    /// are written. Inside one transaction the order of the writes changes nothing of what
    /// commits.
    #[tracing::instrument(name = "workflows.place_many", skip_all, fields(orders = requests.len()))]
    pub async fn place_many(&self, requests: &[OrderRequest]) -> Result<Vec<Order>, AppError> {
        let tx = self.db.begin().await?;
        let quotes: Vec<(&str, Vec<Quote<'_>>)> = requests
            .iter()
            .map(|request| (request.currency().as_str(), quotes(request)))
            .collect();
        let quoted = self.catalog.quote_many_in(&tx, &quotes).await?;
        let new = requests
            .iter()
            .zip(quoted)
            .map(|(request, prices)| {
                let cents: Vec<i64> = prices?.iter().map(|p| p.cents()).collect();
                Ok(request.priced(&cents)?)
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        let orders = self.orders.place_many_in(&tx, &new).await?;
        let reservations = orders
            .iter()
            .zip(requests)
            .map(|(order, request)| Ok((holder(order.id), stock_lines(request)?)))
            .collect::<Result<Vec<_>, AppError>>()?;
        self.inventory.reserve_many_in(&tx, &reservations).await?;
        tx.commit().await?;
        Ok(orders)
    }
}

/// An order request's lines as the catalog prices them (with the price the client showed).
fn quotes(request: &OrderRequest) -> Vec<Quote<'_>> {
    request
        .lines()
        .iter()
        .map(|line| Quote {
            sku: line.sku.as_str(),
            shown_cents: line.shown_price.map(|m| m.cents()),
        })
        .collect()
}

/// An order request's lines as the inventory reserves them.
fn stock_lines(request: &OrderRequest) -> Result<Vec<StockLine>, AppError> {
    request
        .lines()
        .iter()
        .map(|line| {
            let quantity = u32::try_from(line.quantity.get())
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(|| StoreError::other("a validated quantity does not fit a u32"))?;
            Ok(StockLine {
                sku: stock_sku(line.sku.as_str())?,
                quantity,
            })
        })
        .collect()
}

/// A sku the catalog vouched for, as the inventory names it.
fn stock_sku(sku: &str) -> Result<inventory::Sku, AppError> {
    Ok(inventory::Sku::parse(sku)?)
}
