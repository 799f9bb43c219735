//! Placing and reading orders: totals, line order, the longest SKU, customer checks, and
//! atomicity when placement fails half-way.

use crate::common::{item, key, order, setup};
use orders::{CustomerStanding, NewOrder, OrderId, OrderStatus, OrdersError, faults};
use persistence::{Backend, Faults, StoreErrorKind};

persistence::both_backends!(
    placement_computes_total_and_keeps_item_order,
    a_sku_of_64_two_byte_characters_is_stored_intact,
    unknown_and_deactivated_customers_are_refused,
    get_returns_the_order_with_its_items,
    get_unknown_order_is_not_found,
    fault_after_order_row_leaves_nothing_behind,
    place_in_commits_or_rolls_back_with_the_callers_transaction
);

async fn placement_computes_total_and_keeps_item_order(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    let lines = vec![
        item("ZETA", 2, 250),
        item("alpha", 1, 1999),
        item("Mid dle", 10, 0),
        item("é-unicode", 3, 1),
    ];
    let placed = ctx
        .orders
        .place(NewOrder::new(customer, "USD", lines).unwrap(), None)
        .await
        .unwrap();
    assert!(!placed.replayed);
    let order = placed.order;
    assert_eq!(order.customer_id, customer);
    assert_eq!(order.status, OrderStatus::Pending);
    assert_eq!(order.currency.as_str(), "USD");
    assert_eq!(order.total_cents.cents(), 2 * 250 + 1999 + 3);
    assert_eq!(order.version, 1);
    assert_eq!(order.created_at, order.updated_at);
    let skus: Vec<&str> = order.items.iter().map(|i| i.sku.as_str()).collect();
    assert_eq!(skus, ["ZETA", "alpha", "Mid dle", "é-unicode"]);
    assert_eq!(order.items[0].quantity.get(), 2);
    assert_eq!(order.items[1].unit_price_cents.cents(), 1999);
    // What was returned is what was stored.
    assert_eq!(ctx.orders.get(order.id).await.unwrap(), order);
    assert_eq!(ctx.count("orders").await, 1);
    assert_eq!(ctx.count("order_items").await, 4);
    assert_eq!(ctx.count("idempotency_keys").await, 0);
}

/// The longest SKU the rules accept fits its column on both engines (`varchar(64)` counts
/// characters, not bytes). The rules themselves are unit-tested in `domain.rs`; validation runs
/// before any query, so they need no database.
async fn a_sku_of_64_two_byte_characters_is_stored_intact(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    // A SKU of exactly 64 characters is fine, and stored intact.
    let sku = "é".repeat(64);
    let placed = ctx
        .orders
        .place(order(customer, vec![item(&sku, 1, 1)]), None)
        .await
        .unwrap();
    assert_eq!(
        ctx.orders.get(placed.order.id).await.unwrap().items[0]
            .sku
            .as_str(),
        sku
    );
    assert_eq!(ctx.count("orders").await, 1);
    assert_eq!(ctx.count("order_items").await, 1);
}

async fn unknown_and_deactivated_customers_are_refused(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let unknown = orders::CustomerId::from_uuid(persistence::new_id());
    match ctx
        .orders
        .place(order(unknown, vec![item("A", 1, 1)]), key("k1"))
        .await
    {
        Err(OrdersError::UnknownCustomer(id)) => assert_eq!(id, unknown),
        other => panic!("expected UnknownCustomer, got {other:?}"),
    }
    let gone = ctx.customers.add(CustomerStanding::Deactivated);
    match ctx
        .orders
        .place(order(gone, vec![item("A", 1, 1)]), key("k1"))
        .await
    {
        Err(OrdersError::CustomerDeactivated(id)) => assert_eq!(id, gone),
        other => panic!("expected CustomerDeactivated, got {other:?}"),
    }
    assert_eq!(ctx.count("orders").await, 0);
    assert_eq!(ctx.count("order_items").await, 0);
    assert_eq!(ctx.count("idempotency_keys").await, 0);
    // Reactivated (in the fake), the same customer can order.
    ctx.customers.set(gone, CustomerStanding::Active);
    ctx.orders
        .place(order(gone, vec![item("A", 1, 1)]), key("k1"))
        .await
        .unwrap();
    assert_eq!(ctx.count("orders").await, 1);
}

