use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use persistence_orm::{Connection, FromOrm, HoldsConnection, Pool, within};
use sea_orm::sqlx::postgres::PgSslMode;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};

use crate::database_url::{names_ssl_mode, sqlite_file_path};
use crate::{StoreError, Tx};

/// Which database engine a [`Db`] talks to. Contexts branch on it only where the engines truly
/// differ (row locks exist on PostgreSQL; SQLite serialises writers instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: one file, no server.
    Sqlite,
    /// The production database.
    Postgres,
}

impl Backend {
    /// Tells the engine from a connection URL, before connecting.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::other(
                "unsupported DATABASE_URL: expected sqlite:... or postgres://...",
            ))
        }
    }
}

/// How to open the pool. The defaults suit a small service; tests shrink the pool.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    pub url: String,
    /// Upper bound on pooled connections.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before failing.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a locked database before reporting it busy.
    pub sqlite_busy_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on every pooled connection: a statement running (or
    /// waiting for a lock) longer is cancelled by the server. `None` leaves the server's
    /// setting; migrations and operators' tools keep it that way.
    pub statement_timeout: Option<Duration>,
    /// How long the service itself waits for the answer to any one statement (`BEGIN` and
    /// `COMMIT` included) before giving up on it as unavailable, whatever the server does: the
    /// only bound that holds when the link stalls without a reset, since the server's own
    /// cancellation cannot cross a silent link either. A statement on the pool also gets the
    /// acquire timeout on top, for waiting for its connection.
    ///
    /// `None` derives it: on PostgreSQL `statement_timeout` plus [`DbConfig::DEADLINE_MARGIN`]
    /// (so that the server's cancellation, which says more, normally arrives first), or no
    /// deadline when there is no statement timeout either; on SQLite none, since there is no
    /// link to stall and the busy timeout already bounds lock waits.
    pub client_deadline: Option<Duration>,
}

impl DbConfig {
    /// Defaults for a given URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(10),
            statement_timeout: None,
            client_deadline: None,
        }
    }

    /// How much longer than PostgreSQL's `statement_timeout` the derived client-side deadline
    /// waits: room for the server's cancellation to arrive on a loaded machine.
    pub const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

    /// The client-side deadline of each statement on `backend`: [`DbConfig::client_deadline`]
    /// when set, else derived from the statement timeout (see there).
    pub fn statement_deadline(&self, backend: Backend) -> Option<Duration> {
        self.client_deadline.or(match backend {
            Backend::Postgres => self
                .statement_timeout
                .map(|timeout| timeout + Self::DEADLINE_MARGIN),
            Backend::Sqlite => None,
        })
    }
}

/// A pooled database handle, cheap to clone. Hand it to context services at start-up.
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    /// A one-connection pool of its own for [`Db::ping`], so that a readiness probe tells a
    /// database outage from a merely busy `pool`.
    probe: Pool,
    backend: Backend,
    /// Transactions waiting for a connection (and their `BEGIN`), shared by every clone.
    beginning: Arc<AtomicU64>,
    /// The client-side deadline of one statement once it has its connection (see
    /// [`DbConfig::client_deadline`]).
    deadline: Option<Duration>,
    /// The longest wait for a pooled connection, which `BEGIN`'s deadline adds to its own.
    acquire_timeout: Duration,
}

/// One transaction waiting for its connection and `BEGIN`, while it lives.
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicU64) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How busy the pool is, as plain numbers for metrics (no driver type leaks out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open now, idle or in use.
    pub size: u32,
    /// Open connections nobody is using.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
    /// Transactions waiting for a connection and their `BEGIN`: above zero for long, the pool
    /// is too small or the database too slow.
    pub waiting: u64,
}

/// Rows a SQLite connection's driver thread may hand over before the reader takes any: sqlx's
/// default, 50, is less than a page of 20 orders' lines (60 rows), so the driver thread stopped
/// and was woken again in the middle of every list page.
const SQLITE_ROW_BUFFER: usize = 256;

