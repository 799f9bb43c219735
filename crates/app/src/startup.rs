//! Building the service: connect, check the schema, wire the contexts, bind the port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use catalog::Catalog;
use identity::{Identity, IdentityConfig};
use inventory::Inventory;
use orders::Orders;
use persistence::{Backend, CursorCodec, Db, DbConfig};
use tokio::net::TcpListener;
use users::Users;

use crate::Config;
use crate::customers::UsersAsCustomers;
use crate::events;
use crate::state::AppState;
use crate::workflows::{Contexts, Workflows};
use crate::{metrics, relay, routes, server};

/// A built, bound, not-yet-serving service. `build` returns it so that callers (tests, `main`)
/// know the real port before the first request, even when asked for port 0.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    db: Db,
    orders: Orders,
    identity: Identity,
    config: Config,
    draining: Arc<AtomicBool>,
    /// The metrics listener and its recorder, with `METRICS_ADDR`.
    metrics: Option<(TcpListener, metrics_exporter_prometheus::PrometheusHandle)>,
}

impl Application {
    /// Connects to the database, applies or checks migrations, and binds the listener.
    ///
    /// On embedded SQLite pending migrations are applied (a newcomer's `cargo run` just works).
    /// On PostgreSQL the service refuses to start while migrations are pending, unless
    /// `MIGRATE_ON_START=1`: schema changes there are an operator's deliberate step.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // Before anything is measured (the pending migrations are).
        let metrics = match config.metrics_addr {
            Some(addr) => Some((metrics::bind(addr).await?, metrics::recorder()?)),
            None => None,
        };
        let mut db_config = DbConfig::new(&config.database_url);
        db_config.max_connections = config
            .db_max_connections
            .unwrap_or_else(|| crate::config::default_db_connections(&config.database_url));
        db_config.acquire_timeout = config.db_timeouts.acquire;
        db_config.statement_timeout = config.db_timeouts.statement;
        db_config.sqlite_busy_timeout = config.db_timeouts.sqlite_busy;
        let db = Db::connect_with(&db_config)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database: {}", e.detail()))?;
        prepare_schema(&db, &config).await?;

        let users = Users::new(db.clone(), events::user_outbox(config.faults.clone()));
        let ttl = chrono::Duration::from_std(config.idempotency_ttl)
            .context("IDEMPOTENCY_TTL_SECS is too large")?;
        let orders = Orders::new(
            db.clone(),
            Arc::new(UsersAsCustomers(users.clone())),
            events::order_outbox(config.faults.clone()),
        )
        .with_faults(config.faults.clone())
        .with_idempotency_ttl(ttl);
        let identity = Identity::new(
            db.clone(),
            IdentityConfig {
                session_ttl: chrono::Duration::from_std(config.session_ttl)
                    .context("SESSION_TTL_SECS is too large")?,
                hash_concurrency: config.password_hash_concurrency,
                ..IdentityConfig::default()
            },
        );
        let catalog = Catalog::new(db.clone(), events::product_outbox(config.faults.clone()));
        let inventory = Inventory::new(db.clone(), events::stock_outbox(config.faults.clone()))
            .with_faults(config.faults.clone());
        let workflows = Workflows::new(
            db.clone(),
            Contexts {
                users: users.clone(),
                orders: orders.clone(),
                identity: identity.clone(),
                catalog: catalog.clone(),
                inventory: inventory.clone(),
            },
            config.faults.clone(),
        );
        let cursors = match config.cursor_codec.clone() {
            Some(codec) => codec,
            None => CursorCodec::random().context("cannot draw a random cursor secret")?,
        };
        let draining = Arc::new(AtomicBool::new(false));
        let state = AppState {
            db: db.clone(),
            users,
            orders: orders.clone(),
            identity: identity.clone(),
            catalog,
            inventory,
            workflows,
            cursors,
            draining: draining.clone(),
        };
        let router = routes::router(state, config.request_timeout);
        let listener = TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("cannot bind {}", config.bind_addr))?;
        Ok(Self {
            listener,
            router,
            db,
            orders,
            identity,
            config,
            draining,
            metrics,
        })
    }

    /// The metrics listener's address, with `METRICS_ADDR`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish (for at most
    /// `SHUTDOWN_GRACE_SECS`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then stops accepting, answers readiness with 503 and
    /// lets in-flight requests finish before returning; after the grace period it returns
    /// anyway, closing the connections still open.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let orders = self.orders.clone();
        let purge_keys = tokio::spawn(every(
            self.config.idempotency_purge_interval,
            "expired idempotency keys",
            move || {
                let orders = orders.clone();
                async move {
                    orders
                        .purge_expired_idempotency_keys(persistence::now_utc())
                        .await
                        .map_err(|e| e.to_string())
                }
            },
        ));
        let identity = self.identity.clone();
        let purge_sessions = tokio::spawn(every(
            self.config.session_purge_interval,
            "expired sessions and sign-in failures",
            move || {
                let identity = identity.clone();
                async move {
                    identity
                        .purge_expired(persistence::now_utc())
                        .await
                        .map(|purged| purged.sessions + purged.failures)
                        .map_err(|e| e.to_string())
                }
            },
        ));
        let relay = self.config.nats_url.clone().map(|nats_url| {
            let config = relay::RelayConfig {
                nats_url,
                poll_interval: std::time::Duration::from_millis(200),
            };
            tokio::spawn(relay::run(
                self.db.clone(),
                config,
                self.config.faults.clone(),
            ))
        });
        let (db, retention, relay_runs) = (
            self.db.clone(),
            self.config.event_retention,
            relay.is_some(),
        );
        let purge_events = tokio::spawn(every(
            EVENT_PURGE_INTERVAL,
            "events past their retention",
            move || {
                let db = db.clone();
                async move { relay::purge(&db, retention, relay_runs).await }
            },
        ));
        let metrics = self.metrics.map(|(listener, handle)| {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving metrics");
            }
            tokio::spawn(metrics::serve(
                listener,
                metrics::Scrape {
                    handle,
                    db: self.db.clone(),
                    identity: self.identity.clone(),
                },
            ))
        });
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "listening");
        }
        let limits = server::Limits {
            header_read: self.config.header_read_timeout,
            idle: self.config.idle_timeout,
            grace: self.config.shutdown_grace,
            drain: self.config.shutdown_drain,
        };
        server::serve(
            self.listener,
            self.router,
            limits,
            self.draining.clone(),
            shutdown,
        )
        .await;
        purge_keys.abort();
        purge_sessions.abort();
        purge_events.abort();
        if let Some(relay) = relay {
            relay.abort();
        }
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        if let Err(err) = self.db.close().await {
            tracing::warn!(error = %err.detail(), "closing the pool failed");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// How often events past `EVENT_RETENTION_DAYS` are purged.
const EVENT_PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60 * 60);

