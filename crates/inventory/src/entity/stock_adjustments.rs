//! The `stock_adjustments` table: the ledger of every change to on hand that is not a sale.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stock_adjustments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(indexed, column_type = "String(StringLen::N(64))")]
    pub sku: String,
    pub delta: i64,
    #[sea_orm(column_type = "String(StringLen::N(200))")]
    pub reason: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The foreign key `stock_adjustments.sku → stock.sku`.
    #[sea_orm(
        belongs_to = "super::stock::Entity",
        from = "Column::Sku",
        to = "super::stock::Column::Sku"
    )]
    Stock,
}

impl ActiveModelBehavior for ActiveModel {}
