//! `cargo xtask soak`: a bounded mixed load on the release service over loopback for a given
//! time, over a small hot catalog the soak creates first as an admin (a few products, stocked
//! through adjustments): sign-ups, placements (with and without the prices the client shows),
//! idempotent replays, payments, shipments, cancellations, stock adjustments up and down, price
//! changes and deactivations. Then the invariants, read back over the HTTP API as an admin:
//!
//! - no request answered 5xx, and every refusal is one the contract allows for it (a placement
//!   may meet 409 `insufficient_stock` or `price_changed`, a transition 409
//!   `illegal_transition`, a downward adjustment 409 `insufficient_stock`, a price change 412);
//! - no deactivated customer has a pending order;
//! - every order's total is the sum of its lines (and it has them);
//! - one order per idempotency key: every answer for a key named the same order, and each
//!   customer's orders are exactly the ones its keys were answered with;
//! - the contract's three stock invariants, for every sku: `0 <= reserved <= on_hand`;
//!   `reserved` = the sum of that sku's quantities in pending and paid orders; `on_hand` = the
//!   sum of the adjustments the soak was answered 201 for, minus the quantities shipped. And a
//!   product's `available` is its stock's `on_hand - reserved`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// Workers issuing requests at once, each one after another (a closed loop).
const WORKERS: usize = 8;
/// Customers each worker signs up before the mixed load starts.
const CUSTOMERS_PER_WORKER: usize = 3;
/// The password of every soak account.
pub(crate) const PASSWORD: &str = "soak password 1234";
/// Products in the hot catalog: few, so that placements, adjustments and shipments of the same
/// stock rows overlap all the time.
const PRODUCTS: usize = 4;
/// Units each product starts with (one adjustment).
const INITIAL_STOCK: i64 = 100;

/// A customer as the soak knows it.
#[derive(Debug, Clone)]
struct Customer {
    id: String,
    token: String,
    active: bool,
}

/// A placement the service acknowledged: its key, its body and the order it named.
#[derive(Debug, Clone)]
struct Placement {
    customer: String,
    key: String,
    body: Value,
    order: String,
}

/// Everything the workers saw, shared.
#[derive(Debug, Default)]
struct Seen {
    requests: u64,
    by_status: BTreeMap<u16, u64>,
    by_op: BTreeMap<&'static str, u64>,
    server_errors: Vec<String>,
    violations: Vec<String>,
    customers: Vec<String>,
    deactivated: HashSet<String>,
    /// Every order id answered for a `(customer, key)`.
    keys: HashMap<(String, String), HashSet<String>>,
    /// Refusals by operation and problem `code`.
    refusals: BTreeMap<(&'static str, String), u64>,
    /// The EUR price of each hot sku as the soak last set it: what a placement shows.
    prices: BTreeMap<String, i64>,
    /// The sum of the deltas of every adjustment answered 201, per sku.
    adjusted: BTreeMap<String, i64>,
}

/// Drives the service at `base` for `duration`, then checks the invariants over HTTP. `url` is
/// the service's database, used only to make the soak's admin through the identity context's
/// public API, as `cargo xtask users grant-admin` would.
pub async fn soak(base: &str, url: &str, duration: Duration) -> anyhow::Result<()> {
    let client = Client::builder().timeout(Duration::from_secs(60)).build()?;
    let admin = admin(&client, base, url).await?;
    let mut seen = Seen::default();
    create_catalog(&client, base, &admin, &mut seen).await?;
    let seen = Arc::new(Mutex::new(seen));
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let soak = Worker {
            client: client.clone(),
            base: base.to_owned(),
            admin: admin.clone(),
            seen: seen.clone(),
            rng: SmallRng::seed_from_u64(worker as u64),
            worker,
            customers: Vec::new(),
            placements: Vec::new(),
            sequence: 0,
        };
        workers.push(tokio::spawn(soak.run(deadline)));
    }
    for worker in workers {
        worker.await.context("a soak worker panicked")??;
    }
    let elapsed = started.elapsed();
    let mut seen = Arc::try_unwrap(seen)
        .map_err(|_| anyhow::anyhow!("workers still hold the record"))?
        .into_inner();
    let checked = check(&client, base, &admin, &mut seen).await?;

