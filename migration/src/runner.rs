//! Applying migrations safely when several runners race (two deploys, a deploy and a service
//! start-up).
//!
//! A [`Runner`] owns one dedicated connection and, for its whole life, an exclusive lock:
//! a session-level advisory lock on PostgreSQL (which is why migrations need a session-mode
//! connection, not a transaction-pooling proxy) and an OS file lock beside the database file
//! on SQLite. A second runner waits for the first, then finds nothing pending.

use std::fs::File;
use std::time::Duration;

use persistence::{Backend, Db, DbConfig, StoreError};
use persistence_orm::Orm;
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::migrator::MigrationStatus;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr};

use crate::Migrator;

/// The PostgreSQL advisory lock key that serialises migration runs (an arbitrary constant,
/// "ORDR-MIG" as ASCII).
const ADVISORY_LOCK_KEY: i64 = 0x004F_5244_524D_4947;

/// A migration run failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database could not be reached or rejected a statement.
    #[error("database error: {0}")]
    Database(String),
    /// The migration lock could not be taken.
    #[error("could not take the migration lock: {0}")]
    Lock(String),
}

impl From<StoreError> for MigrateError {
    fn from(err: StoreError) -> Self {
        Self::Database(err.detail())
    }
}

impl From<DbErr> for MigrateError {
    fn from(err: DbErr) -> Self {
        Self::Database(err.to_string())
    }
}

/// One migration and whether the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// The migration's name (its file name).
    pub name: String,
    /// Applied (`true`) or pending (`false`).
    pub applied: bool,
}

enum Lock {
    Advisory,
    File(#[allow(dead_code, reason = "held for its Drop: closing the file unlocks it")] File),
    None,
}

/// A migration session holding the migration lock on a dedicated connection.
pub struct Runner {
    db: Db,
    lock: Lock,
}

impl Runner {
    /// Connects to `url` with a single connection and takes the migration lock, waiting for
    /// any other runner to finish.
    pub async fn lock(url: &str) -> Result<Self, MigrateError> {
        let mut config = DbConfig::new(url);
        // One connection: the advisory lock belongs to a session, and every statement of the
        // run must go through the session that holds it.
        config.max_connections = 1;
        config.acquire_timeout = Duration::from_secs(600);
        let lock = match Backend::from_url(url)? {
            Backend::Sqlite => match sqlite_lock_path(url) {
                Some(path) => Lock::File(lock_file(path).await?),
                None => Lock::None,
            },
            Backend::Postgres => Lock::Advisory,
        };
        let db = Db::connect_with(&config).await?;
        if matches!(lock, Lock::Advisory) {
            db.orm()
                .execute_unprepared(&format!("SELECT pg_advisory_lock({ADVISORY_LOCK_KEY})"))
                .await
                .map_err(|e| MigrateError::Lock(e.to_string()))?;
        }
        Ok(Self { db, lock })
    }

    /// Every migration with its state, in order.
    pub async fn status(&self) -> Result<Vec<MigrationState>, MigrateError> {
        status_of(&self.db).await
    }

    /// Applies pending migrations (all, or the first `steps`); returns the names applied.
    pub async fn up(&self, steps: Option<u32>) -> Result<Vec<String>, MigrateError> {
        let pending: Vec<String> = self
            .status()
            .await?
            .into_iter()
            .filter(|m| !m.applied)
            .map(|m| m.name)
            .collect();
        let count = steps.map_or(pending.len(), |s| pending.len().min(s as usize));
        Migrator::up(self.db.orm_write().unbounded(), steps).await?;
        Ok(pending.into_iter().take(count).collect())
    }

    /// Reverts the last `steps` applied migrations; returns the names reverted, newest first.
    pub async fn down(&self, steps: u32) -> Result<Vec<String>, MigrateError> {
        let applied: Vec<String> = self
            .status()
            .await?
            .into_iter()
            .filter(|m| m.applied)
            .map(|m| m.name)
            .rev()
            .take(steps as usize)
            .collect();
        Migrator::down(self.db.orm_write().unbounded(), Some(steps)).await?;
        Ok(applied)
    }

    /// Drops every table and reapplies all migrations. Destructive: callers guard it with
    /// [`fresh_is_safe`] or an explicit confirmation.
    pub async fn fresh(&self) -> Result<Vec<String>, MigrateError> {
        Migrator::fresh(self.db.orm_write().unbounded()).await?;
        Ok(self.status().await?.into_iter().map(|m| m.name).collect())
    }

    /// Releases the lock and closes the connection.
    pub async fn release(self) -> Result<(), MigrateError> {
        if matches!(self.lock, Lock::Advisory) {
            self.db
                .orm()
                .execute_unprepared(&format!("SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY})"))
                .await?;
        }
        // The file lock is released when the file is closed, after the connection.
        let Self { db, lock } = self;
        db.close().await?;
        drop(lock);
        Ok(())
    }
}

/// The names of migrations not yet applied, without taking the lock or creating anything:
/// what a service checks at start-up before it agrees to serve.
pub async fn pending(db: &Db) -> Result<Vec<String>, MigrateError> {
    Ok(status_of(db)
        .await?
        .into_iter()
        .filter(|m| !m.applied)
        .map(|m| m.name)
        .collect())
}

async fn status_of(db: &Db) -> Result<Vec<MigrationState>, MigrateError> {
    Ok(Migrator::get_migration_with_status_read_only(db.orm())
        .await?
        .into_iter()
        .map(|m| MigrationState {
            name: m.name().to_owned(),
            applied: m.status() == MigrationStatus::Applied,
        })
        .collect())
}

/// Whether `migrate fresh` may run without `--yes`: only against throw-away databases (SQLite
/// files, or PostgreSQL databases whose name starts with `test`).
pub fn fresh_is_safe(url: &str) -> bool {
    match Backend::from_url(url) {
        Ok(Backend::Sqlite) => true,
        Ok(Backend::Postgres) => {
            let path = url.split('?').next().unwrap_or(url);
            let after_scheme = path.split_once("://").map_or(path, |(_, rest)| rest);
            after_scheme
                .split_once('/')
                .is_some_and(|(_, name)| name.starts_with("test"))
        }
        Err(_) => false,
    }
}

fn sqlite_lock_path(url: &str) -> Option<String> {
    persistence::database_url::sqlite_file_path(url).map(|path| format!("{path}.migrate.lock"))
}

async fn lock_file(path: String) -> Result<File, MigrateError> {
    tokio::task::spawn_blocking(move || {
        if let Some(parent) = std::path::Path::new(&path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| MigrateError::Lock(e.to_string()))?
    .map_err(|e| MigrateError::Lock(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_needs_confirmation_outside_throwaway_databases() {
        assert!(fresh_is_safe("sqlite://data/app.db"));
        assert!(fresh_is_safe(
            "postgres://postgres@127.0.0.1:5432/test_orders"
        ));
        assert!(fresh_is_safe("postgres://h/testing?sslmode=disable"));
        assert!(!fresh_is_safe(
            "postgres://postgres@127.0.0.1:5432/postgres"
        ));
        assert!(!fresh_is_safe("postgres://h/prod_test"));
        assert!(!fresh_is_safe("postgres://h"));
        assert!(!fresh_is_safe("mysql://h/test"));
    }

    #[test]
    fn sqlite_lock_sits_beside_the_database_file() {
        assert_eq!(
            sqlite_lock_path("sqlite://data/app.db?mode=rwc").as_deref(),
            Some("data/app.db.migrate.lock")
        );
        assert_eq!(sqlite_lock_path("sqlite::memory:"), None);
    }
}
