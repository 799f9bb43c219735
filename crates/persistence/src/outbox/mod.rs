//! The transactional outbox: integration events written in the same transaction as the state
//! change they describe, read back in commit order by the HTTP feed and the NATS relay.
//!
//! # Who encodes what
//!
//! A context knows *what* happened and emits its own plain, typed event (`users::UserEvent`,
//! `orders::OrderEvent`), which implements [`DomainEvent`]: a type name, a subject and a time.
//! It does not know the JSON wire format of its resources (that belongs to the HTTP layer), so
//! the event's `data` is produced by an [`EventData`] encoder that the *app* supplies when it
//! builds the context's [`Outbox`]. The context calls [`Outbox::append`] with the caller's
//! [`Tx`]; the encoder runs right there, so the event row is written in the very transaction
//! of the change, and a rolled-back change takes its event with it.
//!
//! # Commit order is feed order
//!
//! On PostgreSQL concurrent transactions commit out of the order in which they wrote, so an
//! id or a sequence taken while writing would let a reader page past a position that a slower
//! transaction fills in later. Appending therefore leaves `position` empty; [`Tx::commit`]
//! assigns the positions of the transaction's events as its last step, from a one-row counter
//! (`event_positions`) whose row lock it holds until the commit completes. The next committer
//! waits for that lock, so positions are handed out in commit order, and a reader that has seen
//! position `p` will never later find a committed event below `p`. The lock is held only for
//! the duration of a commit (never while a transaction does its real work), so it cannot take
//! part in a deadlock with the contexts' row locks. On SQLite every write transaction is
//! `BEGIN IMMEDIATE` and writers are serialised anyway; the same code runs there.
//!
//! Positions never repeat, even after old events are purged: they come from the counter, not
//! from `MAX(position)`.
//!
//! # Envelope
//!
//! [`Event`] serialises as a CloudEvents 1.0 JSON envelope (`specversion`, `id`, `source`,
//! `type`, `subject`, `time`, `datacontenttype`, `data`), the one format of the HTTP feed, the
//! NATS stream and `cargo xtask events tail`.

mod entity;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use persistence_orm::{FromOrm, Orm};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Backend, Cursor, CursorError, Db, Faults, Limit, Page, StoreError, Tx, new_id};
use entity::{event_positions, event_relay_lease, events};

/// The CloudEvents `source` of every event this service emits.
pub const SOURCE: &str = "orders-backend";

/// Fault points of the outbox, armed by failure-injection tests.
pub mod faults {
    use crate::FaultPoint;

    /// After a context's state change, before its event is appended.
    pub const BEFORE_APPEND: FaultPoint = FaultPoint::new("persistence.outbox.before_append");
    /// After the event is appended, before the transaction goes on to commit.
    pub const AFTER_APPEND: FaultPoint = FaultPoint::new("persistence.outbox.after_append");
}

/// What a context's event must tell the outbox; the payload comes from [`EventData`].
pub trait DomainEvent: Send + Sync {
    /// The event type, e.g. `order.placed`.
    fn event_type(&self) -> &'static str;
    /// The identity of the aggregate that changed (a user's or order's id, a product's sku),
    /// at most 64 characters.
    fn subject(&self) -> String;
    /// When the change happened.
    fn time(&self) -> DateTime<Utc>;
}

/// Encodes a context's event as the JSON `data` of its envelope (the resource as it was after
/// the change). The app implements it with its wire types, so contexts stay free of JSON.
pub trait EventData<E>: Send + Sync {
    /// The event's payload.
    fn data(&self, event: &E) -> serde_json::Value;
}

impl<E, F> EventData<E> for F
where
    F: Fn(&E) -> serde_json::Value + Send + Sync,
{
    fn data(&self, event: &E) -> serde_json::Value {
        self(event)
    }
}

/// A context's door to the outbox: its events, encoded by the app's [`EventData`]. Cheap to
/// clone.
pub struct Outbox<E> {
    data: Arc<dyn EventData<E>>,
    faults: Faults,
}

impl<E> Clone for Outbox<E> {
    fn clone(&self) -> Self {
        Self {
            data: Arc::clone(&self.data),
            faults: self.faults.clone(),
        }
    }
}

