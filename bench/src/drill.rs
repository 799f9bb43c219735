//! The rolling-restart drill: two instances of the release service on one PostgreSQL database
//! behind HAProxy, which health-checks `/health/ready`; a closed-loop load of keyed placements
//! and reads through HAProxy; each instance restarted in turn (SIGTERM, wait for its exit,
//! start its successor on the same port, wait until HAProxy has it back), twice each. The
//! client must see no failed request at all (no 5xx, no reset connection, no timeout), and the
//! database must end with exactly one order per acknowledged key.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::service::{Service, free_port};
use crate::soak::{admin, sign_in, sign_up};

/// Client connections, each a closed loop.
const CONNECTIONS: usize = 32;
/// Load before the first restart: the steady state the restarts are compared with.
const STEADY: Duration = Duration::from_secs(5);
/// Each instance is restarted this many times.
const ROUNDS: usize = 2;
/// The longest a stopping instance may take to exit, or a new one to be back in rotation.
const DEADLINE: Duration = Duration::from_secs(60);
/// The sku every placement buys, stocked far beyond what the drill can sell.
const SKU: &str = "DRILL-1";

/// What one operation did, and when.
struct Outcome {
    started: Instant,
    latency: Duration,
    failure: Option<String>,
}

/// Everything the clients saw, shared.
#[derive(Default)]
struct Seen {
    outcomes: Vec<Outcome>,
    /// `(customer, key)` -> every order id answered for it.
    keys: HashMap<(String, String), HashSet<String>>,
}

/// One restart as the drill timed it.
struct Restart {
    instance: &'static str,
    /// SIGTERM to the exit of the process (its drain and grace included).
    to_exit: Duration,
    exit_code: Option<i32>,
    /// Exit to HAProxy routing to the successor again.
    to_back: Duration,
}

