use sea_orm_migration::prelude::*;

use crate::columns::{int64, sku, string, timestamp};

/// The catalog's `products`: one row per sku, its prices in the row (one value, always
/// replaced whole; see the catalog's entity).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(sku(manager, Products::Sku).primary_key())
                    .col(string(Products::Name, 200))
                    .col(ColumnDef::new(Products::Description).text().not_null())
                    .col(ColumnDef::new(Products::Prices).text().not_null())
                    .col(
                        string(Products::Status, 16)
                            .check(Expr::col(Products::Status).is_in(["active", "archived"])),
                    )
                    .col(int64(Products::Version).default(1))
                    .col(timestamp(Products::CreatedAt))
                    .col(timestamp(Products::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Products::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Sku,
    Name,
    Description,
    Prices,
    Status,
    Version,
    CreatedAt,
    UpdatedAt,
}
