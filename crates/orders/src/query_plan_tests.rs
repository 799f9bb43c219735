//! A customer's order list is served by `orders_user_id_id_idx` on both engines, in index
//! order, with no sort step. A unit test, because the statement is private to the crate.

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

persistence::both_backends!(list_query_uses_the_customer_index_without_sorting);

async fn list_query_uses_the_customer_index_without_sorting(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    let runner = migration::Runner::lock(test.url()).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
    let orders = Orders::new(
        test.db().clone(),
        Arc::new(Everyone),
        persistence::testing::outbox(),
    );
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
