//! What every black-box test starts from: the backend matrix (each test on a fresh database of
//! each engine, skipped in one place when PostgreSQL is opted out), a `TestApp` (the real service
//! bound to a random port on that database, and an HTTP client) and the helpers the tests share.

pub mod nats;
pub mod proxy;

use std::future::Future;
use std::time::Duration;

use app::{Application, Config};
use persistence::testing::TestDatabase;
use persistence::{Backend, Faults};
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Declares each listed `async fn name(given)` as two tests, `name::sqlite` and
/// `name::postgres`, like `persistence::both_backends!`; `given` is a [`TestApp`] or, for a test
/// that configures its own service, a [`TestDatabase`] (see [`run`]).
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::common::run(persistence::Backend::Sqlite, super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::common::run(persistence::Backend::Postgres, super::$name).await
            }
        }
    )+};
}
pub(crate) use on_both_backends;

/// Declares each listed `async fn name(given)` as one test, `name::postgres`, for what only
/// PostgreSQL has (a server that can go away, a database two instances share over a network).
/// `worker_threads = n;` first gives the tests' runtime more threads than the default two.
macro_rules! on_postgres {
    (worker_threads = $threads:literal; $($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
            async fn postgres() {
                $crate::common::run(persistence::Backend::Postgres, super::$name).await
            }
        }
    )+};
    ($($name:ident),+ $(,)?) => {
        $crate::common::on_postgres!(worker_threads = 2; $($name),+);
    };
}
pub(crate) use on_postgres;

/// What a test of the backend matrix is given: built from its fresh database.
pub trait Given: Sized {
    fn given(database: TestDatabase) -> impl Future<Output = Self>;
}

impl Given for TestDatabase {
    async fn given(database: TestDatabase) -> Self {
        database
    }
}

impl Given for TestApp {
    async fn given(database: TestDatabase) -> Self {
        spawn_with(database, |_| {}).await
    }
}

/// Runs `test` on a fresh database of `backend`. The one place a test is skipped: when
/// PostgreSQL is unreachable and `SKIP_POSTGRES_TESTS=1` opted in (announced loudly by
/// `TestDatabase::create`); otherwise an unreachable PostgreSQL fails the test there.
pub async fn run<T: Given, Fut: Future<Output = ()>>(
    backend: Backend,
    test: impl FnOnce(T) -> Fut,
) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    test(T::given(database).await).await
}

/// The password every test user signs up with.
pub const PASSWORD: &str = "correct horse battery staple";

/// Units on hand that no test runs out of.
pub const PLENTY: i64 = 1_000_000_000;

/// A signed-in user: its JSON as sign-up returned it, and a bearer token.
pub struct Account {
    pub id: String,
    pub token: String,
    pub user: Value,
}

impl Account {
    fn new(user: Value, token: String) -> Self {
        Self {
            id: user["id"].as_str().expect("id").to_owned(),
            token,
            user,
        }
    }
}

pub struct TestApp {
    pub address: String,
    /// `http://…/metrics` when the test set `METRICS_ADDR` (`config.metrics_addr`).
    pub metrics_url: Option<String>,
    pub client: Client,
    pub faults: Faults,
    pub database: TestDatabase,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A service for a test whose subject is no database's: HTTP framing, limits, documents,
/// validation. It runs on SQLite, which is always there, and runs once rather than per engine.
pub async fn service() -> TestApp {
    service_with(|_| {}).await
}

/// Like [`service`], with `tweak` applied to its configuration.
pub async fn service_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let database = TestDatabase::create(Backend::Sqlite)
        .await
        .expect("SQLite is always available");
    spawn_with(database, tweak).await
}

/// Starts the service on `database`, migrated, with `tweak` applied to its configuration.
pub async fn spawn_with(database: TestDatabase, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_via(database, str::to_owned, tweak).await
}