    println!(
        "soak: {} requests in {:.1} s ({:.0}/s) by {WORKERS} workers",
        seen.requests,
        elapsed.as_secs_f64(),
        seen.requests as f64 / elapsed.as_secs_f64()
    );
    for (op, count) in &seen.by_op {
        println!("soak:   {op}: {count}");
    }
    let statuses: Vec<String> = seen
        .by_status
        .iter()
        .map(|(status, count)| format!("{status}×{count}"))
        .collect();
    println!("soak: statuses {}", statuses.join(" "));
    let refusals: Vec<String> = seen
        .refusals
        .iter()
        .map(|((op, code), count)| format!("{op} {code}×{count}"))
        .collect();
    println!("soak: refusals {}", refusals.join(", "));
    println!(
        "soak: checked {} customers ({} deactivated), {} orders, {} idempotency keys",
        checked.customers,
        seen.deactivated.len(),
        checked.orders,
        seen.keys.len()
    );
    for line in &checked.stock {
        println!("soak:   {line}");
    }
    for error in seen.server_errors.iter().take(20) {
        println!("soak: 5xx: {error}");
    }
    for violation in seen.violations.iter().take(50) {
        println!("soak: VIOLATION: {violation}");
    }
    anyhow::ensure!(
        seen.server_errors.is_empty() && seen.violations.is_empty(),
        "soak failed: {} 5xx answers, {} invariant violations",
        seen.server_errors.len(),
        seen.violations.len()
    );
    println!("soak: every invariant holds");
    Ok(())
}

/// An admin account: signed up over HTTP, promoted through the identity context, signed in.
pub(crate) async fn admin(client: &Client, base: &str, url: &str) -> anyhow::Result<String> {
    let email = format!("soak-admin-{}@soak.example", uuid::Uuid::now_v7().simple());
    let user = sign_up(client, base, &email).await?;
    let id = user["id"].as_str().context("sign-up answered no id")?;
    let db = persistence::Db::connect(url).await?;
    identity::Identity::new(db.clone(), identity::IdentityConfig::default())
        .set_role(
            identity::AccountId::from_uuid(uuid::Uuid::parse_str(id)?),
            identity::Role::Admin,
        )
        .await?;
    db.close().await?;
    sign_in(client, base, &email).await
}

/// The hot catalog: `PRODUCTS` products created over HTTP by the admin, each stocked with
/// `INITIAL_STOCK` units through an adjustment (which the ledger of `seen` records).
async fn create_catalog(
    client: &Client,
    base: &str,
    admin: &str,
    seen: &mut Seen,
) -> anyhow::Result<()> {
    for n in 1..=PRODUCTS {
        let sku = format!("SOAK-{n}");
        let price = 100 * n as i64;
        let response = client
            .post(format!("{base}/v1/products"))
            .bearer_auth(admin)
            .json(&json!({
                "sku": sku,
                "name": format!("Soak product {n}"),
                "prices": [
                    {"currency": "EUR", "unit_price_cents": price},
                    {"currency": "USD", "unit_price_cents": price + 10},
                ],
            }))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::CREATED,
            "creating {sku} answered {}",
            response.status()
        );
        let response = client
            .post(format!("{base}/v1/products/{sku}/stock/adjustments"))
            .bearer_auth(admin)
            .json(&json!({"delta": INITIAL_STOCK, "reason": "soak: initial stock"}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::CREATED,
            "stocking {sku} answered {}",
            response.status()
        );
        seen.prices.insert(sku.clone(), price);
        seen.adjusted.insert(sku, INITIAL_STOCK);
    }
    Ok(())
}

