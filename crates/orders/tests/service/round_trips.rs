//! Round trips on the hot paths are fixed, whatever the number of orders or lines: no N+1.
//! Counted with a statement counter on the service's own pool.

use crate::common::{item, order, setup};
use persistence::{Backend, Limit, PageRequest};

persistence::both_backends!(
    get_takes_two_statements_whatever_the_line_count,
    listing_a_page_takes_two_statements_whatever_its_size,
    placement_inserts_all_lines_in_one_statement,
    bulk_placement_takes_three_statements_whatever_the_batch_size,
    cancelling_a_customers_pending_orders_takes_three_statements
);

async fn get_takes_two_statements_whatever_the_line_count(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    let lines = (0..25).map(|i| item(&format!("SKU-{i}"), 1, 10)).collect();
    let placed = ctx
        .orders
        .place(order(customer, lines), None)
        .await
        .unwrap();
    ctx.statements.take();
    let fetched = ctx.orders.get(placed.order.id).await.unwrap();
    assert_eq!(fetched.items.len(), 25);
    assert_eq!(
        ctx.statements.take(),
        2,
        "the order row, then all of its lines"
    );
}

async fn listing_a_page_takes_two_statements_whatever_its_size(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    for _ in 0..12 {
        let lines = vec![item("A", 1, 1), item("B", 2, 2), item("C", 3, 3)];
        ctx.orders
            .place(order(customer, lines), None)
            .await
            .unwrap();
    }
    for limit in [1, 5, 10, 100] {
        ctx.statements.take();
        let page = PageRequest {
            limit: Limit::new(limit).unwrap(),
            after: None,
        };
        let listed = ctx.orders.list_for_customer(customer, page).await.unwrap();
        assert_eq!(listed.items.len(), (limit as usize).min(12));
        assert!(listed.items.iter().all(|o| o.items.len() == 3));
        assert_eq!(
            ctx.statements.take(),
            2,
            "limit {limit}: orders, then all their lines"
        );
    }
}

async fn placement_inserts_all_lines_in_one_statement(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    ctx.statements.take();
    ctx.orders
        .place(order(customer, vec![item("ONE", 1, 1)]), None)
        .await
        .unwrap();
    let one_line = ctx.statements.take();
    // Customer check is the fake's; the service itself looks up nothing without a key:
    // the order row, its lines, its event, and nothing else.
    assert_eq!(one_line, 2 + events(backend));
    let many = (0..50).map(|i| item(&format!("SKU-{i}"), 1, 1)).collect();
    ctx.orders.place(order(customer, many), None).await.unwrap();
    assert_eq!(
        ctx.statements.take(),
        one_line,
        "fifty lines cost what one line costs"
    );
}

async fn cancelling_a_customers_pending_orders_takes_three_statements(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    for _ in 0..6 {
        ctx.place(customer).await;
    }
    let tx = ctx.service_db.begin().await.unwrap();
    ctx.statements.take();
    let cancelled = ctx
        .orders
        .cancel_pending_for_customer(&tx, customer)
        .await
        .unwrap();
    assert_eq!(cancelled.len(), 6);
    assert_eq!(
        ctx.statements.take(),
        2 + events(backend),
        "the orders, all of their lines, all of their events"
    );
    tx.commit().await.unwrap();
    assert_eq!(ctx.statements.take(), 0, "nothing more at commit");
}

/// Bulk placement (how the seed loads a million orders) costs a fixed number of statements
/// per batch: all orders, all their lines, all their events.
async fn bulk_placement_takes_three_statements_whatever_the_batch_size(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customers: Vec<_> = (0..10).map(|_| ctx.customer()).collect();
    for size in [1, 20, 300] {
        let batch: Vec<_> = (0..size)
            .map(|n| {
                let lines = vec![item("A", 1, 1), item("B", 2, 2), item("C", 3, 3)];
                order(customers[n % customers.len()], lines)
            })
            .collect();
        let tx = ctx.service_db.begin().await.unwrap();
        ctx.statements.take();
        let placed = ctx.orders.place_many_in(&tx, &batch).await.unwrap();
        assert_eq!(placed.len(), size);
        // The customers' standings are the fake port's (no statement); the real adapter's
        // single statement is counted in the users context's tests.
        assert_eq!(
            ctx.statements.take(),
            2 + events(backend),
            "{size} orders: the orders, all their lines, all their events"
        );
        tx.commit().await.unwrap();
        assert_eq!(ctx.statements.take(), 0, "nothing more at commit");
    }
}

/// Statements that appending a batch of events costs: the insert, and on SQLite first the
/// position counter (see `persistence::outbox`).
fn events(backend: Backend) -> u64 {
    match backend {
        Backend::Postgres => 1,
        Backend::Sqlite => 2,
    }
}