/// Like [`spawn_with`], but the service connects to `route(database_url)` instead (through a
/// proxy, say); migrations and [`TestApp::database`] use the database directly.
pub async fn spawn_via(
    database: TestDatabase,
    route: impl FnOnce(&str) -> String,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    // Migrate as an operator would; the service itself only checks on PostgreSQL.
    let runner = migration::Runner::lock(database.url()).await.expect("lock");
    runner.up(None).await.expect("migrate");
    runner.release().await.expect("release");
    let instance = start(&route(database.url()), tweak).await;
    TestApp {
        address: instance.address,
        metrics_url: instance.metrics_url,
        client: client(),
        faults: instance.faults,
        database,
        shutdown: Some(instance.shutdown),
        server: Some(instance.server),
    }
}

pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

/// One running instance of the service.
pub struct Instance {
    pub address: String,
    pub metrics_url: Option<String>,
    pub faults: Faults,
    pub shutdown: oneshot::Sender<()>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn start(url: &str, tweak: impl FnOnce(&mut Config)) -> Instance {
    let mut config = Config::new(url);
    config.bind_addr = "127.0.0.1:0".parse().expect("addr");
    config.db_max_connections = Some(8);
    // Tests stop their services at once; the drain has tests of its own.
    config.shutdown_drain = Duration::ZERO;
    tweak(&mut config);
    let faults = config.faults.clone();
    let app = Application::build(config).await.expect("service builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_url = app
        .metrics_addr()
        .map(|addr| format!("http://{addr}/metrics"));
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    Instance {
        address,
        metrics_url,
        faults,
        shutdown: tx,
        server,
    }
}

impl TestApp {
    /// Waits until the event feed shows every change committed so far (on PostgreSQL it trails
    /// commits while other transactions of the cluster are open; see `persistence::outbox`).
    pub async fn settle_feed(&self) {
        persistence::outbox::settle(self.database.db(), DEADLINE)
            .await
            .expect("the feed catches up");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    /// GETs `path`, expecting 200, and returns the JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).send().await.expect("request");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json")
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.client.delete(self.url(path))
    }

    /// A request of `method` to `path` with `who`'s bearer token.
    pub fn request_as(&self, who: &Account, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&who.token)
    }

    pub fn get_as(&self, who: &Account, path: &str) -> RequestBuilder {
        self.request_as(who, Method::GET, path)
    }

    pub fn post_as(&self, who: &Account, path: &str) -> RequestBuilder {
        self.request_as(who, Method::POST, path)
    }

    pub fn patch_as(&self, who: &Account, path: &str) -> RequestBuilder {
        self.request_as(who, Method::PATCH, path)
    }

    pub fn delete_as(&self, who: &Account, path: &str) -> RequestBuilder {
        self.request_as(who, Method::DELETE, path)
    }

    /// GETs `path` as `who`, expecting 200, and returns the JSON body.
    pub async fn get_json_as(&self, who: &Account, path: &str) -> Value {
        let response = self.get_as(who, path).send().await.expect("request");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json")
    }

    /// Signs a user up (no session yet) and returns its JSON.
    pub async fn sign_up(&self, email: &str) -> Value {
        let response = self
            .post("/v1/users")
            .json(&json!({ "email": email, "display_name": "Test User", "password": PASSWORD }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201, "sign up {email}");
        response.json().await.expect("json")
    }

    /// Signs in with [`PASSWORD`] and returns the bearer token.
    pub async fn sign_in(&self, email: &str) -> String {
        let response = self
            .post("/v1/sessions")
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201, "sign in {email}");
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Signs a customer up and in.
    pub async fn create_user(&self, email: &str) -> Account {
        let user = self.sign_up(email).await;
        let token = self.sign_in(email).await;
        Account::new(user, token)
    }

    /// Signs customer number `n` up and in (`customer<n>@example.com`).
    pub async fn create_user_named(&self, n: usize) -> Account {
        self.create_user(&format!("customer{n}@example.com")).await
    }

    /// Signs a user up, makes it an admin as an operator would (`cargo xtask users
    /// grant-admin` calls the same identity API), and signs it in.
    pub async fn create_admin(&self, email: &str) -> Account {
        let mut user = self.sign_up(email).await;
        let id = uuid::Uuid::parse_str(user["id"].as_str().expect("id")).expect("uuid");
        identity::Identity::new(self.database.db().clone(), Default::default())
            .set_role(identity::AccountId::from_uuid(id), identity::Role::Admin)
            .await
            .expect("grant admin");
        user["role"] = json!("admin");
        let token = self.sign_in(email).await;
        Account::new(user, token)
    }

    /// Puts `sku` on sale at `price_cents` EUR with `on_hand` units, unless it is on sale
    /// already, as an admin would: the product and its stock row in one transaction (the
    /// service's own workflow), then an adjustment. Through the contexts' APIs, so it needs no
    /// admin account and leaves the events an admin's requests would.
    pub async fn stock(&self, sku: &str, price_cents: i64, on_hand: i64) {
        let db = self.database.db();
        let catalog =
            catalog::Catalog::new(db.clone(), app::events::product_outbox(Faults::default()));
        let inventory =
            inventory::Inventory::new(db.clone(), app::events::stock_outbox(Faults::default()));
        let product_sku = catalog::Sku::parse(sku).expect("sku");
        if catalog.get(&product_sku, true).await.is_ok() {
            return;
        }
        let stock_sku = inventory::Sku::parse(sku).expect("sku");
        let tx = db.begin().await.expect("begin");
        catalog
            .create_in(
                &tx,
                catalog::NewProduct {
                    sku: product_sku,
                    name: catalog::ProductName::parse(&format!("Product {sku}")).expect("name"),
                    description: catalog::Description::default(),
                    prices: catalog::Prices::parse(&[("EUR".to_owned(), price_cents)])
                        .expect("prices"),
                },
            )
            .await
            .expect("create product");
        inventory.track_in(&tx, &stock_sku).await.expect("track");
        tx.commit().await.expect("commit");
        inventory
            .adjust(
                &stock_sku,
                inventory::Delta::new(on_hand).expect("delta"),
                inventory::Reason::parse("test stock").expect("reason"),
                None,
            )
            .await
            .expect("adjust");
    }

    /// Places a one-item order as `who` (for itself) and returns its JSON.
    pub async fn create_order(&self, who: &Account) -> Value {
        self.stock("SKU-1", 150, PLENTY).await;
        let response = self
            .post_as(who, "/v1/orders")
            .json(&json!({
                "currency": "EUR",
                "items": [{ "sku": "SKU-1", "quantity": 2, "unit_price_cents": 150 }]
            }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201, "create order");
        response.json().await.expect("json")
    }

    /// The trigger that begins a graceful shutdown.
    pub fn shutdown_handle(&mut self) -> oneshot::Sender<()> {
        self.shutdown.take().expect("shutdown handle taken once")
    }

    /// The running server task, to await its end.
    pub fn server_handle(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        self.server.take().expect("server handle taken once")
    }

    /// Starts a second, independent instance of the service on the same database (another
    /// pool, another port): what two replicas behind a load balancer look like.
    pub async fn second_instance(&self) -> Instance {
        start(self.database.url(), |_| {}).await
    }
}

/// Asserts that every response is a 201 for one and the same resource; returns its id.
pub async fn one_created_id(responses: Vec<reqwest::Result<Response>>) -> Value {
    let mut ids = Vec::new();
    for response in responses {
        let response = response.expect("request");
        assert_eq!(response.status(), 201);
        ids.push(response.json::<Value>().await.expect("json")["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every request got the same resource: {ids:?}");
    ids.remove(0)
}

/// Sends `request` and asserts that it fails with the given problem; returns the problem.
pub async fn expect_problem(request: RequestBuilder, status: u16, code: &str) -> Value {
    assert_problem(request.send().await.expect("request"), status, code).await
}

/// Asserts an RFC 9457 problem response and returns its body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/problem+json"),
        "content-type was {content_type:?}"
    );
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "problem lacks {member}: {body}");
    }
    body
}

/// How long [`wait_until`] waits before failing the test.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Asks `check` every 20 ms (on a timer's ticks, never a sleep) until it returns a value, for
/// at most `within`; `None` when it never did. Every wait of the tests is this one loop.
pub async fn poll<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
    }
}

