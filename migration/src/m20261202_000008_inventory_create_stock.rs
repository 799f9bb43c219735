use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

use crate::columns::{int64, sku, string, timestamp, uuid};

/// The inventory's tables: `stock` per sku, `stock_reservations` per (order, sku) and the
/// `stock_adjustments` ledger.
///
/// Orders placed before the inventory existed get what they would have had: each pending or
/// paid order a reservation of its lines, each of their skus a stock row with exactly that
/// much on hand, and one opening adjustment per sku of that amount plus what shipped orders
/// took, so the contract's invariants hold from the first commit on an upgraded database.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Stock::Table)
                    .col(sku(manager, Stock::Sku).primary_key())
                    .col(int64(Stock::OnHand).check(Expr::col(Stock::OnHand).gte(0)))
                    .col(int64(Stock::Reserved).check(Expr::col(Stock::Reserved).gte(0)))
                    .col(int64(Stock::Version).default(1))
                    .col(timestamp(Stock::UpdatedAt))
                    .check(Expr::col(Stock::Reserved).lte(Expr::col(Stock::OnHand)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StockReservations::Table)
                    .col(uuid(manager, StockReservations::Holder))
                    .col(sku(manager, StockReservations::Sku))
                    .col(
                        int64(StockReservations::Quantity)
                            .check(Expr::col(StockReservations::Quantity).gte(1)),
                    )
                    .primary_key(
                        Index::create()
                            .col(StockReservations::Holder)
                            .col(StockReservations::Sku),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("stock_reservations_sku_fkey")
                            .from(StockReservations::Table, StockReservations::Sku)
                            .to(Stock::Table, Stock::Sku),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StockAdjustments::Table)
                    .col(uuid(manager, StockAdjustments::Id).primary_key())
                    .col(sku(manager, StockAdjustments::Sku))
                    .col(int64(StockAdjustments::Delta))
                    .col(string(StockAdjustments::Reason, 200))
                    .col(timestamp(StockAdjustments::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("stock_adjustments_sku_fkey")
                            .from(StockAdjustments::Table, StockAdjustments::Sku)
                            .to(Stock::Table, Stock::Sku),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-stock_adjustments-sku")
                    .table(StockAdjustments::Table)
                    .col(StockAdjustments::Sku)
                    .to_owned(),
            )
            .await?;
        backfill(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            StockAdjustments::Table.into_iden(),
            StockReservations::Table.into_iden(),
            Stock::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// The reservations, stock and opening adjustments of the orders placed before this
/// migration (see the type's docs).
async fn backfill(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let engine = manager.get_database_backend();
    let (new_uuid, param) = match engine {
        DbBackend::Sqlite => ("randomblob(16)", "?"),
        _ => ("gen_random_uuid()", "$1"),
    };
    let now =
        sea_orm_migration::sea_orm::prelude::ChronoDateTimeUtc::from(std::time::SystemTime::now());
    let conn = manager.get_connection();
    conn.execute_raw(Statement::from_sql_and_values(
        engine,
        format!(
            "INSERT INTO stock (sku, on_hand, reserved, version, updated_at) \
             SELECT i.sku, \
                    SUM(CASE WHEN o.status = 'shipped' THEN 0 ELSE i.quantity END), \
                    SUM(CASE WHEN o.status = 'shipped' THEN 0 ELSE i.quantity END), 1, {param} \
             FROM order_items i JOIN orders o ON o.id = i.order_id \
             WHERE o.status IN ('pending', 'paid', 'shipped') GROUP BY i.sku"
        ),
        [now.into()],
    ))
    .await?;
    conn.execute_unprepared(
        "INSERT INTO stock_reservations (holder, sku, quantity) \
         SELECT i.order_id, i.sku, SUM(i.quantity) FROM order_items i \
         JOIN orders o ON o.id = i.order_id WHERE o.status IN ('pending', 'paid') \
         GROUP BY i.order_id, i.sku",
    )
    .await?;
    conn.execute_raw(Statement::from_sql_and_values(
        engine,
        format!(
            "INSERT INTO stock_adjustments (id, sku, delta, reason, created_at) \
             SELECT {new_uuid}, i.sku, SUM(i.quantity), \
                    'opening balance: units of orders placed before the inventory', {param} \
             FROM order_items i JOIN orders o ON o.id = i.order_id \
             WHERE o.status IN ('pending', 'paid', 'shipped') GROUP BY i.sku"
        ),
        [now.into()],
    ))
    .await?;
    Ok(())
}

#[derive(DeriveIden)]
enum Stock {
    Table,
    Sku,
    OnHand,
    Reserved,
    Version,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StockReservations {
    Table,
    Holder,
    Sku,
    Quantity,
}

#[derive(DeriveIden)]
enum StockAdjustments {
    Table,
    Id,
    Sku,
    Delta,
    Reason,
    CreatedAt,
}
