//! The one door from `persistence`'s [`Db`](../persistence/struct.Db.html) and `Tx` handles to
//! the SeaORM connection behind them.
//!
//! Every crate that holds a `Db` can call its inherent methods, but the connection is reached
//! only through the [`Orm`] trait, and a trait method can be called only where the trait is in
//! scope, which takes naming this crate, which takes listing it in `Cargo.toml`. So the compiler
//! lets exactly the crates that depend on `persistence-orm` (the contexts and `migration`)
//! run SeaORM queries on the service's database; `app`, `tests` and `xtask` cannot, and
//! cargo-deny's `[bans]` (see `deny.toml`) keeps them from adding the dependency.
//!
//! A cargo feature on `persistence` would not do: features unify across a build, so the
//! moment one context enabled it, `app` would see the accessor too.
//!
//! ```
//! # async fn demo(db: &persistence::Db) -> Result<(), persistence::StoreError> {
//! use persistence::StoreError;
//! use persistence_orm::{ConnectionTrait, FromOrm, Orm};
//!
//! db.orm().execute_unprepared("SELECT 1").await.map_err(StoreError::from_orm)?;
//! # Ok(()) }
//! ```
//!
//! This crate only declares the door; `persistence` implements [`HoldsConnection`] and
//! [`FromOrm`] for its handles and its error, with signatures that name no SeaORM type, so
//! `persistence`'s own public API stays free of them.

#![warn(missing_docs)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::sea_query::{ColumnType, Table, TableCreateStatement};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait, ExecResult,
    QueryResult, RuntimeErr, Schema, Statement,
};

pub use sea_orm::ConnectionTrait;

/// The pool behind a `persistence::Db`, opaque to every crate that cannot name this one.
///
/// On PostgreSQL it is one pool. On an SQLite file it is two: readers, and a writer of exactly
/// one connection that write transactions queue for (first come, first served) instead of
/// sleeping and retrying on SQLite's busy timeout, since SQLite admits one writer at a time
/// anyway.
#[derive(Debug, Clone)]
pub struct Pool {
    reader: Bounded<DatabaseConnection>,
    writer: Option<Bounded<DatabaseConnection>>,
}

impl Pool {
    /// Wraps one open SeaORM pool that serves reads and writes alike (only `persistence`
    /// opens them); each statement on it must answer within `deadline` (waiting for a pooled
    /// connection included).
    pub fn new(connection: DatabaseConnection, deadline: Option<Duration>) -> Self {
        Self {
            reader: Bounded::new(connection, deadline),
            writer: None,
        }
    }

    /// Wraps a pool of readers and a separate pool for writes (SQLite's single writer), both
    /// under `deadline`.
    pub fn split(
        reader: DatabaseConnection,
        writer: DatabaseConnection,
        deadline: Option<Duration>,
    ) -> Self {
        Self {
            reader: Bounded::new(reader, deadline),
            writer: Some(Bounded::new(writer, deadline)),
        }
    }

    /// The pool that runs writes: the writer when split, else the one pool.
    pub fn writer(&self) -> &Bounded<DatabaseConnection> {
        self.writer.as_ref().unwrap_or(&self.reader)
    }

    /// Mutable access to every pool (one or two), for installing statement callbacks before
    /// the pool is shared.
    pub fn each_mut(&mut self) -> impl Iterator<Item = &mut DatabaseConnection> {
        std::iter::once(&mut self.reader)
            .chain(self.writer.as_mut())
            .map(|bounded| &mut bounded.inner)
    }

    /// The pools themselves (one or two), for closing them.
    pub fn into_inner(self) -> Vec<DatabaseConnection> {
        std::iter::once(self.reader)
            .chain(self.writer)
            .map(Bounded::into_inner)
            .collect()
    }
}

/// The transaction behind a `persistence::Tx`, opaque to every crate that cannot name this one.
#[derive(Debug)]
pub struct Transaction(Bounded<DatabaseTransaction>);

impl Transaction {
    /// Wraps a begun SeaORM transaction (only `persistence` begins them); each statement in it
    /// must answer within `deadline`.
    pub fn new(transaction: DatabaseTransaction, deadline: Option<Duration>) -> Self {
        Self(Bounded::new(transaction, deadline))
    }

    /// Whether a statement of this transaction outlived its deadline: its reply may still be
    /// on the way, so nothing more may be sent on the connection, `COMMIT` least of all.
    pub fn expired(&self) -> bool {
        self.0.expired()
    }

    /// The deadline each statement of this transaction had, for bounding its `COMMIT` and
    /// `ROLLBACK` alike.
    pub fn deadline(&self) -> Option<Duration> {
        self.0.deadline
    }

    /// The transaction itself, for committing or rolling it back.
    pub fn into_inner(self) -> DatabaseTransaction {
        self.0.into_inner()
    }
}

