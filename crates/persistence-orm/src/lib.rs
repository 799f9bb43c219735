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

use sea_orm::sea_query::{ColumnType, Table, TableCreateStatement};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait, Schema};

pub use sea_orm::ConnectionTrait;

/// The pool behind a `persistence::Db`, opaque to every crate that cannot name this one.
///
/// On PostgreSQL it is one pool. On an SQLite file it is two: readers, and a writer of exactly
/// one connection that write transactions queue for (first come, first served) instead of
/// sleeping and retrying on SQLite's busy timeout, since SQLite admits one writer at a time
/// anyway.
#[derive(Debug, Clone)]
pub struct Pool {
    reader: DatabaseConnection,
    writer: Option<DatabaseConnection>,
}

impl Pool {
    /// Wraps one open SeaORM pool that serves reads and writes alike (only `persistence`
    /// opens them).
    pub fn new(connection: DatabaseConnection) -> Self {
        Self {
            reader: connection,
            writer: None,
        }
    }

    /// Wraps a pool of readers and a separate pool for writes (SQLite's single writer).
    pub fn split(reader: DatabaseConnection, writer: DatabaseConnection) -> Self {
        Self {
            reader,
            writer: Some(writer),
        }
    }

    /// The pool that runs writes: the writer when split, else the one pool.
    pub fn writer(&self) -> &DatabaseConnection {
        self.writer.as_ref().unwrap_or(&self.reader)
    }

    /// Mutable access to every pool (one or two), for installing statement callbacks before
    /// the pool is shared.
    pub fn each_mut(&mut self) -> impl Iterator<Item = &mut DatabaseConnection> {
        std::iter::once(&mut self.reader).chain(self.writer.as_mut())
    }

    /// The pools themselves (one or two), for closing them.
    pub fn into_inner(self) -> Vec<DatabaseConnection> {
        std::iter::once(self.reader).chain(self.writer).collect()
    }
}

/// The transaction behind a `persistence::Tx`, opaque to every crate that cannot name this one.
#[derive(Debug)]
pub struct Transaction(DatabaseTransaction);

impl Transaction {
    /// Wraps a begun SeaORM transaction (only `persistence` begins them).
    pub fn new(transaction: DatabaseTransaction) -> Self {
        Self(transaction)
    }

    /// The transaction itself, for committing or rolling it back.
    pub fn into_inner(self) -> DatabaseTransaction {
        self.0
    }
}

/// What a handle wraps: a [`Pool`] or a [`Transaction`], each of which can run statements.
pub trait Connection {
    /// The SeaORM type that runs statements.
    type Inner: ConnectionTrait;

    /// The SeaORM connection or transaction, for reads (and, in a transaction, writes).
    fn connection(&self) -> &Self::Inner;

    /// Where a write outside any transaction runs: the pool's writer, or the transaction
    /// itself.
    fn write_connection(&self) -> &Self::Inner {
        self.connection()
    }
}

impl Connection for Pool {
    type Inner = DatabaseConnection;

    fn connection(&self) -> &DatabaseConnection {
        &self.reader
    }

    fn write_connection(&self) -> &DatabaseConnection {
        self.writer()
    }
}

impl Connection for Transaction {
    type Inner = DatabaseTransaction;

    fn connection(&self) -> &DatabaseTransaction {
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
/// ready for `.one(…)`, `.exec(…)` and friends.
///
/// On SQLite the read pool refuses writes (`PRAGMA query_only`), so a write sent to
/// `db.orm()` fails loudly in tests instead of bypassing the writer queue.
pub trait Orm {
    /// `DatabaseConnection` for a `Db`, `DatabaseTransaction` for a `Tx`.
    type Connection: ConnectionTrait;

    /// The SeaORM connection behind this handle, for reads (in a transaction, for anything).
    fn orm(&self) -> &Self::Connection;

    /// The SeaORM connection for a write that is a unit of work by itself (one statement,
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
