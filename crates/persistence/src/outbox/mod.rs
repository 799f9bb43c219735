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
//! # Feed order without a lock every writer waits for
//!
//! An event gets its `position` from a plain sequence as it is inserted, so concurrent
//! transactions commit out of position order, and a reader that paged past position `p` could
//! later see a smaller one commit. The feed is therefore ordered by `(tx, position)`, where
//! `tx` is the inserting transaction's id (`pg_current_xact_id()`), raised to the highest `tx`
//! among the subject's earlier events, and a reader is shown only the events whose `tx` is
//! below the oldest transaction still in flight (`pg_snapshot_xmin(pg_current_snapshot())`).
//!
//! - **Never behind a cursor.** An event that is not committed yet, or not written yet, will
//!   carry a `tx` at least the id of a transaction that is in flight or still to start, so at
//!   least that horizon; everything shown so far lies below it. What a reader sees later
//!   therefore always sorts after what it has seen, and `(tx, position)` is a safe cursor. (The
//!   other known way, a sequence read up to its first gap, has to wait gaps out by time, and a
//!   commit slower than the wait is skipped.)
//! - **Commit order per subject.** A transaction writes a subject's event after taking the
//!   row lock of the change it describes, so the subject's previous event is committed by
//!   then; raising `tx` to that event's keeps the subject's events in commit order, even for
//!   a transaction whose id is older than the one it waited for.
//! - **The cost.** Nothing is held until commit: no statement of one writer waits for
//!   another's. A transaction left open holds the horizon back, which delays the feed (never a
//!   writer) until it ends.
//!
//! The relay publishes what the feed shows, in the feed's order, so the stream and the feed
//! agree event for event.
//!
//! On SQLite every write transaction is `BEGIN IMMEDIATE`, so writers are serialised and
//! position order is commit order: positions come from a one-row counter (`event_positions`)
//! taken in the writing transaction, and `tx` is 0. Positions never repeat, even after old
//! events are purged. Events written before this scheme have `tx` 0 too, and a feed cursor
//! issued before it (a bare position) resumes after `(0, position)`.
//!
//! # Envelope
//!
//! [`Event`] serialises as a CloudEvents 1.0 JSON envelope (`specversion`, `id`, `source`,
//! `type`, `subject`, `time`, `datacontenttype`, `data`), the one format of the HTTP feed, the
//! NATS stream and `cargo xtask events tail`.

mod append;
mod entity;
mod relay;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use persistence_orm::{FromOrm, Orm};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectionTrait as _, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Backend, Cursor, CursorError, Db, Faults, Limit, Page, StoreError, Tx, new_id};
use append::NewRow;
use entity::{event_positions, event_relay_lease, events};

pub use relay::{Claim, claim, oldest_unpublished, purge, unpublished_count};

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

    /// Writes `event` in `tx`, the transaction of the change it describes (its place in the
    /// feed is taken as it is written; see the module docs).
    pub async fn append(&self, tx: &Tx, event: &E) -> Result<(), StoreError> {
        self.append_all(tx, std::slice::from_ref(event)).await
    }

    /// Writes `events`, in this order, in `tx` with one statement (a change that touched many
    /// aggregates at once costs what one costs; SQLite adds one for its position counter).
    pub async fn append_all(&self, tx: &Tx, events: &[E]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        self.faults.check(faults::BEFORE_APPEND)?;
        let rows: Vec<NewRow> = events
            .iter()
            .map(|event| NewRow {
                id: new_id(),
                event_type: event.event_type(),
                subject: event.subject(),
                time: event.time(),
                data: self.data.data(event).to_string(),
            })
            .collect();
        match tx.backend() {
            Backend::Postgres => append::insert_postgres(tx, rows).await?,
            Backend::Sqlite => append::insert_sqlite(tx, rows).await?,
        }
        self.faults.check(faults::AFTER_APPEND)?;
        Ok(())
    }
}

/// Where an event stands in the feed, and where a reader resumes: ordered by `tx`, then
/// `position` (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedPoint {
    tx: i64,
    position: i64,
}

impl FeedPoint {
    /// Before the first event.
    pub const START: Self = Self { tx: 0, position: 0 };

    /// The event's position (unique, increasing in insertion order).
    pub fn position(&self) -> i64 {
        self.position
    }
}

/// One committed event, as the feed and the relay read it. Serialises as its CloudEvents 1.0
/// JSON envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// UUID v7, unique; the `Nats-Msg-Id` that lets JetStream drop a re-sent copy.
    pub id: Uuid,
    /// Its place in the feed.
    pub point: FeedPoint,
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

/// A feed cursor is an ordinary [`Cursor`] whose key holds a [`FeedPoint`]: this tag in the
/// top 16 bits, `tx` in the next 48, the position in the low 64. The feed thereby shares the
/// lists' opaque token format and `?after=` parsing; a list cursor (a UUID v7, whose first
/// bits are a timestamp) never carries the tag.
const POINT_TAG: u64 = u16::from_be_bytes(*b"fp") as u64;
/// `tx` fits below the tag for 2^48 transactions, far more than a database runs.
const TX_BITS: u32 = 48;
/// The tag of a cursor issued before [`FeedPoint`] had a `tx`: it holds a bare position.
const POSITION_TAG: u64 = u64::from_be_bytes(*b"evtpos\0\0");

