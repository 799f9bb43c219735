//! Metrics in Prometheus' text format, on a listener of their own (`METRICS_ADDR`), never on the
//! public port: what an operator alerts on when the database, the pool, sign-ins or the event
//! relay are in trouble. docs/operations.md, "Metrics", lists every series.
//!
//! The `metrics` facade records nothing until [`recorder`] installs the Prometheus recorder, and
//! the HTTP layer checks [`metrics_on`] before it builds a label, so a service without
//! `METRICS_ADDR` pays nothing. Gauges that describe state (the pool, the argon2 queue, the
//! outbox) are sampled when Prometheus scrapes rather than kept up to date on every request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use identity::Identity;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use persistence::Db;
use tokio::net::TcpListener;

static METRICS_ON: AtomicBool = AtomicBool::new(false);
static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds: from a cached read to a queued argon2 hash.
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Statements-per-request buckets: a hot path sends a handful; dozens is an N+1.
const STATEMENTS: &[f64] = &[
    0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 50.0,
];

/// Whether this process keeps metrics (a recorder is installed).
pub fn metrics_on() -> bool {
    METRICS_ON.load(Ordering::Relaxed)
}

/// Installs the process-wide Prometheus recorder on first use and returns its handle; every
/// later call (another service in the same test process) shares it.
pub fn recorder() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = RECORDER.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS)?
        .set_buckets_for_metric(
            Matcher::Full("db_statements_per_request".to_owned()),
            STATEMENTS,
        )?
        .install_recorder()?;
    let handle = RECORDER.get_or_init(|| handle).clone();
    METRICS_ON.store(true, Ordering::Relaxed);
    describe();
    // Counters that alert by rising are there from the start, at zero.
    for cause in ["nats", "store"] {
        metrics::counter!("relay_publish_errors_total", "cause" => cause).increment(0);
    }
    metrics::counter!("idempotent_replays_total").increment(0);
    Ok(handle)
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        "Requests answered, by method, route template and status class."
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a request, by method, route template and status class."
    );
    describe_histogram!(
        "db_statements_per_request",
        "SQL statements one request sent, by method and route template."
    );
    describe_gauge!(
        "db_pool_connections",
        "Pooled database connections: state=open (idle or in use), idle, max."
    );
    describe_gauge!(
        "db_pool_waiting",
        "Transactions waiting for a pooled connection and their BEGIN."
    );
    describe_counter!(
        "db_transactions_total",
        "Transactions ended, by outcome (commit, rollback)."
    );
    describe_histogram!(
        "db_transaction_duration_seconds",
        Unit::Seconds,
        "Time from BEGIN to COMMIT or ROLLBACK, by outcome."
    );
    describe_counter!(
        "sign_ins_total",
        "Sign-in attempts, by outcome (success, invalid_credentials, throttled, error)."
    );
    describe_gauge!(
        "password_hashes_waiting",
        "Password hashes (argon2) queued for a hashing thread."
    );
    describe_gauge!(
        "outbox_backlog_events",
        "Committed events the relay has not published yet."
    );
    describe_gauge!(
        "outbox_oldest_unpublished_age_seconds",
        Unit::Seconds,
        "Age of the oldest committed event not published yet (0 when none waits)."
    );
    describe_counter!(
        "relay_publish_errors_total",
        "Relay rounds that failed, by cause (nats, store)."
    );
    describe_counter!(
        "idempotent_replays_total",
        "Order placements answered from an earlier request with the same Idempotency-Key."
    );
    describe_gauge!(
        "migrations_pending",
        "Schema migrations that were pending when the service started."
    );
}

/// What the metrics endpoint samples when Prometheus scrapes it.
#[derive(Clone)]
pub(crate) struct Scrape {
    pub(crate) handle: PrometheusHandle,
    pub(crate) db: Db,
    pub(crate) identity: Identity,
}

/// Serves `GET /metrics` on `listener` until the task is aborted, and keeps the histograms'
/// memory bounded in the background.
pub(crate) async fn serve(listener: TcpListener, scrape: Scrape) -> std::io::Result<()> {
    let upkeep = scrape.handle.clone();
    let upkeep = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(5));
        loop {
            ticks.tick().await;
            upkeep.run_upkeep();
        }
    });
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(render))
        .with_state(scrape);
    let served = axum::serve(listener, router).await;
    upkeep.abort();
    served
}

