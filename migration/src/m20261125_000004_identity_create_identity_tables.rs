use sea_orm_migration::prelude::*;

use crate::columns::{bytes, string, timestamp, uuid};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `account_id` is the user's id, deliberately without a foreign key to `users`: that
        // table belongs to another context, and the app writes both in one transaction.
        manager
            .create_table(
                Table::create()
                    .table(Credentials::Table)
                    .col(uuid(manager, Credentials::AccountId).primary_key())
                    .col(string(Credentials::PasswordHash, 255))
                    .col(
                        string(Credentials::Role, 16)
                            .check(Expr::col(Credentials::Role).is_in(["customer", "admin"])),
                    )
                    .col(timestamp(Credentials::CreatedAt))
                    .col(timestamp(Credentials::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Only the SHA-256 of a token is stored; it is the key `authenticate` looks up.
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(bytes(Sessions::TokenDigest, 32).primary_key())
                    .col(uuid(manager, Sessions::AccountId))
                    .col(timestamp(Sessions::CreatedAt))
                    .col(timestamp(Sessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("sessions_account_id_fkey")
                            .from(Sessions::Table, Sessions::AccountId)
                            .to(Credentials::Table, Credentials::AccountId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Revoking every session of an account (deactivation).
        manager
            .create_index(
                Index::create()
                    .name("sessions_account_id_idx")
                    .table(Sessions::Table)
                    .col(Sessions::AccountId)
                    .to_owned(),
            )
            .await?;
        // Purging expired sessions.
        manager
            .create_index(
                Index::create()
                    .name("sessions_expires_at_idx")
                    .table(Sessions::Table)
                    .col(Sessions::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        // Failed sign-ins, keyed by a SHA-256 of the normalised login (never the address).
        manager
            .create_table(
                Table::create()
                    .table(SignInFailures::Table)
                    .col(uuid(manager, SignInFailures::Id).primary_key())
                    .col(bytes(SignInFailures::LoginDigest, 32))
                    .col(timestamp(SignInFailures::AttemptedAt))
                    .to_owned(),
            )
            .await?;
        // Throttling reads a login's recent failures newest first: a range scan of this index.
        manager
            .create_index(
                Index::create()
                    .name("sign_in_failures_login_digest_attempted_at_idx")
                    .table(SignInFailures::Table)
                    .col(SignInFailures::LoginDigest)
                    .col(SignInFailures::AttemptedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SignInFailures::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Credentials::Table).to_owned())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

#[derive(DeriveIden)]
enum Credentials {
    Table,
    AccountId,
    PasswordHash,
    Role,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    TokenDigest,
    AccountId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SignInFailures {
    Table,
    Id,
    LoginDigest,
    AttemptedAt,
}
