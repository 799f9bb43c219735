//! Idempotent placement: retries replay, reuse with another body is refused, keys are scoped
//! to the customer, expire, and hold under concurrency.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::Barrier;

use crate::common::{item, key, order, setup};
use orders::OrdersError;
use persistence::{Backend, now_utc};

persistence::both_backends!(
    replay_with_same_key_and_body_returns_the_same_order_and_creates_nothing,
    same_key_with_a_different_body_is_refused,
    same_key_for_another_customer_is_independent,
    expired_key_lets_a_new_order_be_created,
    purge_deletes_only_expired_keys,
    concurrent_placements_with_one_key_create_one_order
);

async fn replay_with_same_key_and_body_returns_the_same_order_and_creates_nothing(
    backend: Backend,
) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    let request = order(customer, vec![item("A", 2, 300), item("B", 1, 50)]);
    let first = ctx
        .orders
        .place(request.clone(), key("abc-123"))
        .await
        .unwrap();
    assert!(!first.replayed);
    let again = ctx
        .orders
        .place(request.clone(), key("abc-123"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.order, first.order);
    // A replay reports the order as it is now, not as it was.
    let paid = ctx.orders.pay(first.order.id, None).await.unwrap();
    let later = ctx.orders.place(request, key("abc-123")).await.unwrap();
    assert!(later.replayed);
    assert_eq!(later.order, paid);
    assert_eq!(ctx.count("orders").await, 1);
    assert_eq!(ctx.count("order_items").await, 2);
    assert_eq!(ctx.count("idempotency_keys").await, 1);
    // Without a key, the same body is a new order.
    let request = order(customer, vec![item("A", 2, 300), item("B", 1, 50)]);
    let fresh = ctx.orders.place(request, None).await.unwrap();
    assert!(!fresh.replayed);
    assert_ne!(fresh.order.id, first.order.id);
}

async fn same_key_with_a_different_body_is_refused(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    ctx.orders
        .place(order(customer, vec![item("A", 1, 100)]), key("k"))
        .await
        .unwrap();
    let different_bodies = [
        order(customer, vec![item("A", 2, 100)]),
        order(customer, vec![item("A", 1, 101)]),
        order(customer, vec![item("B", 1, 100)]),
        order(customer, vec![item("A", 1, 100), item("A", 1, 100)]),
        orders::NewOrder::new(customer, "USD", vec![item("A", 1, 100)]).unwrap(),
    ];
    for body in different_bodies {
        match ctx.orders.place(body, key("k")).await {
            Err(OrdersError::IdempotencyKeyReused) => {}
            other => panic!("expected IdempotencyKeyReused, got {other:?}"),
        }
    }
    assert_eq!(ctx.count("orders").await, 1);
    assert_eq!(ctx.count("order_items").await, 1);
}