async fn prepare_schema(db: &Db, config: &Config) -> anyhow::Result<()> {
    let pending = migration::pending(db).await?;
    metrics::migrations_pending(pending.len());
    if pending.is_empty() {
        return Ok(());
    }
    if db.backend() == Backend::Postgres && !config.migrate_on_start {
        anyhow::bail!(
            "{} migration(s) pending ({}): run `cargo xtask migrate` first \
             (or set MIGRATE_ON_START=1 to let the service apply them)",
            pending.len(),
            pending.join(", ")
        );
    }
    let runner = migration::Runner::lock(&config.database_url).await?;
    let applied = runner.up(None).await?;
    runner.release().await?;
    tracing::info!(?applied, "applied pending migrations");
    Ok(())
}

/// How long after start the housekeeping jobs first run (or after one period, if shorter): off
/// the path to the first ready answer, whose pool connections they would otherwise take, yet
/// soon enough that a service restarted more often than every period still purges.
const FIRST_PURGE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs a housekeeping job shortly after start and then every `period`, logging what it
/// removed.
async fn every<F, Fut>(period: std::time::Duration, what: &'static str, job: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<u64, String>>,
{
    let first = tokio::time::Instant::now() + FIRST_PURGE_AFTER.min(period);
    let mut ticks = tokio::time::interval_at(first, period);
    loop {
        ticks.tick().await;
        match job().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged {what}"),
            Err(error) => tracing::warn!(%error, "purging {what} failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    //! What SIGTERM does before the process exits, as a load balancer sees it.
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::Ordering;

    use persistence::Backend;
    use persistence::testing::TestDatabase;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    persistence::both_backends!(shutdown_drains_before_it_stops_listening);

    /// One request on a new connection to `addr`, answered in full (the server closes).
    async fn request(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    /// SIGTERM's path as a load balancer sees it: readiness turns 503 at once while requests
    /// are still served (a keep-alive connection is told to close after its next response, and
    /// new connections are accepted); after the drain the listener closes.
    async fn shutdown_drains_before_it_stops_listening(backend: Backend) {
        let Some(database) = TestDatabase::create(backend).await else {
            return;
        };
        let mut config = Config::new(database.url());
        config.bind_addr = "127.0.0.1:0".parse().unwrap();
        config.migrate_on_start = true;
        config.shutdown_drain = std::time::Duration::from_secs(2);
        let app = Application::build(config).await.unwrap();
        let addr = app.local_addr().unwrap();
        let draining = app.draining.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        assert!(
            request(addr, "/health/ready")
                .await
                .starts_with("HTTP/1.1 200")
        );
        // A keep-alive connection, open before the shutdown begins.
        let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
        let live = b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n";
        kept.write_all(live).await.unwrap();
        let mut first = vec![0; 4096];
        let n = kept.read(&mut first).await.unwrap();
        let first = String::from_utf8_lossy(&first[..n]).into_owned();
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        assert!(
            !first.to_ascii_lowercase().contains("connection: close"),
            "{first}"
        );

        let _ = stop.send(());
        let mut ticks = tokio::time::interval(std::time::Duration::from_millis(10));
        while !draining.load(Ordering::SeqCst) {
            ticks.tick().await;
        }
        let response = request(addr, "/health/ready").await;
        assert!(response.starts_with("HTTP/1.1 503"), "{response}");
        assert!(response.contains("shutting down"), "{response}");
        let response = request(addr, "/health/live").await;
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "still served: {response}"
        );
        kept.write_all(live).await.unwrap();
        let mut rest = String::new();
        kept.read_to_string(&mut rest).await.unwrap();
        assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
        assert!(
            rest.to_ascii_lowercase().contains("connection: close"),
            "{rest}"
        );

        server.await.unwrap().unwrap();
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "the listener is closed after the drain"
        );
    }
}
