//! The `orders` table: one row per order, its status and optimistic-locking version.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Read newest first per customer through the migrations' `(user_id, id)` index, which an
    /// entity cannot declare (SeaORM declares single-column and unique indexes only).
    pub user_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub status: String,
    #[sea_orm(column_type = "String(StringLen::N(3))")]
    pub currency: String,
    pub total_cents: i64,
    #[sea_orm(default_value = 1)]
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
