//! Placing orders: idempotency, the customer's standing, single and bulk inserts.

use chrono::{DateTime, Utc};
use persistence::{Db, StoreError, Tx, now_utc};
use persistence_orm::{FromOrm, Orm};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{Orders, load};

use crate::entity::{idempotency_keys, order_items, orders};
use crate::{
    CustomerId, CustomerStanding, IdempotencyKey, NewOrder, Order, OrderEvent, OrderId,
    OrderRequest, OrderStatus, OrdersError, Placed, faults,
};

impl Orders {
    /// Places an order for an active customer, in one transaction: the order, all its lines and
    /// (with a key) the idempotency record commit together or not at all.
    ///
    /// With an idempotency key, a retry of the same request (same customer, key and body) within
    /// the key's lifetime returns the order the first request created, with `replayed: true`,
    /// and creates nothing; the same key with a different body is
    /// [`OrdersError::IdempotencyKeyReused`]. Keys are scoped to the customer. This holds under
    /// concurrency: the `(user_id, key)` primary key lets exactly one request commit a key. The
    /// key is looked up before the customer's standing is judged, so a replay returns the
    /// original order even after the customer was deactivated.
    #[tracing::instrument(name = "orders.place", skip_all)]
    pub async fn place(
        &self,
        order: NewOrder,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<Placed, OrdersError> {
        let customer = order.customer();
        let tx = self.db.begin().await?;
        // The key first: a replay answers with the order its first request created, whatever
        // became of the customer since (deactivated, say); only a new order needs an active one.
        if let Some(key) = &idempotency_key
            && let Some(placed) = self
                .check_key(&tx, customer, key, order.request_hash())
                .await?
        {
            finish_read(tx).await;
            return Ok(placed);
        }
        self.ensure_active(&tx, customer).await?;
        match self.insert_in(&tx, &order, idempotency_key.as_ref()).await {
            Ok(order) => {
                tx.commit().await?;
                Ok(Placed {
                    order,
                    replayed: false,
                })
            }
            Err(err) if idempotency_key.is_some() && err.is_key_race() => {
                // A concurrent request with this key committed first (on PostgreSQL the
                // insert waited for it). Ours is void; the winner's order is the answer.
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(error = %rollback.detail(), "rollback failed");
                }
                let key = idempotency_key.as_ref().ok_or(err)?;
                self.replay_winner(customer, key, order.request_hash())
                    .await
            }
            Err(err) => Err(err),
        }
    }

    /// The first step of placing `request` under `key` in the caller's transaction: the
    /// order an earlier request with this key created (`replayed: true`), or `None` when the
    /// key is new (an expired record is forgotten here). The same key with another request is
    /// [`OrdersError::IdempotencyKeyReused`].
    #[tracing::instrument(name = "orders.replay_in", skip_all)]
    pub async fn replay_in(
        &self,
        tx: &Tx,
        request: &OrderRequest,
        key: &IdempotencyKey,
    ) -> Result<Option<Placed>, OrdersError> {
        self.check_key(tx, request.customer(), key, &request.fingerprint())
            .await
    }

