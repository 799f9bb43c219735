use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::columns::{string, timestamp, uuid};

/// An event's `subject` becomes text (at most 64 characters): a product's or a stock's subject
/// is its sku, not a UUID. Existing subjects keep their value, written as the hyphenated UUID
/// the CloudEvents envelope always showed.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite's 16-byte UUID blob as the lower-case hyphenated text PostgreSQL's `uuid::text` gives.
const SQLITE_UUID_TEXT: &str = "lower(substr(hex(subject), 1, 8) || '-' || \
     substr(hex(subject), 9, 4) || '-' || substr(hex(subject), 13, 4) || '-' || \
     substr(hex(subject), 17, 4) || '-' || substr(hex(subject), 21, 12))";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                rebuild_sqlite(manager, string(Events::Subject, 64), SQLITE_UUID_TEXT).await
            }
            _ => {
                manager
                    .get_connection()
                    .execute_unprepared(
                        "ALTER TABLE events ALTER COLUMN subject TYPE varchar(64) USING subject::text",
                    )
                    .await?;
                Ok(())
            }
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Subjects that are not UUIDs (a sku) cannot be held by the old column: their events
        // go. The catalog's and inventory's tables are gone by then anyway (later migrations).
        let conn = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                conn.execute_unprepared(
                    "DELETE FROM events WHERE length(subject) <> 36 \
                     OR subject GLOB '*[^0-9a-f-]*'",
                )
                .await?;
                rebuild_sqlite(
                    manager,
                    uuid(manager, Events::Subject),
                    "unhex(replace(subject, '-', ''))",
                )
                .await
            }
            _ => {
                conn.execute_unprepared(
                    "DELETE FROM events WHERE subject !~ \
                     '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'",
                )
                .await?;
                conn.execute_unprepared(
                    "ALTER TABLE events ALTER COLUMN subject TYPE uuid USING subject::uuid",
                )
                .await?;
                Ok(())
            }
        }
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// SQLite cannot change a column's type in place: the table is built anew with `subject` as
/// `column`, filled from the old one through `convert`, and its indexes are made again.
async fn rebuild_sqlite(
    manager: &SchemaManager<'_>,
    mut column: ColumnDef,
    convert: &str,
) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(EventsNew::Table)
                .col(uuid(manager, Events::Id).primary_key())
                .col(ColumnDef::new(Events::Position).big_integer().null())
                .col(string(Events::Type, 64))
                .col(&mut column)
                .col(timestamp(Events::Time))
                .col(ColumnDef::new(Events::Data).text().not_null())
                .col(
                    ColumnDef::new(Events::PublishedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
    let conn = manager.get_connection();
    conn.execute_unprepared(&format!(
        "INSERT INTO events_new (id, position, type, subject, time, data, published_at) \
         SELECT id, position, type, {convert}, time, data, published_at FROM events"
    ))
    .await?;
    conn.execute_unprepared("DROP TABLE events").await?;
    conn.execute_unprepared("ALTER TABLE events_new RENAME TO events")
        .await?;
    manager
        .create_index(
            Index::create()
                .name("events_position_idx")
                .table(Events::Table)
                .col(Events::Position)
                .unique()
                .to_owned(),
        )
        .await?;
    conn.execute_unprepared(
        "CREATE INDEX events_unpublished_idx ON events (position) WHERE published_at IS NULL",
    )
    .await?;
    manager
        .create_index(
            Index::create()
                .name("events_published_at_idx")
                .table(Events::Table)
                .col(Events::PublishedAt)
                .to_owned(),
        )
        .await
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    Position,
    Type,
    Subject,
    Time,
    Data,
    PublishedAt,
}

#[derive(DeriveIden)]
enum EventsNew {
    Table,
}