/// A SeaORM connection or transaction whose every statement gets a client-side deadline.
///
/// PostgreSQL's `statement_timeout` is enforced by the server, and its cancellation travels
/// back over the same link as any reply: when the link goes silent without a reset (a stalled
/// network, a frozen proxy), neither the reply nor the cancellation ever arrives, and the
/// driver would wait for as long as the kernel keeps the socket open. A deadline kept on this
/// side of the link ends that wait with [`DeadlineExpired`], which `persistence` classifies as
/// "unavailable" (a 503).
///
/// Dropping the statement's future on expiry is safe with sqlx: the connection goes back to
/// its pool only after the pool's release ping has drained the abandoned reply (and the
/// `ROLLBACK` an open transaction queues when dropped), and a connection whose ping fails is
/// closed instead.
#[derive(Debug)]
pub struct Bounded<C> {
    inner: C,
    deadline: Option<Duration>,
    /// Set once a statement outlived the deadline (meaningful for a transaction, whose
    /// connection is then in an unknown state).
    expired: AtomicBool,
}

impl<C: Clone> Clone for Bounded<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            deadline: self.deadline,
            expired: AtomicBool::new(false),
        }
    }
}

impl<C> Bounded<C> {
    /// `inner` with every statement bounded by `deadline` (`None`: unbounded, as migrations
    /// and operators' tools want).
    pub fn new(inner: C, deadline: Option<Duration>) -> Self {
        Self {
            inner,
            deadline,
            expired: AtomicBool::new(false),
        }
    }

    /// The SeaORM connection without the deadline: for APIs that insist on SeaORM's own types
    /// (the migrator, pool statistics, beginning a transaction). Statements sent through it
    /// are not bounded, so the contexts do not use it.
    pub fn unbounded(&self) -> &C {
        &self.inner
    }

    /// Whether a statement outlived the deadline.
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::Relaxed)
    }

    /// The wrapped connection.
    pub fn into_inner(self) -> C {
        self.inner
    }

    async fn bounded<T>(&self, work: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        let outcome = within(self.deadline, work).await;
        if outcome.as_ref().is_err_and(is_deadline_expired) {
            self.expired.store(true, Ordering::Relaxed);
        }
        outcome
    }
}

#[async_trait::async_trait]
impl<C: ConnectionTrait + Send + Sync> ConnectionTrait for Bounded<C> {
    fn get_database_backend(&self) -> DbBackend {
        self.inner.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.bounded(self.inner.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.bounded(self.inner.execute_unprepared(sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.bounded(self.inner.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.bounded(self.inner.query_all_raw(stmt)).await
    }

    fn support_returning(&self) -> bool {
        self.inner.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.inner.is_mock_connection()
    }
}

/// Runs `work` within `deadline` (unbounded when `None`); past it, `work` is dropped and the
/// answer is a [`DeadlineExpired`] error. `persistence` bounds `BEGIN`, `COMMIT` and
/// `ROLLBACK` with it, which SeaORM sends outside [`ConnectionTrait`].
pub async fn within<T>(
    deadline: Option<Duration>,
    work: impl Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    let Some(deadline) = deadline else {
        return work.await;
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(outcome) => outcome,
        Err(_) => Err(DeadlineExpired { after: deadline }.into()),
    }
}

/// The database did not answer a statement within the client-side deadline: the link may be
/// stalled, or the server too slow to even report its own timeout.
///
/// It travels inside SeaORM's error as an I/O time-out of the driver (which is what it is: a
/// read that never completed), so anything that classifies driver errors sees a broken
/// connection; [`is_deadline_expired`] recognises it by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlineExpired {
    /// The deadline that passed.
    pub after: Duration,
}

impl std::fmt::Display for DeadlineExpired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no answer from the database within the client-side deadline of {:?}",
            self.after
        )
    }
}

impl std::error::Error for DeadlineExpired {}

impl From<DeadlineExpired> for DbErr {
    fn from(expired: DeadlineExpired) -> Self {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, expired);
        DbErr::Query(RuntimeErr::SqlxError(Arc::new(sea_orm::sqlx::Error::Io(
            io,
        ))))
    }
}

/// Whether `err` is a [`DeadlineExpired`], told by its type, never its message.
pub fn is_deadline_expired(err: &DbErr) -> bool {
    let (DbErr::Conn(RuntimeErr::SqlxError(sqlx))
    | DbErr::Exec(RuntimeErr::SqlxError(sqlx))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx))) = err
    else {
        return false;
    };
    matches!(&**sqlx, sea_orm::sqlx::Error::Io(io)
        if io.get_ref().is_some_and(|inner| inner.is::<DeadlineExpired>()))
}

/// What a handle wraps: a [`Pool`] or a [`Transaction`], each of which can run statements.
pub trait Connection {
    /// The type that runs statements: a SeaORM connection or transaction behind a deadline.
    type Inner: ConnectionTrait;