/// Runs the drill with the release `app` on the migrated PostgreSQL database at `url`; returns
/// its report (Markdown), or an error naming what failed.
pub async fn rolling_restart(app: &Path, url: &str, report: &Path) -> anyhow::Result<()> {
    let haproxy = which("haproxy").context(
        "haproxy is not installed (Debian: `apt-get install haproxy`); the drill puts it in \
         front of the two instances",
    )?;
    let cursor_key = format!("drill-cursor-key-{}", uuid::Uuid::now_v7().simple());
    let env = [("CURSOR_KEY", cursor_key)];
    let ports = [free_port()?, free_port()?];
    let mut instances = [
        Some(Service::start_at(app, url, ports[0], &env).await?),
        Some(Service::start_at(app, url, ports[1], &env).await?),
    ];
    let dir = tempfile::tempdir()?;
    let (front, stats) = (free_port()?, free_port()?);
    let config = dir.path().join("haproxy.cfg");
    std::fs::write(&config, haproxy_config(front, stats, ports))?;
    let balancer = Balancer(
        Command::new(&haproxy)
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", haproxy.display()))?,
    );
    let client = Client::builder().timeout(Duration::from_secs(30)).build()?;
    let base = format!("http://127.0.0.1:{front}");
    let stats = format!("http://127.0.0.1:{stats}/stats;csv");
    for name in NAMES {
        until_in_rotation(&client, &stats, name).await?;
    }

    let admin = admin(&client, &base, url).await?;
    stock(&client, &base, &admin).await?;
    let mut customers = Vec::new();
    for n in 0..CONNECTIONS {
        let email = format!("drill-{n}-{}@drill.example", uuid::Uuid::now_v7().simple());
        let user = sign_up(&client, &base, &email).await?;
        let id = user["id"]
            .as_str()
            .context("sign-up answered no id")?
            .to_owned();
        customers.push((id, sign_in(&client, &base, &email).await?));
    }

    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = customers
        .iter()
        .cloned()
        .map(|(id, token)| {
            let worker = Worker {
                client: client.clone(),
                base: base.clone(),
                customer: id,
                token,
                seen: seen.clone(),
            };
            tokio::spawn(worker.run(stop.clone()))
        })
        .collect();

    tokio::time::sleep(STEADY).await;
    let restarts_began = Instant::now();
    let mut restarts = Vec::new();
    let restarted = async {
        for _ in 0..ROUNDS {
            for (i, name) in NAMES.into_iter().enumerate() {
                let stopping = instances[i].take().context("an instance is missing")?;
                let signalled = Instant::now();
                let exit_code = stopping.terminate(DEADLINE).await?;
                let exited = Instant::now();
                instances[i] = Some(Service::start_at(app, url, ports[i], &env).await?);
                until_in_rotation(&client, &stats, name).await?;
                restarts.push(Restart {
                    instance: name,
                    to_exit: exited - signalled,
                    exit_code,
                    to_back: exited.elapsed(),
                });
            }
        }
        anyhow::Ok(())
    }
    .await;
    let restarts_ended = Instant::now();
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.context("a drill client panicked")?;
    }
    restarted?;

    let seen = Arc::try_unwrap(seen)
        .map_err(|_| anyhow::anyhow!("clients still hold the record"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a client panicked holding the record"))?;
    let checked = check(&client, &base, &admin, &customers, &seen.keys).await;
    drop(balancer);
    for instance in instances.into_iter().flatten() {
        instance.terminate(DEADLINE).await?;
    }
    let text = render(
        &seen,
        &restarts,
        (started, restarts_began, restarts_ended),
        &checked,
    );
    println!("{text}");
    if let Some(parent) = report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(report, &text).with_context(|| format!("cannot write {}", report.display()))?;
    eprintln!("drill: report written to {}", report.display());
    let failed = seen.outcomes.iter().filter(|o| o.failure.is_some()).count();
    let unclean = restarts.iter().filter(|r| r.exit_code != Some(0)).count();
    anyhow::ensure!(
        failed == 0 && unclean == 0 && checked.problems.is_empty(),
        "the drill failed: {failed} failed request(s), {unclean} unclean exit(s), {} problem(s) \
         in the database",
        checked.problems.len()
    );
    Ok(())
}

/// The instances' names in HAProxy's configuration, in port order.
const NAMES: [&str; 2] = ["a", "b"];

/// HAProxy in front of the two instances: round robin, a health check of `/health/ready`
/// every 250 ms (down after 2 failures, up after 2 successes), and its statistics as CSV for
/// the drill to watch. No retries: a request HAProxy sends to an instance that stopped
/// listening fails as the client's, so the drill shows what the service's drain alone does.
fn haproxy_config(front: u16, stats: u16, ports: [u16; 2]) -> String {
    format!(
        "global\n\
         \tmaxconn 4096\n\
         defaults\n\
         \tmode http\n\
         \ttimeout connect 2s\n\
         \ttimeout client 60s\n\
         \ttimeout server 60s\n\
         \ttimeout check 2s\n\
         \tretries 0\n\
         frontend front\n\
         \tbind 127.0.0.1:{front}\n\
         \tdefault_backend app\n\
         backend app\n\
         \tbalance roundrobin\n\
         \toption httpchk GET /health/ready\n\
         \thttp-check expect status 200\n\
         \tdefault-server inter 250ms fall 2 rise 2\n\
         \tserver {a} 127.0.0.1:{pa} check\n\
         \tserver {b} 127.0.0.1:{pb} check\n\
         listen stats\n\
         \tbind 127.0.0.1:{stats}\n\
         \tstats enable\n\
         \tstats uri /stats\n",
        a = NAMES[0],
        b = NAMES[1],
        pa = ports[0],
        pb = ports[1],
    )
}

/// HAProxy, stopped when dropped.
struct Balancer(Child);

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until HAProxy routes to `server` (its status is `UP`).
async fn until_in_rotation(client: &Client, stats: &str, server: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + DEADLINE;
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    loop {
        ticks.tick().await;
        if status(client, stats, server).await.as_deref() == Some("UP") {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "HAProxy did not put {server} back in rotation within {DEADLINE:?}"
        );
    }
}

/// `server`'s status in HAProxy's CSV statistics (`UP`, `DOWN`, `UP 1/2`, …), if it answers.
async fn status(client: &Client, stats: &str, server: &str) -> Option<String> {
    let csv = client.get(stats).send().await.ok()?.text().await.ok()?;
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
    let column = |name: &str| header.iter().position(|&c| c == name);
    let (proxy, name, status) = (column("pxname")?, column("svname")?, column("status")?);
    lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .find(|row| row.get(proxy) == Some(&"app") && row.get(name) == Some(&server))
        .and_then(|row| row.get(status).map(|s| (*s).to_owned()))
}

/// Puts the drill's sku on sale with stock far beyond what it can sell.
async fn stock(client: &Client, base: &str, admin: &str) -> anyhow::Result<()> {
    let created = client
        .post(format!("{base}/v1/products"))
        .bearer_auth(admin)
        .json(&json!({
            "sku": SKU,
            "name": "Drill product",
            "prices": [{"currency": "EUR", "unit_price_cents": 250}],
        }))
        .send()
        .await?;
    anyhow::ensure!(
        created.status() == StatusCode::CREATED,
        "creating {SKU} answered {}",
        created.status()
    );
    let stocked = client
        .post(format!("{base}/v1/products/{SKU}/stock/adjustments"))
        .bearer_auth(admin)
        .json(&json!({"delta": 100_000_000, "reason": "drill: initial stock"}))
        .send()
        .await?;
    anyhow::ensure!(
        stocked.status() == StatusCode::CREATED,
        "stocking {SKU} answered {}",
        stocked.status()
    );
    Ok(())
}

/// One client connection's closed loop: a keyed placement, then a read of the order placed,
/// then a read of the catalog, until told to stop.
struct Worker {
    client: Client,
    base: String,
    customer: String,
    token: String,
    seen: Arc<Mutex<Seen>>,
}

impl Worker {
    async fn run(self, stop: Arc<AtomicBool>) {
        let body = json!({"currency": "EUR", "items": [{"sku": SKU, "quantity": 1}]});
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let key = format!("drill-{n}");
            n += 1;
            let placed = self
                .timed(
                    self.client
                        .post(format!("{}/v1/orders", self.base))
                        .bearer_auth(&self.token)
                        .header("Idempotency-Key", &key)
                        .json(&body),
                    StatusCode::CREATED,
                )
                .await;
            let Some(order) = placed else { continue };
            let Some(id) = order["id"].as_str().map(str::to_owned) else {
                continue;
            };
            self.record_key(&key, &id);
            self.timed(
                self.client
                    .get(format!("{}/v1/orders/{id}", self.base))
                    .bearer_auth(&self.token),
                StatusCode::OK,
            )
            .await;
            self.timed(
                self.client.get(format!("{}/v1/products/{SKU}", self.base)),
                StatusCode::OK,
            )
            .await;
        }
    }

    /// Sends `request`, records its latency and whether it answered `expected`; returns the
    /// body when it did.
    async fn timed(&self, request: reqwest::RequestBuilder, expected: StatusCode) -> Option<Value> {
        let started = Instant::now();
        let answered = async {
            let response = request.send().await.map_err(|e| format!("{e:#}"))?;
            let status = response.status();
            let body = response.text().await.map_err(|e| format!("{e:#}"))?;
            if status == expected {
                serde_json::from_str::<Value>(&body).map_err(|e| format!("{e}: {body}"))
            } else {
                Err(format!("{status}: {body}"))
            }
        }
        .await;
        let latency = started.elapsed();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (body, failure) = match answered {
            Ok(body) => (Some(body), None),
            Err(failure) => (None, Some(failure)),
        };
        seen.outcomes.push(Outcome {
            started,
            latency,
            failure,
        });
        body
    }

    fn record_key(&self, key: &str, order: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.keys
            .entry((self.customer.clone(), key.to_owned()))
            .or_default()
            .insert(order.to_owned());
    }
}

