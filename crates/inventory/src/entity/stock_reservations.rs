//! The `stock_reservations` table: the units of one sku an order holds, keyed by (holder, sku).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stock_reservations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub holder: Uuid,
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(64))"
    )]
    pub sku: String,
    pub quantity: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The foreign key `stock_reservations.sku → stock.sku`.
    #[sea_orm(
        belongs_to = "super::stock::Entity",
        from = "Column::Sku",
        to = "super::stock::Column::Sku"
    )]
    Stock,
}

impl ActiveModelBehavior for ActiveModel {}
