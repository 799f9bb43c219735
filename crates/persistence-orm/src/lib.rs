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
#[derive(Debug, Clone)]
pub struct Pool(DatabaseConnection);

impl Pool {
    /// Wraps an open SeaORM pool (only `persistence` opens them).
    pub fn new(connection: DatabaseConnection) -> Self {
        Self(connection)
    }

    /// Mutable access, for installing statement callbacks before the pool is shared.
    pub fn get_mut(&mut self) -> &mut DatabaseConnection {
        &mut self.0
    }

    /// The pool itself, for closing it.
    pub fn into_inner(self) -> DatabaseConnection {
        self.0
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

    /// The SeaORM connection or transaction.
    fn connection(&self) -> &Self::Inner;
}

impl Connection for Pool {
    type Inner = DatabaseConnection;

    fn connection(&self) -> &DatabaseConnection {
        &self.0
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

/// The accessor the contexts use: `db.orm()` is the SeaORM pool, `tx.orm()` the SeaORM
/// transaction, each ready for `.one(…)`, `.exec(…)` and friends.
pub trait Orm {
    /// `DatabaseConnection` for a `Db`, `DatabaseTransaction` for a `Tx`.
    type Connection: ConnectionTrait;

    /// The SeaORM connection behind this handle.
    fn orm(&self) -> &Self::Connection;
}

impl<T: HoldsConnection> Orm for T {
    type Connection = <T::Held as Connection>::Inner;

    fn orm(&self) -> &Self::Connection {
        self.held().connection()
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
