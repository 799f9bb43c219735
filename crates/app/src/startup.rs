//! Building the service: connect, check the schema, wire the contexts, bind the port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use orders::Orders;
use persistence::{Backend, Db, DbConfig};
use tokio::net::TcpListener;
use users::Users;

use crate::Config;
use crate::customers::UsersAsCustomers;
use crate::routes;
use crate::state::AppState;
use crate::workflows::Workflows;

/// A built, bound, not-yet-serving service. `build` returns it so that callers (tests, `main`)
/// know the real port before the first request, even when asked for port 0.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    db: Db,
    orders: Orders,
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

        let users = Users::new(db.clone());
        let ttl = chrono::Duration::from_std(config.idempotency_ttl)
            .context("IDEMPOTENCY_TTL_SECS is too large")?;
        let orders = Orders::new(db.clone(), Arc::new(UsersAsCustomers(users.clone())))
            .with_faults(config.faults.clone())
            .with_idempotency_ttl(ttl);
        let workflows = Workflows::new(
            db.clone(),
            users.clone(),
            orders.clone(),
            config.faults.clone(),
        );
        let state = AppState {
            db: db.clone(),
            users,
            orders: orders.clone(),
            workflows,
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
        let purge = tokio::spawn(purge_idempotency_keys(
            self.orders.clone(),
            self.config.idempotency_purge_interval,
        ));
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "listening");
        }
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        purge.abort();
        if let Err(err) = self.db.close().await {
            tracing::warn!(error = %err.detail(), "closing the pool failed");
        }
        tracing::info!("stopped");
        served
    }
}

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

async fn purge_idempotency_keys(orders: Orders, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match orders
            .purge_expired_idempotency_keys(persistence::now_utc())
            .await
        {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired idempotency keys"),
            Err(err) => tracing::warn!(error = %err, "purging idempotency keys failed"),
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
