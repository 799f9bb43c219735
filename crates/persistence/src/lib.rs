//! The shared persistence kernel every bounded context stands on.
//!
//! It owns *how* we talk to a database (connecting, transactions, error classification) and the
//! small value types every context repeats (ids, timestamps, cursor pagination). It deliberately
//! holds no entities and no business rules: those belong to the contexts.
//!
//! The [`Db`] and [`Tx`] handles are what crosses crate boundaries. A context operation that must
//! join a larger unit of work takes `&Tx`; one that stands alone takes neither and runs on the
//! pool. The SeaORM connection behind both is reachable only through [`Db::orm`] / [`Tx::orm`],
//! which exist for context crates and migrations, never for the HTTP layer.

#![warn(missing_docs)]

mod cursor;
mod db;
mod error;
mod fault;
mod ids;
mod tx;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use cursor::{
    Cursor, CursorCodec, CursorError, CursorSecretError, Limit, LimitError, Page, PageRequest,
};
pub use db::{Backend, Db, DbConfig, sqlite_file_path};
pub use error::{StoreError, StoreErrorKind};
pub use fault::{FaultPoint, Faults};
pub use ids::{new_id, now_utc};
pub use tx::Tx;
