use sea_orm_migration::prelude::*;

use crate::columns::{int64, string, timestamp, uuid};

/// The transactional outbox (`events`) and the one-row counter (`event_positions`) that hands
/// out feed positions in commit order. Owned by `persistence::outbox`; every context appends
/// to it through that module, none reads it directly.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `position` is NULL while the appending transaction runs and is set just before it
        // commits, under the counter's row lock, so position order is commit order.
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(uuid(manager, Events::Id).primary_key())
                    .col(ColumnDef::new(Events::Position).big_integer().null())
                    .col(string(Events::Type, 64))
                    .col(uuid(manager, Events::Subject))
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
        // The relay's work queue: unpublished events in position order, and nothing else.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX events_unpublished_idx ON events (position) \
                 WHERE published_at IS NULL",
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
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EventPositions::Table)
                    .col(
                        ColumnDef::new(EventPositions::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(int64(EventPositions::Last))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(EventPositions::Table)
                    .columns([EventPositions::Id, EventPositions::Last])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        // The relay's lease: an instance publishes only while it holds this row (`FOR UPDATE
        // SKIP LOCKED`), so events reach the stream in position order even with several
        // instances running.
        manager
            .create_table(
                Table::create()
                    .table(EventRelayLease::Table)
                    .col(
                        ColumnDef::new(EventRelayLease::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(EventRelayLease::Table)
                    .columns([EventRelayLease::Id])
                    .values_panic([1.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EventRelayLease::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(EventPositions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Events::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
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
enum EventPositions {
    Table,
    Id,
    Last,
}

#[derive(DeriveIden)]
enum EventRelayLease {
    Table,
    Id,
}
