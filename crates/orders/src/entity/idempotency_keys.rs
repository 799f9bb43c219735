//! The `idempotency_keys` table: one row per (customer, key), remembering which order the key
//! created and a hash of the request that created it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(255))"
    )]
    pub key: String,
    #[sea_orm(column_type = "String(StringLen::N(64))")]
    pub request_hash: String,
    pub order_id: Uuid,
    pub created_at: DateTimeUtc,
    /// Purging expired keys scans this index.
    #[sea_orm(indexed)]
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The foreign key `idempotency_keys.order_id → orders.id`, deleting the key with its order.
    #[sea_orm(
        belongs_to = "super::orders::Entity",
        from = "Column::OrderId",
        to = "super::orders::Column::Id",
        on_delete = "Cascade"
    )]
    Order,
}

impl ActiveModelBehavior for ActiveModel {}