/// What the database holds at the end, against what the clients were told.
#[derive(Default)]
struct Checked {
    orders: usize,
    problems: Vec<String>,
}

/// Every customer's orders, read as the admin: each acknowledged key named one order, and
/// each order is one that a key named (none lost, none twice).
async fn check(
    client: &Client,
    base: &str,
    admin: &str,
    customers: &[(String, String)],
    keys: &HashMap<(String, String), HashSet<String>>,
) -> Checked {
    let mut checked = Checked::default();
    let mut named: HashMap<&str, HashSet<&str>> = HashMap::new();
    for ((customer, key), orders) in keys {
        if orders.len() != 1 {
            checked.problems.push(format!(
                "key {key} of {customer} named {} orders",
                orders.len()
            ));
        }
        named
            .entry(customer.as_str())
            .or_default()
            .extend(orders.iter().map(String::as_str));
    }
    for (customer, _) in customers {
        let stored = match all_orders(client, base, admin, customer).await {
            Ok(stored) => stored,
            Err(err) => {
                checked
                    .problems
                    .push(format!("reading the orders of {customer}: {err:#}"));
                continue;
            }
        };
        checked.orders += stored.len();
        let expected = named.get(customer.as_str()).cloned().unwrap_or_default();
        let stored: HashSet<&str> = stored.iter().map(String::as_str).collect();
        for lost in expected.difference(&stored) {
            checked
                .problems
                .push(format!("order {lost} was acknowledged but is not stored"));
        }
        for extra in stored.difference(&expected) {
            checked.problems.push(format!(
                "order {extra} is stored but no acknowledged key named it"
            ));
        }
    }
    checked
}

