//! Column shapes shared by every context's migrations, so that both engines store ids and
//! timestamps the same way.
//!
//! UUIDs are `uuid` on PostgreSQL and a 16-byte `blob` on SQLite. SeaORM binds `Uuid` values as
//! 16-byte blobs on SQLite, so declaring the column `blob` (instead of SeaORM's default
//! `uuid_text`, which would still hold blobs) makes the stored type honest. Blobs compare with
//! `memcmp`, exactly like PostgreSQL's `uuid`, so equality and ordering (and with UUID v7, time
//! order) agree on both engines.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// A non-null UUID column in the engine's natural representation.
pub fn uuid(manager: &SchemaManager, name: impl IntoIden) -> ColumnDef {
    let mut column = ColumnDef::new(name);
    match manager.get_database_backend() {
        DbBackend::Sqlite => column.blob(),
        _ => column.uuid(),
    };
    column.not_null().take()
}

/// A non-null UTC timestamp (`timestamptz` on PostgreSQL, RFC 3339 text on SQLite).
pub fn timestamp(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

/// A non-null 64-bit integer.
pub fn int64(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().take()
}

/// A non-null bounded string.
pub fn string(name: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).not_null().take()
}

/// A non-null byte string of exactly `len` bytes (`bytea` on PostgreSQL, `blob` on SQLite),
/// for digests; `length()` counts bytes of both on both engines, so the check is the same.
pub fn bytes(name: impl IntoIden, len: u32) -> ColumnDef {
    let name = name.into_iden();
    let check = Func::cust("length").arg(Expr::col(name.clone())).eq(len);
    ColumnDef::new(name).blob().not_null().check(check).take()
}

/// A non-null sku column: `varchar(64)`, compared byte by byte on both engines (PostgreSQL's
/// `COLLATE "C"`, SQLite's default), so sku order and `sku > ?` agree wherever they run.
pub fn sku(manager: &SchemaManager, name: impl IntoIden) -> ColumnDef {
    let mut column = string(name, 64);
    if manager.get_database_backend() == DbBackend::Postgres {
        column.extra("COLLATE \"C\"");
    }
    column
}