    /// After a placement under `key` was refused or lost a race: the order another request
    /// with this key committed meanwhile, if any (read afresh on the pool, so it sees commits
    /// the refused transaction could not). A concurrent retry of a request is answered with
    /// the original order, not with the refusal its own attempt met.
    #[tracing::instrument(name = "orders.replay_committed", skip_all)]
    pub async fn replay_committed(
        &self,
        request: &OrderRequest,
        key: &IdempotencyKey,
    ) -> Result<Option<Placed>, OrdersError> {
        let conn = self.db.orm();
        match find_key(conn, request.customer(), key).await? {
            Some(recorded) if recorded.expires_at > now_utc() => {
                replay(conn, &recorded, &request.fingerprint())
                    .await
                    .map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Locks the customer's standing for the rest of `tx` (so a deactivation cannot slip in
    /// before the commit) and refuses unknown and deactivated customers: the step of a
    /// placement that comes before anything is reserved for the order.
    #[tracing::instrument(name = "orders.lock_customer_in", skip_all)]
    pub async fn lock_customer_in(&self, tx: &Tx, customer: CustomerId) -> Result<(), OrdersError> {
        self.ensure_active(tx, customer).await
    }

    /// Writes a new pending order (row, lines, the key's record when there is a key, and
    /// `order.placed`) as one step of the caller's transaction, which has already checked the
    /// key ([`Orders::replay_in`]) and locked the customer ([`Orders::lock_customer_in`]).
    ///
    /// When a concurrent request committed the same key first, the record's insert fails
    /// with a unique violation ([`OrdersError::is_key_race`]): the caller rolls back and
    /// answers with [`Orders::replay_committed`].
    #[tracing::instrument(name = "orders.insert_in", skip_all)]
    pub async fn insert_in(
        &self,
        tx: &Tx,
        order: &NewOrder,
        key: Option<&IdempotencyKey>,
    ) -> Result<Order, OrdersError> {
        let now = now_utc();
        let placed = self.insert(tx, order, now).await?;
        if let Some(key) = key {
            let expires_at = now
                .checked_add_signed(self.idempotency_ttl)
                .ok_or_else(|| StoreError::other("idempotency key lifetime out of range"))?;
            idempotency_keys::Entity::insert(idempotency_keys::ActiveModel {
                user_id: Set(order.customer().as_uuid()),
                key: Set(key.as_str().to_owned()),
                request_hash: Set(order.request_hash().to_owned()),
                order_id: Set(placed.id.as_uuid()),
                created_at: Set(now),
                expires_at: Set(expires_at),
            })
            .exec_without_returning(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        }
        self.events
            .append(tx, &OrderEvent::Placed(placed.clone()))
            .await?;
        Ok(placed)
    }

    /// The recorded answer for `key`, if it is alive: see [`Orders::replay_in`].
    async fn check_key(
        &self,
        tx: &Tx,
        customer: CustomerId,
        key: &IdempotencyKey,
        hash: &str,
    ) -> Result<Option<Placed>, OrdersError> {
        let Some(existing) = find_key(tx.orm(), customer, key).await? else {
            return Ok(None);
        };
        let now = now_utc();
        if existing.expires_at > now {
            return replay(tx.orm(), &existing, hash).await.map(Some);
        }
        // Expired: forget it, and place the order as if the key were new.
        idempotency_keys::Entity::delete_many()
            .filter(idempotency_keys::Column::UserId.eq(customer.as_uuid()))
            .filter(idempotency_keys::Column::Key.eq(key.as_str()))
            .filter(idempotency_keys::Column::ExpiresAt.lte(now))
            .exec(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        Ok(None)
    }

    /// Places an order for an active customer as one step of the caller's transaction, with
    /// the same checks, rows and `order.placed` event as [`Orders::place`] but no idempotency
    /// key (the caller's transaction is the unit that commits or not): how bulk loads such as
    /// `cargo xtask seed` place thousands of orders per commit instead of one.
    #[tracing::instrument(name = "orders.place_in", skip_all)]
    pub async fn place_in(&self, tx: &Tx, order: NewOrder) -> Result<Order, OrdersError> {
        let customer = order.customer();
        self.ensure_active(tx, customer).await?;
        let order = self.insert(tx, &order, now_utc()).await?;
        self.events
            .append(tx, &OrderEvent::Placed(order.clone()))
            .await?;
        Ok(order)
    }

    /// Places many orders as one step of the caller's transaction: the same checks, rows and
    /// `order.placed` events as that many [`Orders::place_in`] calls, in input order, but
    /// written with a fixed number of statements instead of four per order (every customer's
    /// standing in one, then all orders, all lines and all events in one multi-row `INSERT`
    /// each; very large batches are split to stay within the engines' parameter limits).
    ///
    /// If any order is refused (unknown or deactivated customer), nothing is written and the
    /// first refused order's error is returned; the caller's transaction stays usable.
    #[tracing::instrument(name = "orders.place_many_in", skip_all, fields(orders = new.len()))]
    pub async fn place_many_in(
        &self,
        tx: &Tx,
        new: &[NewOrder],
    ) -> Result<Vec<Order>, OrdersError> {
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let mut customers: Vec<CustomerId> = new.iter().map(NewOrder::customer).collect();
        customers.sort_unstable();
        customers.dedup();
        let standings = self.customers.lock_standings(tx, &customers).await?;
        for order in new {
            let customer = order.customer();
            match standings.get(&customer) {
                None => return Err(OrdersError::UnknownCustomer(customer)),
                Some(CustomerStanding::Deactivated) => {
                    return Err(OrdersError::CustomerDeactivated(customer));
                }
                Some(CustomerStanding::Active) => {}
            }
        }

        let now = now_utc();
        let mut rows = Vec::with_capacity(new.len());
        let mut lines = Vec::with_capacity(new.len() * 3);
        let mut placed = Vec::with_capacity(new.len());
        for order in new {
            let (row, order_lines, order) = rows_of(order, now)?;
            rows.push(row);
            lines.extend(order_lines);
            placed.push(order);
        }
        for chunk in in_chunks(rows, MAX_PARAMETERS / ORDER_COLUMNS) {
            orders::Entity::insert_many(chunk)
                .exec_without_returning(tx.orm())
                .await
                .map_err(StoreError::from_orm)?;
        }
        self.faults.check(faults::PLACE_AFTER_ORDER_ROW)?;
        for chunk in in_chunks(lines, MAX_PARAMETERS / LINE_COLUMNS) {
            order_items::Entity::insert_many(chunk)
                .exec_without_returning(tx.orm())
                .await
                .map_err(StoreError::from_orm)?;
        }
        let events: Vec<OrderEvent> = placed.iter().cloned().map(OrderEvent::Placed).collect();
        for chunk in events.chunks(MAX_PARAMETERS / EVENT_COLUMNS) {
            self.events.append_all(tx, chunk).await?;
        }
        Ok(placed)
    }

    /// Locks the customer's standing for the rest of `tx` (so a deactivation cannot slip in
    /// before the commit) and refuses unknown and deactivated customers.
    async fn ensure_active(&self, tx: &Tx, customer: CustomerId) -> Result<(), OrdersError> {
        match self.customers.lock_standing(tx, customer).await? {
            None => Err(OrdersError::UnknownCustomer(customer)),
            Some(CustomerStanding::Deactivated) => Err(OrdersError::CustomerDeactivated(customer)),
            Some(CustomerStanding::Active) => Ok(()),
        }
    }

    /// Writes a new pending order and its lines (two statements) in `tx`.
    async fn insert(
        &self,
        tx: &Tx,
        order: &NewOrder,
        now: DateTime<Utc>,
    ) -> Result<Order, OrdersError> {
        let (row, lines, order) = rows_of(order, now)?;
        orders::Entity::insert(row)
            .exec_without_returning(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;

        self.faults.check(faults::PLACE_AFTER_ORDER_ROW)?;

        order_items::Entity::insert_many(lines)
            .exec_without_returning(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        Ok(order)
    }

    /// After losing the race for an idempotency key: the winner's order, read afresh.
    async fn replay_winner(
        &self,
        customer: CustomerId,
        key: &IdempotencyKey,
        hash: &str,
    ) -> Result<Placed, OrdersError> {
        let conn = self.db.orm();
        let winner = find_key(conn, customer, key).await?.ok_or_else(|| {
            StoreError::other("idempotency key vanished right after a unique violation")
        })?;
        replay(conn, &winner, hash).await
    }

    /// Forgets idempotency keys that expired at or before `now` (one `DELETE`, served by the
    /// `expires_at` index); returns how many. Run periodically; expired keys are also ignored
    /// (and replaced) by `place`, so purging is housekeeping, not correctness.
    #[tracing::instrument(name = "orders.purge_expired_idempotency_keys", skip_all)]
    pub async fn purge_expired_idempotency_keys(
        &self,
        now: DateTime<Utc>,
    ) -> Result<u64, OrdersError> {
        purge_expired_idempotency_keys(&self.db, now).await
    }
}

/// Deletes every idempotency record that expired at or before `now`; returns how many.
///
/// A free function as well as a method, because maintenance jobs (`cargo xtask
/// purge-idempotency-keys`) need only the database, not a fully wired [`Orders`] service.
#[tracing::instrument(name = "orders.purge_expired_idempotency_keys", skip_all)]
pub async fn purge_expired_idempotency_keys(
    db: &Db,
    now: DateTime<Utc>,
) -> Result<u64, OrdersError> {
    let result = idempotency_keys::Entity::delete_many()
        .filter(idempotency_keys::Column::ExpiresAt.lte(now))
        .exec(db.orm_write())
        .await
        .map_err(StoreError::from_orm)?;
    Ok(result.rows_affected)
}

/// The most bind parameters one bulk statement carries: under SQLite's limit (32,766) and
/// PostgreSQL's (65,535).
const MAX_PARAMETERS: usize = 30_000;
/// Bind parameters per row of `orders`, of `order_items` and of the outbox's `events`.
const ORDER_COLUMNS: usize = 8;
const LINE_COLUMNS: usize = 5;
const EVENT_COLUMNS: usize = 7;

/// The rows a new pending order is stored as (its `orders` row and its lines) and the order
/// they make, with a fresh id: one definition for single and bulk placement, so both write
/// exactly the same thing.
fn rows_of(
    order: &NewOrder,
    now: DateTime<Utc>,
) -> Result<(orders::ActiveModel, Vec<order_items::ActiveModel>, Order), OrdersError> {
    let customer = order.customer();
    let id = order.id().as_uuid();
    let row = orders::ActiveModel {
        id: Set(id),
        user_id: Set(customer.as_uuid()),
        status: Set(OrderStatus::Pending.as_str().to_owned()),
        currency: Set(order.currency().as_str().to_owned()),
        total_cents: Set(order.total().cents()),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let lines = order
        .items()
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let line_no = i32::try_from(index + 1)
                .map_err(|_| OrdersError::invalid("items", "too many items"))?;
            Ok(order_items::ActiveModel {
                order_id: Set(id),
                line_no: Set(line_no),
                sku: Set(item.sku.as_str().to_owned()),
                quantity: Set(item.quantity.get()),
                unit_price_cents: Set(item.unit_price_cents.cents()),
            })
        })
        .collect::<Result<Vec<_>, OrdersError>>()?;
    let order = Order {
        id: OrderId::from_uuid(id),
        customer_id: customer,
        status: OrderStatus::Pending,
        currency: order.currency().clone(),
        total_cents: order.total(),
        items: order.items().to_vec(),
        version: 1,
        created_at: now,
        updated_at: now,
    };
    Ok((row, lines, order))
}

/// `items` in consecutive runs of at most `size` (at least one), moved, not copied.
fn in_chunks<T>(items: Vec<T>, size: usize) -> impl Iterator<Item = Vec<T>> {
    let size = size.max(1);
    let mut items = items.into_iter().peekable();
    std::iter::from_fn(move || {
        items.peek()?;
        Some(items.by_ref().take(size).collect())
    })
}

async fn find_key(
    conn: &impl ConnectionTrait,
    customer: CustomerId,
    key: &IdempotencyKey,
) -> Result<Option<idempotency_keys::Model>, OrdersError> {
    Ok(
        idempotency_keys::Entity::find_by_id((customer.as_uuid(), key.as_str().to_owned()))
            .one(conn)
            .await
            .map_err(StoreError::from_orm)?,
    )
}

/// The answer to a request whose key is already recorded: the recorded order if the bodies
/// match, [`OrdersError::IdempotencyKeyReused`] if they do not.
async fn replay(
    conn: &impl ConnectionTrait,
    recorded: &idempotency_keys::Model,
    hash: &str,
) -> Result<Placed, OrdersError> {
    if recorded.request_hash != hash {
        return Err(OrdersError::IdempotencyKeyReused);
    }
    let order = load(conn, recorded.order_id).await?.ok_or_else(|| {
        StoreError::other("idempotency key refers to an order that does not exist")
    })?;
    Ok(Placed {
        order,
        replayed: true,
    })
}

/// Ends a transaction that only read (its locks, e.g. the customer's, go with it).
async fn finish_read(tx: Tx) {
    if let Err(err) = tx.rollback().await {
        tracing::warn!(error = %err.detail(), "rollback of a read-only transaction failed");
    }
}