async fn same_key_for_another_customer_is_independent(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let ada = ctx.customer();
    let bob = ctx.customer();
    let lines = || vec![item("A", 1, 100)];
    let for_ada = ctx
        .orders
        .place(order(ada, lines()), key("shared"))
        .await
        .unwrap();
    let for_bob = ctx
        .orders
        .place(order(bob, lines()), key("shared"))
        .await
        .unwrap();
    assert!(!for_ada.replayed && !for_bob.replayed);
    assert_ne!(for_ada.order.id, for_bob.order.id);
    assert_eq!(for_bob.order.customer_id, bob);
    // Each still replays its own.
    let again = ctx
        .orders
        .place(order(bob, lines()), key("shared"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.order.id, for_bob.order.id);
    assert_eq!(ctx.count("orders").await, 2);
    assert_eq!(ctx.count("idempotency_keys").await, 2);
}

async fn expired_key_lets_a_new_order_be_created(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    let forgetful = ctx
        .orders
        .clone()
        .with_idempotency_ttl(chrono::Duration::zero());
    let request = order(customer, vec![item("A", 1, 100)]);
    let first = forgetful.place(request.clone(), key("k")).await.unwrap();
    // The same body as a new request (a `NewOrder` carries the id it will be stored under).
    let second = forgetful
        .place(order(customer, vec![item("A", 1, 100)]), key("k"))
        .await
        .unwrap();
    assert!(!second.replayed);
    assert_ne!(second.order.id, first.order.id);
    // Once expired, the key may even carry a different body.
    let other = order(customer, vec![item("Z", 5, 1)]);
    let third = forgetful.place(other, key("k")).await.unwrap();
    assert!(!third.replayed);
    assert_eq!(ctx.count("orders").await, 3);
    // The expired record was replaced, not duplicated.
    assert_eq!(ctx.count("idempotency_keys").await, 1);
    // The last record, made with the default lifetime, replays.
    let body = order(customer, vec![item("Z", 5, 1)]);
    let fourth = ctx.orders.place(body.clone(), key("k2")).await.unwrap();
    let replayed = forgetful.place(body, key("k2")).await.unwrap();
    assert!(replayed.replayed);
    assert_eq!(replayed.order.id, fourth.order.id);
}

async fn purge_deletes_only_expired_keys(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    let request = order(customer, vec![item("A", 1, 100)]);
    let first = ctx.orders.place(request.clone(), key("old")).await.unwrap();
    ctx.orders
        .place(order(customer, vec![item("B", 1, 1)]), key("other"))
        .await
        .unwrap();
    // Nothing has expired yet.
    assert_eq!(
        ctx.orders
            .purge_expired_idempotency_keys(now_utc())
            .await
            .unwrap(),
        0
    );
    assert_eq!(ctx.count("idempotency_keys").await, 2);
    // A day and an hour later, both have.
    let later = now_utc() + chrono::Duration::hours(25);
    assert_eq!(
        ctx.orders
            .purge_expired_idempotency_keys(later)
            .await
            .unwrap(),
        2
    );
    assert_eq!(ctx.count("idempotency_keys").await, 0);
    // Orders are kept; only the memory of the keys went.
    assert_eq!(ctx.count("orders").await, 2);
    // The purged key is free again: same body, new order.
    let same_body = order(customer, vec![item("A", 1, 100)]);
    let again = ctx.orders.place(same_body, key("old")).await.unwrap();
    assert!(!again.replayed);
    assert_ne!(again.order.id, first.order.id);
    // A mix: a short-lived key expires, a default one stays.
    let short = ctx
        .orders
        .clone()
        .with_idempotency_ttl(chrono::Duration::seconds(-1));
    short
        .place(order(customer, vec![item("C", 1, 1)]), key("short"))
        .await
        .unwrap();
    assert_eq!(
        ctx.orders
            .purge_expired_idempotency_keys(now_utc())
            .await
            .unwrap(),
        1
    );
    assert_eq!(ctx.count("idempotency_keys").await, 1);
}

async fn concurrent_placements_with_one_key_create_one_order(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    let request = order(customer, vec![item("A", 1, 100), item("B", 3, 7)]);
    if backend == Backend::Postgres {
        // All eight transactions open before any looks up the key, so several of them miss
        // each other's rows and the losers meet the primary key on insert.
        ctx.customers.gate(Some(Arc::new(Barrier::new(8))));
    }
    let start = Arc::new(Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (service, request, start) = (ctx.orders.clone(), request.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                service.place(request, key("once")).await
            })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut fresh = 0;
    for task in futures::future::join_all(tasks).await {
        let placed = task.unwrap().expect("every request gets the order");
        ids.insert(placed.order.id);
        if !placed.replayed {
            fresh += 1;
        }
        assert_eq!(placed.order.items.len(), 2);
    }
    assert_eq!(ids.len(), 1, "all requests see the same order");
    assert_eq!(fresh, 1, "exactly one request created it");
    assert_eq!(ctx.count("orders").await, 1);
    assert_eq!(ctx.count("order_items").await, 2);
    assert_eq!(ctx.count("idempotency_keys").await, 1);
}
