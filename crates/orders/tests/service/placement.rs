//! Placing and reading orders: totals, line order, the longest SKU, customer checks, and
//! atomicity when placement fails half-way.

use crate::common::{item, key, order, setup};
use orders::{
    CustomerId, CustomerStanding, NewOrder, Order, OrderId, OrderStatus, OrdersError, faults,
};
use persistence::outbox::{self, Event, FeedPoint};
use persistence::{Backend, Faults, StoreErrorKind};
use persistence::{Db, Limit, PageRequest};
use uuid::Uuid;

persistence::both_backends!(
    placement_computes_total_and_keeps_item_order,
    a_sku_of_64_two_byte_characters_is_stored_intact,
    unknown_and_deactivated_customers_are_refused,
    get_returns_the_order_with_its_items,
    get_unknown_order_is_not_found,
    fault_after_order_row_leaves_nothing_behind,
    place_in_commits_or_rolls_back_with_the_callers_transaction,
    place_many_in_writes_exactly_what_single_placements_write,
    place_many_in_refuses_the_whole_batch_for_one_bad_customer
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

/// Seven orders over two customers with one to four lines each, differing in every field.
fn mixed_batch(first: CustomerId, second: CustomerId) -> Vec<NewOrder> {
    (0..7)
        .map(|n: i64| {
            let customer = if n % 3 == 0 { second } else { first };
            let lines = (0..=(n % 4))
                .map(|line| item(&format!("SKU-{n}-{line}"), line + 1, 100 * n + line))
                .collect();
            order(customer, lines)
        })
        .collect()
}

/// What an order is apart from its identity and the moment it was placed.
fn essence(
    order: &Order,
) -> (
    CustomerId,
    OrderStatus,
    String,
    i64,
    Vec<orders::OrderItem>,
    i64,
) {
    (
        order.customer_id,
        order.status,
        order.currency.as_str().to_owned(),
        order.total_cents.cents(),
        order.items.clone(),
        order.version,
    )
}

/// Every committed event after feed point `after`.
async fn events_after(db: &Db, after: FeedPoint) -> Vec<Event> {
    outbox::settle(db, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let page = outbox::read(db, after, Limit::new(100).unwrap())
        .await
        .unwrap();
    assert!(page.next.is_none(), "fits one page");
    page.items
}

/// A customer's whole list, newest first.
async fn listed(ctx: &crate::common::Ctx, customer: CustomerId) -> Vec<Order> {
    let page = PageRequest {
        limit: Limit::new(100).unwrap(),
        after: None,
    };
    ctx.orders
        .list_for_customer(customer, page)
        .await
        .unwrap()
        .items
}

/// The bulk form is the single form, batched: the same orders (in input order), the same
/// lines, the same `order.placed` events in the same feed order, visible together at commit.
async fn place_many_in_writes_exactly_what_single_placements_write(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let (a, b) = (ctx.customer(), ctx.customer());
    let (bulk_a, bulk_b) = (ctx.customer(), ctx.customer());

    let tx = ctx.db().begin().await.unwrap();
    let mut singles = Vec::new();
    for new in mixed_batch(a, b) {
        singles.push(ctx.orders.place_in(&tx, new).await.unwrap());
    }
    tx.commit().await.unwrap();
    let single_events = events_after(ctx.db(), FeedPoint::START).await;
    let single_rows = (
        ctx.count("orders").await,
        ctx.count("order_items").await,
        ctx.count("events").await,
    );
    let last = single_events.last().unwrap().point;

    let tx = ctx.db().begin().await.unwrap();
    let batch = ctx
        .orders
        .place_many_in(&tx, &mixed_batch(bulk_a, bulk_b))
        .await
        .unwrap();
    assert_eq!(
        ctx.count("orders").await,
        single_rows.0,
        "nothing before commit"
    );
    tx.commit().await.unwrap();

    assert_eq!(batch.len(), singles.len());
    let renamed = |customer| if customer == bulk_a { a } else { b };
    for (single, bulk) in singles.iter().zip(&batch) {
        let mut bulk_essence = essence(bulk);
        bulk_essence.0 = renamed(bulk_essence.0);
        assert_eq!(bulk_essence, essence(single));
        assert_eq!(&ctx.orders.get(bulk.id).await.unwrap(), bulk, "as stored");
        assert_eq!(bulk.created_at, bulk.updated_at);
    }
    assert_eq!(
        (
            ctx.count("orders").await,
            ctx.count("order_items").await,
            ctx.count("events").await,
        ),
        (single_rows.0 * 2, single_rows.1 * 2, single_rows.2 * 2),
        "as many rows of each kind"
    );

    let batch_events = events_after(ctx.db(), last).await;
    let shape = |events: &[Event]| -> Vec<(String, Uuid, serde_json::Value)> {
        events
            .iter()
            .map(|e| {
                let subject = Uuid::parse_str(&e.subject).unwrap();
                (e.event_type.clone(), subject, e.data.clone())
            })
            .collect()
    };
    let expected = |orders: &[Order]| -> Vec<(String, Uuid, serde_json::Value)> {
        orders
            .iter()
            .map(|o| {
                let id = o.id.as_uuid();
                (
                    "order.placed".to_owned(),
                    id,
                    serde_json::json!({ "subject": id }),
                )
            })
            .collect()
    };
    assert_eq!(shape(&single_events), expected(&singles));
    assert_eq!(
        shape(&batch_events),
        expected(&batch),
        "one per order, in input order"
    );

    // Lists order them the same way: newest (last placed) first.
    for (single_owner, bulk_owner) in [(a, bulk_a), (b, bulk_b)] {
        let single_list: Vec<_> = listed(&ctx, single_owner)
            .await
            .iter()
            .map(essence)
            .collect();
        let bulk_list: Vec<_> = listed(&ctx, bulk_owner)
            .await
            .iter()
            .map(|o| {
                let mut e = essence(o);
                e.0 = renamed(e.0);
                e
            })
            .collect();
        assert_eq!(bulk_list, single_list);
    }
    assert!(
        ctx.orders
            .place_many_in(&ctx.db().begin().await.unwrap(), &[])
            .await
            .unwrap()
            .is_empty()
    );
}

/// One unknown or deactivated customer refuses the whole batch with that customer's error
/// and writes nothing; the caller's transaction stays usable.
async fn place_many_in_refuses_the_whole_batch_for_one_bad_customer(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let active = ctx.customer();
    let gone = ctx.customers.add(CustomerStanding::Deactivated);
    let unknown = CustomerId::from_uuid(uuid::Uuid::now_v7());
    let one = || order(active, vec![item("SKU-1", 1, 100)]);

    let tx = ctx.db().begin().await.unwrap();
    let refused = ctx
        .orders
        .place_many_in(&tx, &[one(), order(gone, vec![item("X", 1, 1)]), one()])
        .await;
    assert!(matches!(refused, Err(OrdersError::CustomerDeactivated(c)) if c == gone));
    let refused = ctx
        .orders
        .place_many_in(&tx, &[one(), order(unknown, vec![item("X", 1, 1)])])
        .await;
    assert!(matches!(refused, Err(OrdersError::UnknownCustomer(c)) if c == unknown));
    let placed = ctx
        .orders
        .place_many_in(&tx, &[one(), one()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(placed.len(), 2);
    assert_eq!(ctx.count("orders").await, 2, "only the accepted batch");
    assert_eq!(ctx.count("order_items").await, 2);
    assert_eq!(ctx.count("events").await, 2);
}