/// Waits until `condition` holds; fails the test, naming `what`, after `within`.
pub async fn wait_within<F, Fut>(within: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let held = poll(within, || {
        let holds = condition();
        async move { holds.await.then_some(()) }
    })
    .await;
    assert!(
        held.is_some(),
        "timed out after {within:?} waiting until {what}"
    );
}

/// Waits until `condition` holds; fails the test, naming `what`, after [`DEADLINE`].
pub async fn wait_until<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_within(DEADLINE, what, condition).await
}

/// Every item of a paged list at `path` (which has no query yet), as `who` sees it.
pub async fn all_pages(app: &TestApp, who: &Account, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page_path = match &next {
            Some(cursor) => format!("{path}?limit=100&after={cursor}"),
            None => format!("{path}?limit=100"),
        };
        let page = app.get_json_as(who, &page_path).await;
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next"].as_str() {
            Some(cursor) => next = Some(cursor.to_owned()),
            None => return items,
        }
    }
}

/// Checks the contract's stock invariants for `skus`, over HTTP as `admin`:
/// `0 <= reserved <= on_hand`; `reserved` = the units of the sku in pending and paid orders;
/// `on_hand` = the sum of its adjustments (from the event feed) minus the units shipped.
pub async fn assert_stock_invariants(app: &TestApp, admin: &Account, skus: &[&str]) {
    let mut held: std::collections::HashMap<String, i64> = Default::default();
    let mut shipped: std::collections::HashMap<String, i64> = Default::default();
    for user in all_pages(app, admin, "/v1/users").await {
        let id = user["id"].as_str().expect("id");
        for order in all_pages(app, admin, &format!("/v1/users/{id}/orders")).await {
            let into = match order["status"].as_str().expect("status") {
                "pending" | "paid" => &mut held,
                "shipped" => &mut shipped,
                _ => continue,
            };
            for line in order["items"].as_array().expect("items") {
                *into
                    .entry(line["sku"].as_str().expect("sku").to_owned())
                    .or_default() += line["quantity"].as_i64().expect("quantity");
            }
        }
    }
    let mut adjusted: std::collections::HashMap<String, i64> = Default::default();
    let mut after = String::new();
    app.settle_feed().await;
    loop {
        let page = app
            .get_json_as(admin, &format!("/v1/events?limit=100{after}"))
            .await;
        for event in page["items"].as_array().expect("items") {
            if event["type"] == "stock.adjusted" {
                *adjusted
                    .entry(event["subject"].as_str().expect("subject").to_owned())
                    .or_default() += event["data"]["adjustment"]["delta"]
                    .as_i64()
                    .expect("delta");
            }
        }
        // The feed always offers a cursor to resume from; a short page is its end.
        match page["next"].as_str() {
            Some(cursor) if page["items"].as_array().is_some_and(|i| i.len() == 100) => {
                after = format!("&after={cursor}")
            }
            _ => break,
        }
    }
    for sku in skus {
        let stock = app
            .get_json_as(admin, &format!("/v1/products/{sku}/stock"))
            .await;
        let (on_hand, reserved) = (
            stock["on_hand"].as_i64().expect("on_hand"),
            stock["reserved"].as_i64().expect("reserved"),
        );
        let get =
            |map: &std::collections::HashMap<String, i64>| map.get(*sku).copied().unwrap_or(0);
        assert!(0 <= reserved && reserved <= on_hand, "{sku}: {stock}");
        assert_eq!(
            reserved,
            get(&held),
            "{sku}: reserved = pending and paid units"
        );
        assert_eq!(
            on_hand,
            get(&adjusted) - get(&shipped),
            "{sku}: on hand = adjustments - shipped"
        );
        assert_eq!(stock["available"].as_i64(), Some(on_hand - reserved));
    }
}