pub(crate) async fn sign_up(client: &Client, base: &str, email: &str) -> anyhow::Result<Value> {
    let response = client
        .post(format!("{base}/v1/users"))
        .json(&json!({"email": email, "display_name": "Soak", "password": PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == StatusCode::CREATED,
        "sign-up answered {}",
        response.status()
    );
    Ok(response.json().await?)
}

pub(crate) async fn sign_in(client: &Client, base: &str, email: &str) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base}/v1/sessions"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == StatusCode::CREATED,
        "sign-in answered {}",
        response.status()
    );
    let body: Value = response.json().await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .context("sign-in answered no token")
}

struct Worker {
    client: Client,
    base: String,
    admin: String,
    seen: Arc<Mutex<Seen>>,
    rng: SmallRng,
    worker: usize,
    customers: Vec<Customer>,
    placements: Vec<Placement>,
    sequence: u64,
}

impl Worker {
    async fn run(mut self, deadline: Instant) -> anyhow::Result<()> {
        for _ in 0..CUSTOMERS_PER_WORKER {
            self.sign_up().await?;
        }
        while Instant::now() < deadline {
            match self.rng.random_range(0..100) {
                0..4 => self.sign_up().await?,
                4..40 => self.place().await?,
                40..52 => self.replay().await?,
                52..80 => self.transition().await?,
                80..90 => self.adjust().await?,
                90..93 => self.reprice().await?,
                93..96 => self.read_product().await?,
                _ => self.deactivate().await?,
            }
        }
        Ok(())
    }

    /// Sends `request`, records its status; returns the status, `Idempotent-Replayed` and body.
    async fn send(
        &self,
        op: &'static str,
        request: RequestBuilder,
    ) -> anyhow::Result<(StatusCode, bool, Value)> {
        let response = request
            .send()
            .await
            .with_context(|| format!("{op}: no answer"))?;
        let status = response.status();
        let replayed = response.headers().contains_key("idempotent-replayed");
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let mut seen = self.seen.lock().await;
        seen.requests += 1;
        *seen.by_status.entry(status.as_u16()).or_default() += 1;
        *seen.by_op.entry(op).or_default() += 1;
        if status.is_server_error() {
            seen.server_errors
                .push(format!("{op}: {status} {}", body["code"]));
        }
        Ok((status, replayed, body))
    }

    async fn violation(&self, what: String) {
        self.seen.lock().await.violations.push(what);
    }

    /// Counts a refusal of `op` that the contract allows when its `code` is one of `allowed`;
    /// any other answer is a violation.
    async fn refused(
        &self,
        op: &'static str,
        (status, body): (StatusCode, &Value),
        allowed: &[(StatusCode, &str)],
    ) {
        let code = body["code"].as_str().unwrap_or_default();
        if allowed.iter().any(|&(s, c)| s == status && c == code) {
            *self
                .seen
                .lock()
                .await
                .refusals
                .entry((op, code.to_owned()))
                .or_default() += 1;
        } else {
            self.violation(format!("{op} answered {status}: {body}"))
                .await;
        }
    }

    /// A random hot sku.
    fn any_sku(&mut self) -> String {
        format!("SOAK-{}", self.rng.random_range(1..=PRODUCTS))
    }

    async fn sign_up(&mut self) -> anyhow::Result<()> {
        self.sequence += 1;
        let email = format!(
            "w{}-{}-{}@soak.example",
            self.worker,
            self.sequence,
            uuid::Uuid::now_v7().simple()
        );
        let (status, _, user) = self
            .send(
                "sign-up",
                self.client
                    .post(format!("{}/v1/users", self.base))
                    .json(&json!({"email": email, "display_name": "Soak", "password": PASSWORD})),
            )
            .await?;
        if status != StatusCode::CREATED {
            self.violation(format!("sign-up answered {status}")).await;
            return Ok(());
        }
        let (status, _, session) = self
            .send(
                "sign-in",
                self.client
                    .post(format!("{}/v1/sessions", self.base))
                    .json(&json!({"email": email, "password": PASSWORD})),
            )
            .await?;
        let (Some(id), Some(token)) = (user["id"].as_str(), session["token"].as_str()) else {
            self.violation(format!("sign-in answered {status}")).await;
            return Ok(());
        };
        self.seen.lock().await.customers.push(id.to_owned());
        self.customers.push(Customer {
            id: id.to_owned(),
            token: token.to_owned(),
            active: true,
        });
        Ok(())
    }

