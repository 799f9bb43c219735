//! The schema this context's entities declare, as plain SQL.
//!
//! The entities are private to this crate and the schema is owned by `migration/`, so nothing
//! else could see whether the two still agree. `cargo xtask migrate check` executes these
//! statements on an empty scratch database, reads the result back from the engine's catalog
//! and compares it with a scratch database built by the migrations: an entity edited without a
//! migration (or the reverse) fails CI. Strings keep SeaORM out of this crate's public API.

use persistence::Backend;
use sea_orm::sea_query::{ColumnType, Table, TableCreateStatement};
use sea_orm::{DbBackend, EntityTrait, Schema};

use crate::entity;

/// The `CREATE TABLE` and `CREATE INDEX` statements SeaORM's schema builder derives from this
/// context's entities on `backend`, in an order that runs as is on an empty database.
///
/// UUID columns are `blob` on SQLite, as in every migration (SeaORM would say `uuid_text`,
/// yet binds UUIDs as 16-byte blobs anyway; see the README).
pub fn declared_schema(backend: Backend) -> Vec<String> {
    entity_sql(backend, entity::Entity)
}

/// One entity's table, then its indexes.
fn entity_sql<E: EntityTrait>(backend: Backend, entity: E) -> Vec<String> {
    let engine = DbBackend::from(backend);
    let schema = Schema::new(engine);
    let table = schema.create_table_from_entity(entity);
    let table = if backend == Backend::Sqlite {
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