    /// The connection or transaction, for reads (and, in a transaction, writes).
    fn connection(&self) -> &Self::Inner;

    /// Where a write outside any transaction runs: the pool's writer, or the transaction
    /// itself.
    fn write_connection(&self) -> &Self::Inner {
        self.connection()
    }
}

impl Connection for Pool {
    type Inner = Bounded<DatabaseConnection>;

    fn connection(&self) -> &Bounded<DatabaseConnection> {
        &self.reader
    }

    fn write_connection(&self) -> &Bounded<DatabaseConnection> {
        self.writer()
    }
}

impl Connection for Transaction {
    type Inner = Bounded<DatabaseTransaction>;

    fn connection(&self) -> &Bounded<DatabaseTransaction> {
        &self.0
    }
}

/// Implemented by `persistence::Db` (holding a [`Pool`]) and `persistence::Tx` (holding a
/// [`Transaction`]); [`Orm`] builds on it.
pub trait HoldsConnection {
    /// [`Pool`] or [`Transaction`].
    type Held: Connection;

    /// The wrapped connection.
    fn held(&self) -> &Self::Held;
}

/// The accessor the contexts use: `db.orm()` is the SeaORM pool for reads, `db.orm_write()`
/// the one for a write outside any transaction, `tx.orm()` the SeaORM transaction; each is
/// ready for `.one(…)`, `.exec(…)` and friends, and each statement sent through it has the
/// client-side deadline of [`Bounded`].
///
/// On SQLite the read pool refuses writes (`PRAGMA query_only`), so a write sent to
/// `db.orm()` fails loudly in tests instead of bypassing the writer queue.
pub trait Orm {
    /// `Bounded<DatabaseConnection>` for a `Db`, `Bounded<DatabaseTransaction>` for a `Tx`.
    type Connection: ConnectionTrait;

    /// The connection behind this handle, for reads (in a transaction, for anything).
    fn orm(&self) -> &Self::Connection;

    /// The connection for a write that is a unit of work by itself (one statement,
    /// autocommitted): on SQLite the single writer, queued for like a transaction.
    fn orm_write(&self) -> &Self::Connection;
}

impl<T: HoldsConnection> Orm for T {
    type Connection = <T::Held as Connection>::Inner;

    fn orm(&self) -> &Self::Connection {
        self.held().connection()
    }

    fn orm_write(&self) -> &Self::Connection {
        self.held().write_connection()
    }
}

/// A SeaORM error on its way to becoming a `persistence::StoreError`.
#[derive(Debug)]
pub struct OrmError(DbErr);

impl OrmError {
    /// The SeaORM error, for classification.
    pub fn into_inner(self) -> DbErr {
        self.0
    }
}

impl From<DbErr> for OrmError {
    fn from(err: DbErr) -> Self {
        Self(err)
    }
}

/// Turns a SeaORM error into the store error that contexts report: `persistence::StoreError`
/// implements it, so a context writes `.map_err(StoreError::from_orm)?`.
pub trait FromOrm: Sized {
    /// Classifies `err` (unique violation, foreign-key violation, other) and keeps it as the
    /// source for logs.
    fn from_orm(err: impl Into<OrmError>) -> Self;
}

/// The `CREATE TABLE` statement and then the `CREATE INDEX` statements that SeaORM's schema
/// builder derives from `entity` on `engine`: what each context's `declared_schema` hands to
/// `cargo xtask migrate check` to compare with the schema the migrations build.
///
/// UUID columns are `blob` on SQLite, as in every migration (SeaORM would say `uuid_text`, yet
/// binds UUIDs as 16-byte blobs anyway).
pub fn entity_schema<E: EntityTrait>(engine: DbBackend, entity: E) -> Vec<String> {
    let schema = Schema::new(engine);
    let table = schema.create_table_from_entity(entity);
    let table = if engine == DbBackend::Sqlite {
        uuids_as_blobs(&table)
    } else {
        table
    };
    std::iter::once(engine.build(&table).to_string())
        .chain(
            schema
                .create_index_from_entity(entity)
                .iter()
                .map(|index| engine.build(index).to_string()),
        )
        .collect()
}

/// `table` with every `uuid` column declared `blob`.
fn uuids_as_blobs(table: &TableCreateStatement) -> TableCreateStatement {
    let mut out = Table::create();
    if let Some(name) = table.get_table_name() {
        out.table(name.clone());
    }
    for column in table.get_columns() {
        let mut column = column.clone();
        if matches!(column.get_column_type(), Some(ColumnType::Uuid)) {
            column.blob();
        }
        out.col(column);
    }
    for index in table.get_indexes() {
        out.index(&mut index.clone());
    }
    for foreign_key in table.get_foreign_key_create_stmts() {
        out.foreign_key(&mut foreign_key.clone());
    }
    out
}