    /// A new order with a fresh key, by the customer itself; now and then the same request
    /// twice at once (a client retrying before the first answer came).
    async fn place(&mut self) -> anyhow::Result<()> {
        let active: Vec<usize> = (0..self.customers.len())
            .filter(|&i| self.customers[i].active)
            .collect();
        if active.is_empty() {
            return self.sign_up().await;
        }
        let customer = self.customers[active[self.rng.random_range(0..active.len())]].clone();
        self.sequence += 1;
        let key = format!("soak-{}-{}", self.worker, self.sequence);
        let lines = self.rng.random_range(1..=3);
        let skus: Vec<usize> = rand::seq::index::sample(&mut self.rng, PRODUCTS, lines)
            .into_iter()
            .map(|n| n + 1)
            .collect();
        // Half of the placements show the buyer's price: the one the soak last set, which a
        // concurrent price change may have made stale (409 `price_changed`).
        let shown = self.rng.random_bool(0.5);
        let prices = self.seen.lock().await.prices.clone();
        let items: Vec<Value> = skus
            .iter()
            .map(|n| {
                let sku = format!("SOAK-{n}");
                let mut item = json!({"sku": sku, "quantity": self.rng.random_range(1..=5)});
                if shown && let Some(price) = prices.get(&sku) {
                    item["unit_price_cents"] = json!(price);
                }
                item
            })
            .collect();
        let body = json!({"currency": "EUR", "items": items});
        let request = || {
            self.client
                .post(format!("{}/v1/orders", self.base))
                .bearer_auth(&customer.token)
                .header("idempotency-key", &key)
                .json(&body)
        };
        let answers = if self.rng.random_range(0..4) == 0 {
            let (a, b) = tokio::join!(
                self.send("place (twice at once)", request()),
                self.send("place (twice at once)", request())
            );
            vec![a?, b?]
        } else {
            vec![self.send("place", request()).await?]
        };
        for (status, _, order) in answers {
            if status != StatusCode::CREATED {
                // Deactivated meanwhile by nobody else (customers belong to one worker), and
                // every sku is on sale in EUR: only stock and price may refuse.
                self.refused(
                    "place",
                    (status, &order),
                    &[
                        (StatusCode::CONFLICT, "insufficient_stock"),
                        (StatusCode::CONFLICT, "price_changed"),
                    ],
                )
                .await;
                // Either refusal names every line at fault.
                let lines = match order["code"].as_str() {
                    Some("insufficient_stock") => Some(&order["shortages"]),
                    Some("price_changed") => Some(&order["prices"]),
                    _ => None,
                };
                if let Some(lines) = lines
                    && lines.as_array().is_none_or(Vec::is_empty)
                {
                    self.violation(format!("a 409 placement names no line: {order}"))
                        .await;
                }
                continue;
            }
            let Some(id) = order["id"].as_str() else {
                continue;
            };
            self.record(&customer.id, &key, id).await;
            self.placements.push(Placement {
                customer: customer.id.clone(),
                key: key.clone(),
                body: body.clone(),
                order: id.to_owned(),
            });
        }
        Ok(())
    }

    async fn record(&self, customer: &str, key: &str, order: &str) {
        self.seen
            .lock()
            .await
            .keys
            .entry((customer.to_owned(), key.to_owned()))
            .or_default()
            .insert(order.to_owned());
    }