impl<E> fmt::Debug for Outbox<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl<E: DomainEvent> Outbox<E> {
    /// An outbox whose events carry the payload `data` makes of them.
    pub fn new(data: impl EventData<E> + 'static) -> Self {
        Self {
            data: Arc::new(data),
            faults: Faults::default(),
        }
    }

    /// The same outbox checking these fault points (see [`faults`]).
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Writes `event` in `tx`, the transaction of the change it describes. Its feed position
    /// is assigned when `tx` commits (see the module docs).
    pub async fn append(&self, tx: &Tx, event: &E) -> Result<(), StoreError> {
        self.append_all(tx, std::slice::from_ref(event)).await
    }

    /// Writes `events`, in this order, in `tx` with one statement (a change that touched many
    /// aggregates at once costs what one costs).
    pub async fn append_all(&self, tx: &Tx, events: &[E]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        self.faults.check(faults::BEFORE_APPEND)?;
        let rows: Vec<events::ActiveModel> = events
            .iter()
            .map(|event| events::ActiveModel {
                id: Set(new_id()),
                position: Set(None),
                event_type: Set(event.event_type().to_owned()),
                subject: Set(event.subject()),
                time: Set(event.time()),
                data: Set(self.data.data(event).to_string()),
                published_at: Set(None),
            })
            .collect();
        let ids: Vec<Uuid> = rows
            .iter()
            .filter_map(|row| row.id.clone().take())
            .collect();
        events::Entity::insert_many(rows)
            .exec_without_returning(tx.orm())
            .await
            .map_err(StoreError::from_orm)?;
        for id in ids {
            tx.appended(id);
        }
        self.faults.check(faults::AFTER_APPEND)?;
        Ok(())
    }
}

/// Gives the events appended in `tx` (ids in append order) their feed positions: the last
/// statements before the commit. The counter's row lock, taken here, is held until `tx`
/// commits, which is what makes position order commit order on PostgreSQL.
pub(crate) async fn seal(tx: &Tx, ids: &[Uuid]) -> Result<(), StoreError> {
    let count = i64::try_from(ids.len()).map_err(|_| StoreError::other("too many events"))?;
    let counter = event_positions::Entity::update_many()
        .col_expr(
            event_positions::Column::Last,
            Expr::col(event_positions::Column::Last).add(count),
        )
        .filter(event_positions::Column::Id.eq(1))
        .exec_with_returning(tx.orm())
        .await
        .map_err(StoreError::from_orm)?;
    let last = counter
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::other("the event_positions counter row is missing"))?
        .last;
    // One statement whatever the count: `CASE id WHEN … THEN last - count + 1 … END`.
    let mut positions = CaseStatement::new();
    let mut position = last - count;
    for id in ids {
        position += 1;
        positions = positions.case(events::Column::Id.eq(*id), position);
    }
    events::Entity::update_many()
        .col_expr(
            events::Column::Position,
            positions
                .finally(Expr::col(events::Column::Position))
                .into(),
        )
        .filter(events::Column::Id.is_in(ids.iter().copied()))
        .exec(tx.orm())
        .await
        .map_err(StoreError::from_orm)?;
    Ok(())
}

/// One committed event, as the feed and the relay read it. Serialises as its CloudEvents 1.0
/// JSON envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// UUID v7, unique; the `Nats-Msg-Id` that lets JetStream drop a re-sent copy.
    pub id: Uuid,
    /// Place in commit order (1, 2, …; gaps only where events were purged).
    pub position: i64,
    /// E.g. `order.placed`.
    pub event_type: String,
    /// The aggregate's identity (an id, or a product's sku).
    pub subject: String,
    /// When the change happened.
    pub time: DateTime<Utc>,
    /// The resource as it was after the change.
    pub data: serde_json::Value,
}

/// The CloudEvents 1.0 structured-mode JSON envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    /// Always `1.0`.
    pub specversion: String,
    /// The event's id.
    pub id: Uuid,
    /// Always [`SOURCE`].
    pub source: String,
    /// E.g. `order.placed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The aggregate's identity.
    pub subject: String,
    /// RFC 3339, UTC.
    pub time: DateTime<Utc>,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The resource as it was after the change.
    pub data: serde_json::Value,
}

