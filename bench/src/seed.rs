//! Fills a database through the contexts' public APIs, as the service itself would write it:
//! users and their credentials in batches, one explicit transaction per batch; a catalog whose
//! products are created and stocked as `POST /v1/products` and its stock adjustments do; then
//! orders placed from that catalog through the placement workflow's bulk form
//! (`Workflows::place_many`: priced by the catalog, reserved in the inventory, written with
//! `Orders::place_many_in`), also in batches of one transaction each, several batches at once.
//! Ends with `ANALYZE`, as an operator ends a bulk load.
//!
//! What it leaves satisfies the contract's invariants: every seeded order is pending, so each
//! sku's `reserved` is the sum of its quantities in those orders, and its `on_hand` is the sum of
//! its adjustments (nothing has shipped).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use app::customers::UsersAsCustomers;
use app::events::{order_outbox, product_outbox, stock_outbox, user_outbox};
use app::workflows::{Contexts, Workflows};
use catalog::{Catalog, Description, NewProduct, Prices, ProductName};
use futures::stream::{self, StreamExt as _, TryStreamExt as _};
use identity::{AccountId, Identity, IdentityConfig, Password, Role};
use inventory::{Delta, Inventory, Reason};
use orders::{CustomerId, NewRequestedLine, OrderRequest, Orders};
use persistence::{Db, DbConfig, Faults};
use users::{DisplayName, Email, NewUser, Users};
use uuid::Uuid;

/// Every seeded account signs in with this password.
pub const PASSWORD: &str = "bench password 1234";

/// How many users one transaction registers.
const USER_BATCH: usize = 500;
/// How many orders one transaction places.
const ORDER_BATCH: usize = 500;
/// How many order transactions run at once.
const PLACERS: usize = 4;
/// Progress is printed every this many orders.
const PROGRESS_EVERY: usize = 50_000;
/// Units each seeded order takes of its three skus together (1, 2 and 3).
const UNITS_PER_ORDER: i64 = 6;

/// A seeded customer: who it is, how it signs in, and the orders it owns.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: Uuid,
    pub email: String,
    pub orders: Vec<Uuid>,
}

/// The catalog a seed creates: `products` products `SKU-0`, `SKU-1`, ..., each priced in EUR
/// and USD ([`price_cents`]) with `stock_per_product` units on hand.
#[derive(Debug, Clone, Copy)]
pub struct CatalogPlan {
    pub products: usize,
    pub stock_per_product: i64,
}

impl CatalogPlan {
    /// `products` products with `stock` units each, or (without `stock`) enough for `orders`
    /// seeded orders plus [`SPARE_STOCK`] units each to sell afterwards; refused when the
    /// catalog is too small for three-line orders or the stock would not cover the orders.
    pub fn for_orders(products: usize, stock: Option<i64>, orders: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(
            products >= 3,
            "--products must be at least 3 (every seeded order has three different skus)"
        );
        let needed = units_needed(orders, products);
        let stock_per_product = stock.unwrap_or(needed + SPARE_STOCK);
        anyhow::ensure!(
            stock_per_product >= needed,
            "--stock-per-product {stock_per_product} does not cover the orders: {orders} orders over {products} products reserve up to {needed} units of one sku"
        );
        Ok(Self {
            products,
            stock_per_product,
        })
    }
}

/// Units left to sell of every sku once a default seed's orders are reserved.
pub const SPARE_STOCK: i64 = 10_000;

/// The most units `orders` seeded orders reserve of any one of `products` skus: each order
/// takes 1, 2 and 3 units of three consecutive skus, so every sku is the first, second and
/// third line of at most `ceil(orders / products)` orders each.
fn units_needed(orders: usize, products: usize) -> i64 {
    let per_position = orders.div_ceil(products.max(1));
    i64::try_from(per_position)
        .unwrap_or(i64::MAX / UNITS_PER_ORDER)
        .saturating_mul(UNITS_PER_ORDER)
}

