//! The database goes away under load and comes back: a TCP proxy of the test's own sits between
//! the service and PostgreSQL and is cut (connections closed, new ones refused), then stalled
//! (connections open, no byte forwarded), then restored, while workers place and read orders.
//!
//! While the database is away every request answers 503 `database_unavailable` with
//! `Retry-After` within the configured bound (never 500, never a hang), readiness says 503,
//! and once it is back the same instance serves again, without a restart. Every order stored
//! is whole: its lines are there and its total is the sum of them.
//!
//! A statement already sent when the link goes silent gets its 503 within the client-side
//! deadline (statement timeout plus margin): the proxy stalls the very connection that sent an
//! order's `INSERT`, then the whole link.
//!
//! On both engines: a pool saturated by requests waiting for a lock answers the overflow with a
//! bounded 503 yet stays ready (the database is fine), and a write blocked past SQLite's busy
//! timeout or PostgreSQL's statement timeout is a 503 too.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::proxy::Proxy;
use crate::common::{self, Account, TestApp};
use persistence::testing::TestDatabase;
use persistence::{Backend, DbConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long a request may wait for a pooled (or new) connection.
const ACQUIRE: Duration = Duration::from_secs(1);
/// PostgreSQL's statement timeout for the service's connections.
const STATEMENT: Duration = Duration::from_secs(2);
/// The client-side deadline of each statement the service sends, derived from `STATEMENT`:
/// the bound for a statement already in flight when the network goes silent.
const DEADLINE: Duration = STATEMENT.saturating_add(DbConfig::DEADLINE_MARGIN);
/// Every 503 must arrive within the configured waits plus this slack for a loaded 2-core
/// machine: slow, but nowhere near a 30 s hang.
const SLACK: Duration = Duration::from_secs(2);
/// The service's request timeout here: far above every database bound, so that a request
/// answered 408 instead of 503 fails the test.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const WORKERS: usize = 6;
/// Requests each outage phase must see answered while the database is fully away.
const PER_PHASE: usize = 12;

crate::common::on_both_backends!(
    a_saturated_pool_stays_ready_and_overflow_is_a_bounded_503,
    a_write_blocked_past_its_timeout_is_a_503,
);
crate::common::on_postgres!(
    worker_threads = 4;
    a_statement_in_flight_when_the_link_stalls_is_a_bounded_503,
    the_database_going_away_is_a_bounded_503_and_the_service_recovers,
);

/// A service whose waits for the database are `acquire` and `lock` (statement timeout on
/// PostgreSQL, busy timeout on SQLite), with two connections; a customer; and a transaction
/// of the test's own that deactivates the customer, holding its row (PostgreSQL) or the write
/// lock (SQLite) until the test lets go. Placements for the customer wait for it.
async fn blocked(
    database: TestDatabase,
    acquire: Duration,
    lock: Duration,
) -> (TestApp, Account, Account, persistence::Tx) {
    let app = common::spawn_with(database, |config| {
        config.db_max_connections = Some(2);
        config.db_timeouts.acquire = acquire;
        config.db_timeouts.statement = Some(lock);
        config.db_timeouts.sqlite_busy = lock;
        config.request_timeout = Duration::from_secs(120);
        // For `db_pool_waiting`: who is queued for a connection or blocked in `BEGIN`.
        config.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    stock_outage_skus(&app).await;
    let admin = app.create_admin("admin@example.com").await;
    let customer = app.create_user("waiting@example.com").await;
    let users = users::Users::new(
        app.database.db().clone(),
        app::events::user_outbox(persistence::Faults::default()),
    );
    let holder = app.database.db().begin().await.unwrap();
    let id = uuid::Uuid::parse_str(&customer.id).unwrap();
    users
        .deactivate(&holder, users::UserId::from_uuid(id))
        .await
        .unwrap();
    (app, admin, customer, holder)
}

async fn a_saturated_pool_stays_ready_and_overflow_is_a_bounded_503(database: TestDatabase) {
    let (app, admin, customer, holder) = blocked(database, ACQUIRE, Duration::from_secs(60)).await;
    // Placements wait for the lock, holding what the service writes with: on PostgreSQL both
    // of its two connections; on SQLite its one writer connection (its readers stay free, so
    // there the overflow request is a write too).
    let sqlite = app.database.backend() == Backend::Sqlite;
    let waiting: Vec<_> = (0..if sqlite { 1 } else { 2 })
        .map(|n| {
            let request = app.post_as(&customer, "/v1/orders").json(&order(n + 1));
            tokio::spawn(request.send())
        })
        .collect();
    if sqlite {
        // SQLite's placement is blocked in `BEGIN IMMEDIATE` on the writer before the overflow
        // request is sent; otherwise the overflow request could take the writer first and wait
        // out the 60 s lock itself.
        let metrics = app.metrics_url.clone().expect("METRICS_ADDR is set");
        common::wait_within(Duration::from_secs(30), "the placement blocked", || async {
            let scraped = app.client.get(&metrics).send().await.unwrap();
            let text = scraped.text().await.unwrap();
            text.lines().any(|line| line == "db_pool_waiting 1")
        })
        .await;
    }
    // Any further request needing a connection finds none: a 503 after the acquire timeout.
    let listing = format!("/v1/users/{}/orders", customer.id);
    common::wait_within(Duration::from_secs(30), "a saturated pool", || async {
        let started = Instant::now();
        let overflow = if sqlite {
            app.post_as(&customer, "/v1/orders").json(&order(9))
        } else {
            app.get_as(&admin, &listing)
        };
        let response = overflow.send().await.unwrap();
        if response.status() != StatusCode::SERVICE_UNAVAILABLE {
            return false;
        }
        assert!(
            started.elapsed() <= ACQUIRE + SLACK,
            "{:?}",
            started.elapsed()
        );
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "database_unavailable", "{body}");
        true
    })
    .await;
    // The database itself is fine, so the service is ready.
    assert_eq!(ready_status(&app).await.0, StatusCode::OK);
    holder.rollback().await.unwrap();
    for placement in waiting {
        assert_eq!(placement.await.unwrap().unwrap().status(), 201);
    }
    assert_eq!(
        app.get_as(&admin, &listing).send().await.unwrap().status(),
        200
    );
}

async fn a_write_blocked_past_its_timeout_is_a_503(database: TestDatabase) {
    let lock = Duration::from_millis(500);
    let (app, _admin, customer, holder) = blocked(database, ACQUIRE, lock).await;
    let started = Instant::now();
    let response = app
        .post_as(&customer, "/v1/orders")
        .json(&order(1))
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(response.headers().contains_key("retry-after"));
    common::assert_problem(response, 503, "database_unavailable").await;
    assert!(elapsed >= lock && elapsed <= lock + SLACK, "{elapsed:?}");
    assert_eq!(ready_status(&app).await.0, StatusCode::OK);
    holder.rollback().await.unwrap();
    assert_eq!(
        app.post_as(&customer, "/v1/orders")
            .json(&order(1))
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
}

/// One answered request, as the workers saw it.
#[derive(Debug, Clone)]
struct Outcome {
    started: Instant,
    elapsed: Duration,
    status: u16,
    code: Option<String>,
    retry_after: bool,
}

/// An outage phase: from when readiness first said 503 to when the proxy was restored.
#[derive(Debug, Clone, Copy)]
struct Window {
    down: Instant,
    restored: Instant,
}

/// `host:port` of a `postgres://user@host:port/db` URL, and the URL with another one.
fn reroute(url: &str, to: SocketAddr) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (authority, path) = rest.split_once('/').expect("database name");
    let (user, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    (host.to_owned(), format!("{scheme}://{user}{to}/{path}"))
}

fn order(quantity: i64) -> Value {
    json!({
        "currency": "EUR",
        "items": [
            { "sku": "OUT-1", "quantity": quantity, "unit_price_cents": 199 },
            { "sku": "OUT-2", "quantity": 1, "unit_price_cents": 1000 }
        ]
    })
}

async fn ready_status(app: &TestApp) -> (StatusCode, bool) {
    let response = app.get("/health/ready").send().await.unwrap();
    (
        response.status(),
        response.headers().contains_key("retry-after"),
    )
}

/// One worker: places an order, reads it back, again, until told to stop.
async fn work(
    app: Arc<TestApp>,
    who: Account,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Outcome>>>,
) {
    let mut last_order: Option<String> = None;
    let mut round = 0i64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let request = match (&last_order, round % 3) {
            (Some(id), 0) => app.get_as(&who, &format!("/v1/orders/{id}")),
            _ => app.post_as(&who, "/v1/orders").json(&order(round % 7 + 1)),
        };
        let started = Instant::now();
        let response = request.send().await.expect("the service answers");
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == 201 {
            last_order = body["id"].as_str().map(str::to_owned);
        }
        log.lock().unwrap().push(Outcome {
            started,
            elapsed,
            status,
            code: body["code"].as_str().map(str::to_owned),
            retry_after,
        });
    }
}

fn answered_since(log: &Mutex<Vec<Outcome>>, since: Instant) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|o| o.started >= since && o.status == 503)
        .count()
}