/// Settings of every PostgreSQL session the service opens (sent with the connection request,
/// so they cost no round trip).
///
/// `plan_cache_mode`: each statement is planned once per connection for any values (a generic
/// plan), not anew for the values of each execution. The service's statements are a fixed set
/// whose values are keys, and a plan chosen for one key's statistics can be ruinous for
/// another's: for a customer holding a tenth of all orders, all of them old, PostgreSQL
/// planned the newest-first list as a backward scan of the whole primary key instead of that
/// customer's `(user_id, id)` index range (docs/performance.md, "The scale run"). A generic plan also
/// spares the planning at every execution. SQLite plans without values anyway.
pub const POSTGRES_SESSION_SETTINGS: &[(&str, &str)] = &[("plan_cache_mode", "force_generic_plan")];

/// Page cache of each SQLite reader connection, in SQLite's notation (negative: KiB), a quarter
/// of SQLite's default. Every reader caches the same hot pages of the same file privately, so
/// the default multiplies duplicates by the pool size; the OS page cache, shared and outside
/// the service's resident set, serves what the smaller cache misses. The writer keeps the
/// default: it alone walks the indexes it updates.
const SQLITE_READER_CACHE_SIZE: &str = "-512";

impl Db {
    /// Opens a pool with the defaults of [`DbConfig::new`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(&DbConfig::new(url)).await
    }

    /// Opens a pool. SQLite files (and their directory) are created when missing and opened in
    /// WAL mode with a busy timeout and foreign keys on, so both engines enforce the same rules.
    ///
    /// Every wait is bounded: for a pooled connection by `acquire_timeout`, for a lock by
    /// SQLite's busy timeout or PostgreSQL's `statement_timeout`, for the answer to any
    /// statement by the client-side deadline ([`DbConfig::client_deadline`]); each ends in a
    /// [`StoreError`] of kind [`crate::StoreErrorKind::Unavailable`]. A one-connection pool of
    /// its own serves [`Db::ping`], so readiness tells an outage from a busy pool.
    ///
    /// An SQLite file gets two pools: a writer of exactly one connection, which
    /// [`Db::begin`] and standalone writes queue for in arrival order (SQLite admits one
    /// writer at a time; queueing on the pool replaces sleeping and retrying on the busy
    /// timeout, which starved unlucky writers for hundreds of milliseconds), and up to
    /// `max_connections` readers, which WAL lets run beside the writer and which refuse writes
    /// (`PRAGMA query_only`). PostgreSQL, and an in-memory SQLite database (private to each
    /// connection), keep one pool for everything.
    ///
    /// PostgreSQL on a loopback address or a Unix socket is reached without TLS unless the URL
    /// names an `sslmode`: the default `prefer` would run a TLS handshake per new connection
    /// (most of the service's start-up time) to protect traffic that never leaves the host,
    /// and `prefer` neither verifies the server nor refuses plaintext anyway.
    pub async fn connect_with(config: &DbConfig) -> Result<Self, StoreError> {
        let backend = Backend::from_url(&config.url)?;
        let split = backend == Backend::Sqlite && sqlite_file_path(&config.url).is_some();
        if backend == Backend::Sqlite {
            create_sqlite_parent_dir(&config.url)?;
        }
        let deadline = config.statement_deadline(backend);
        // A statement on a pool first waits for its connection.
        let on_pool = deadline.map(|deadline| deadline + config.acquire_timeout);
        let pool = if split {
            // The writer first: connecting creates the file and switches it to WAL, so readers
            // never race to do either.
            let writer = Self::open(config, backend, 1, false).await?;
            let readers = Self::open(config, backend, config.max_connections, true).await?;
            Pool::split(readers, writer, on_pool)
        } else {
            let pool = Self::open(config, backend, config.max_connections, false).await?;
            Pool::new(pool, on_pool)
        };
        let probe = Pool::new(Self::open(config, backend, 1, split).await?, on_pool);
        Ok(Self {
            pool,
            probe,
            backend,
            beginning: Arc::default(),
            deadline,
            acquire_timeout: config.acquire_timeout,
        })
    }

    /// One SeaORM pool of up to `max_connections`, its statements observed; `read_only` makes
    /// SQLite connections refuse writes.
    async fn open(
        config: &DbConfig,
        backend: Backend,
        max_connections: u32,
        read_only: bool,
    ) -> Result<DatabaseConnection, StoreError> {
        let mut options = ConnectOptions::new(config.url.clone());
        options
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(config.acquire_timeout)
            .connect_timeout(config.acquire_timeout)
            .sqlx_logging(false);
        match backend {
            Backend::Sqlite => {
                // sqlx pings a pooled connection before handing it out, to find connections
                // whose server or network went away. An SQLite connection has neither: it is a
                // file open in a thread of the driver's own, and the ping is one more hand-off
                // to that thread and back on every statement. The statement itself finds a dead
                // thread just as well.
                options.test_before_acquire(false);
                let busy = config.sqlite_busy_timeout;
                options.map_sqlx_sqlite_opts(move |o: SqliteConnectOptions| {
                    let o = o
                        .create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(busy)
                        .foreign_keys(true)
                        .row_buffer_size(SQLITE_ROW_BUFFER);
                    if read_only {
                        o.pragma("query_only", "ON")
                            .pragma("cache_size", SQLITE_READER_CACHE_SIZE)
                    } else {
                        o
                    }
                });
            }
            Backend::Postgres => {
                if let Some(timeout) = config.statement_timeout {
                    options.statement_timeout(timeout);
                }
                let plain_loopback = !names_ssl_mode(&config.url);
                options.map_sqlx_postgres_opts(move |o| {
                    let o = o.options(POSTGRES_SESSION_SETTINGS.iter().copied());
                    if plain_loopback && is_loopback(o.get_host()) {
                        o.ssl_mode(PgSslMode::Disable)
                    } else {
                        o
                    }
                });
            }
        }
        let mut conn = Database::connect(options)
            .await
            .map_err(StoreError::from_orm)?;
        conn.set_metric_callback(crate::observe::on_statement);
        Ok(conn)
    }

    /// The engine behind this handle.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction that the caller owns: commit it with [`Tx::commit`]; dropping it
    /// uncommitted rolls it back.
    ///
    /// On SQLite the transaction runs on the single writer connection (callers queue for it in
    /// arrival order) and is `BEGIN IMMEDIATE`: it takes the write lock up front, so it never
    /// fails upgrading a read lock, and another process writing the same file is waited for
    /// on the busy timeout.
    ///
    /// Waiting for the connection is bounded by the acquire timeout, and `BEGIN` by the
    /// client-side deadline, like every statement of the transaction.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: (self.backend == Backend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let observer = crate::observe::TxObserver::begin(self.system());
        let begun = {
            // Counted down on drop too, so that a caller giving up mid-wait is not counted on.
            let _waiting = Waiting::enter(&self.beginning);
            let begin = self.pool.writer().unbounded().begin_with_options(options);
            within(self.deadline.map(|d| d + self.acquire_timeout), begin).await
        };
        let inner = begun.map_err(StoreError::from_orm)?;
        Ok(Tx::new(inner, self.backend, self.deadline, observer))
    }

    /// The pool's current occupancy, sampled for metrics.
    pub fn pool_status(&self) -> PoolStatus {
        let connection = self.pool.connection().unbounded();
        let (size, idle, max) = match self.backend {
            Backend::Postgres => {
                let pool = connection.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            Backend::Sqlite => {
                let pool = connection.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
        };
        PoolStatus {
            size,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max,
            waiting: self.beginning.load(Ordering::Relaxed),
        }
    }

    /// The engine's name in OpenTelemetry's `db.system` terms.
    fn system(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }

    /// Runs `work` in a new transaction: committed when it returns `Ok`, rolled back when it
    /// returns `Err`.
    ///
    /// ```no_run
    /// # async fn demo(db: persistence::Db) -> Result<(), persistence::StoreError> {
    /// let answer = db.transaction(async |tx| {
    ///     // ... call context operations that take `&Tx` ...
    ///     # let _ = tx;
    ///     Ok::<_, persistence::StoreError>(42)
    /// }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn transaction<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: for<'t> AsyncFnOnce(&'t Tx) -> Result<T, E>,
        E: From<StoreError>,
    {
        let tx = self.begin().await?;
        match work(&tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(err) => {
                if let Err(rollback) = tx.rollback().await {
                    tracing::warn!(error = %rollback.detail(), "rollback failed");
                }
                Err(err)
            }
        }
    }

    /// A round trip to the database, for readiness probes. It runs on a connection of its own,
    /// outside the pool that requests share: a pool saturated by slow requests is not an
    /// outage, and a probe waiting behind them would report one.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.probe
            .connection()
            .execute_unprepared("SELECT 1")
            .await
            .map_err(StoreError::from_orm)?;
        Ok(())
    }

    /// Writes a consistent copy of the SQLite database to `path`, a file that must not exist
    /// yet, while other connections keep writing: `VACUUM INTO` reads one snapshot of the
    /// database and writes it out whole. PostgreSQL has tools of its own for this (`pg_dump`,
    /// `pg_basebackup`); there the copy is refused. The copy passes SQLite's
    /// `PRAGMA integrity_check` before this returns.
    pub async fn copy_into(&self, path: &Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::other(
                "copying the database is for SQLite; use pg_dump or pg_basebackup",
            ));
        }
        let path = path
            .to_str()
            .ok_or_else(|| StoreError::other("the copy's path is not UTF-8"))?;
        // The path goes in as a string literal, its quotes doubled.
        let literal = path.replace('\'', "''");
        // On the writer: the readers' connections are `query_only`, which refuses `VACUUM INTO`.
        // Copying is still a read of the database; the service in another process keeps
        // writing meanwhile.
        let connection = self.pool.writer().unbounded();
        connection
            .execute_unprepared(&format!("VACUUM INTO '{literal}'"))
            .await
            .map_err(StoreError::from_orm)?;
        // Read back whole before anyone relies on it. The writer is one connection, so the
        // attachment and the check share it.
        connection
            .execute_unprepared(&format!("ATTACH DATABASE '{literal}' AS copy"))
            .await
            .map_err(StoreError::from_orm)?;
        let checked = connection
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "PRAGMA copy.integrity_check",
            ))
            .await;
        let detached = connection.execute_unprepared("DETACH DATABASE copy").await;
        let findings: Vec<String> = checked
            .map_err(StoreError::from_orm)?
            .iter()
            .filter_map(|row| row.try_get_by_index::<String>(0).ok())
            .collect();
        detached.map_err(StoreError::from_orm)?;
        if findings != ["ok"] {
            return Err(StoreError::other(format!(
                "the copy failed its integrity check: {}",
                findings.join("; ")
            )));
        }
        Ok(())
    }

    /// Closes the pool (both of SQLite's), waiting for connections to be returned.
    pub async fn close(self) -> Result<(), StoreError> {
        let probe = self.probe.into_inner();
        for pool in self.pool.into_inner().into_iter().chain(probe) {
            pool.close().await.map_err(StoreError::from_orm)?;
        }
        Ok(())
    }

    /// Counts every statement this handle (and every transaction begun from it) sends from
    /// now on: how tests prove a hot path's round trips (no N+1). Clones made afterwards share
    /// the count, so set it up before handing the `Db` to a service.
    #[cfg(any(test, feature = "testing"))]
    pub fn count_statements(&mut self) -> crate::testing::StatementCounter {
        let counter = crate::testing::StatementCounter::default();
        let shared = counter.clone();
        for pool in self.pool.each_mut() {
            let shared = shared.clone();
            pool.set_metric_callback(move |info| {
                crate::observe::on_statement(info);
                shared.increment();
            });
        }
        counter
    }
}

