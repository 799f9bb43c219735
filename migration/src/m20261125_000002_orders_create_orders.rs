use sea_orm_migration::prelude::*;

use crate::columns::{int64, string, timestamp, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `user_id` deliberately has no foreign key to `users`: that table belongs to another
        // context. The orders service checks customers through the users context's API instead.
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(uuid(manager, Orders::Id).primary_key())
                    .col(uuid(manager, Orders::UserId))
                    .col(
                        string(Orders::Status, 16).check(Expr::col(Orders::Status).is_in([
                            "pending",
                            "paid",
                            "shipped",
                            "cancelled",
                        ])),
                    )
                    .col(string(Orders::Currency, 3))
                    .col(int64(Orders::TotalCents).check(Expr::col(Orders::TotalCents).gte(0)))
                    .col(int64(Orders::Version).default(1))
                    .col(timestamp(Orders::CreatedAt))
                    .col(timestamp(Orders::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Serves "a customer's orders, newest first" as a keyset scan, and the cancellation of
        // a customer's pending orders on deactivation.
        manager
            .create_index(
                Index::create()
                    .name("orders_user_id_id_idx")
                    .table(Orders::Table)
                    .col(Orders::UserId)
                    .col(Orders::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderItems::Table)
                    .col(uuid(manager, OrderItems::OrderId))
                    .col(ColumnDef::new(OrderItems::LineNo).integer().not_null())
                    .col(string(OrderItems::Sku, 64))
                    .col(int64(OrderItems::Quantity).check(Expr::col(OrderItems::Quantity).gte(1)))
                    .col(
                        int64(OrderItems::UnitPriceCents)
                            .check(Expr::col(OrderItems::UnitPriceCents).gte(0)),
                    )
                    .primary_key(
                        Index::create()
                            .col(OrderItems::OrderId)
                            .col(OrderItems::LineNo),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("order_items_order_id_fkey")
                            .from(OrderItems::Table, OrderItems::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OrderItems::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Orders::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    UserId,
    Status,
    Currency,
    TotalCents,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrderItems {
    Table,
    OrderId,
    LineNo,
    Sku,
    Quantity,
    UnitPriceCents,
}
