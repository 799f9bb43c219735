//! The `order_items` table: the lines of an order, keyed by (order, line number).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "order_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub order_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub line_no: i32,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub sku: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The foreign key `order_items.order_id → orders.id`, deleting an order's lines with it.
    #[sea_orm(
        belongs_to = "super::orders::Entity",
        from = "Column::OrderId",
        to = "super::orders::Column::Id",
        on_delete = "Cascade"
    )]
    Order,
}

impl ActiveModelBehavior for ActiveModel {}