async fn get_returns_the_order_with_its_items(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    let first = ctx
        .orders
        .place(
            order(customer, vec![item("A", 1, 5), item("B", 2, 7)]),
            None,
        )
        .await
        .unwrap()
        .order;
    let second = ctx
        .orders
        .place(order(customer, vec![item("C", 4, 3)]), None)
        .await
        .unwrap()
        .order;
    let got = ctx.orders.get(first.id).await.unwrap();
    assert_eq!(got, first);
    assert_eq!(got.items.len(), 2);
    assert_eq!(got.total_cents.cents(), 19);
    let got = ctx.orders.get(second.id).await.unwrap();
    assert_eq!(got.items.len(), 1);
    assert_eq!(got.items[0].sku.as_str(), "C");
}

async fn get_unknown_order_is_not_found(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let id = OrderId::from_uuid(persistence::new_id());
    match ctx.orders.get(id).await {
        Err(OrdersError::NotFound(missing)) => assert_eq!(missing, id),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

async fn fault_after_order_row_leaves_nothing_behind(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let faults = Faults::default();
    let service = ctx.orders.clone().with_faults(faults.clone());
    let customer = ctx.customer();
    faults.arm(faults::PLACE_AFTER_ORDER_ROW);
    let request = order(customer, vec![item("A", 1, 1), item("B", 2, 2)]);
    match service.place(request.clone(), key("retry-me")).await {
        Err(OrdersError::Store(err)) => assert_eq!(err.kind(), StoreErrorKind::InjectedFault),
        other => panic!("expected the injected fault, got {other:?}"),
    }
    assert_eq!(ctx.count("orders").await, 0);
    assert_eq!(ctx.count("order_items").await, 0);
    assert_eq!(ctx.count("idempotency_keys").await, 0);
    // Other instances are not affected by this instance's armed points.
    ctx.orders
        .place(order(customer, vec![item("X", 1, 1)]), None)
        .await
        .unwrap();
    assert_eq!(ctx.count("orders").await, 1);
    // Disarmed, the retry with the same key goes through as a first placement.
    faults.disarm(faults::PLACE_AFTER_ORDER_ROW);
    let placed = service.place(request, key("retry-me")).await.unwrap();
    assert!(!placed.replayed);
    assert_eq!(placed.order.items.len(), 2);
    assert_eq!(ctx.count("orders").await, 2);
    assert_eq!(ctx.count("order_items").await, 3);
    assert_eq!(ctx.count("idempotency_keys").await, 1);
}

/// A bulk load places many orders in one transaction of its own: they appear together at its
/// commit, with their `order.placed` events, and vanish together when it rolls back; a
/// deactivated customer is refused inside it just as by `place`.
async fn place_in_commits_or_rolls_back_with_the_callers_transaction(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    let tx = ctx.db().begin().await.unwrap();
    let mut placed = Vec::new();
    for n in 0..3 {
        let order = ctx
            .orders
            .place_in(&tx, order(customer, vec![item("SKU-1", n + 1, 100)]))
            .await
            .unwrap();
        placed.push(order);
    }
    assert_eq!(
        ctx.count("orders").await,
        0,
        "nothing visible before commit"
    );
    tx.commit().await.unwrap();
    assert_eq!(ctx.count("orders").await, 3);
    assert_eq!(ctx.count("order_items").await, 3);
    assert_eq!(ctx.count("events").await, 3);
    for order in &placed {
        assert_eq!(&ctx.orders.get(order.id).await.unwrap(), order);
        assert_eq!(order.status, OrderStatus::Pending);
    }

    let tx = ctx.db().begin().await.unwrap();
    ctx.orders
        .place_in(&tx, order(customer, vec![item("SKU-2", 1, 100)]))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(ctx.count("orders").await, 3);
    assert_eq!(ctx.count("events").await, 3);

    let gone = ctx.customers.add(CustomerStanding::Deactivated);
    let tx = ctx.db().begin().await.unwrap();
    let refused = ctx
        .orders
        .place_in(&tx, order(gone, vec![item("SKU-3", 1, 100)]))
        .await;
    assert!(matches!(refused, Err(OrdersError::CustomerDeactivated(c)) if c == gone));
}
