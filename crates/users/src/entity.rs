//! The `users` table. Private to this crate: its shape is an implementation detail.
//!
//! Column types, defaults and indexes are declared as the migrations build them;
//! `cargo xtask migrate check` fails when the two disagree (see [`crate::schema`]).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Unique case-insensitively through the migrations' `lower(email)` index, which an
    /// entity cannot declare.
    #[sea_orm(column_type = "String(StringLen::N(254))")]
    pub email: String,
    #[sea_orm(column_type = "String(StringLen::N(400))")]
    pub display_name: String,
    #[sea_orm(column_type = "String(StringLen::N(16))")]
    pub status: String,
    #[sea_orm(default_value = 1)]
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