/// How context crates and migrations reach the pool (through `persistence_orm::Orm`); nothing
/// else can name the trait.
impl HoldsConnection for Db {
    type Held = Pool;

    fn held(&self) -> &Pool {
        &self.pool
    }
}

/// Whether a PostgreSQL host is this machine: a loopback name or address, or a socket path.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.starts_with('/')
        || bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn create_sqlite_parent_dir(url: &str) -> Result<(), StoreError> {
    if let Some(parent) = sqlite_file_path(url).and_then(|p| Path::new(p).parent())
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::other(format!("cannot create {}: {e}", parent.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_told_from_the_url() {
        assert_eq!(
            Backend::from_url("sqlite://data/app.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("sqlite::memory:").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(Backend::from_url("mysql://u@h/db").is_err());
    }

    #[test]
    fn tls_is_skipped_only_on_loopback_without_an_explicit_sslmode() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("::1"));
        assert!(is_loopback("[::1]"));
        assert!(is_loopback("/var/run/postgresql"));
        assert!(!is_loopback("db.internal"));
        assert!(!is_loopback("10.0.0.5"));
    }
}

#[cfg(test)]
mod sqlite_settings {
    use persistence_orm::Orm;
    use sea_orm::{ConnectionTrait, Statement};

    use crate::Backend;
    use crate::testing::TestDatabase;

    async fn pragma(test: &TestDatabase, name: &str) -> String {
        let stmt = Statement::from_string(
            test.db().orm().get_database_backend(),
            format!("PRAGMA {name}"),
        );
        let row = test.db().orm().query_one_raw(stmt).await.unwrap().unwrap();
        row.try_get_by_index::<String>(0)
            .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
            .unwrap()
    }

    #[tokio::test]
    async fn sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout() {
        let test = TestDatabase::create(Backend::Sqlite).await.unwrap();
        assert_eq!(pragma(&test, "journal_mode").await, "wal");
        assert_eq!(pragma(&test, "foreign_keys").await, "1");
        assert_eq!(pragma(&test, "busy_timeout").await, "10000");
        // NORMAL = 1: durable at checkpoints, safe with WAL.
        assert_eq!(pragma(&test, "synchronous").await, "1");
    }

    /// Readers keep a small private page cache (KiB when negative), the writer SQLite's
    /// default.
    #[tokio::test]
    async fn sqlite_readers_keep_a_small_page_cache_and_the_writer_the_default() {
        let test = TestDatabase::create(Backend::Sqlite).await.unwrap();
        assert_eq!(pragma(&test, "cache_size").await, "-512");
        let stmt = Statement::from_string(
            test.db().orm_write().get_database_backend(),
            "PRAGMA cache_size".to_owned(),
        );
        let row = test
            .db()
            .orm_write()
            .query_one_raw(stmt)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), -2000);
    }
}

