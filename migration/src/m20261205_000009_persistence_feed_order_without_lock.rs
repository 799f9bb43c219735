use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::columns::{int64, string, timestamp, uuid};

/// Feed order without the counter every committing writer queued on (see
/// `persistence::outbox`): every event gets `tx`, the feed's first ordering key, and a
/// position written with it. Existing events keep their positions and get `tx` 0, so they
/// stay first and in their order, and a cursor issued before (a bare position) resumes after
/// `(0, position)`. On PostgreSQL positions now come from a sequence that starts after the
/// counter's last; SQLite keeps the counter (its writers are serialised anyway).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => rebuild_sqlite(manager, true).await,
            _ => {
                for sql in [
                    "ALTER TABLE events ADD COLUMN tx bigint NOT NULL DEFAULT 0",
                    "ALTER TABLE events ALTER COLUMN tx DROP DEFAULT",
                    // Every committed event has its position: only an uncommitted one lacked it.
                    "ALTER TABLE events ALTER COLUMN position SET NOT NULL",
                    "CREATE SEQUENCE events_position_seq AS bigint OWNED BY events.position",
                    "SELECT setval('events_position_seq', \
                     (SELECT last FROM event_positions WHERE id = 1) + 1, false)",
                    "DROP TABLE event_positions",
                    "DROP INDEX events_unpublished_idx",
                    // The relay's work queue, in feed order.
                    "CREATE INDEX events_unpublished_idx ON events (tx, position) \
                     WHERE published_at IS NULL",
                    // The feed's keyset reads.
                    "CREATE INDEX events_feed_idx ON events (tx, position)",
                    // A subject's latest `tx`, looked up by every append.
                    "CREATE INDEX events_subject_tx_idx ON events (subject, tx)",
                ] {
                    conn.execute_unprepared(sql).await?;
                }
                Ok(())
            }
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => rebuild_sqlite(manager, false).await,
            _ => {
                for sql in [
                    "CREATE TABLE event_positions (id integer NOT NULL PRIMARY KEY, \
                     last bigint NOT NULL)",
                    // The counter resumes after every position the sequence handed out, so no
                    // position repeats (a cursor of the new form is refused by the old code).
                    "INSERT INTO event_positions (id, last) SELECT 1, GREATEST( \
                     (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END \
                      FROM events_position_seq), \
                     (SELECT COALESCE(MAX(position), 0) FROM events))",
                    "DROP INDEX events_subject_tx_idx",
                    "DROP INDEX events_feed_idx",
                    "DROP INDEX events_unpublished_idx",
                    "CREATE INDEX events_unpublished_idx ON events (position) \
                     WHERE published_at IS NULL",
                    "ALTER TABLE events ALTER COLUMN position DROP NOT NULL",
                    "DROP SEQUENCE events_position_seq",
                    "ALTER TABLE events DROP COLUMN tx",
                ] {
                    conn.execute_unprepared(sql).await?;
                }
                Ok(())
            }
        }
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// SQLite cannot change a column's nullability in place: the table is built anew, with a
/// non-null position and `tx` (`up`) or as before (`down`), and its indexes are made again.
async fn rebuild_sqlite(manager: &SchemaManager<'_>, up: bool) -> Result<(), DbErr> {
    let mut table = Table::create();
    table
        .table(EventsNew::Table)
        .col(uuid(manager, Events::Id).primary_key());
    if up {
        table.col(int64(Events::Position)).col(int64(Events::Tx));
    } else {
        table.col(ColumnDef::new(Events::Position).big_integer().null());
    }
    table
        .col(string(Events::Type, 64))
        .col(string(Events::Subject, 64))
        .col(timestamp(Events::Time))
        .col(ColumnDef::new(Events::Data).text().not_null())
        .col(
            ColumnDef::new(Events::PublishedAt)
                .timestamp_with_time_zone()
                .null(),
        );
    manager.create_table(table.to_owned()).await?;
    let conn = manager.get_connection();
    let (columns, values, feed_key) = if up {
        ("id, position, tx", "id, position, 0", "tx, position")
    } else {
        ("id, position", "id, position", "position")
    };
    conn.execute_unprepared(&format!(
        "INSERT INTO events_new ({columns}, type, subject, time, data, published_at) \
         SELECT {values}, type, subject, time, data, published_at FROM events"
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
    conn.execute_unprepared(&format!(
        "CREATE INDEX events_unpublished_idx ON events ({feed_key}) WHERE published_at IS NULL"
    ))
    .await?;
    if up {
        conn.execute_unprepared("CREATE INDEX events_feed_idx ON events (tx, position)")
            .await?;
    }
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
    Tx,
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