/// Takes the database away with `take_away`, checks the outage is seen, gives it back.
async fn outage(
    app: &TestApp,
    proxy: &Proxy,
    log: &Mutex<Vec<Outcome>>,
    take_away: fn(&Proxy),
    name: &str,
) -> Window {
    take_away(proxy);
    common::wait_within(
        ACQUIRE + STATEMENT + SLACK,
        &format!("{name}: readiness 503"),
        || async {
            let (status, retry_after) = ready_status(app).await;
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(retry_after, "{name}: readiness 503 carries Retry-After");
                true
            } else {
                false
            }
        },
    )
    .await;
    // A moment after the first 503: whatever starts from here meets the outage.
    let down = Instant::now();
    common::wait_within(
        Duration::from_secs(60),
        &format!("{name}: {PER_PHASE} answers while down"),
        || async { answered_since(log, down) >= PER_PHASE },
    )
    .await;
    let (status, _) = ready_status(app).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{name}: still not ready"
    );
    let restored = Instant::now();
    proxy.restore();
    common::wait_within(
        Duration::from_secs(30),
        &format!("{name}: ready again"),
        || async { ready_status(app).await.0 == StatusCode::OK },
    )
    .await;
    common::wait_within(
        Duration::from_secs(30),
        &format!("{name}: new orders after"),
        || async {
            let log = log.lock().unwrap();
            log.iter().any(|o| o.started > restored && o.status == 201)
        },
    )
    .await;
    Window { down, restored }
}