#[cfg(test)]
mod bounded_waits {
    use std::time::{Duration, Instant};

    use persistence_orm::{FromOrm, Orm};
    use sea_orm::ConnectionTrait;

    use crate::testing::TestDatabase;
    use crate::{Backend, Db, DbConfig, StoreError, StoreErrorKind};

    /// Generous for a loaded CI machine, far below a hang.
    const BOUND: Duration = Duration::from_secs(3);

    fn config(test: &TestDatabase) -> DbConfig {
        let mut config = DbConfig::new(test.url());
        config.max_connections = 1;
        config.acquire_timeout = Duration::from_millis(300);
        config.sqlite_busy_timeout = Duration::from_millis(200);
        config.statement_timeout = Some(Duration::from_millis(300));
        config
    }

    /// The pool's only connection is taken: the next request gives up after the acquire
    /// timeout with `Unavailable`, while the readiness ping still gets through.
    async fn a_saturated_pool_is_unavailable_but_pings(backend: Backend) {
        let Some(test) = TestDatabase::create(backend).await else {
            return;
        };
        let db = Db::connect_with(&config(&test)).await.expect("connect");
        let held = db.begin().await.expect("the one connection");
        let started = Instant::now();
        let err = db.begin().await.expect_err("no connection is free");
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{}", err.detail());
        assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
        db.ping()
            .await
            .expect("the probe has a connection of its own");
        held.rollback().await.expect("rollback");
        db.begin()
            .await
            .expect("free again")
            .commit()
            .await
            .expect("commit");
    }

