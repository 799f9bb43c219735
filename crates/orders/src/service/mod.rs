//! The orders context's public service: reading orders here, placing them in [`placement`],
//! their lifecycle in [`lifecycle`].

mod lifecycle;
mod placement;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use persistence::{Db, Faults, Outbox, Page, PageRequest, StoreError};
use persistence_orm::{FromOrm, Orm};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::entity::{order_items, orders};
use crate::{
    Currency, CustomerId, Customers, Money, Order, OrderEvent, OrderId, OrderItem, OrderStatus,
    OrdersError, Quantity, Sku,
};

pub use placement::purge_expired_idempotency_keys;

/// The orders context's public service. Cheap to clone: clones share the pool, the customers
/// port and the armed fault points.
///
/// Operations that stand alone (`place`, `get`, `list_for_customer`, `pay`, `ship`, `cancel`,
/// `purge_expired_idempotency_keys`) run on the pool, in their own transaction where they write
/// more than one row. `cancel_pending_for_customer` is one step of a larger unit of work (a
/// customer's deactivation) and takes the caller's [`Tx`]: the signature says who owns it.
///
/// Every change it commits appends its [`OrderEvent`] to the outbox in the same transaction
/// (`order.placed`, `order.paid`, `order.shipped`, `order.cancelled`).
#[derive(Clone)]
pub struct Orders {
    db: Db,
    customers: Arc<dyn Customers>,
    events: Outbox<OrderEvent>,
    faults: Faults,
    idempotency_ttl: chrono::Duration,
}

impl fmt::Debug for Orders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Orders")
            .field("db", &self.db)
            .field("faults", &self.faults)
            .field("idempotency_ttl", &self.idempotency_ttl)
            .finish_non_exhaustive()
    }
}

impl Orders {
    /// How long an idempotency key is remembered unless [`Orders::with_idempotency_ttl`] says
    /// otherwise: long enough to cover a client's retries, short enough to keep the table small.
    pub const DEFAULT_IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);

    /// A service over the given database, asking `customers` who may place orders and
    /// appending its events to `events` (whose encoder the app supplies: this context does not
    /// know the wire format of an order).
    pub fn new(db: Db, customers: Arc<dyn Customers>, events: Outbox<OrderEvent>) -> Self {
        Self {
            db,
            customers,
            events,
            faults: Faults::default(),
            idempotency_ttl: Self::DEFAULT_IDEMPOTENCY_TTL,
        }
    }

    /// The same service checking these fault points (tests arm them; see [`crate::faults`]).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// The same service remembering idempotency keys for `ttl` (zero or negative: keys expire
    /// at once, which tests use to exercise expiry).
    pub fn with_idempotency_ttl(mut self, ttl: chrono::Duration) -> Self {
        self.idempotency_ttl = ttl;
        self
    }

    /// One order with its lines (two queries: the order, then its lines).
    #[tracing::instrument(name = "orders.get", skip_all)]
    pub async fn get(&self, id: OrderId) -> Result<Order, OrdersError> {
        load(self.db.orm(), id.as_uuid())
            .await?
            .ok_or(OrdersError::NotFound(id))
    }

    /// A customer's orders, newest first, one keyset page at a time (two queries whatever the
    /// page size: the orders, served by the `(user_id, id)` index without a sort, then the
    /// lines of all of them). An unknown customer simply has no orders: whether the customer
    /// exists is the caller's question (see [`Customers::exists`]).
    #[tracing::instrument(name = "orders.list_for_customer", skip_all)]
    pub async fn list_for_customer(
        &self,
        customer: CustomerId,
        page: PageRequest,
    ) -> Result<Page<Order>, OrdersError> {
        let conn = self.db.orm();
        let rows = list_query(customer, &page)
            .all(conn)
            .await
            .map_err(StoreError::from_orm)?;
        let page = Page::from_overfetch(rows, page.limit, |row| row.id);
        let ids: Vec<Uuid> = page.items.iter().map(|row| row.id).collect();
        let mut lines = items_of(conn, ids).await?;
        let items = page
            .items
            .into_iter()
            .map(|row| {
                let items = lines.remove(&row.id).unwrap_or_default();
                to_order(row, items)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
    }
}

/// `WHERE user_id = ? [AND id < cursor] ORDER BY id DESC LIMIT limit + 1`: a backward range
/// scan of `orders_user_id_id_idx`, already in order.
pub(crate) fn list_query(customer: CustomerId, page: &PageRequest) -> Select<orders::Entity> {
    let mut query = orders::Entity::find()
        .filter(orders::Column::UserId.eq(customer.as_uuid()))
        .order_by_desc(orders::Column::Id)
        .limit(page.limit.get() + 1);
    if let Some(after) = page.after {
        query = query.filter(orders::Column::Id.lt(after.key()));
    }
    query
}

/// An order and its lines: two queries.
async fn load(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<Order>, OrdersError> {
    let Some(row) = orders::Entity::find_by_id(id)
        .one(conn)
        .await
        .map_err(StoreError::from_orm)?
    else {
        return Ok(None);
    };
    let mut lines = items_of(conn, vec![id]).await?;
    let items = lines.remove(&id).unwrap_or_default();
    to_order(row, items).map(Some)
}

/// The lines of the given orders, in one query, grouped by order and in line order.
async fn items_of(
    conn: &impl ConnectionTrait,
    order_ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, Vec<OrderItem>>, OrdersError> {
    let mut grouped: HashMap<Uuid, Vec<OrderItem>> = HashMap::new();
    if order_ids.is_empty() {
        return Ok(grouped);
    }
    let rows = order_items::Entity::find()
        .filter(order_items::Column::OrderId.is_in(order_ids))
        .order_by_asc(order_items::Column::OrderId)
        .order_by_asc(order_items::Column::LineNo)
        .all(conn)
        .await
        .map_err(StoreError::from_orm)?;
    for row in rows {
        let order_id = row.order_id;
        grouped.entry(order_id).or_default().push(to_item(row));
    }
    Ok(grouped)
}

/// Stored rows are trusted: they were valid under the rules of the day they were written, and
/// a rule tightened since must not turn them into errors on read. Only a status this code does
/// not know is a storage fault (it cannot be represented at all).
fn to_item(row: order_items::Model) -> OrderItem {
    OrderItem {
        sku: Sku::from_stored(row.sku),
        quantity: Quantity::from_stored(row.quantity),
        unit_price_cents: Money::from_stored(row.unit_price_cents),
    }
}

fn to_order(row: orders::Model, items: Vec<OrderItem>) -> Result<Order, OrdersError> {
    Ok(Order {
        id: OrderId::from_uuid(row.id),
        customer_id: CustomerId::from_uuid(row.user_id),
        status: OrderStatus::from_stored(&row.status)?,
        currency: Currency::from_stored(row.currency),
        total_cents: Money::from_stored(row.total_cents),
        items,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