/// The service's warnings (what each 503 hid) show with a failure; RUST_LOG says more. The
/// first outage test installs it for the whole binary: later ones find it there.
fn show_warnings() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A proxy in front of the server the per-test databases are created on.
async fn proxy_to_postgres() -> Proxy {
    let (host, _) = reroute(
        &persistence::testing::postgres_admin_url(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    );
    let upstream = tokio::net::lookup_host(&host)
        .await
        .expect("resolve the PostgreSQL host")
        .next()
        .expect("an address");
    Proxy::start(upstream).await
}

/// Checks that every order of the customers `ids` is whole (both lines present, the total
/// their sum); returns how many there are.
async fn whole_orders(app: &TestApp, admin: &Account, ids: &[String]) -> usize {
    let mut stored = 0;
    for id in ids {
        let mut path = format!("/v1/users/{id}/orders?limit=100");
        loop {
            let page = app.get_json_as(admin, &path).await;
            for order in page["items"].as_array().unwrap() {
                let items = order["items"].as_array().unwrap();
                assert_eq!(items.len(), 2, "an order lost lines: {order}");
                let sum: i64 = items
                    .iter()
                    .map(|i| {
                        i["quantity"].as_i64().unwrap() * i["unit_price_cents"].as_i64().unwrap()
                    })
                    .sum();
                assert_eq!(order["total_cents"].as_i64().unwrap(), sum, "{order}");
                stored += 1;
            }
            match page["next"].as_str() {
                Some(next) => path = format!("/v1/users/{id}/orders?limit=100&after={next}"),
                None => break,
            }
        }
    }
    stored
}

/// A service on PostgreSQL whose every connection goes through `proxy`, with `connections` pooled
/// and the outage tests' short acquire, statement and request timeouts.
async fn spawn_behind(database: TestDatabase, proxy: &Proxy, connections: u32) -> TestApp {
    let app = common::spawn_via(
        database,
        |url| reroute(url, proxy.addr()).1,
        |config| {
            config.db_max_connections = Some(connections);
            config.db_timeouts.acquire = ACQUIRE;
            config.db_timeouts.statement = Some(STATEMENT);
            config.request_timeout = REQUEST_TIMEOUT;
        },
    )
    .await;
    stock_outage_skus(&app).await;
    app
}

/// The products [`order`] buys, with stock no test runs out of.
async fn stock_outage_skus(app: &TestApp) {
    app.stock("OUT-1", 199, common::PLENTY).await;
    app.stock("OUT-2", 1000, common::PLENTY).await;
}

/// An order's `INSERT` is on its way to PostgreSQL when the link goes silent (no reset, no
/// byte back): the request answers 503 `database_unavailable` with `Retry-After` within the
/// client-side deadline, not the request timeout; readiness reports the outage; after the
/// restore the same instance places orders again and every order is whole (the stalled one
/// absent, since its transaction never committed).
async fn a_statement_in_flight_when_the_link_stalls_is_a_bounded_503(database: TestDatabase) {
    show_warnings();
    let proxy = proxy_to_postgres().await;
    let app = spawn_behind(database, &proxy, 4).await;
    let admin = app.create_admin("admin@example.com").await;
    let customer = app.create_user("stalled@example.com").await;
    // No order has been placed yet, so no connection has prepared the INSERT and its text
    // crosses the link (sqlx sends a statement's text once per connection, then its name).
    proxy.stall_on(br#"INSERT INTO "orders""#);
    let started = Instant::now();
    let placing = tokio::spawn(app.post_as(&customer, "/v1/orders").json(&order(3)).send());
    common::wait_within(
        Duration::from_secs(30),
        "the order's INSERT in flight",
        || async { proxy.tripped() > 0 },
    )
    .await;
    // Then the whole link goes silent, as a stalled network does.
    proxy.stall();
    let response = placing.await.unwrap().unwrap();
    let elapsed = started.elapsed();
    assert!(
        response.headers().contains_key("retry-after"),
        "{:?}",
        response.headers()
    );
    common::assert_problem(response, 503, "database_unavailable").await;
    assert!(
        elapsed >= DEADLINE && elapsed <= DEADLINE + SLACK,
        "answered after {elapsed:?}, deadline {DEADLINE:?}"
    );
    common::wait_within(ACQUIRE + SLACK, "readiness 503 while stalled", || async {
        let (status, retry_after) = ready_status(&app).await;
        status == StatusCode::SERVICE_UNAVAILABLE && retry_after
    })
    .await;

    proxy.restore();
    common::wait_within(Duration::from_secs(30), "ready again", || async {
        ready_status(&app).await.0 == StatusCode::OK
    })
    .await;
    common::wait_within(Duration::from_secs(30), "an order placed again", || async {
        let response = app
            .post_as(&customer, "/v1/orders")
            .json(&order(5))
            .send()
            .await
            .unwrap();
        response.status() == StatusCode::CREATED
    })
    .await;
    let stored = whole_orders(&app, &admin, std::slice::from_ref(&customer.id)).await;
    assert_eq!(stored, 1, "the stalled order was not committed");
    println!(
        "in-flight statement on a stalled link: 503 after {elapsed:?} \
         (client deadline {DEADLINE:?}, bound {:?}, request timeout {REQUEST_TIMEOUT:?})",
        DEADLINE + SLACK
    );
}

async fn the_database_going_away_is_a_bounded_503_and_the_service_recovers(database: TestDatabase) {
    show_warnings();
    let proxy = proxy_to_postgres().await;
    let app = spawn_behind(database, &proxy, 8).await;
    let app = Arc::new(app);

    let admin = app.create_admin("admin@example.com").await;
    let mut customers = Vec::new();
    for i in 0..WORKERS {
        customers.push(app.create_user(&format!("c{i}@example.com")).await);
    }
    let ids: Vec<String> = customers.iter().map(|c| c.id.clone()).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = customers
        .into_iter()
        .map(|who| tokio::spawn(work(app.clone(), who, stop.clone(), log.clone())))
        .collect();
    common::wait_within(Duration::from_secs(30), "orders while healthy", || async {
        log.lock()
            .unwrap()
            .iter()
            .filter(|o| o.status == 201)
            .count()
            >= WORKERS
    })
    .await;

    let cut = outage(&app, &proxy, &log, Proxy::cut, "cut").await;
    let stall = outage(&app, &proxy, &log, Proxy::stall, "stall").await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }

    let log = log.lock().unwrap().clone();
    let bound = ACQUIRE + STATEMENT + SLACK;
    let mut unavailable = 0;
    for outcome in &log {
        assert!(
            !(500..600).contains(&outcome.status) || outcome.status == 503,
            "never another 5xx: {outcome:?}"
        );
        if outcome.status == 503 {
            unavailable += 1;
            assert_eq!(
                outcome.code.as_deref(),
                Some("database_unavailable"),
                "{outcome:?}"
            );
            assert!(outcome.retry_after, "503 without Retry-After: {outcome:?}");
        }
        for window in [cut, stall] {
            let ended = outcome.started + outcome.elapsed;
            if outcome.started >= window.down && ended < window.restored {
                // Asked and answered while the database was away.
                assert_eq!(outcome.status, 503, "{outcome:?}");
                assert!(
                    outcome.elapsed <= bound,
                    "slower than {bound:?}: {outcome:?}"
                );
            } else if outcome.started >= window.down && outcome.started < window.restored {
                // Asked while away, answered after it came back: a 503 within the bound, or
                // served once the database answered (bounded by the request timeout).
                if outcome.status == 503 {
                    assert!(
                        outcome.elapsed <= bound,
                        "slower than {bound:?}: {outcome:?}"
                    );
                } else {
                    assert!(
                        outcome.elapsed <= REQUEST_TIMEOUT + SLACK,
                        "across the recovery: {outcome:?}"
                    );
                }
            } else if outcome.started < window.down && ended >= window.down {
                // In flight when it went away: a statement already sent to a silent network
                // is given up at the client-side deadline (after waiting for its connection,
                // at most), never left to the request timeout.
                assert!(
                    outcome.elapsed <= ACQUIRE + DEADLINE + SLACK,
                    "in flight at the outage: {outcome:?}"
                );
                assert!(
                    matches!(outcome.status, 200 | 201 | 503),
                    "in flight at the outage: {outcome:?}"
                );
            }
        }
    }
    assert!(unavailable >= 2 * PER_PHASE, "{unavailable} 503s seen");
    let placed = log.iter().filter(|o| o.status == 201).count();

    // Every stored order is whole: lines present, total the sum of its lines.
    let stored = whole_orders(&app, &admin, &ids).await;
    // A 503 may hide a commit that made it (the answer was lost), never the reverse.
    assert!(
        stored >= placed,
        "{placed} orders acknowledged, {stored} stored"
    );
    let slowest = log
        .iter()
        .filter(|o| o.status == 503)
        .map(|o| o.elapsed)
        .max()
        .unwrap_or_default();
    println!(
        "outage: {} requests, {placed} orders placed, {unavailable} answered 503 \
         (slowest {slowest:?}, bound {bound:?})",
        log.len()
    );
}
