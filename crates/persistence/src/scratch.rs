//! Throw-away databases: what tests, `migrate check` and the bench build a schema or a data
//! set in, then remove. One definition, so that all three create and drop them alike.

use std::time::Duration;

use persistence_orm::{FromOrm, Orm};
use sea_orm::ConnectionTrait;

use crate::database_url::with_database;
use crate::{Backend, Db, DbConfig, StoreError};

/// An empty database on the same engine (and, for PostgreSQL, the same server and credentials)
/// as a given URL: a file in a temporary directory, or a PostgreSQL database named
/// `<prefix>_<uuid>`. Nothing is created inside the given database. Remove it with
/// [`ScratchDatabase::remove`]; dropping it removes it too, on a helper thread.
pub struct ScratchDatabase {
    url: String,
    backend: Backend,
    postgres: Option<PostgresScratch>,
    _dir: Option<tempfile::TempDir>,
}

struct PostgresScratch {
    /// Where `CREATE DATABASE` and `DROP DATABASE` are sent.
    server_url: String,
    name: String,
}

impl ScratchDatabase {
    /// Creates it beside `url`, named after `prefix`. On PostgreSQL the role must be allowed
    /// to `CREATE DATABASE`.
    pub async fn create(url: &str, prefix: &str) -> Result<Self, StoreError> {
        match Backend::from_url(url)? {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix(&format!("{prefix}-"))
                    .tempdir()
                    .map_err(|e| StoreError::other(format!("cannot create a temp dir: {e}")))?;
                Ok(Self {
                    url: format!(
                        "sqlite://{}",
                        dir.path().join(format!("{prefix}.db")).display()
                    ),
                    backend: Backend::Sqlite,
                    postgres: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let name = format!("{prefix}_{}", crate::new_id().simple());
                let scratch = PostgresScratch {
                    server_url: url.to_owned(),
                    name,
                };
                let scratch_url = with_database(url, &scratch.name)?;
                scratch
                    .run(&format!("CREATE DATABASE \"{}\"", scratch.name))
                    .await
                    .map_err(|e| {
                        StoreError::other(format!(
                            "cannot create the database {} (the role must be allowed to \
                             CREATE DATABASE): {}",
                            scratch.name,
                            e.detail()
                        ))
                    })?;
                Ok(Self {
                    url: scratch_url,
                    backend: Backend::Postgres,
                    postgres: Some(scratch),
                    _dir: None,
                })
            }
        }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The PostgreSQL database's name; `None` on SQLite.
    pub fn postgres_name(&self) -> Option<&str> {
        self.postgres.as_ref().map(|p| p.name.as_str())
    }

    /// Removes it (PostgreSQL: drops the database, ending connections still open to it).
    pub async fn remove(mut self) -> Result<(), StoreError> {
        match self.postgres.take() {
            Some(scratch) => scratch.drop_database().await,
            None => Ok(()),
        }
    }
}

impl PostgresScratch {
    async fn drop_database(&self) -> Result<(), StoreError> {
        self.run(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ))
        .await
    }

    /// One statement on a one-connection pool to the server.
    async fn run(&self, statement: &str) -> Result<(), StoreError> {
        let mut config = DbConfig::new(&self.server_url);
        config.max_connections = 1;
        config.acquire_timeout = Duration::from_secs(10);
        let server = Db::connect_with(&config).await?;
        let done = server.orm().execute_unprepared(statement).await;
        server.close().await.ok();
        done.map(|_| ()).map_err(StoreError::from_orm)
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let Some(scratch) = self.postgres.take() else {
            return;
        };
        // Not removed explicitly (an early return or a panic): drop it from a short-lived
        // runtime on another thread, since this may run inside an async context that cannot
        // be blocked on.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            if let Err(err) = runtime.block_on(scratch.drop_database()) {
                tracing::warn!(database = %scratch.name, error = %err.detail(), "scratch database left behind");
            }
        })
        .join();
    }
}