    /// A write that waits for another's lock gives up within the configured bound (SQLite's
    /// busy timeout, PostgreSQL's statement timeout) with `Unavailable`.
    async fn a_blocked_write_is_unavailable(backend: Backend) {
        let Some(test) = TestDatabase::create(backend).await else {
            return;
        };
        test.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .await;
        let holder = test.db().begin().await.expect("begin");
        holder
            .orm()
            .execute_unprepared("INSERT INTO t (id) VALUES (1)")
            .await
            .expect("insert");
        let db = Db::connect_with(&config(&test)).await.expect("connect");
        let started = Instant::now();
        let err = db
            .transaction(async |tx| {
                tx.orm()
                    .execute_unprepared("INSERT INTO t (id) VALUES (1)")
                    .await
                    .map_err(StoreError::from_orm)
            })
            .await
            .expect_err("the lock is held");
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{}", err.detail());
        assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
        holder.rollback().await.expect("rollback");
    }

    crate::both_backends!(
        a_saturated_pool_is_unavailable_but_pings,
        a_blocked_write_is_unavailable
    );
}

#[cfg(test)]
mod client_deadline {
    use std::time::{Duration, Instant};

    use persistence_orm::{FromOrm, Orm};
    use sea_orm::ConnectionTrait;

    use crate::testing::TestDatabase;
    use crate::tx::tests::count;
    use crate::{Backend, Db, DbConfig, StoreError, StoreErrorKind};

