//! The `sessions` table: one row per open session, keyed by the SHA-256 digest of its token
//! (the token itself is never stored).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// 32 bytes; the migration's `length()` CHECK is not declarable here.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Blob")]
    pub token_digest: Vec<u8>,
    /// Revoking every session of an account scans this index.
    #[sea_orm(indexed)]
    pub account_id: Uuid,
    pub created_at: DateTimeUtc,
    /// Purging expired sessions scans this index.
    #[sea_orm(indexed)]
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::credentials::Entity",
        from = "Column::AccountId",
        to = "super::credentials::Column::AccountId",
        on_delete = "Cascade"
    )]
    Credential,
}

impl Related<super::credentials::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Credential.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
