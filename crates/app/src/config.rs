//! Configuration from the environment, read once at start-up.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use persistence::{CursorCodec, Faults};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// Everything the service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`; default the embedded SQLite file `data/app.db` (created if missing).
    pub database_url: String,
    /// `BIND_ADDR`; default `127.0.0.1:8080`. Port 0 picks a free port (tests).
    pub bind_addr: SocketAddr,
    /// `LOG_FORMAT=json|pretty`; default pretty.
    pub log_format: LogFormat,
    /// `MIGRATE_ON_START=1` lets the service apply pending migrations on PostgreSQL too.
    pub migrate_on_start: bool,
    /// `REQUEST_TIMEOUT_SECS`; default 30.
    pub request_timeout: Duration,
    /// `IDEMPOTENCY_TTL_SECS`: how long an `Idempotency-Key` is remembered; default 24 h.
    pub idempotency_ttl: Duration,
    /// `IDEMPOTENCY_PURGE_INTERVAL_SECS`: how often expired keys are purged; default 1 h.
    pub idempotency_purge_interval: Duration,
    /// `SESSION_TTL_SECS`: how long a bearer token works after sign-in; default 24 h.
    pub session_ttl: Duration,
    /// `SESSION_PURGE_INTERVAL_SECS`: how often expired sessions are purged; default 1 h.
    pub session_purge_interval: Duration,
    /// `PASSWORD_HASH_CONCURRENCY`: argon2 computations at once (each takes 19 MiB and a
    /// core); default half the CPUs (at least one), so a flood of sign-ins leaves cores for
    /// every other request. Further sign-ups and sign-ins queue.
    pub password_hash_concurrency: usize,
    /// `DB_MAX_CONNECTIONS`; default 10.
    pub db_max_connections: u32,
    /// `CURSOR_KEY`: the secret (at least 32 bytes) that authenticates list cursors. Every
    /// instance behind one load balancer needs the same one. Unset: a random secret per
    /// process, so cursors stop working when the process restarts.
    pub cursor_codec: Option<CursorCodec>,
    /// `NATS_URL`: with it, a relay publishes events to NATS JetStream; default none.
    pub nats_url: Option<String>,
    /// `EVENT_RETENTION_DAYS`: how long events stay in the feed; default 7.
    pub event_retention: Duration,
    /// `METRICS_ADDR`: where Prometheus scrapes `/metrics`, on a listener of its own (never the
    /// public port); default none, no metrics are kept.
    pub metrics_addr: Option<SocketAddr>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: with it, spans are exported over OTLP/HTTP (the exporter
    /// reads the standard `OTEL_*` variables itself); default none, nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// Armed fault points (tests only; inert unless built with `fault-injection`).
    pub faults: Faults,
}

/// The embedded default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db";

impl Config {
    /// Defaults for everything except the database.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            log_format: LogFormat::Pretty,
            migrate_on_start: false,
            request_timeout: Duration::from_secs(30),
            idempotency_ttl: Duration::from_secs(24 * 60 * 60),
            idempotency_purge_interval: Duration::from_secs(60 * 60),
            session_ttl: Duration::from_secs(24 * 60 * 60),
            session_purge_interval: Duration::from_secs(60 * 60),
            password_hash_concurrency: default_hash_concurrency(),
            db_max_connections: 10,
            cursor_codec: None,
            nats_url: None,
            event_retention: Duration::from_secs(7 * 24 * 60 * 60),
            metrics_addr: None,
            otlp_endpoint: None,
            faults: Faults::default(),
        }
    }

    /// Reads the environment; a malformed value is an error naming the variable.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut config = Self::new(
            std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned()),
        );
        if let Some(addr) = var("BIND_ADDR") {
            config.bind_addr = addr
                .parse()
                .with_context(|| format!("BIND_ADDR={addr:?} is not a socket address"))?;
        }
        if let Some(format) = var("LOG_FORMAT") {
            config.log_format = match format.as_str() {
                "json" => LogFormat::Json,
                "pretty" => LogFormat::Pretty,
                other => anyhow::bail!("LOG_FORMAT={other:?}: expected json or pretty"),
            };
        }
        if let Some(flag) = var("MIGRATE_ON_START") {
            config.migrate_on_start = matches!(flag.as_str(), "1" | "true" | "yes");
        }
        if let Some(secs) = seconds("REQUEST_TIMEOUT_SECS")? {
            config.request_timeout = secs;
        }
        if let Some(secs) = seconds("IDEMPOTENCY_TTL_SECS")? {
            config.idempotency_ttl = secs;
        }
        if let Some(secs) = seconds("IDEMPOTENCY_PURGE_INTERVAL_SECS")? {
            anyhow::ensure!(
                !secs.is_zero(),
                "IDEMPOTENCY_PURGE_INTERVAL_SECS must be at least 1"
            );
            config.idempotency_purge_interval = secs;
        }
        if let Some(secs) = seconds("SESSION_TTL_SECS")? {
            anyhow::ensure!(!secs.is_zero(), "SESSION_TTL_SECS must be at least 1");
            config.session_ttl = secs;
        }
        if let Some(secs) = seconds("SESSION_PURGE_INTERVAL_SECS")? {
            anyhow::ensure!(
                !secs.is_zero(),
                "SESSION_PURGE_INTERVAL_SECS must be at least 1"
            );
            config.session_purge_interval = secs;
        }
        if let Some(n) = var("PASSWORD_HASH_CONCURRENCY") {
            config.password_hash_concurrency = n
                .parse()
                .ok()
                .filter(|&n: &usize| n >= 1)
                .with_context(|| {
                    format!("PASSWORD_HASH_CONCURRENCY={n:?} is not a whole number >= 1")
                })?;
        }
        if let Some(n) = var("DB_MAX_CONNECTIONS") {
            config.db_max_connections = n
                .parse()
                .with_context(|| format!("DB_MAX_CONNECTIONS={n:?} is not a number"))?;
        }
        if let Some(secret) = var("CURSOR_KEY") {
            config.cursor_codec = Some(CursorCodec::new(secret.as_bytes()).with_context(|| {
                format!(
                    "CURSOR_KEY is {} bytes; it must be at least {} (e.g. `openssl rand -hex 32`)",
                    secret.len(),
                    CursorCodec::MIN_SECRET_LEN
                )
            })?);
        }
        config.nats_url = var("NATS_URL");
        if let Some(days) = var("EVENT_RETENTION_DAYS") {
            let days: u64 = days.parse().ok().filter(|&d| d >= 1).with_context(|| {
                format!("EVENT_RETENTION_DAYS={days:?} is not a whole number >= 1")
            })?;
            config.event_retention = Duration::from_secs(days * 24 * 60 * 60);
        }
        if let Some(addr) = var("METRICS_ADDR") {
            config.metrics_addr = Some(
                addr.parse()
                    .with_context(|| format!("METRICS_ADDR={addr:?} is not a socket address"))?,
            );
        }
        config.otlp_endpoint = var("OTEL_EXPORTER_OTLP_ENDPOINT");
        Ok(config)
    }
}

fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn seconds(name: &str) -> anyhow::Result<Option<Duration>> {
    var(name)
        .map(|v| {
            v.parse::<u64>()
                .map(Duration::from_secs)
                .with_context(|| format!("{name}={v:?} is not a whole number of seconds"))
        })
        .transpose()
}
