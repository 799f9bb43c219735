//! Shared set-up for the orders database tests: a fresh migrated database per test, an orders
//! service over it, and an in-memory fake of the customers port.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of this module"
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Barrier;

use orders::{
    CustomerId, CustomerStanding, Customers, IdempotencyKey, NewOrder, NewOrderItem, Order,
    OrderId, Orders,
};
use persistence::testing::TestDatabase;
use persistence::{Backend, Db, StoreError, Tx};
use persistence_orm::Orm;
use sea_orm::{ConnectionTrait, Statement};

/// Customers as a map of id to standing. The real adapter (over the users context, with a row
/// lock) is the app's and is tested there.
#[derive(Default)]
pub struct FakeCustomers {
    standings: Mutex<HashMap<CustomerId, CustomerStanding>>,
    gate: Mutex<Option<Arc<Barrier>>>,
}

impl FakeCustomers {
    pub fn add(&self, standing: CustomerStanding) -> CustomerId {
        let id = CustomerId::from_uuid(persistence::new_id());
        self.standings.lock().unwrap().insert(id, standing);
        id
    }

    pub fn set(&self, id: CustomerId, standing: CustomerStanding) {
        self.standings.lock().unwrap().insert(id, standing);
    }

    /// Makes every `lock_standing` wait at `barrier`: placements then all hold an open
    /// transaction before any of them looks for its idempotency key, which forces the race
    /// that the key's primary key must settle. PostgreSQL only: on SQLite a second write
    /// transaction cannot begin while the first is open, so the barrier would never fill.
    pub fn gate(&self, barrier: Option<Arc<Barrier>>) {
        *self.gate.lock().unwrap() = barrier;
    }

    fn standing(&self, id: CustomerId) -> Option<CustomerStanding> {
        self.standings.lock().unwrap().get(&id).copied()
    }
}

#[async_trait::async_trait]
impl Customers for FakeCustomers {
    async fn lock_standing(
        &self,
        _tx: &Tx,
        id: CustomerId,
    ) -> Result<Option<CustomerStanding>, StoreError> {
        let gate = self.gate.lock().unwrap().clone();
        if let Some(barrier) = gate {
            barrier.wait().await;
        }
        Ok(self.standing(id))
    }

    async fn exists(&self, id: CustomerId) -> Result<bool, StoreError> {
        Ok(self.standing(id).is_some())
    }
}

pub struct Ctx {
    pub test: TestDatabase,
    /// Statements the service sent since the last `take()`.
    pub statements: persistence::testing::StatementCounter,
    /// The service's own handle (the one being counted).
    pub service_db: Db,
    pub customers: Arc<FakeCustomers>,
    pub orders: Orders,
}

impl Ctx {
    pub fn db(&self) -> &Db {
        self.test.db()
    }

    pub fn backend(&self) -> Backend {
        self.test.backend()
    }

    /// A new active customer.
    pub fn customer(&self) -> CustomerId {
        self.customers.add(CustomerStanding::Active)
    }

    /// Places a simple order for `customer` and returns it.
    pub async fn place(&self, customer: CustomerId) -> Order {
        self.orders
            .place(order(customer, vec![item("SKU-1", 1, 100)]), None)
            .await
            .unwrap()
            .order
    }

    /// Rows in `table`.
    pub async fn count(&self, table: &str) -> i64 {
        count(self.db(), table).await
    }

    /// The stored status and version of an order, read behind the service's back.
    pub async fn stored(&self, id: OrderId) -> (String, i64) {
        let order = self.orders.get(id).await.unwrap();
        (order.status.as_str().to_owned(), order.version)
    }
}

/// A fresh, migrated database and a service over it; `None` when the backend is unavailable
/// (the test then fails, unless `SKIP_POSTGRES_TESTS=1` opted in to skipping it, loudly).
pub async fn setup(backend: Backend) -> Option<Ctx> {
    let test = TestDatabase::create(backend).await?;
    let runner = migration::Runner::lock(test.url()).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
    let customers = Arc::new(FakeCustomers::default());
    let mut db = test.db().clone();
    let statements = db.count_statements();
    let orders = Orders::new(
        db.clone(),
        customers.clone(),
        persistence::testing::outbox(),
    );
    Some(Ctx {
        test,
        statements,
        service_db: db,
        customers,
        orders,
    })
}

pub async fn count(db: &Db, table: &str) -> i64 {
    let stmt = Statement::from_string(
        db.orm().get_database_backend(),
        format!("SELECT COUNT(*) AS n FROM {table}"),
    );
    let row = db.orm().query_one_raw(stmt).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

pub fn item(sku: &str, quantity: i64, unit_price_cents: i64) -> NewOrderItem {
    NewOrderItem {
        sku: sku.to_owned(),
        quantity,
        unit_price_cents,
    }
}

pub fn order(customer: CustomerId, items: Vec<NewOrderItem>) -> NewOrder {
    NewOrder::new(customer, "EUR", items).unwrap()
}

pub fn key(raw: &str) -> Option<IdempotencyKey> {
    Some(IdempotencyKey::parse(raw).unwrap())
}