    const DEADLINE: Duration = Duration::from_millis(300);
    /// Room for a loaded CI machine, far below the statements' own length.
    const SLACK: Duration = Duration::from_millis(1500);

    /// No server-side statement timeout at all: only the client-side deadline can end a wait.
    fn config(test: &TestDatabase, acquire: Duration) -> DbConfig {
        let mut config = DbConfig::new(test.url());
        config.max_connections = 1;
        config.acquire_timeout = acquire;
        config.statement_timeout = None;
        config.client_deadline = Some(DEADLINE);
        config
    }

    #[test]
    fn the_deadline_is_derived_from_postgres_statement_timeout_only() {
        let mut config = DbConfig::new("postgres://u@h/db");
        assert_eq!(config.statement_deadline(Backend::Postgres), None);
        config.statement_timeout = Some(Duration::from_secs(2));
        assert_eq!(
            config.statement_deadline(Backend::Postgres),
            Some(Duration::from_secs(3))
        );
        // SQLite has no link to stall: its busy timeout stays the bound of a blocked write.
        assert_eq!(config.statement_deadline(Backend::Sqlite), None);
        config.client_deadline = Some(DEADLINE);
        assert_eq!(config.statement_deadline(Backend::Sqlite), Some(DEADLINE));
        assert_eq!(config.statement_deadline(Backend::Postgres), Some(DEADLINE));
    }

    /// A statement the server would run for 5 s, with no `statement_timeout` to cancel it,
    /// answers `Unavailable` at the client-side deadline (plus the acquire timeout a statement
    /// on the pool may spend waiting for its connection).
    #[tokio::test]
    async fn a_statement_outliving_the_client_deadline_is_unavailable() {
        let Some(test) = TestDatabase::create(Backend::Postgres).await else {
            return;
        };
        let acquire = Duration::from_millis(200);
        let db = Db::connect_with(&config(&test, acquire))
            .await
            .expect("connect");
        let started = Instant::now();
        let err = db
            .orm()
            .execute_unprepared("SELECT pg_sleep(5)")
            .await
            .map_err(StoreError::from_orm)
            .expect_err("the deadline passes first");
        let elapsed = started.elapsed();
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{}", err.detail());
        assert!(
            err.detail().contains("client-side deadline"),
            "{}",
            err.detail()
        );
        assert!(elapsed >= DEADLINE, "{elapsed:?}");
        assert!(elapsed < DEADLINE + acquire + SLACK, "{elapsed:?}");
        // The probe has a connection of its own: the service can still tell it is up.
        db.ping().await.expect("ping");
    }

    /// A transaction whose statement outlived the deadline is never committed: `commit`
    /// answers `Unavailable` at once (without waiting on the connection again), its writes are
    /// gone, and the one pooled connection serves the next transaction once its abandoned
    /// reply has drained, in a clean state.
    #[tokio::test]
    async fn a_transaction_past_its_deadline_is_rolled_back_and_its_connection_reused() {
        let Some(test) = TestDatabase::create(Backend::Postgres).await else {
            return;
        };
        test.execute("CREATE TABLE notes (body TEXT NOT NULL)")
            .await;
        let db = Db::connect_with(&config(&test, Duration::from_secs(10)))
            .await
            .expect("connect");
        let tx = db.begin().await.expect("begin");
        tx.orm()
            .execute_unprepared("INSERT INTO notes (body) VALUES ('half-written')")
            .await
            .expect("insert");
        let started = Instant::now();
        let err = tx
            .orm()
            .execute_unprepared("SELECT pg_sleep(1.5)")
            .await
            .map_err(StoreError::from_orm)
            .expect_err("the deadline passes first");
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{}", err.detail());
        assert!(
            started.elapsed() < DEADLINE + SLACK,
            "{:?}",
            started.elapsed()
        );
        let committed = Instant::now();
        let err = tx.commit().await.expect_err("not committed");
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{}", err.detail());
        assert!(committed.elapsed() < DEADLINE, "{:?}", committed.elapsed());
        // The only connection comes back after pg_sleep ends and the ROLLBACK ran; what it
        // answers then is this statement's own reply, not the abandoned one's.
        assert_eq!(count(&db).await, 0);
        let tx = db.begin().await.expect("begin again");
        tx.orm()
            .execute_unprepared("INSERT INTO notes (body) VALUES ('whole')")
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
        assert_eq!(count(&db).await, 1);
    }