/// The ids of every order of `customer`, page by page.
async fn all_orders(
    client: &Client,
    base: &str,
    admin: &str,
    customer: &str,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = client
            .get(format!("{base}/v1/users/{customer}/orders"))
            .bearer_auth(admin)
            .query(&[("limit", "100")]);
        if let Some(cursor) = &after {
            request = request.query(&[("after", cursor)]);
        }
        let page: Value = request.send().await?.error_for_status()?.json().await?;
        for order in page["items"].as_array().context("a page without items")? {
            ids.push(
                order["id"]
                    .as_str()
                    .context("an order without id")?
                    .to_owned(),
            );
        }
        match page["next"].as_str() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => return Ok(ids),
        }
    }
}

/// The report: requests and p99 in the steady state and during the restarts, every restart's
/// timings, every failure, and what the database holds.
fn render(
    seen: &Seen,
    restarts: &[Restart],
    (started, restarts_began, restarts_ended): (Instant, Instant, Instant),
    checked: &Checked,
) -> String {
    let window = |from: Instant, to: Instant| {
        let mut latencies: Vec<Duration> = seen
            .outcomes
            .iter()
            .filter(|o| o.started >= from && o.started < to)
            .map(|o| o.latency)
            .collect();
        latencies.sort_unstable();
        let p99 = latencies
            .get(((latencies.len().max(1) - 1) as f64 * 0.99).round() as usize)
            .copied()
            .unwrap_or_default();
        let seconds = (to - from).as_secs_f64();
        (
            latencies.len(),
            latencies.len() as f64 / seconds,
            p99,
            seconds,
        )
    };
    let steady = window(started, restarts_began);
    let during = window(restarts_began, restarts_ended);
    let failures: BTreeMap<&str, usize> = seen
        .outcomes
        .iter()
        .filter_map(|o| o.failure.as_deref())
        .fold(BTreeMap::new(), |mut counted, failure| {
            *counted.entry(failure).or_default() += 1;
            counted
        });
    let failed: usize = failures.values().sum();
    let mut text = String::new();
    let _ = writeln!(text, "# Rolling-restart drill\n");
    let _ = writeln!(
        text,
        "Two instances on one PostgreSQL database behind HAProxy (health check \
         `/health/ready` every 250 ms), {CONNECTIONS} client connections in closed loops \
         (a keyed placement, a read of it, a read of the catalog); each instance restarted \
         {ROUNDS} times in turn.\n"
    );
    let _ = writeln!(text, "| window | requests | req/s | p99 ms |");
    let _ = writeln!(text, "|---|---:|---:|---:|");
    for (name, (requests, rate, p99, seconds)) in
        [("steady state", steady), ("during the restarts", during)]
    {
        let _ = writeln!(
            text,
            "| {name} ({seconds:.1} s) | {requests} | {rate:.0} | {:.1} |",
            p99.as_secs_f64() * 1000.0
        );
    }
    let _ = writeln!(
        text,
        "\n| restart | SIGTERM to exit | exit code | exit to back in rotation |"
    );
    let _ = writeln!(text, "|---|---:|---:|---:|");
    for (n, restart) in restarts.iter().enumerate() {
        let _ = writeln!(
            text,
            "| {} {} | {:.2} s | {} | {:.2} s |",
            n + 1,
            restart.instance,
            restart.to_exit.as_secs_f64(),
            restart
                .exit_code
                .map_or_else(|| "signal".to_owned(), |code| code.to_string()),
            restart.to_back.as_secs_f64()
        );
    }
    let _ = writeln!(
        text,
        "\nFailed requests: {failed} of {}. Orders stored: {} for {} acknowledged keys.",
        seen.outcomes.len(),
        checked.orders,
        seen.keys.len()
    );
    for (failure, count) in failures.iter().take(20) {
        let _ = writeln!(text, "- {count} x {failure}");
    }
    for problem in checked.problems.iter().take(20) {
        let _ = writeln!(text, "- PROBLEM: {problem}");
    }
    text
}

/// The path of `program` on `PATH`, or in the system directories where Debian puts daemons.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
