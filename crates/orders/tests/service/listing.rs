//! A customer's orders, newest first, page by page: order, completeness, isolation, and the
//! query plan that makes it cheap.

use crate::common::{item, order, setup};
use orders::{CustomerId, OrderId};
use persistence::{Backend, Cursor, Limit, PageRequest};
use sea_orm::{ConnectionTrait, Statement};

persistence::both_backends!(
    list_is_newest_first_and_pages_have_no_gaps_or_duplicates,
    list_is_isolated_per_customer_and_empty_for_unknown,
    list_query_uses_the_customer_index_without_sorting
);

async fn list_is_newest_first_and_pages_have_no_gaps_or_duplicates(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    let mut placed = Vec::new();
    for n in 0..7 {
        let lines = vec![item(&format!("SKU-{n}"), n + 1, 10), item("EXTRA", 1, n)];
        let order = ctx
            .orders
            .place(order(customer, lines), None)
            .await
            .unwrap()
            .order;
        placed.push(order);
    }
    let newest_first: Vec<OrderId> = placed.iter().rev().map(|o| o.id).collect();

    let limit = Limit::new(3).unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = ctx
            .orders
            .list_for_customer(customer, PageRequest { limit, after })
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        for listed in &page.items {
            // Every order arrives whole, with its own lines in order.
            let original = placed.iter().find(|o| o.id == listed.id).unwrap();
            assert_eq!(listed, original);
        }
        seen.extend(page.items.iter().map(|o| o.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first);

    // The whole list in one page has no next cursor.
    let all = ctx
        .orders
        .list_for_customer(customer, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        all.items.iter().map(|o| o.id).collect::<Vec<_>>(),
        newest_first
    );
    assert_eq!(all.next, None);

    // An exactly full last page does not promise a next page that would be empty.
    let exact = ctx
        .orders
        .list_for_customer(
            customer,
            PageRequest {
                limit: Limit::new(7).unwrap(),
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 7);
    assert_eq!(exact.next, None);

    // A cursor past the oldest order yields an empty page.
    let past = ctx
        .orders
        .list_for_customer(
            customer,
            PageRequest {
                limit,
                after: Some(Cursor::after_key(placed[0].id.as_uuid())),
            },
        )
        .await
        .unwrap();
    assert!(past.items.is_empty());
    assert_eq!(past.next, None);
}

async fn list_is_isolated_per_customer_and_empty_for_unknown(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let ada = ctx.customer();
    let bob = ctx.customer();
    let mut ada_orders = Vec::new();
    for _ in 0..3 {
        ada_orders.push(ctx.place(ada).await.id);
        ctx.place(bob).await;
    }
    ada_orders.reverse();
    let page = ctx
        .orders
        .list_for_customer(ada, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|o| o.id).collect::<Vec<_>>(),
        ada_orders
    );
    assert!(page.items.iter().all(|o| o.customer_id == ada));

    let unknown = CustomerId::from_uuid(persistence::new_id());
    let page = ctx
        .orders
        .list_for_customer(unknown, PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.next, None);
}

async fn list_query_uses_the_customer_index_without_sorting(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let ada = ctx.customer();
    let bob = ctx.customer();
    let mut last = None;
    for _ in 0..5 {
        last = Some(ctx.place(ada).await.id);
        ctx.place(bob).await;
    }
    let first_page = PageRequest::default();
    let later_page = PageRequest {
        limit: Limit::new(2).unwrap(),
        after: last.map(|id| Cursor::after_key(id.as_uuid())),
    };
    for page in [first_page, later_page] {
        let stmt = orders::list_statement(backend, ada, &page);
        let tx = ctx.db().begin().await.unwrap();
        let conn = tx.orm();
        let (explain, column) = match backend {
            Backend::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
            Backend::Postgres => {
                // On a tiny table a sequential scan, or a bitmap scan (which loses the index
                // order) plus a sort of a handful of rows, is cheapest. Forbid both so the plan
                // shows what the index does for a customer with many orders: an ordered
                // backward scan that the LIMIT stops early, with no sort.
                conn.execute_unprepared(
                    "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off",
                )
                .await
                .unwrap();
                ("EXPLAIN", "QUERY PLAN")
            }
        };
        let plan_stmt = Statement {
            sql: format!("{explain} {}", stmt.sql),
            ..stmt
        };
        let plan: Vec<String> = conn
            .query_all_raw(plan_stmt)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String>("", column).unwrap())
            .collect();
        tx.rollback().await.unwrap();
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