    /// On SQLite a configured deadline ends a write blocked on another writer's lock before a
    /// longer busy timeout does, and the writer connection works again once the lock is free.
    #[tokio::test]
    async fn an_sqlite_write_blocked_past_the_deadline_is_unavailable_and_recovers() {
        let Some(test) = TestDatabase::create(Backend::Sqlite).await else {
            return;
        };
        test.execute("CREATE TABLE notes (body TEXT NOT NULL)")
            .await;
        let holder = test.db().begin().await.expect("the write lock");
        let acquire = Duration::from_millis(200);
        let mut config = config(&test, acquire);
        config.sqlite_busy_timeout = Duration::from_secs(5);
        let db = Db::connect_with(&config).await.expect("connect");
        let started = Instant::now();
        let err = db.begin().await.expect_err("the lock is held");
        let elapsed = started.elapsed();
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{}", err.detail());
        assert!(elapsed < DEADLINE + acquire + SLACK, "{elapsed:?}");
        holder.rollback().await.expect("rollback");
        // The abandoned BEGIN finishes (and is rolled back by the driver) in the background;
        // poll until the writer is ours.
        let deadline = Instant::now() + Duration::from_secs(10);
        let tx = loop {
            match db.begin().await {
                Ok(tx) => break tx,
                Err(err) => {
                    assert!(Instant::now() < deadline, "{}", err.detail());
                    tokio::task::yield_now().await;
                }
            }
        };
        tx.orm()
            .execute_unprepared("INSERT INTO notes (body) VALUES ('after')")
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
        assert_eq!(count(&db).await, 1);
    }
}

#[cfg(test)]
mod sqlite_writer {
    use std::time::Duration;

    use persistence_orm::{FromOrm, Orm};
    use sea_orm::ConnectionTrait;

    use crate::testing::TestDatabase;
    use crate::tx::tests::count;
    use crate::{Backend, Db, DbConfig};

    #[tokio::test]
    async fn sqlite_readers_refuse_writes_that_the_writer_takes() {
        let test = TestDatabase::create(Backend::Sqlite).await.unwrap();
        let db = test.db();
        let refused = db
            .orm()
            .execute_unprepared("CREATE TABLE notes (body TEXT NOT NULL)")
            .await;
        assert!(refused.is_err(), "a reader connection accepted a write");
        db.orm_write()
            .execute_unprepared("CREATE TABLE notes (body TEXT NOT NULL)")
            .await
            .unwrap();
        db.orm_write()
            .execute_unprepared("INSERT INTO notes (body) VALUES ('autocommitted')")
            .await
            .unwrap();
        // A reader sees what the writer committed.
        assert_eq!(count(db).await, 1);
    }

    /// With no busy timeout at all, SQLite reports a second concurrent writer busy at once; 32
    /// concurrent write transactions all commit only because they queue for the one writer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_writers_queue_for_the_single_writer_instead_of_failing_busy() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = DbConfig::new(format!("sqlite://{}/queue.db", dir.path().display()));
        config.sqlite_busy_timeout = Duration::ZERO;
        config.acquire_timeout = Duration::from_secs(30);
        let db = Db::connect_with(&config).await.unwrap();
        db.orm_write()
            .execute_unprepared("CREATE TABLE notes (body TEXT NOT NULL)")
            .await
            .unwrap();
        let writers: Vec<_> = (0..32)
            .map(|n| {
                let db = db.clone();
                tokio::spawn(async move {
                    let tx = db.begin().await?;
                    tx.orm()
                        .execute_unprepared(&format!("INSERT INTO notes (body) VALUES ('{n}')"))
                        .await
                        .map_err(crate::StoreError::from_orm)?;
                    // Hold the write lock across an await, as real units of work do.
                    tokio::task::yield_now().await;
                    tx.commit().await
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        assert_eq!(count(&db).await, 32);
        db.close().await.unwrap();
    }
}