async fn render(State(scrape): State<Scrape>) -> Response {
    let pool = scrape.db.pool_status();
    metrics::gauge!("db_pool_connections", "state" => "open").set(f64::from(pool.size));
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("db_pool_connections", "state" => "max").set(f64::from(pool.max));
    metrics::gauge!("db_pool_waiting").set(pool.waiting as f64);
    metrics::gauge!("password_hashes_waiting").set(scrape.identity.hashes_waiting() as f64);
    match persistence::outbox::unpublished_count(&scrape.db).await {
        Ok(backlog) => metrics::gauge!("outbox_backlog_events").set(backlog as f64),
        Err(err) => tracing::warn!(error = %err.detail(), "sampling the outbox backlog failed"),
    }
    match persistence::outbox::oldest_unpublished(&scrape.db).await {
        Ok(oldest) => {
            let age = oldest.map_or(0.0, |time| {
                (persistence::now_utc() - time).num_milliseconds().max(0) as f64 / 1000.0
            });
            metrics::gauge!("outbox_oldest_unpublished_age_seconds").set(age);
        }
        Err(err) => tracing::warn!(error = %err.detail(), "sampling the outbox age failed"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        scrape.handle.render(),
    )
        .into_response()
}

/// Binds the metrics listener.
pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context as _;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot bind METRICS_ADDR {addr}"))
}

/// The HTTP layer's part: counts the request, its latency and its statements by route
/// template (never the raw path).
pub(crate) async fn record_request(request: Request, next: Next) -> Response {
    if !metrics_on() {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let (response, statements) = persistence::count_statements_of(next.run(request)).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let handles = RequestMetrics::of(&method, route, status_class(response.status().as_u16()));
    handles.requests.increment(1);
    handles.duration.record(started.elapsed().as_secs_f64());
    handles.statements.record(statements as f64);
    count_outcome(&method, route, &response);
    response
}

/// The counters a response tells of by itself: a sign-in's outcome by its status (a request
/// refused before any attempt, 4xx other than 401 and 429, is none), a replayed placement by
/// its `Idempotent-Replayed` header.
fn count_outcome(method: &Method, route: &str, response: &Response) {
    if *method == Method::POST && route == "/v1/sessions" {
        let outcome = match response.status().as_u16() {
            201 => Some("success"),
            401 => Some("invalid_credentials"),
            429 => Some("throttled"),
            500.. => Some("error"),
            _ => None,
        };
        if let Some(outcome) = outcome {
            metrics::counter!("sign_ins_total", "outcome" => outcome).increment(1);
        }
    }
    if response.headers().contains_key(IDEMPOTENT_REPLAYED) {
        metrics::counter!("idempotent_replays_total").increment(1);
    }
}

/// The header a placement answered from its idempotency record carries.
pub(crate) const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The series one kind of request (method, route template, status class) updates, registered
/// once and reused: building a labelled key and looking it up in the recorder's registry on
/// every request means three label strings allocated, hashed and compared three times over.
struct RequestMetrics {
    method: Method,
    status: &'static str,
    requests: Counter,
    duration: Histogram,
    statements: Histogram,
}

/// Every [`RequestMetrics`] registered so far, by route template; the routes are a fixed set.
type ByRoute = HashMap<Box<str>, Vec<Arc<RequestMetrics>>>;

static REQUEST_METRICS: OnceLock<RwLock<ByRoute>> = OnceLock::new();

impl RequestMetrics {
    /// The handles of `method route` answered with `status`, registered on first use.
    fn of(method: &Method, route: &str, status: &'static str) -> Arc<Self> {
        let known = REQUEST_METRICS.get_or_init(RwLock::default);
        let find = |by_route: &ByRoute| {
            by_route.get(route).and_then(|all| {
                all.iter()
                    .find(|handles| handles.status == status && handles.method == *method)
                    .cloned()
            })
        };
        if let Some(handles) = find(&known.read().unwrap_or_else(PoisonError::into_inner)) {
            return handles;
        }
        let mut by_route = known.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(handles) = find(&by_route) {
            return handles;
        }
        let labels = [
            ("method", method.as_str().to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_owned()),
        ];
        let handles = Arc::new(Self {
            method: method.clone(),
            status,
            requests: metrics::counter!("http_requests_total", &labels),
            duration: metrics::histogram!("http_request_duration_seconds", &labels),
            statements: metrics::histogram!("db_statements_per_request", &labels[..2]),
        });
        by_route
            .entry(route.into())
            .or_default()
            .push(handles.clone());
        handles
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Counts a failed relay round.
pub(crate) fn relay_error(cause: &'static str) {
    if metrics_on() {
        metrics::counter!("relay_publish_errors_total", "cause" => cause).increment(1);
    }
}

/// Records how many migrations were pending at start.
pub(crate) fn migrations_pending(count: usize) {
    if metrics_on() {
        metrics::gauge!("migrations_pending").set(count as f64);
    }
}