/// The sku of seeded product `n`.
pub fn sku(n: usize) -> String {
    format!("SKU-{n}")
}

/// The EUR price of seeded product `n`, in cents: 2.50 to 12.25 (USD: 10% more).
pub fn price_cents(n: usize) -> i64 {
    250 + (n % 40) as i64 * 25
}

/// The seeded address of user `n`.
pub fn email(n: usize) -> String {
    format!("user{n}@bench.example")
}

/// Registers `users` customers (with credentials), creates the bench's catalog
/// ([`bench_catalog`]) and places `orders` three-line orders from it, spread evenly over the
/// customers; prints progress when asked.
pub async fn seed(
    url: &str,
    users: usize,
    orders: usize,
    progress: bool,
) -> anyhow::Result<Vec<Customer>> {
    seed_with(url, users, orders, bench_catalog(), progress).await
}

/// The bench's catalog: [`BENCH_PRODUCTS`] products with a billion units each, so that no
/// workload (the hot-sku one sells about a unit per request of its three skus) and no scale
/// run's growth (a million orders) runs out.
pub fn bench_catalog() -> CatalogPlan {
    CatalogPlan {
        products: BENCH_PRODUCTS,
        stock_per_product: BENCH_STOCK,
    }
}

/// Products in the bench's catalog.
pub const BENCH_PRODUCTS: usize = 100;
/// Units on hand of each of them: one adjustment of the largest delta the contract allows.
const BENCH_STOCK: i64 = Delta::MAX;

