//! The lifecycle: pay, ship, cancel, as conditional updates, and the cancellations a
//! customer's deactivation makes.

use persistence::{StoreError, Tx, now_utc};
use persistence_orm::{FromOrm, Orm};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{Orders, items_of, to_order};

use crate::entity::orders;
use crate::{CustomerId, Order, OrderEvent, OrderId, OrderStatus, OrdersError};

impl Orders {
    /// Marks a pending order paid. With `expected_version`, only if the caller's copy is
    /// current; otherwise [`OrdersError::VersionConflict`].
    #[tracing::instrument(name = "orders.pay", skip_all)]
    pub async fn pay(
        &self,
        id: OrderId,
        expected_version: Option<i64>,
    ) -> Result<Order, OrdersError> {
        self.transition(id, OrderStatus::Paid, expected_version, None)
            .await
    }

    /// Marks a paid order shipped. With `expected_version`, only if the caller's copy is
    /// current.
    #[tracing::instrument(name = "orders.ship", skip_all)]
    pub async fn ship(
        &self,
        id: OrderId,
        expected_version: Option<i64>,
    ) -> Result<Order, OrdersError> {
        self.transition(id, OrderStatus::Shipped, expected_version, None)
            .await
    }

    /// Cancels a pending or paid order. With `expected_version`, only if the caller's copy is
    /// current.
    #[tracing::instrument(name = "orders.cancel", skip_all)]
    pub async fn cancel(
        &self,
        id: OrderId,
        expected_version: Option<i64>,
    ) -> Result<Order, OrdersError> {
        self.transition(id, OrderStatus::Cancelled, expected_version, None)
            .await
    }

    /// Moves an order to `to` — the general form of [`Orders::pay`], [`Orders::ship`] and
    /// [`Orders::cancel`], for callers that route on the target status.
    ///
    /// One conditional `UPDATE ... RETURNING`: the database checks the from-state (and the
    /// version) and applies the move atomically, so concurrent moves cannot both win. Only when
    /// nothing was updated is the order read, to say why. The move and its event commit in one
    /// transaction.
    ///
    /// With `owner`, the move applies only to that customer's order: another customer's order
    /// is [`OrdersError::NotFound`], exactly like a missing one, so ids cannot be probed. The
    /// owner is part of the same conditional `UPDATE`, so it costs no extra round trip.
    #[tracing::instrument(name = "orders.transition", skip_all)]
    pub async fn transition(
        &self,
        id: OrderId,
        to: OrderStatus,
        expected_version: Option<i64>,
        owner: Option<CustomerId>,
    ) -> Result<Order, OrdersError> {
        let tx = self.db.begin().await?;
        let order = self
            .transition_in(&tx, id, to, expected_version, owner)
            .await?;
        tx.commit().await?;
        Ok(order)
    }

    /// [`Orders::transition`] as one step of the caller's transaction (the app releases or
    /// sells the order's stock in the same one). On a refusal the caller's transaction has
    /// written nothing; dropping it ends it.
    #[tracing::instrument(name = "orders.transition_in", skip_all)]
    pub async fn transition_in(
        &self,
        tx: &Tx,
        id: OrderId,
        to: OrderStatus,
        expected_version: Option<i64>,
        owner: Option<CustomerId>,
    ) -> Result<Order, OrdersError> {
        let conn = tx.orm();
        let sources: Vec<&'static str> = OrderStatus::sources_of(to)
            .into_iter()
            .map(|status| status.as_str())
            .collect();
        let mut update = orders::Entity::update_many()
            .col_expr(orders::Column::Status, Expr::value(to.as_str()))
            .col_expr(
                orders::Column::Version,
                Expr::col(orders::Column::Version).add(1),
            )
            .col_expr(orders::Column::UpdatedAt, Expr::value(now_utc()))
            .filter(orders::Column::Id.eq(id.as_uuid()))
            .filter(orders::Column::Status.is_in(sources));
        if let Some(expected) = expected_version {
            update = update.filter(orders::Column::Version.eq(expected));
        }
        if let Some(owner) = owner {
            update = update.filter(orders::Column::UserId.eq(owner.as_uuid()));
        }
        let updated = update
            .exec_with_returning(conn)
            .await
            .map_err(StoreError::from_orm)?;
        if let Some(row) = updated.into_iter().next() {
            let mut lines = items_of(conn, vec![row.id]).await?;
            let items = lines.remove(&row.id).unwrap_or_default();
            let order = to_order(row, items)?;
            self.events
                .append(tx, &OrderEvent::reached(order.clone()))
                .await?;
            return Ok(order);
        }
        let current = orders::Entity::find_by_id(id.as_uuid())
            .one(conn)
            .await
            .map_err(StoreError::from_orm)?;
        let current = current
            .filter(|row| owner.is_none_or(|owner| row.user_id == owner.as_uuid()))
            .ok_or(OrdersError::NotFound(id))?;
        match expected_version {
            Some(expected) if expected != current.version => Err(OrdersError::VersionConflict {
                expected,
                current: current.version,
            }),
            _ => Err(OrdersError::IllegalTransition {
                from: OrderStatus::from_stored(&current.status)?,
                to,
            }),
        }
    }

    /// Cancels every pending order of `customer` as one step of the caller's transaction (a
    /// customer's deactivation), bumping each one's version and appending one
    /// `order.cancelled` per order; returns the cancelled orders' ids, oldest first.
    /// Paid orders are left alone: money has changed hands, so they need a human decision.
    #[tracing::instrument(name = "orders.cancel_pending_for_customer", skip_all)]
    pub async fn cancel_pending_for_customer(
        &self,
        tx: &Tx,
        customer: CustomerId,
    ) -> Result<Vec<OrderId>, OrdersError> {
        let rows = orders::Entity::update_many()
            .col_expr(
                orders::Column::Status,
                Expr::value(OrderStatus::Cancelled.as_str()),
            )
            .col_expr(
                orders::Column::Version,
                Expr::col(orders::Column::Version).add(1),
            )
            .col_expr(orders::Column::UpdatedAt, Expr::value(now_utc()))
            .filter(orders::Column::UserId.eq(customer.as_uuid()))
            .filter(orders::Column::Status.eq(OrderStatus::Pending.as_str()))
            .exec_with_returning(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        let mut lines = items_of(tx.orm(), rows.iter().map(|row| row.id).collect()).await?;
        let mut orders = rows
            .into_iter()
            .map(|row| {
                let items = lines.remove(&row.id).unwrap_or_default();
                to_order(row, items)
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Oldest first: the same order in every run, for consumers and tests alike.
        orders.sort_by_key(|order| order.id);
        let cancelled = orders.iter().map(|order| order.id).collect();
        let events: Vec<OrderEvent> = orders.into_iter().map(OrderEvent::Cancelled).collect();
        self.events.append_all(tx, &events).await?;
        Ok(cancelled)
    }
}