impl Event {
    /// The envelope of this event.
    pub fn to_cloudevent(&self) -> CloudEvent {
        CloudEvent {
            specversion: "1.0".to_owned(),
            id: self.id,
            source: SOURCE.to_owned(),
            event_type: self.event_type.clone(),
            subject: self.subject.clone(),
            time: self.time,
            datacontenttype: "application/json".to_owned(),
            data: self.data.clone(),
        }
    }
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_cloudevent().serialize(serializer)
    }
}

/// A feed cursor is an ordinary [`Cursor`] whose key holds a position under this tag, so the
/// feed shares the lists' opaque token format and `?after=` parsing; a list cursor (a UUID v7,
/// whose first bits are a timestamp) never carries the tag.
const POSITION_TAG: u64 = u64::from_be_bytes(*b"evtpos\0\0");

/// The cursor that resumes the feed after `position`.
pub fn cursor_after(position: i64) -> Cursor {
    Cursor::after_key(Uuid::from_u64_pair(
        POSITION_TAG,
        Ord::max(position, 0).unsigned_abs(),
    ))
}

/// The position a feed cursor resumes after; a cursor of another list is a [`CursorError`].
pub fn position_of(cursor: &Cursor) -> Result<i64, CursorError> {
    let (tag, position) = cursor.key().as_u64_pair();
    if tag != POSITION_TAG {
        return Err(CursorError);
    }
    i64::try_from(position).map_err(|_| CursorError)
}

/// The `CREATE TABLE`/`CREATE INDEX` statements the outbox's entities declare on `backend`, as
/// plain SQL: `cargo xtask migrate check` compares them with what the migrations build, as it
/// does each context's `declared_schema`.
pub fn declared_schema(backend: Backend) -> Vec<String> {
    let engine = match backend {
        Backend::Sqlite => sea_orm::DbBackend::Sqlite,
        Backend::Postgres => sea_orm::DbBackend::Postgres,
    };
    [
        persistence_orm::entity_schema(engine, events::Entity),
        persistence_orm::entity_schema(engine, event_positions::Entity),
        persistence_orm::entity_schema(engine, event_relay_lease::Entity),
    ]
    .concat()
}

/// Committed events after `after` (0: from the start), in commit order, one page at a time.
pub async fn read(db: &Db, after: i64, limit: Limit) -> Result<Page<Event>, StoreError> {
    let rows = events::Entity::find()
        .filter(events::Column::Position.gt(after))
        .order_by_asc(events::Column::Position)
        .limit(limit.get() + 1)
        .all(db.orm())
        .await
        .map_err(StoreError::from_orm)?;
    let events = rows
        .into_iter()
        .map(to_event)
        .collect::<Result<Vec<_>, _>>()?;
    let page = Page::from_overfetch(events, limit, |event| cursor_after(event.position).key());
    Ok(page)
}

/// How many committed events the relay has not published yet.
pub async fn unpublished_count(db: &Db) -> Result<u64, StoreError> {
    events::Entity::find()
        .filter(events::Column::PublishedAt.is_null())
        .filter(events::Column::Position.is_not_null())
        .count(db.orm())
        .await
        .map_err(StoreError::from_orm)
}

/// When the oldest committed event the relay has not published yet happened (`None`: nothing
/// waits): its age is how far behind the relay is, what an operator alerts on.
pub async fn oldest_unpublished(db: &Db) -> Result<Option<DateTime<Utc>>, StoreError> {
    let oldest = events::Entity::find()
        .filter(events::Column::PublishedAt.is_null())
        .filter(events::Column::Position.is_not_null())
        .order_by_asc(events::Column::Position)
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
    let query = events::Entity::find()
        .filter(events::Column::PublishedAt.is_null())
        .filter(events::Column::Position.is_not_null())
        .order_by_asc(events::Column::Position)
        .limit(limit);
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
    let mut delete = events::Entity::delete_many().filter(events::Column::Position.is_not_null());
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

fn to_event(row: events::Model) -> Result<Event, StoreError> {
    let position = row
        .position
        .ok_or_else(|| StoreError::other("an uncommitted event was read"))?;
    let data = serde_json::from_str(&row.data)
        .map_err(|e| StoreError::other(format!("event {} has unreadable data: {e}", row.id)))?;
    Ok(Event {
        id: row.id,
        position,
        event_type: row.event_type,
        subject: row.subject,
        time: row.time,
        data,
    })
}
