use sea_orm_migration::prelude::*;

use crate::columns::{string, timestamp, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row per (customer, key): the primary key is what makes N concurrent requests
        // with one key create one order.
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(uuid(manager, IdempotencyKeys::UserId))
                    .col(string(IdempotencyKeys::Key, 255))
                    .col(string(IdempotencyKeys::RequestHash, 64))
                    .col(uuid(manager, IdempotencyKeys::OrderId))
                    .col(timestamp(IdempotencyKeys::CreatedAt))
                    .col(timestamp(IdempotencyKeys::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::UserId)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("idempotency_keys_order_id_fkey")
                            .from(IdempotencyKeys::Table, IdempotencyKeys::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idempotency_keys_expires_at_idx")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    UserId,
    Key,
    RequestHash,
    OrderId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
}