    /// The same key and body again, by an admin on the customer's behalf (the customer may be
    /// deactivated by now): the original order, marked replayed.
    async fn replay(&mut self) -> anyhow::Result<()> {
        if self.placements.is_empty() {
            return self.place().await;
        }
        let placement = self.placements[self.rng.random_range(0..self.placements.len())].clone();
        let mut body = placement.body.clone();
        body["user_id"] = json!(placement.customer);
        let (status, replayed, order) = self
            .send(
                "replay",
                self.client
                    .post(format!("{}/v1/orders", self.base))
                    .bearer_auth(&self.admin)
                    .header("idempotency-key", &placement.key)
                    .json(&body),
            )
            .await?;
        if status != StatusCode::CREATED || !replayed {
            self.violation(format!(
                "replay of {} answered {status} (replayed: {replayed}): {order}",
                placement.key
            ))
            .await;
            return Ok(());
        }
        if let Some(id) = order["id"].as_str() {
            self.record(&placement.customer, &placement.key, id).await;
        }
        Ok(())
    }

    /// Pays, ships or cancels one of this worker's orders as an admin. Refusals (409 for a
    /// move the order's state forbids) are expected; a 5xx is not.
    async fn transition(&mut self) -> anyhow::Result<()> {
        if self.placements.is_empty() {
            return self.place().await;
        }
        let order = self.placements[self.rng.random_range(0..self.placements.len())]
            .order
            .clone();
        let (op, action) = match self.rng.random_range(0..3) {
            0 => ("pay", "pay"),
            1 => ("ship", "ship"),
            _ => ("cancel", "cancel"),
        };
        let (status, _, body) = self
            .send(
                op,
                self.client
                    .post(format!("{}/v1/orders/{order}/{action}", self.base))
                    .bearer_auth(&self.admin),
            )
            .await?;
        if status != StatusCode::OK {
            self.refused(
                op,
                (status, &body),
                &[(StatusCode::CONFLICT, "illegal_transition")],
            )
            .await;
        }
        Ok(())
    }

    /// Changes a hot sku's stock as the admin: mostly deliveries, sometimes a write-off, which
    /// may be refused (409 `insufficient_stock`) when it would take on hand below reserved.
    async fn adjust(&mut self) -> anyhow::Result<()> {
        let sku = self.any_sku();
        let delta: i64 = if self.rng.random_bool(0.7) {
            self.rng.random_range(1..=30)
        } else {
            -self.rng.random_range(1..=15)
        };
        let (status, _, body) = self
            .send(
                "adjust",
                self.client
                    .post(format!("{}/v1/products/{sku}/stock/adjustments", self.base))
                    .bearer_auth(&self.admin)
                    .json(&json!({"delta": delta, "reason": "soak"})),
            )
            .await?;
        if status != StatusCode::CREATED {
            let allowed = [(StatusCode::CONFLICT, "insufficient_stock")];
            self.refused("adjust", (status, &body), &allowed).await;
            return Ok(());
        }
        let stock = &body["stock"];
        let (on_hand, reserved) = (stock["on_hand"].as_i64(), stock["reserved"].as_i64());
        if !matches!((on_hand, reserved), (Some(h), Some(r)) if 0 <= r && r <= h) {
            self.violation(format!("adjustment of {sku} left {stock}"))
                .await;
        }
        match body["adjustment"]["delta"].as_i64() {
            Some(applied) if applied == delta => {
                *self.seen.lock().await.adjusted.entry(sku).or_default() += delta;
            }
            _ => {
                self.violation(format!("adjustment of {sku} by {delta} answered {body}"))
                    .await;
            }
        }
        Ok(())
    }

    /// Changes a hot sku's EUR price as the admin, guarded by its `ETag` (412 when another
    /// change came first); placements that show the old price are refused from then on.
    async fn reprice(&mut self) -> anyhow::Result<()> {
        let sku = self.any_sku();
        let (status, _, product) = self
            .send(
                "get product",
                self.client
                    .get(format!("{}/v1/products/{sku}", self.base))
                    .bearer_auth(&self.admin),
            )
            .await?;
        let Some(version) = product["version"]
            .as_i64()
            .filter(|_| status == StatusCode::OK)
        else {
            self.violation(format!("reading {sku} answered {status}: {product}"))
                .await;
            return Ok(());
        };
        let price = self.rng.random_range(50..=1_000);
        let (status, _, body) = self
            .send(
                "reprice",
                self.client
                    .patch(format!("{}/v1/products/{sku}", self.base))
                    .bearer_auth(&self.admin)
                    .header("if-match", format!("\"{version}\""))
                    .json(&json!({"prices": [
                        {"currency": "EUR", "unit_price_cents": price},
                        {"currency": "USD", "unit_price_cents": price + 10},
                    ]})),
            )
            .await?;
        if status == StatusCode::OK {
            self.seen.lock().await.prices.insert(sku, price);
        } else {
            let allowed = [(StatusCode::PRECONDITION_FAILED, "version_conflict")];
            self.refused("reprice", (status, &body), &allowed).await;
        }
        Ok(())
    }

