//! The order lifecycle against the database: every move from every state, versions, stale
//! copies, races, and the bulk cancellation that a customer's deactivation runs.

use crate::common::{Ctx, setup};
use orders::{Order, OrderId, OrderStatus, OrdersError};
use persistence::Backend;

persistence::both_backends!(
    every_transition_from_every_state_follows_the_table,
    legal_moves_bump_version_and_updated_at,
    stale_expected_version_is_a_conflict,
    transitions_of_unknown_orders_are_not_found,
    concurrent_pay_and_cancel_exactly_one_wins,
    cancel_pending_for_customer_cancels_only_that_customers_pending_orders,
    an_owner_scoped_move_of_another_customers_order_is_not_found
);

async fn an_owner_scoped_move_of_another_customers_order_is_not_found(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let owner = ctx.customer();
    let stranger = ctx.customer();
    let order = ctx.place(owner).await;
    // Another customer cannot tell this order from a missing one, whatever it asks for.
    for (to, expected) in [(OrderStatus::Paid, None), (OrderStatus::Cancelled, Some(1))] {
        let refused = ctx
            .orders
            .transition(order.id, to, expected, Some(stranger))
            .await;
        assert!(
            matches!(refused, Err(OrdersError::NotFound(id)) if id == order.id),
            "{refused:?}"
        );
    }
    assert_eq!(ctx.stored(order.id).await, ("pending".to_owned(), 1));
    // Stale copy or illegal move by the owner still says why.
    let stale = ctx
        .orders
        .transition(order.id, OrderStatus::Paid, Some(7), Some(owner))
        .await;
    assert!(
        matches!(stale, Err(OrdersError::VersionConflict { .. })),
        "{stale:?}"
    );
    let paid = ctx
        .orders
        .transition(order.id, OrderStatus::Paid, Some(1), Some(owner))
        .await
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    let illegal = ctx
        .orders
        .transition(order.id, OrderStatus::Paid, None, Some(owner))
        .await;
    assert!(
        matches!(illegal, Err(OrdersError::IllegalTransition { .. })),
        "{illegal:?}"
    );
}

/// Which service call performs a move to `to`.
async fn apply(
    ctx: &Ctx,
    id: OrderId,
    to: OrderStatus,
    expected: Option<i64>,
) -> Result<Order, OrdersError> {
    match to {
        OrderStatus::Paid => ctx.orders.pay(id, expected).await,
        OrderStatus::Shipped => ctx.orders.ship(id, expected).await,
        OrderStatus::Cancelled => ctx.orders.cancel(id, expected).await,
        OrderStatus::Pending => unreachable!("no operation moves an order back to pending"),
    }
}

/// A fresh order brought to `status` by legal moves.
async fn order_in(ctx: &Ctx, status: OrderStatus) -> Order {
    let customer = ctx.customer();
    let order = ctx.place(customer).await;
    let path: &[OrderStatus] = match status {
        OrderStatus::Pending => &[],
        OrderStatus::Paid => &[OrderStatus::Paid],
        OrderStatus::Shipped => &[OrderStatus::Paid, OrderStatus::Shipped],
        OrderStatus::Cancelled => &[OrderStatus::Cancelled],
    };
    let mut current = order;
    for step in path {
        current = apply(ctx, current.id, *step, None).await.unwrap();
    }
    assert_eq!(current.status, status);
    current
}

async fn every_transition_from_every_state_follows_the_table(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let targets = [
        OrderStatus::Paid,
        OrderStatus::Shipped,
        OrderStatus::Cancelled,
    ];
    // Cancelled is reachable from pending and from paid: test both histories.
    let mut starts: Vec<Order> = Vec::new();
    for status in OrderStatus::ALL {
        starts.push(order_in(&ctx, status).await);
    }
    let paid_then_cancelled = order_in(&ctx, OrderStatus::Paid).await;
    starts.push(
        ctx.orders
            .cancel(paid_then_cancelled.id, None)
            .await
            .unwrap(),
    );
    for start in starts {
        for to in targets {
            // Each attempt on its own copy of the starting state.
            let subject = if start.status == OrderStatus::Cancelled {
                start.clone()
            } else {
                order_in(&ctx, start.status).await
            };
            let result = apply(&ctx, subject.id, to, Some(subject.version)).await;
            if subject.status.can_become(to) {
                let moved = result.unwrap_or_else(|e| panic!("{} -> {to}: {e:?}", subject.status));
                assert_eq!(moved.status, to);
                assert_eq!(moved.version, subject.version + 1);
                assert_eq!(moved.items, subject.items);
            } else {
                match result {
                    Err(OrdersError::IllegalTransition { from, to: target }) => {
                        assert_eq!((from, target), (subject.status, to));
                    }
                    other => panic!(
                        "{} -> {to} should be illegal, got {other:?}",
                        subject.status
                    ),
                }
                // Refused moves change nothing.
                assert_eq!(ctx.orders.get(subject.id).await.unwrap(), subject);
            }
        }
    }
}

