//! Building the service: connect, check the schema, wire the contexts, bind the port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use identity::{Identity, IdentityConfig};
use orders::Orders;
use persistence::{Backend, CursorCodec, Db, DbConfig};
use tokio::net::TcpListener;
use users::Users;

use crate::Config;
use crate::customers::UsersAsCustomers;
use crate::events;
use crate::state::AppState;
use crate::workflows::Workflows;
use crate::{relay, routes};

/// A built, bound, not-yet-serving service. `build` returns it so that callers (tests, `main`)
/// know the real port before the first request, even when asked for port 0.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    db: Db,
    orders: Orders,
    identity: Identity,
    config: Config,
}

impl Application {
    /// Connects to the database, applies or checks migrations, and binds the listener.
    ///
    /// On embedded SQLite pending migrations are applied (a newcomer's `cargo run` just works).
    /// On PostgreSQL the service refuses to start while migrations are pending, unless
    /// `MIGRATE_ON_START=1`: schema changes there are an operator's deliberate step.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let mut db_config = DbConfig::new(&config.database_url);
        db_config.max_connections = config.db_max_connections;
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
        let workflows = Workflows::new(
            db.clone(),
            users.clone(),
            orders.clone(),
            identity.clone(),
            config.faults.clone(),
        );
        let cursors = match config.cursor_codec.clone() {
            Some(codec) => codec,
            None => CursorCodec::random().context("cannot draw a random cursor secret")?,
        };
        let state = AppState {
            db: db.clone(),
            users,
            orders: orders.clone(),
            identity: identity.clone(),
            workflows,
            cursors,
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
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight requests
    /// finish before returning.
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
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "listening");
        }
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        purge_keys.abort();
        purge_sessions.abort();
        purge_events.abort();
        if let Some(relay) = relay {
            relay.abort();
        }
        if let Err(err) = self.db.close().await {
            tracing::warn!(error = %err.detail(), "closing the pool failed");
        }
        tracing::info!("stopped");
        served
    }
}

/// How often events past `EVENT_RETENTION_DAYS` are purged.
const EVENT_PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60 * 60);

async fn prepare_schema(db: &Db, config: &Config) -> anyhow::Result<()> {
    let pending = migration::pending(db).await?;
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
