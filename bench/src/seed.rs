//! Fills a database through the contexts' public APIs, as the service itself would write it:
//! users and their credentials in batches, one explicit transaction per batch, then orders
//! placed through `Orders::place` by several tasks at once.

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
/// How many placements run at once.
const PLACERS: usize = 8;

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
    if progress {
        eprintln!(
            "seed: {users} users and {orders} orders in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    db.close().await?;
    Ok(customers)
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
        if progress && customers.len() % 10_000 == 0 {
            eprintln!("seed: {} users", customers.len());
        }
    }
    Ok(customers)
}

async fn place(
    db: &Db,
    customers: &mut [Customer],
    count: usize,
    progress: bool,
) -> anyhow::Result<()> {
    let users = Users::new(db.clone(), user_outbox(Faults::default()));
    let service = Orders::new(
        db.clone(),
        Arc::new(UsersAsCustomers(users)),
        order_outbox(Faults::default()),
    );
    let owners: Vec<Uuid> = customers.iter().map(|c| c.id).collect();
    let placed: Vec<(usize, Uuid)> = stream::iter(0..count)
        .map(|n| {
            let service = service.clone();
            let owner = n % owners.len();
            let customer = CustomerId::from_uuid(owners[owner]);
            async move {
                let order = NewOrder::new(customer, "EUR", three_lines(n))?;
                let placed = service.place(order, None).await?;
                if progress && (n + 1) % 100_000 == 0 {
                    eprintln!("seed: {} orders", n + 1);
                }
                anyhow::Ok((owner, placed.order.id.as_uuid()))
            }
        })
        .buffer_unordered(PLACERS)
        .try_collect()
        .await?;
    for (owner, order) in placed {
        customers[owner].orders.push(order);
    }
    Ok(())
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
