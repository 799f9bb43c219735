//! Fills a database through the contexts' public APIs, as the service itself would write it:
//! users and their credentials in batches, one explicit transaction per batch, then orders
//! placed through `Orders::place_many_in`, also in batches of one transaction each, several batches
//! at once. Ends with `ANALYZE`, as an operator ends a bulk load.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use app::customers::UsersAsCustomers;
use app::events::{order_outbox, user_outbox};
use futures::stream::{self, StreamExt as _, TryStreamExt as _};
use identity::{AccountId, Identity, IdentityConfig, Password, Role};
use orders::{CustomerId, NewOrder, NewOrderItem, Orders};
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

/// A seeded customer: who it is, how it signs in, and the orders it owns.
#[derive(Debug, Clone)]
pub struct Customer {
    pub id: Uuid,
    pub email: String,
    pub orders: Vec<Uuid>,
}

/// The seeded address of user `n`.
pub fn email(n: usize) -> String {
    format!("user{n}@bench.example")
}

/// Registers `users` customers (with credentials) and places `orders` three-line orders spread
/// evenly over them; prints progress when asked.
pub async fn seed(
    url: &str,
    users: usize,
    orders: usize,
    progress: bool,
) -> anyhow::Result<Vec<Customer>> {
    anyhow::ensure!(users > 0, "--users must be at least 1");
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
    place(&db, &mut customers, orders, progress).await?;
    db.close().await?;
    analyze(url).await?;
    if progress {
        eprintln!(
            "seed: {users} users and {orders} orders in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(customers)
}

/// Refreshes the planner's statistics (`ANALYZE`), as an operator does after a bulk load.
///
/// Without it, PostgreSQL plans with the statistics of before the load until autovacuum gets
/// round to the tables, minutes later: measured right after growing a database to 1,000,000
/// orders, the lines of a page of orders were read by a parallel sequential scan of all
/// 3,000,000 lines (200-600 ms per page instead of 3 ms). SQLite keeps no statistics until
/// asked, and then plans with them too.
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

/// The orders service the seed places through.
fn orders_service(db: &Db) -> Orders {
    let users = Users::new(db.clone(), user_outbox(Faults::default()));
    Orders::new(
        db.clone(),
        Arc::new(UsersAsCustomers(users)),
        order_outbox(Faults::default()),
    )
}

/// Places `count` orders, order `n` for `owner(n)`, through `Orders::place_many_in`: `ORDER_BATCH`
/// orders per transaction, `PLACERS` transactions at once (SQLite queues them for its one
/// writer). Returns `(n, order id)` pairs in no particular order.
async fn place_batches(
    db: &Db,
    count: usize,
    owner: impl Fn(usize) -> Uuid,
    progress: bool,
) -> anyhow::Result<Vec<(usize, Uuid)>> {
    let service = orders_service(db);
    let started = Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let batches: Vec<Vec<(usize, Uuid)>> = stream::iter((0..count).step_by(ORDER_BATCH))
        .map(|start| {
            let service = service.clone();
            let db = db.clone();
            let done = done.clone();
            let batch: Vec<(usize, Uuid)> = (start..(start + ORDER_BATCH).min(count))
                .map(|n| (n, owner(n)))
                .collect();
            async move {
                let new = batch
                    .iter()
                    .map(|&(n, owner)| {
                        NewOrder::new(CustomerId::from_uuid(owner), "EUR", three_lines(n))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let tx = db.begin().await?;
                let orders = service.place_many_in(&tx, &new).await?;
                tx.commit().await?;
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
    progress: bool,
) -> anyhow::Result<()> {
    let owners: Vec<Uuid> = customers.iter().map(|c| c.id).collect();
    let placed = place_batches(db, count, |n| owners[n % owners.len()], progress).await?;
    for (n, order) in placed {
        customers[n % owners.len()].orders.push(order);
    }
    Ok(())
}

/// Places `count` more orders spread evenly over `owners` (growing the database for the scale
/// run).
pub async fn place_spread(url: &str, owners: &[Uuid], count: usize) -> anyhow::Result<()> {
    if count == 0 || owners.is_empty() {
        return Ok(());
    }
    let mut config = DbConfig::new(url);
    config.max_connections = PLACERS as u32 + 2;
    let db = Db::connect_with(&config)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    place_batches(&db, count, |n| owners[n % owners.len()], true).await?;
    db.close().await?;
    Ok(())
}

/// Places `count` more orders for one existing customer (the scale run's heavy customer);
/// returns their ids.
pub async fn place_for(url: &str, customer: Uuid, count: usize) -> anyhow::Result<Vec<Uuid>> {
    let mut config = DbConfig::new(url);
    config.max_connections = PLACERS as u32 + 2;
    let db = Db::connect_with(&config)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let placed = place_batches(&db, count, |_| customer, true).await?;
    db.close().await?;
    Ok(placed.into_iter().map(|(_, id)| id).collect())
}

/// The three lines every seeded and benchmarked order has.
pub fn three_lines(n: usize) -> Vec<NewOrderItem> {
    (1..=3)
        .map(|line| NewOrderItem {
            sku: format!("SKU-{}", (n + line) % 997),
            quantity: line as i64,
            unit_price_cents: 250 * line as i64,
        })
        .collect()
}
