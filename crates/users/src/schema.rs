//! The schema this context's entities declare, as plain SQL.
//!
//! The entities are private to this crate and the schema is owned by `migration/`, so nothing
//! else could see whether the two still agree. `cargo xtask migrate check` executes these
//! statements on an empty scratch database, reads the result back from the engine's catalog
//! and compares it with a scratch database built by the migrations: an entity edited without a
//! migration (or the reverse) fails CI. Strings keep SeaORM out of this crate's public API.

use persistence::Backend;
use persistence_orm::entity_schema;
use sea_orm::DbBackend;

use crate::entity;

/// The `CREATE TABLE` and `CREATE INDEX` statements SeaORM's schema builder derives from this
/// context's entities on `backend`, in an order that runs as is on an empty database.
///
/// UUID columns are `blob` on SQLite, as in every migration.
pub fn declared_schema(backend: Backend) -> Vec<String> {
    let engine = match backend {
        Backend::Sqlite => DbBackend::Sqlite,
        Backend::Postgres => DbBackend::Postgres,
    };
    entity_schema(engine, entity::Entity)
}
