//! Test support: a fresh, private database per test on either backend.
//!
//! SQLite databases are files in a temporary directory; PostgreSQL databases are created on
//! the server named by `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and dropped when the [`TestDatabase`] is dropped, even when the test panics.
//!
//! When PostgreSQL cannot be reached the Postgres half of a test FAILS, so no run can pass by
//! testing one backend only, whatever else the environment says (`CI` or not). Skipping is
//! opt-in: with `SKIP_POSTGRES_TESTS=1` the Postgres half is skipped instead, and says so in the
//! test run's own output (see [`announce_skip`]).

use std::time::Duration;

use persistence_orm::Orm;
use sea_orm::ConnectionTrait;

use crate::{Backend, Db, DbConfig, ScratchDatabase};

/// The number of statements a [`Db`] sent since the last [`StatementCounter::take`]; see
/// [`Db::count_statements`].
#[derive(Debug, Clone, Default)]
pub struct StatementCounter(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl StatementCounter {
    pub(crate) fn increment(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Statements sent since the last call, resetting the count.
    pub fn take(&self) -> u64 {
        self.0.swap(0, std::sync::atomic::Ordering::SeqCst)
    }
}

/// Whether the developer opted in to skipping PostgreSQL tests when the server is unreachable.
pub fn postgres_skip_opted_in() -> bool {
    std::env::var("SKIP_POSTGRES_TESTS").is_ok_and(|v| v == "1")
}

/// Says that a PostgreSQL test was skipped where a reader of the test run sees it.
///
/// libtest captures `println!` and `eprintln!` of a passing test and shows nothing of it, so a
/// skipped test would look like a passed one. The notice is written to the process's real
/// stdout instead (a direct write, which the capture does not intercept), where it appears
/// between the `test … ok` lines, and to the captured output as well for `--nocapture` runs.
pub fn announce_skip(reason: &str) {
    use std::io::Write as _;
    let notice = format!(
        "\n!!!!! SKIPPED (SKIP_POSTGRES_TESTS=1): the PostgreSQL half of this test did not run: \
         {reason} !!!!!\n"
    );
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(notice.as_bytes());
    let _ = stdout.flush();
    eprintln!("{notice}");
}

/// The admin URL for creating per-test PostgreSQL databases.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test only.
pub struct TestDatabase {
    db: Db,
    url: String,
    backend: Backend,
    /// `None` once [`TestDatabase::pull_the_plug`] removed it.
    scratch: Option<ScratchDatabase>,
}

impl TestDatabase {
    /// Creates a fresh empty database; `None` when the backend is unavailable and the test
    /// should be skipped (only when `SKIP_POSTGRES_TESTS=1` opted in).
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite().await),
            Backend::Postgres => Self::postgres().await,
        }
    }

    async fn sqlite() -> Self {
        let scratch = ScratchDatabase::create("sqlite:", "test")
            .await
            .expect("temp dir for a test database");
        Self::open(scratch).await
    }

    async fn open(scratch: ScratchDatabase) -> Self {
        let db = Db::connect_with(&small_pool(scratch.url()))
            .await
            .expect("connect to the test database");
        Self {
            db,
            url: scratch.url().to_owned(),
            backend: scratch.backend(),
            scratch: Some(scratch),
        }
    }

    async fn postgres() -> Option<Self> {
        let skip = postgres_skip_opted_in().then_some(announce_skip as fn(&str));
        Self::postgres_on(postgres_admin_url(), skip).await
    }

    /// A fresh database on the server of `admin_url`. When that server cannot be reached: a
    /// panic, so the test fails; or, with `skip`, `None` after `skip` announced why.
    async fn postgres_on(admin_url: String, skip: Option<fn(&str)>) -> Option<Self> {
        // Creating the database is the reachability check: one connection to the server.
        let scratch = match ScratchDatabase::create(&admin_url, "test").await {
            Ok(scratch) => scratch,
            Err(err) => {
                let message = format!(
                    "PostgreSQL at {admin_url} gave no test database ({}); set TEST_DATABASE_URL or start it",
                    err.detail()
                );
                let Some(announce) = skip else {
                    panic!(
                        "{message} (set SKIP_POSTGRES_TESTS=1 to skip PostgreSQL tests instead)"
                    );
                };
                announce(&message);
                return None;
            }
        };
        Some(Self::open(scratch).await)
    }

    /// The handle to give to the code under test.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The URL, for code under test that connects on its own (the HTTP service, migrations).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which engine this database runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs raw SQL behind every service's back: how a test plants rows that today's API would
    /// refuse (written under older rules, or by hand) to see how the service reads them.
    pub async fn execute(&self, sql: &str) {
        self.db
            .orm_write()
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
    }

    /// Every table of the database (the migration bookkeeping table included) with every one
    /// of its rows rendered as text, sorted: two equal dumps mean nothing was created, dropped
    /// or written in between. What a test of a read-only command compares before and after.
    pub async fn dump(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let orm = self.db.orm();
        let tables_sql = match self.backend {
            Backend::Sqlite => {
                "SELECT name AS t FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT tablename::text AS t FROM pg_tables \
                 WHERE schemaname = current_schema() ORDER BY tablename"
            }
        };
        let tables: Vec<String> = orm
            .query_all_raw(sea_orm::Statement::from_string(
                orm.get_database_backend(),
                tables_sql,
            ))
            .await
            .expect("list tables")
            .iter()
            .map(|row| row.try_get::<String>("", "t").expect("table name"))
            .collect();
        let mut dump = std::collections::BTreeMap::new();
        for table in tables {
            let rows_sql = match self.backend {
                Backend::Postgres => format!("SELECT r::text AS r FROM \"{table}\" r ORDER BY 1"),
                Backend::Sqlite => {
                    let columns: Vec<String> = orm
                        .query_all_raw(sea_orm::Statement::from_string(
                            orm.get_database_backend(),
                            format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
                        ))
                        .await
                        .expect("list columns")
                        .iter()
                        .map(|row| row.try_get::<String>("", "name").expect("column name"))
                        .map(|column| format!("quote(\"{column}\")"))
                        .collect();
                    format!(
                        "SELECT {} AS r FROM \"{table}\" ORDER BY 1",
                        columns.join(" || ',' || ")
                    )
                }
            };
            let rows = orm
                .query_all_raw(sea_orm::Statement::from_string(
                    orm.get_database_backend(),
                    rows_sql,
                ))
                .await
                .unwrap_or_else(|err| panic!("read {table}: {err}"))
                .iter()
                .map(|row| row.try_get::<String>("", "r").expect("row text"))
                .collect();
            dump.insert(table, rows);
        }
        dump
    }

    /// Makes the database vanish under the code that uses it (PostgreSQL: dropped, its
    /// connections ended), for testing how a service behaves when its database goes away.
    /// Returns `false` on SQLite, where open connections keep a deleted file alive.
    pub async fn pull_the_plug(&mut self) -> bool {
        if self.backend != Backend::Postgres {
            return false;
        }
        let Some(scratch) = self.scratch.take() else {
            return false;
        };
        scratch.remove().await.expect("drop the test database");
        true
    }
}