async fn legal_moves_bump_version_and_updated_at(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let placed = order_in(&ctx, OrderStatus::Pending).await;
    let paid = ctx.orders.pay(placed.id, Some(1)).await.unwrap();
    assert_eq!((paid.status, paid.version), (OrderStatus::Paid, 2));
    assert!(paid.updated_at >= placed.updated_at);
    assert_eq!(paid.created_at, placed.created_at);
    let shipped = ctx.orders.ship(placed.id, None).await.unwrap();
    assert_eq!((shipped.status, shipped.version), (OrderStatus::Shipped, 3));
    assert!(shipped.updated_at >= paid.updated_at);
    assert_eq!(ctx.orders.get(placed.id).await.unwrap(), shipped);
}

async fn stale_expected_version_is_a_conflict(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let order = order_in(&ctx, OrderStatus::Pending).await;
    match ctx.orders.pay(order.id, Some(7)).await {
        Err(OrdersError::VersionConflict { expected, current }) => {
            assert_eq!((expected, current), (7, 1));
        }
        other => panic!("expected a version conflict, got {other:?}"),
    }
    ctx.orders.pay(order.id, Some(1)).await.unwrap();
    // A client still holding version 1 tries to cancel: stale, even though the move is legal.
    match ctx.orders.cancel(order.id, Some(1)).await {
        Err(OrdersError::VersionConflict { expected, current }) => {
            assert_eq!((expected, current), (1, 2));
        }
        other => panic!("expected a version conflict, got {other:?}"),
    }
    assert_eq!(ctx.stored(order.id).await, ("paid".to_owned(), 2));
    // With the current version it goes through.
    let cancelled = ctx.orders.cancel(order.id, Some(2)).await.unwrap();
    assert_eq!(
        (cancelled.status, cancelled.version),
        (OrderStatus::Cancelled, 3)
    );
}

async fn transitions_of_unknown_orders_are_not_found(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let missing = OrderId::from_uuid(persistence::new_id());
    for to in [
        OrderStatus::Paid,
        OrderStatus::Shipped,
        OrderStatus::Cancelled,
    ] {
        for expected in [None, Some(1)] {
            match apply(&ctx, missing, to, expected).await {
                Err(OrdersError::NotFound(id)) => assert_eq!(id, missing),
                other => panic!("expected NotFound, got {other:?}"),
            }
        }
    }
}

async fn concurrent_pay_and_cancel_exactly_one_wins(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    for _ in 0..5 {
        let order = order_in(&ctx, OrderStatus::Pending).await;
        let (payer, canceller) = (ctx.orders.clone(), ctx.orders.clone());
        let id = order.id;
        let pay = tokio::spawn(async move { payer.pay(id, Some(1)).await });
        let cancel = tokio::spawn(async move { canceller.cancel(id, Some(1)).await });
        let results = [pay.await.unwrap(), cancel.await.unwrap()];
        let winners: Vec<&Order> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "exactly one move wins: {results:?}");
        let winner = winners[0];
        assert_eq!(winner.version, 2);
        for result in &results {
            match result {
                Ok(_) => {}
                Err(OrdersError::VersionConflict {
                    expected: 1,
                    current: 2,
                })
                | Err(OrdersError::IllegalTransition { .. }) => {}
                Err(other) => panic!("the loser must see a conflict, got {other:?}"),
            }
        }
        assert_eq!(ctx.orders.get(id).await.unwrap(), *winner);
    }
}

async fn cancel_pending_for_customer_cancels_only_that_customers_pending_orders(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let ada = ctx.customer();
    let bob = ctx.customer();
    let ada_pending = [ctx.place(ada).await, ctx.place(ada).await];
    let ada_paid = ctx.orders.pay(ctx.place(ada).await.id, None).await.unwrap();
    let ada_shipped = {
        let o = ctx.orders.pay(ctx.place(ada).await.id, None).await.unwrap();
        ctx.orders.ship(o.id, None).await.unwrap()
    };
    let bob_pending = ctx.place(bob).await;

    // Rolled back: nothing changes.
    {
        let tx = ctx.db().begin().await.unwrap();
        let n = ctx
            .orders
            .cancel_pending_for_customer(&tx, ada)
            .await
            .unwrap();
        assert_eq!(n.len(), 2);
        tx.rollback().await.unwrap();
    }
    for order in &ada_pending {
        assert_eq!(ctx.stored(order.id).await, ("pending".to_owned(), 1));
    }

    let tx = ctx.db().begin().await.unwrap();
    let n = ctx
        .orders
        .cancel_pending_for_customer(&tx, ada)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(n.len(), 2);
    for order in &ada_pending {
        let now = ctx.orders.get(order.id).await.unwrap();
        assert_eq!((now.status, now.version), (OrderStatus::Cancelled, 2));
        assert!(now.updated_at >= order.updated_at);
    }
    assert_eq!(ctx.orders.get(ada_paid.id).await.unwrap(), ada_paid);
    assert_eq!(ctx.orders.get(ada_shipped.id).await.unwrap(), ada_shipped);
    assert_eq!(ctx.orders.get(bob_pending.id).await.unwrap(), bob_pending);

    // Nothing left to cancel.
    let tx = ctx.db().begin().await.unwrap();
    assert_eq!(
        ctx.orders
            .cancel_pending_for_customer(&tx, ada)
            .await
            .unwrap()
            .len(),
        0
    );
    tx.commit().await.unwrap();
}
