//! What the relay reads and marks: the backlog, claims of the next events to publish, and
//! the purge of published events.

use std::fmt;

use chrono::{DateTime, Utc};
use persistence_orm::{FromOrm, Orm};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::entity::{event_relay_lease, events};
use crate::{Backend, Db, StoreError, Tx};

use super::{Event, below_horizon, in_feed_order, to_event};

/// How many committed events the relay has not published yet.
pub async fn unpublished_count(db: &Db) -> Result<u64, StoreError> {
    events::Entity::find()
        .filter(events::Column::PublishedAt.is_null())
        .count(db.orm())
        .await
        .map_err(StoreError::from_orm)
}

/// When the oldest committed event the relay has not published yet happened (`None`: nothing
/// waits): its age is how far behind the relay is, what an operator alerts on.
pub async fn oldest_unpublished(db: &Db) -> Result<Option<DateTime<Utc>>, StoreError> {
    let oldest =
        in_feed_order(events::Entity::find().filter(events::Column::PublishedAt.is_null()))
            .one(db.orm())
            .await
            .map_err(StoreError::from_orm)?;
    Ok(oldest.map(|row| row.time))
}

/// A batch of unpublished events that one relay instance has the right to publish.
///
/// On PostgreSQL the claim holds the relay lease (a row locked `FOR UPDATE SKIP LOCKED`) in an
/// open transaction until [`Claim::mark_published`] or drop: other instances skip the lease
/// instead of waiting and try again later, so one instance publishes at a time and events
/// reach the stream in commit order. On SQLite (one embedded file, one instance) no
/// transaction is held while publishing, because a write transaction there would stop every
/// other writer.
pub struct Claim {
    db: Db,
    tx: Option<Tx>,
    /// The events to publish, in commit order.
    pub events: Vec<Event>,
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// Claims up to `limit` unpublished events, oldest first. `None` when another instance holds
/// the relay lease; an empty batch when there is nothing to publish.
pub async fn claim(db: &Db, limit: u64) -> Result<Option<Claim>, StoreError> {
    let tx = match db.backend() {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let tx = db.begin().await?;
            let lease = event_relay_lease::Entity::find_by_id(1)
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .one(tx.orm())
                .await
                .map_err(StoreError::from_orm)?;
            if lease.is_none() {
                tx.rollback().await?;
                return Ok(None);
            }
            Some(tx)
        }
    };
    let unpublished = events::Entity::find().filter(events::Column::PublishedAt.is_null());
    let query = in_feed_order(below_horizon(unpublished, db.backend())).limit(limit);
    let rows = match &tx {
        Some(tx) => query.all(tx.orm()).await,
        None => query.all(db.orm()).await,
    }
    .map_err(StoreError::from_orm)?;
    let events = rows
        .into_iter()
        .map(to_event)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Claim {
        db: db.clone(),
        tx,
        events,
    }))
}

impl Claim {
    /// Marks the given events (those the stream acknowledged) published at `now` and releases
    /// the claim.
    pub async fn mark_published(self, ids: &[Uuid], now: DateTime<Utc>) -> Result<(), StoreError> {
        let tx = match self.tx {
            Some(tx) => tx,
            None => self.db.begin().await?,
        };
        if !ids.is_empty() {
            events::Entity::update_many()
                .col_expr(events::Column::PublishedAt, Expr::value(now))
                .filter(events::Column::Id.is_in(ids.iter().copied()))
                .exec(tx.orm())
                .await
                .map_err(StoreError::from_orm)?;
        }
        tx.commit().await
    }
}

/// Deletes events older than `before`: only those already published when `published_only`
/// (a relay runs), all of them otherwise (the feed is the only consumer). Returns how many.
pub async fn purge(
    db: &Db,
    before: DateTime<Utc>,
    published_only: bool,
) -> Result<u64, StoreError> {
    let mut delete = events::Entity::delete_many();
    delete = if published_only {
        delete.filter(events::Column::PublishedAt.lt(before))
    } else {
        delete.filter(events::Column::Time.lt(before))
    };
    let result = delete
        .exec(db.orm_write())
        .await
        .map_err(StoreError::from_orm)?;
    Ok(result.rows_affected)
}
