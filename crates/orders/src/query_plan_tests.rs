//! A customer's order list is served by `orders_user_id_id_idx` on both engines, in index
//! order, with no sort step, whoever the customer. A unit test, because the statement is
//! private to the crate.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use persistence::testing::{TestDatabase, query_plan};
use persistence::{Backend, Cursor, Limit, PageRequest, StoreError, Tx};
use persistence_orm::{ConnectionTrait, Orm};
use sea_orm::QueryTrait;

use crate::service::list_query;
use crate::{CustomerId, CustomerStanding, Customers, NewOrder, NewOrderItem, Orders};

/// Every customer exists and is active: the plan does not depend on who may order.
struct Everyone;

#[async_trait::async_trait]
impl Customers for Everyone {
    async fn lock_standing(
        &self,
        _tx: &Tx,
        _id: CustomerId,
    ) -> Result<Option<CustomerStanding>, StoreError> {
        Ok(Some(CustomerStanding::Active))
    }

    async fn exists(&self, _id: CustomerId) -> Result<bool, StoreError> {
        Ok(true)
    }
}

/// The orders context on `test`'s database, migrated to the latest schema.
async fn migrated(test: &TestDatabase) -> Orders {
    let runner = migration::Runner::lock(test.url()).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
    Orders::new(
        test.db().clone(),
        Arc::new(Everyone),
        persistence::testing::outbox(),
    )
}

persistence::both_backends!(list_query_uses_the_customer_index_without_sorting);

async fn list_query_uses_the_customer_index_without_sorting(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    let orders = migrated(&test).await;
    let ada = CustomerId::from_uuid(persistence::new_id());
    let bob = CustomerId::from_uuid(persistence::new_id());
    let mut last = None;
    for _ in 0..5 {
        for customer in [ada, bob] {
            let line = NewOrderItem {
                sku: "SKU-1".to_owned(),
                quantity: 1,
                unit_price_cents: 100,
            };
            let order = NewOrder::new(customer, "EUR", vec![line]).unwrap();
            let placed = orders.place(order, None).await.unwrap().order;
            if customer == ada {
                last = Some(placed.id);
            }
        }
    }
    let first_page = PageRequest::default();
    let later_page = PageRequest {
        limit: Limit::new(2).unwrap(),
        after: last.map(|id| Cursor::after_key(id.as_uuid())),
    };
    for page in [first_page, later_page] {
        let statement = list_query(ada, &page).build(test.db().orm().get_database_backend());
        let plan = query_plan(test.db(), statement).await;
        let text = plan.join("\n");
        assert!(
            text.contains("orders_user_id_id_idx"),
            "the list must be served by orders_user_id_id_idx:\n{text}"
        );
        let sorts = match backend {
            Backend::Sqlite => text.contains("USE TEMP B-TREE"),
            Backend::Postgres => plan.iter().any(|line| {
                line.trim_start().starts_with("Sort")
                    || line.contains("-> Sort")
                    || line.contains("Incremental Sort")
            }),
        };
        assert!(
            !sorts,
            "the index order must make a sort unnecessary:\n{text}"
        );
    }
}

/// A customer holding a tenth of all orders, every one older than everybody else's, is still
/// listed from its own range of `orders_user_id_id_idx`. Planned for that customer's own
/// statistics, PostgreSQL walked the primary key backwards through everyone else's newer orders
/// instead (docs/performance.md, "The scale run"); the service's sessions
/// plan generically (`persistence::POSTGRES_SESSION_SETTINGS`). SQLite keeps no per-value
/// statistics, so this is PostgreSQL's alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heavy_customer_with_old_orders_is_listed_from_its_own_index_range() {
    const HEAVY: usize = 3_000;
    const REST: usize = 27_000;
    let Some(test) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let orders = migrated(&test).await;
    let heavy = CustomerId::from_uuid(persistence::new_id());
    let others: Vec<CustomerId> = (0..100)
        .map(|_| CustomerId::from_uuid(persistence::new_id()))
        .collect();
    let owners: Vec<CustomerId> = std::iter::repeat_n(heavy, HEAVY)
        .chain((0..REST).map(|n| others[n % others.len()]))
        .collect();
    for batch in owners.chunks(1_000) {
        let new: Vec<NewOrder> = batch
            .iter()
            .map(|customer| {
                let line = NewOrderItem {
                    sku: "SKU-1".to_owned(),
                    quantity: 1,
                    unit_price_cents: 100,
                };
                NewOrder::new(*customer, "EUR", vec![line]).unwrap()
            })
            .collect();
        let tx = test.db().begin().await.unwrap();
        orders.place_many_in(&tx, &new).await.unwrap();
        tx.commit().await.unwrap();
    }
    let statement = list_query(heavy, &PageRequest::default()).build(sea_orm::DbBackend::Postgres);
    let plan = query_plan(test.db(), statement).await.join("\n");
    assert!(
        plan.contains("orders_user_id_id_idx") && !plan.contains("orders_pkey"),
        "the heavy customer's page must come from its own index range:\n{plan}"
    );
}
