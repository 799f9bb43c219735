//! The statement behind `Catalog::list` is served by the primary-key index on both engines: no
//! sort step, whatever the page. A unit test, because the statement is private to the crate.

#![allow(clippy::unwrap_used)]

use persistence::testing::{TestDatabase, query_plan};
use persistence::{Backend, Limit};
use persistence_orm::{ConnectionTrait, Orm};
use sea_orm::QueryTrait;

use crate::service::list_query;
use crate::{Catalog, Description, NewProduct, Prices, ProductName, Sku};

persistence::both_backends!(list_query_walks_the_primary_key_index);

async fn list_query_walks_the_primary_key_index(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    let runner = migration::Runner::lock(test.url()).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
    let catalog = Catalog::new(test.db().clone(), persistence::testing::outbox());
    let tx = test.db().begin().await.unwrap();
    let mut skus = Vec::new();
    for i in 0..200 {
        let new = NewProduct {
            sku: Sku::parse(&format!("SKU-{i:04}")).unwrap(),
            name: ProductName::parse(&format!("Product {i}")).unwrap(),
            description: Description::default(),
            prices: Prices::parse(&[("EUR".to_owned(), 100 + i)]).unwrap(),
        };
        skus.push(catalog.create_in(&tx, new).await.unwrap().sku);
    }
    tx.commit().await.unwrap();
    let limit = Limit::new(10).unwrap();
    for (after, with_archived, expected) in [
        (None, false, &skus[..10]),
        (Some(&skus[20]), false, &skus[21..31]),
        (Some(&skus[20]), true, &skus[21..31]),
    ] {
        let page = catalog.list(after, limit, with_archived).await.unwrap();
        let listed: Vec<Sku> = page.items.into_iter().map(|p| p.sku).collect();
        assert_eq!(listed, expected);
        let statement =
            list_query(after, limit, with_archived).build(test.db().orm().get_database_backend());
        let plan = query_plan(test.db(), statement).await;
        let shown = plan.join("\n");
        match backend {
            Backend::Sqlite => {
                assert!(
                    plan.iter().any(|line| {
                        (line.contains("SEARCH") || line.contains("SCAN"))
                            && line.contains("sqlite_autoindex_products_1")
                    }),
                    "SQLite does not use the primary-key index:\n{shown}"
                );
                assert!(!shown.contains("TEMP B-TREE"), "SQLite sorts:\n{shown}");
            }
            Backend::Postgres => {
                assert!(
                    plan.iter().any(|line| {
                        (line.contains("Index Scan") || line.contains("Index Only Scan"))
                            && line.contains("products_pkey")
                    }),
                    "PostgreSQL does not use products_pkey:\n{shown}"
                );
                assert!(!shown.contains("Sort"), "PostgreSQL sorts:\n{shown}");
            }
        }
    }
}