    /// Reads a hot product anonymously, as a shop front does: never less than nothing
    /// available.
    async fn read_product(&mut self) -> anyhow::Result<()> {
        let sku = self.any_sku();
        let (status, _, product) = self
            .send(
                "read product",
                self.client.get(format!("{}/v1/products/{sku}", self.base)),
            )
            .await?;
        if status != StatusCode::OK || product["available"].as_i64().is_none_or(|a| a < 0) {
            self.violation(format!("reading {sku} answered {status}: {product}"))
                .await;
        }
        Ok(())
    }

    async fn deactivate(&mut self) -> anyhow::Result<()> {
        let active: Vec<usize> = (0..self.customers.len())
            .filter(|&i| self.customers[i].active)
            .collect();
        if active.len() < 2 {
            return self.sign_up().await;
        }
        let index = active[self.rng.random_range(0..active.len())];
        let id = self.customers[index].id.clone();
        let (status, _, body) = self
            .send(
                "deactivate",
                self.client
                    .post(format!("{}/v1/users/{id}/deactivate", self.base))
                    .bearer_auth(&self.admin),
            )
            .await?;
        if status != StatusCode::OK {
            self.violation(format!("deactivation of {id} answered {status}: {body}"))
                .await;
            return Ok(());
        }
        self.customers[index].active = false;
        self.seen.lock().await.deactivated.insert(id);
        Ok(())
    }
}

struct Checked {
    customers: usize,
    orders: usize,
    /// One line per sku: its stock and what the orders and the ledger say it must be.
    stock: Vec<String>,
}

/// Units of one sku in the orders, by what they mean for its stock.
#[derive(Debug, Default)]
struct Units {
    /// In pending and paid orders: reserved.
    open: i64,
    /// In shipped orders: sold.
    shipped: i64,
}