/// The cursor that resumes the feed after `point`.
pub fn cursor_after(point: FeedPoint) -> Cursor {
    let tx = point.tx.unsigned_abs() & ((1 << TX_BITS) - 1);
    Cursor::after_key(Uuid::from_u64_pair(
        POINT_TAG << TX_BITS | tx,
        point.position.unsigned_abs(),
    ))
}

/// The point a feed cursor resumes after; a cursor of another list is a [`CursorError`].
pub fn point_of(cursor: &Cursor) -> Result<FeedPoint, CursorError> {
    let (high, low) = cursor.key().as_u64_pair();
    let position = i64::try_from(low).map_err(|_| CursorError)?;
    if high == POSITION_TAG {
        return Ok(FeedPoint { tx: 0, position });
    }
    if high >> TX_BITS != POINT_TAG {
        return Err(CursorError);
    }
    let tx = i64::try_from(high & ((1 << TX_BITS) - 1)).map_err(|_| CursorError)?;
    Ok(FeedPoint { tx, position })
}

/// The `CREATE TABLE`/`CREATE INDEX` statements the outbox's entities declare on `backend`, as
/// plain SQL: `cargo xtask migrate check` compares them with what the migrations build, as it
/// does each context's `declared_schema`. The position counter exists on SQLite only
/// (PostgreSQL draws positions from a sequence).
pub fn declared_schema(backend: Backend) -> Vec<String> {
    let mut schema = Vec::new();
    let engine = match backend {
        Backend::Sqlite => {
            let engine = sea_orm::DbBackend::Sqlite;
            schema.extend(persistence_orm::entity_schema(
                engine,
                event_positions::Entity,
            ));
            engine
        }
        Backend::Postgres => sea_orm::DbBackend::Postgres,
    };
    schema.extend(persistence_orm::entity_schema(engine, events::Entity));
    schema.extend(persistence_orm::entity_schema(
        engine,
        event_relay_lease::Entity,
    ));
    schema
}

/// Only what the feed may show yet: on PostgreSQL the events below the horizon of
/// transactions in flight (see the module docs); on SQLite every committed one.
fn below_horizon(
    query: sea_orm::Select<events::Entity>,
    backend: Backend,
) -> sea_orm::Select<events::Entity> {
    match backend {
        Backend::Sqlite => query,
        Backend::Postgres => query.filter(Expr::col(events::Column::Tx).lt(Expr::cust(
            "pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
        ))),
    }
}

/// The feed's order.
fn in_feed_order(query: sea_orm::Select<events::Entity>) -> sea_orm::Select<events::Entity> {
    query
        .order_by_asc(events::Column::Tx)
        .order_by_asc(events::Column::Position)
}

/// Committed events after `after` ([`FeedPoint::START`]: from the start), in feed order, one
/// page at a time; on PostgreSQL only those below the horizon of transactions in flight (see
/// the module docs).
pub async fn read(db: &Db, after: FeedPoint, limit: Limit) -> Result<Page<Event>, StoreError> {
    let query = events::Entity::find().filter(
        Expr::tuple([
            Expr::col(events::Column::Tx),
            Expr::col(events::Column::Position),
        ])
        .gt(Expr::tuple([after.tx.into(), after.position.into()])),
    );
    let rows = in_feed_order(below_horizon(query, db.backend()))
        .limit(limit.get() + 1)
        .all(db.orm())
        .await
        .map_err(StoreError::from_orm)?;
    let events = rows
        .into_iter()
        .map(to_event)
        .collect::<Result<Vec<_>, _>>()?;
    let page = Page::from_overfetch(events, limit, |event| cursor_after(event.point).key());
    Ok(page)
}

/// Waits until the feed shows every transaction that had finished when it was called: on
/// PostgreSQL, until the horizon of transactions in flight has passed them (see the module
/// docs); on SQLite at once. A [`crate::StoreErrorKind::Unavailable`] error after `timeout`,
/// when a transaction stays open that long.
pub async fn settle(db: &Db, timeout: std::time::Duration) -> Result<(), StoreError> {
    if db.backend() == Backend::Sqlite {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let horizon = |sql: &'static str| async move {
        let row = db
            .orm()
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql,
            ))
            .await
            .map_err(StoreError::from_orm)?
            .ok_or_else(|| StoreError::other("the snapshot query returned no row"))?;
        row.try_get::<i64>("", "tx").map_err(StoreError::from_orm)
    };
    // Every transaction below this had finished when we were called.
    let target =
        horizon("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS tx").await?;
    let mut pause = std::time::Duration::from_millis(2);
    while horizon("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS tx").await?
        < target
    {
        if tokio::time::Instant::now() + pause > deadline {
            return Err(StoreError::unavailable(format!(
                "a transaction stayed open for {timeout:?}, holding the event feed back"
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
    Ok(())
}

fn to_event(row: events::Model) -> Result<Event, StoreError> {
    if row.tx >> TX_BITS != 0 {
        return Err(StoreError::other(format!(
            "event {} has a transaction id beyond what a feed cursor holds",
            row.id
        )));
    }
    let data = serde_json::from_str(&row.data)
        .map_err(|e| StoreError::other(format!("event {} has unreadable data: {e}", row.id)))?;
    Ok(Event {
        id: row.id,
        point: FeedPoint {
            tx: row.tx,
            position: row.position,
        },
        event_type: row.event_type,
        subject: row.subject,
        time: row.time,
        data,
    })
}
