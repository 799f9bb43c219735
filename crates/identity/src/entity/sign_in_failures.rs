//! The `sign_in_failures` table: one row per failed sign-in, keyed by a SHA-256 digest of the
//! normalised login (never the address itself), for throttling.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sign_in_failures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// 32 bytes; read newest first through the migrations' `(login_digest, attempted_at)`
    /// index, which an entity cannot declare.
    #[sea_orm(column_type = "Blob")]
    pub login_digest: Vec<u8>,
    pub attempted_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
