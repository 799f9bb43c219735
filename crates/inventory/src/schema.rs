//! The schema this context's entities declare, as plain SQL, for `cargo xtask migrate check`
//! to compare with what the migrations build (see `users::declared_schema`).

use persistence::Backend;
use persistence_orm::entity_schema;
use sea_orm::DbBackend;

use crate::entity::{stock, stock_adjustments, stock_reservations};

/// The `CREATE TABLE` and `CREATE INDEX` statements SeaORM derives from this context's
/// entities on `backend`, in an order that runs as is on an empty database.
pub fn declared_schema(backend: Backend) -> Vec<String> {
    let engine = match backend {
        Backend::Sqlite => DbBackend::Sqlite,
        Backend::Postgres => DbBackend::Postgres,
    };
    [
        entity_schema(engine, stock::Entity),
        entity_schema(engine, stock_reservations::Entity),
        entity_schema(engine, stock_adjustments::Entity),
    ]
    .concat()
}
