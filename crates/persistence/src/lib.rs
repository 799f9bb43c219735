//! The shared persistence kernel every bounded context stands on.
//!
//! It owns *how* we talk to a database (connecting, transactions, error classification) and the
//! small value types every context repeats (ids, timestamps, cursor pagination). It deliberately
//! holds no entities and no business rules: those belong to the contexts.
//!
//! The [`Db`] and [`Tx`] handles are what crosses crate boundaries. A context operation that must
//! join a larger unit of work takes `&Tx`; one that stands alone takes neither and runs on the
//! pool.
//!
//! # Who can reach SeaORM
//!
//! No SeaORM type appears in this crate's public API. The connection behind a `Db` or `Tx` is
//! reached only through the `persistence_orm::Orm` trait (`db.orm()`, `tx.orm()`), and SeaORM
//! errors become [`StoreError`]s only through `persistence_orm::FromOrm`. A trait's methods can
//! be called only where the trait is in scope, and naming it takes a direct dependency on
//! `persistence-orm`, which only the context crates and `migration` have: the compiler stops
//! `app`, `tests` and `xtask` from running a query of their own (a trybuild test in `app`
//! shows `db.orm()` failing to compile there), and cargo-deny's `[bans]` (`deny.toml`) keeps
//! them from adding the dependency. A cargo feature could not do this: features unify across a
//! build, so the first context to enable one would switch it on for `app` too.

#![warn(missing_docs)]

mod cursor;
pub mod database_url;
mod db;
mod error;
mod fault;
mod ids;
mod observe;
pub mod outbox;
mod scratch;
pub mod sql_text;
pub mod text;
mod tx;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use cursor::{
    Cursor, CursorCodec, CursorError, CursorSecretError, Limit, LimitError, Page, PageRequest,
};
pub use db::{Backend, Db, DbConfig, POSTGRES_SESSION_SETTINGS, PoolStatus};
pub use error::{StoreError, StoreErrorKind};
#[cfg(feature = "fault-injection")]
pub use fault::Gate;
pub use fault::{FaultPoint, Faults};
pub use ids::{new_id, now_utc};
pub use observe::count_statements_of;
pub use outbox::{DomainEvent, Event, EventData, Outbox};
pub use scratch::ScratchDatabase;
pub use tx::Tx;