/// Reads every soak customer's orders back as the admin and checks the invariants.
async fn check(
    client: &Client,
    base: &str,
    admin: &str,
    seen: &mut Seen,
) -> anyhow::Result<Checked> {
    let mut violations = Vec::new();
    let mut acknowledged: HashMap<&str, HashSet<&str>> = HashMap::new();
    for ((customer, key), orders) in &seen.keys {
        if orders.len() != 1 {
            violations.push(format!(
                "key {key} of {customer} named {} orders",
                orders.len()
            ));
        }
        acknowledged
            .entry(customer.as_str())
            .or_default()
            .extend(orders.iter().map(String::as_str));
    }
    let mut total_orders = 0;
    let mut units: BTreeMap<String, Units> = BTreeMap::new();
    for customer in &seen.customers {
        let stored = orders_of(client, base, admin, customer).await?;
        total_orders += stored.len();
        let deactivated = seen.deactivated.contains(customer);
        let mut ids = HashSet::new();
        for order in &stored {
            let id = order["id"].as_str().unwrap_or_default();
            ids.insert(id);
            let items = order["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let sum: i64 = items
                .iter()
                .map(|item| {
                    item["quantity"].as_i64().unwrap_or(0)
                        * item["unit_price_cents"].as_i64().unwrap_or(0)
                })
                .sum();
            if items.is_empty() || order["total_cents"].as_i64() != Some(sum) {
                violations.push(format!("order {id}: total is not the sum of its lines"));
            }
            if deactivated && order["status"] == "pending" {
                violations.push(format!("order {id} of deactivated {customer} is pending"));
            }
            for item in items {
                let sku = item["sku"].as_str().unwrap_or_default().to_owned();
                let quantity = item["quantity"].as_i64().unwrap_or(0);
                let units = units.entry(sku).or_default();
                match order["status"].as_str() {
                    Some("pending" | "paid") => units.open += quantity,
                    Some("shipped") => units.shipped += quantity,
                    _ => {}
                }
            }
        }
        let expected = acknowledged.remove(customer.as_str()).unwrap_or_default();
        if ids != expected {
            violations.push(format!(
                "{customer} has {} orders, its keys were answered with {}",
                ids.len(),
                expected.len()
            ));
        }
    }
    let mut stock_lines = Vec::new();
    for (sku, adjusted) in &seen.adjusted {
        let stock = get_json(client, &format!("{base}/v1/products/{sku}/stock"), admin).await?;
        let product = get_json(client, &format!("{base}/v1/products/{sku}"), admin).await?;
        let (Some(on_hand), Some(reserved)) =
            (stock["on_hand"].as_i64(), stock["reserved"].as_i64())
        else {
            violations.push(format!("the stock of {sku} reads {stock}"));
            continue;
        };
        let orders = units.remove(sku).unwrap_or_default();
        if !(0 <= reserved && reserved <= on_hand) {
            violations.push(format!("{sku}: reserved {reserved}, on hand {on_hand}"));
        }
        if reserved != orders.open {
            violations.push(format!(
                "{sku}: reserved {reserved}, but its pending and paid orders hold {}",
                orders.open
            ));
        }
        if on_hand != adjusted - orders.shipped {
            violations.push(format!(
                "{sku}: on hand {on_hand}, but its adjustments sum to {adjusted} and {} shipped",
                orders.shipped
            ));
        }
        if product["available"].as_i64() != Some(on_hand - reserved) {
            violations.push(format!(
                "{sku}: available {}, but on hand {on_hand} - reserved {reserved}",
                product["available"]
            ));
        }
        stock_lines.push(format!(
            "{sku}: on hand {on_hand} = adjustments {adjusted} - shipped {}; reserved {reserved} = pending and paid {}",
            orders.shipped, orders.open
        ));
    }
    for sku in units.keys() {
        violations.push(format!("orders hold {sku}, which the soak never created"));
    }
    seen.violations.extend(violations);
    Ok(Checked {
        customers: seen.customers.len(),
        orders: total_orders,
        stock: stock_lines,
    })
}

/// `GET path` as the admin, which must answer 200 with JSON.
async fn get_json(client: &Client, path: &str, admin: &str) -> anyhow::Result<Value> {
    let response = client.get(path).bearer_auth(admin).send().await?;
    anyhow::ensure!(
        response.status() == StatusCode::OK,
        "{path} answered {}",
        response.status()
    );
    Ok(response.json().await?)
}

/// Every order of `customer`, page by page.
async fn orders_of(
    client: &Client,
    base: &str,
    admin: &str,
    customer: &str,
) -> anyhow::Result<Vec<Value>> {
    let mut orders = Vec::new();
    let mut path = format!("{base}/v1/users/{customer}/orders?limit=100");
    loop {
        let response = client.get(&path).bearer_auth(admin).send().await?;
        anyhow::ensure!(
            response.status() == StatusCode::OK,
            "listing the orders of {customer} answered {}",
            response.status()
        );
        let page: Value = response.json().await?;
        orders.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => {
                path = format!("{base}/v1/users/{customer}/orders?limit=100&after={next}");
            }
            None => return Ok(orders),
        }
    }
}

/// `30s`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.strip_suffix("ms") {
        Some(number) => (number, 0.001),
        None => match text.strip_suffix('s') {
            Some(number) => (number, 1.0),
            None => match text.strip_suffix('m') {
                Some(number) => (number, 60.0),
                None => (text, 1.0),
            },
        },
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30s, 2m or 500ms"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("{text:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(value * unit))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
