use sea_orm_migration::prelude::*;

use crate::columns::{int64, string, timestamp, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid(manager, Users::Id).primary_key())
                    .col(string(Users::Email, 254))
                    .col(string(Users::DisplayName, 400))
                    .col(
                        string(Users::Status, 16)
                            .check(Expr::col(Users::Status).is_in(["active", "deactivated"])),
                    )
                    .col(int64(Users::Version).default(1))
                    .col(timestamp(Users::CreatedAt))
                    .col(timestamp(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Case-insensitive uniqueness is the database's job, so concurrent sign-ups with one
        // address cannot both win. The service stores addresses lower-cased already; indexing
        // lower(email) keeps the rule true even for rows written by other tools.
        manager
            .get_connection()
            .execute_unprepared("CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email))")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    DisplayName,
    Status,
    Version,
    CreatedAt,
    UpdatedAt,
}