/// [`seed`] with the catalog of `plan`.
pub async fn seed_with(
    url: &str,
    users: usize,
    orders: usize,
    plan: CatalogPlan,
    progress: bool,
) -> anyhow::Result<Vec<Customer>> {
    anyhow::ensure!(users > 0, "--users must be at least 1");
    anyhow::ensure!(
        plan.stock_per_product >= units_needed(orders, plan.products),
        "{} units per product do not cover {orders} orders over {} products",
        plan.stock_per_product,
        plan.products
    );
    let mut config = DbConfig::new(url);
    config.max_connections = PLACERS as u32 + 2;
    let db = Db::connect_with(&config)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let started = Instant::now();
    let mut customers = register(&db, users, progress).await?;
    if progress {
        eprintln!(
            "seed: {users} users in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    create_catalog(&db, plan, progress).await?;
    let placing = Instant::now();
    place(&db, &mut customers, orders, plan.products, progress).await?;
    if progress {
        let seconds = placing.elapsed().as_secs_f64();
        eprintln!(
            "seed: {orders} orders in {seconds:.1} s ({:.0}/s)",
            orders as f64 / seconds.max(1e-9)
        );
    }
    db.close().await?;
    analyze(url).await?;
    if progress {
        eprintln!(
            "seed: {users} users, {} products and {orders} orders in {:.1} s",
            plan.products,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(customers)
}

/// Refreshes the planner's statistics (`ANALYZE`), as an operator does after a bulk load.
///
/// Without it, PostgreSQL plans with the statistics of before the load until autovacuum gets
/// round to the tables, minutes later, and a bulk-loaded table can be read by a sequential scan
/// where an index serves (docs/performance.md, "The scale run"). SQLite keeps no statistics
/// until asked, and then plans with them too.
pub async fn analyze(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query("ANALYZE").execute(&mut conn).await?;
        conn.close().await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query("ANALYZE").execute(&mut conn).await?;
        conn.close().await?;
    }
    Ok(())
}

async fn register(db: &Db, count: usize, progress: bool) -> anyhow::Result<Vec<Customer>> {
    let users = Users::new(db.clone(), user_outbox(Faults::default()));
    let identity = Identity::new(db.clone(), IdentityConfig::default());
    // One hash for everyone: argon2 is the sign-up's cost by design, not the seed's.
    let hash = identity.hash_password(Password::parse(PASSWORD)?).await?;
    let mut customers = Vec::with_capacity(count);
    for start in (0..count).step_by(USER_BATCH) {
        let tx = db.begin().await?;
        for n in start..(start + USER_BATCH).min(count) {
            let new = NewUser {
                email: Email::parse(&email(n))?,
                display_name: DisplayName::parse(&format!("Bench user {n}"))?,
            };
            let user = users.register_in(&tx, new).await?;
            let account = AccountId::from_uuid(user.id.as_uuid());
            identity.enroll(&tx, account, &hash, Role::Customer).await?;
            customers.push(Customer {
                id: user.id.as_uuid(),
                email: email(n),
                orders: Vec::new(),
            });
        }
        tx.commit().await?;
        if progress && customers.len() % PROGRESS_EVERY == 0 {
            eprintln!("seed: {} users", customers.len());
        }
    }
    Ok(customers)
}

/// The cross-context workflows the seed writes through, over `db`: the service's own
/// contexts, wired as `app` wires them (no fault points armed).
fn workflows(db: &Db) -> (Workflows, Inventory) {
    let users = Users::new(db.clone(), user_outbox(Faults::default()));
    let orders = Orders::new(
        db.clone(),
        Arc::new(UsersAsCustomers(users.clone())),
        order_outbox(Faults::default()),
    );
    let identity = Identity::new(db.clone(), IdentityConfig::default());
    let catalog = Catalog::new(db.clone(), product_outbox(Faults::default()));
    let inventory = Inventory::new(db.clone(), stock_outbox(Faults::default()));
    let workflows = Workflows::new(
        db.clone(),
        Contexts {
            users,
            orders,
            identity,
            catalog,
            inventory: inventory.clone(),
        },
        Faults::default(),
    );
    (workflows, inventory)
}

/// Creates the catalog of `plan`: every product as `POST /v1/products` does
/// ([`Workflows::create_product`]: the product and its stock row in one transaction), then its
/// stock on hand as `POST /v1/products/{sku}/stock/adjustments` does ([`Inventory::adjust`]:
/// the stock row, its ledger row and `stock.adjusted`), `PLACERS` products at once.
async fn create_catalog(db: &Db, plan: CatalogPlan, progress: bool) -> anyhow::Result<()> {
    let (workflows, inventory) = workflows(db);
    let started = Instant::now();
    stream::iter(0..plan.products)
        .map(|n| {
            let (workflows, inventory) = (workflows.clone(), inventory.clone());
            async move {
                let eur = price_cents(n);
                let new = NewProduct {
                    sku: catalog::Sku::parse(&sku(n))?,
                    name: ProductName::parse(&format!("Bench product {n}"))?,
                    description: Description::parse("Seeded by cargo xtask seed.")?,
                    prices: Prices::parse(&[
                        ("EUR".to_owned(), eur),
                        ("USD".to_owned(), eur * 11 / 10),
                    ])?,
                };
                workflows
                    .create_product(new)
                    .await
                    .with_context(|| format!("cannot create {}", sku(n)))?;
                let stock_sku = inventory::Sku::parse(&sku(n))?;
                let mut left = plan.stock_per_product;
                while left > 0 {
                    let delta = left.min(Delta::MAX);
                    inventory
                        .adjust(
                            &stock_sku,
                            Delta::new(delta)?,
                            Reason::parse("seed: initial stock")?,
                            None,
                        )
                        .await
                        .with_context(|| format!("cannot stock {}", sku(n)))?;
                    left -= delta;
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(PLACERS)
        .try_collect::<()>()
        .await?;
    if progress {
        eprintln!(
            "seed: {} products with {} units on hand each in {:.1} s",
            plan.products,
            plan.stock_per_product,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Places `count` orders, order `n` for `owner(n)` over a catalog of `products`, through
/// [`Workflows::place_many`] (priced by the catalog, reserved, written with
/// `Orders::place_many_in`): `ORDER_BATCH` orders per transaction, `PLACERS` transactions at
/// once (SQLite queues them for its one writer). Returns `(n, order id)` pairs in no particular
/// order.
async fn place_batches(
    db: &Db,
    count: usize,
    products: usize,
    owner: impl Fn(usize) -> Uuid,
    progress: bool,
) -> anyhow::Result<Vec<(usize, Uuid)>> {
    let (workflows, _) = workflows(db);
    let started = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let batches: Vec<Vec<(usize, Uuid)>> = stream::iter((0..count).step_by(ORDER_BATCH))
        .map(|start| {
            let workflows = workflows.clone();
            let done = done.clone();
            let batch: Vec<(usize, Uuid)> = (start..(start + ORDER_BATCH).min(count))
                .map(|n| (n, owner(n)))
                .collect();
            async move {
                let requests = batch
                    .iter()
                    .map(|&(n, owner)| {
                        OrderRequest::new(
                            CustomerId::from_uuid(owner),
                            "EUR",
                            three_lines(n, products),
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let orders = workflows
                    .place_many(&requests)
                    .await
                    .with_context(|| format!("cannot place orders {start}.."))?;
                let placed: Vec<(usize, Uuid)> = batch
                    .iter()
                    .zip(&orders)
                    .map(|(&(n, _), order)| (n, order.id.as_uuid()))
                    .collect();
                let before = done.fetch_add(placed.len(), std::sync::atomic::Ordering::Relaxed);
                let after = before + placed.len();
                if progress && after / PROGRESS_EVERY != before / PROGRESS_EVERY {
                    eprintln!(
                        "seed: {after} orders ({:.0}/s)",
                        after as f64 / started.elapsed().as_secs_f64()
                    );
                }
                anyhow::Ok(placed)
            }
        })
        .buffer_unordered(PLACERS)
        .try_collect()
        .await?;
    Ok(batches.into_iter().flatten().collect())
}

async fn place(
    db: &Db,
    customers: &mut [Customer],
    count: usize,
    products: usize,
    progress: bool,
) -> anyhow::Result<()> {
    let owners: Vec<Uuid> = customers.iter().map(|c| c.id).collect();
    let placed = place_batches(db, count, products, |n| owners[n % owners.len()], progress).await?;
    for (n, order) in placed {
        customers[n % owners.len()].orders.push(order);
    }
    Ok(())
}

/// Places `count` more orders from the bench's catalog spread evenly over `owners` (growing
/// the database for the scale run).
pub async fn place_spread(url: &str, owners: &[Uuid], count: usize) -> anyhow::Result<()> {
    if count == 0 || owners.is_empty() {
        return Ok(());
    }
    let mut config = DbConfig::new(url);
    config.max_connections = PLACERS as u32 + 2;
    let db = Db::connect_with(&config)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    place_batches(
        &db,
        count,
        BENCH_PRODUCTS,
        |n| owners[n % owners.len()],
        true,
    )
    .await?;
    db.close().await?;
    Ok(())
}

/// Places `count` more orders from the bench's catalog for one existing customer (the scale
/// run's heavy customer); returns their ids.
pub async fn place_for(url: &str, customer: Uuid, count: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut config = DbConfig::new(url);
    config.max_connections = PLACERS as u32 + 2;
    let db = Db::connect_with(&config)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let placed = place_batches(&db, count, BENCH_PRODUCTS, |_| customer, true).await?;
    db.close().await?;
    Ok(placed.into_iter().map(|(_, id)| id).collect())
}

/// The three lines of seeded order `n` over a catalog of `products` (at least 3): 1, 2 and 3
/// units of three consecutive skus, at the catalog's prices (no price shown).
pub fn three_lines(n: usize, products: usize) -> Vec<NewRequestedLine> {
    (1..=3)
        .map(|line| NewRequestedLine {
            sku: sku((n + line) % products),
            quantity: line as i64,
            unit_price_cents: None,
        })
        .collect()
}