/// The plan the engine picks for `statement` (a context's real list query, built in its own
/// unit tests), one line per plan row, so a test can assert which index serves it and that
/// nothing sorts.
///
/// SQLite answers `EXPLAIN QUERY PLAN`. On PostgreSQL the tables are `ANALYZE`d first and
/// sequential and bitmap scans are switched off for the one transaction: on a tiny test table
/// either is cheapest, and both would hide whether the index serves the filter *and* the order
/// as it does on a table of real size. The statement is prepared and its execution explained
/// on one of the service's own sessions, so the plan is the one the service runs, under its
/// session settings ([`crate::POSTGRES_SESSION_SETTINGS`]).
pub async fn query_plan(db: &Db, statement: sea_orm::Statement) -> Vec<String> {
    use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};

    let tx = db.begin().await.expect("begin");
    let (plan_statement, column) = match db.backend() {
        Backend::Sqlite => (
            sea_orm::Statement {
                sql: format!("EXPLAIN QUERY PLAN {}", statement.sql),
                ..statement
            },
            "detail",
        ),
        Backend::Postgres => {
            tx.orm()
                .execute_unprepared(
                    "ANALYZE; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off",
                )
                .await
                .expect("prepare the planner");
            tx.orm()
                .execute_unprepared(&format!("PREPARE plan_probe AS {}", statement.sql))
                .await
                .expect("prepare the statement");
            let arguments: Vec<String> = statement
                .values
                .iter()
                .flat_map(|values| values.0.iter())
                .map(|value| PostgresQueryBuilder.value_to_string(value))
                .collect();
            let explain = if arguments.is_empty() {
                "EXPLAIN EXECUTE plan_probe".to_owned()
            } else {
                format!("EXPLAIN EXECUTE plan_probe({})", arguments.join(", "))
            };
            (
                sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, explain),
                "QUERY PLAN",
            )
        }
    };
    let rows = tx
        .orm()
        .query_all_raw(plan_statement)
        .await
        .expect("explain");
    if db.backend() == Backend::Postgres {
        // A prepared statement outlives the transaction; the session goes back to the pool.
        tx.orm()
            .execute_unprepared("DEALLOCATE plan_probe")
            .await
            .expect("deallocate");
    }
    tx.rollback().await.expect("rollback");
    rows.iter()
        .map(|row| row.try_get::<String>("", column).expect("plan column"))
        .collect()
}

fn small_pool(url: &str) -> DbConfig {
    let mut config = DbConfig::new(url);
    config.max_connections = 8;
    config.acquire_timeout = Duration::from_secs(30);
    config
}

/// Declares each listed `async fn name(backend: Backend)` as two tests, `name::sqlite` and
/// `name::postgres`, so every database test runs on both engines.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await
            }
        }
    )+};
}

/// An outbox for a context's own tests. Its payload is only the event's subject: the real
/// encoder (the resource's wire JSON) belongs to the app, and is tested there.
pub fn outbox<E: crate::DomainEvent + 'static>() -> crate::Outbox<E> {
    crate::Outbox::new(|event: &E| serde_json::json!({ "subject": event.subject() }))
}

#[cfg(test)]
mod tests {
    use super::TestDatabase;

    /// Nothing listens on port 1: a test that needs PostgreSQL there fails unless skipping was
    /// opted in, whatever else the environment holds (the policy takes no other input).
    #[tokio::test]
    async fn unreachable_postgres_fails_the_test_unless_skipping_is_opted_in() {
        let unreachable = "postgres://postgres@127.0.0.1:1/postgres".to_owned();
        let failed = tokio::spawn(TestDatabase::postgres_on(unreachable.clone(), None)).await;
        assert!(failed.is_err_and(|e| e.is_panic()), "must fail, not pass");
        let quiet: fn(&str) = |_| {};
        let skipped = tokio::spawn(TestDatabase::postgres_on(unreachable, Some(quiet))).await;
        assert!(skipped.is_ok_and(|db| db.is_none()), "opted in: skipped");
    }
}
