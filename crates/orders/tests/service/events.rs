//! Every committed change of an order appends exactly one event in its transaction, and the
//! feed hands events out in commit order, even to a reader racing eight writers.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::{Ctx, item, key, order, setup};
use orders::OrderId;
use orders::OrderStatus;
use persistence::outbox::{self, Event, FeedPoint};
use persistence::{Backend, Db, Limit};
use uuid::Uuid;

/// How long a read waits for the feed to catch up with what committed.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

persistence::both_backends!(
    each_committed_change_appends_one_event,
    refused_and_replayed_requests_append_nothing,
    a_rolled_back_bulk_cancellation_leaves_no_events,
    feed_paging_under_eight_concurrent_writers_sees_every_event_once_in_commit_order,
    an_open_transaction_holds_the_feed_back_but_no_writer,
    a_subject_stays_in_commit_order_when_an_older_transaction_commits_last
);

/// The whole feed, page by page.
async fn feed(db: &Db) -> Vec<Event> {
    let mut all = Vec::new();
    let mut after = FeedPoint::START;
    outbox::settle(db, DEADLINE).await.unwrap();
    loop {
        let page = outbox::read(db, after, Limit::new(7).unwrap())
            .await
            .unwrap();
        all.extend(page.items);
        match page.next {
            Some(cursor) => after = outbox::point_of(&cursor).unwrap(),
            None => return all,
        }
    }
}

fn kinds(events: &[Event]) -> Vec<(&str, Uuid)> {
    events
        .iter()
        .map(|e| (e.event_type.as_str(), Uuid::parse_str(&e.subject).unwrap()))
        .collect()
}

async fn each_committed_change_appends_one_event(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    let shipped = ctx.place(customer).await;
    ctx.orders.pay(shipped.id, None).await.unwrap();
    let last = ctx.orders.ship(shipped.id, None).await.unwrap();
    let cancelled = ctx.place(customer).await;
    ctx.orders.cancel(cancelled.id, Some(1)).await.unwrap();
    let bulk: Vec<_> = [ctx.place(customer).await, ctx.place(customer).await]
        .into_iter()
        .map(|o| o.id.as_uuid())
        .collect();
    let tx = ctx.db().begin().await.unwrap();
    assert_eq!(
        ctx.orders
            .cancel_pending_for_customer(&tx, customer)
            .await
            .unwrap()
            .len(),
        2
    );
    tx.commit().await.unwrap();

    let events = feed(ctx.db()).await;
    let (s, c) = (shipped.id.as_uuid(), cancelled.id.as_uuid());
    assert_eq!(
        kinds(&events),
        [
            ("order.placed", s),
            ("order.paid", s),
            ("order.shipped", s),
            ("order.placed", c),
            ("order.cancelled", c),
            ("order.placed", bulk[0]),
            ("order.placed", bulk[1]),
            ("order.cancelled", bulk[0]),
            ("order.cancelled", bulk[1]),
        ]
    );
    assert!(
        events.windows(2).all(|w| w[0].point < w[1].point),
        "feed order"
    );
    // The event's time is the time of the change.
    assert_eq!(events[2].time, last.updated_at);
    assert_eq!(last.status, OrderStatus::Shipped);
}

async fn refused_and_replayed_requests_append_nothing(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    let placed = ctx
        .orders
        .place(order(customer, vec![item("A", 1, 1)]), key("k-1"))
        .await
        .unwrap();
    let replayed = ctx
        .orders
        .place(order(customer, vec![item("A", 1, 1)]), key("k-1"))
        .await
        .unwrap();
    assert!(replayed.replayed);
    // Illegal move, stale copy, unknown order: refused, so nothing happened.
    assert!(ctx.orders.ship(placed.order.id, None).await.is_err());
    assert!(ctx.orders.pay(placed.order.id, Some(9)).await.is_err());
    let unknown = orders::OrderId::from_uuid(persistence::new_id());
    assert!(ctx.orders.cancel(unknown, None).await.is_err());
    let events = feed(ctx.db()).await;
    assert_eq!(
        kinds(&events),
        [("order.placed", placed.order.id.as_uuid())]
    );
}

async fn a_rolled_back_bulk_cancellation_leaves_no_events(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    ctx.place(customer).await;
    let tx = ctx.db().begin().await.unwrap();
    ctx.orders
        .cancel_pending_for_customer(&tx, customer)
        .await
        .unwrap();
    drop(tx);
    let events = feed(ctx.db()).await;
    assert_eq!(events.len(), 1, "only the placement: {:?}", kinds(&events));
    // Nor does it show up later: the next change is the feed's second event.
    let next = ctx.place(customer).await;
    assert_eq!(
        kinds(&feed(ctx.db()).await)[1],
        ("order.placed", next.id.as_uuid())
    );
}

/// Eight writers place and pay orders as fast as they can while a reader keeps paging from its
/// last cursor. On PostgreSQL their transactions commit in an order unrelated to when they
/// wrote; had positions been handed out at write time, the reader would now and then page past
/// a position whose transaction committed later, and miss its event.
async fn feed_paging_under_eight_concurrent_writers_sees_every_event_once_in_commit_order(
    backend: Backend,
) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let ctx = Arc::new(ctx);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let db = ctx.db().clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen: Vec<Event> = Vec::new();
            let mut after = FeedPoint::START;
            loop {
                // Read `done` before the page: a page read after the writers finished is
                // complete, so the loop ends only once it has seen everything.
                let finished = done.load(Ordering::SeqCst);
                if finished {
                    outbox::settle(&db, DEADLINE).await.unwrap();
                }
                let page = outbox::read(&db, after, Limit::new(5).unwrap())
                    .await
                    .unwrap();
                let last_page = page.next.is_none();
                if let Some(last) = page.items.last() {
                    after = last.point;
                }
                seen.extend(page.items);
                if finished && last_page {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let ctx = ctx.clone();
            tokio::spawn(async move { write_some(&ctx).await })
        })
        .collect();
    let mut written = 0;
    for writer in writers {
        written += writer.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap();

    let all = feed(ctx.db()).await;
    assert_eq!(all.len(), written, "one event per committed change");
    let ids: HashSet<Uuid> = seen.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), seen.len(), "no event seen twice");
    assert_eq!(
        seen.iter().map(|e| e.id).collect::<Vec<_>>(),
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        "the racing reader saw exactly the final feed, in its order"
    );
    assert!(
        all.windows(2).all(|w| w[0].point < w[1].point),
        "points increase"
    );
    // Per order, placed comes before paid: commit order respects causality.
    let mut placed = HashSet::new();
    for event in &all {
        match event.event_type.as_str() {
            "order.placed" => assert!(placed.insert(event.subject.clone())),
            "order.paid" => assert!(placed.contains(&event.subject)),
            other => panic!("unexpected {other}"),
        }
    }
}

/// Six orders placed and paid by one customer; returns how many events that made.
async fn write_some(ctx: &Ctx) -> usize {
    let customer = ctx.customer();
    for _ in 0..6 {
        let order = ctx.place(customer).await;
        ctx.orders.pay(order.id, None).await.unwrap();
    }
    12
}

/// A transaction that appended an event stays open while four writers place and pay orders.
/// On PostgreSQL the writers do not wait for it, and the feed shows none of their events until
/// it ends (each sorts after its event, which may still commit); then a reader resuming from
/// where it stood sees the held event first and everything else once. On SQLite the writers
/// queue behind it (one writer at a time) and the outcome is the same.
async fn an_open_transaction_holds_the_feed_back_but_no_writer(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let ctx = Arc::new(ctx);
    let customer = ctx.customer();
    let open = ctx.db().begin().await.unwrap();
    let held = ctx
        .orders
        .place_in(&open, order(customer, vec![item("HELD", 1, 1)]))
        .await
        .unwrap();
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let ctx = ctx.clone();
            tokio::spawn(async move { write_some(&ctx).await })
        })
        .collect();
    let cursor = FeedPoint::START;
    let mut written = 0;
    if backend == Backend::Postgres {
        for writer in writers {
            written += tokio::time::timeout(DEADLINE, writer)
                .await
                .expect("writers commit while a transaction is open")
                .unwrap();
        }
        let page = outbox::read(ctx.db(), cursor, Limit::new(100).unwrap())
            .await
            .unwrap();
        assert_eq!(
            kinds(&page.items),
            [],
            "nothing past the open transaction's event yet"
        );
        open.commit().await.unwrap();
    } else {
        open.commit().await.unwrap();
        for writer in writers {
            written += writer.await.unwrap();
        }
    }
    outbox::settle(ctx.db(), DEADLINE).await.unwrap();
    let mut seen = Vec::new();
    let mut after = cursor;
    loop {
        let page = outbox::read(ctx.db(), after, Limit::new(5).unwrap())
            .await
            .unwrap();
        let Some(last) = page.items.last() else {
            break;
        };
        after = last.point;
        seen.extend(page.items);
    }
    assert_eq!(seen.len(), written + 1, "every event once");
    assert_eq!(
        kinds(&seen[..1]),
        [("order.placed", held.id.as_uuid())],
        "the held event first"
    );
    let ids: HashSet<Uuid> = seen.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), seen.len(), "no event twice");
}

/// An order is paid by a transaction that began after another one, which then cancels it and
/// commits last: the feed shows `order.paid` before `order.cancelled`, in commit order, though
/// the cancelling transaction's id is the older one. (On SQLite the first transaction holds
/// the only writer, so the payment cannot overtake it: the moves run in turn there.)
async fn a_subject_stays_in_commit_order_when_an_older_transaction_commits_last(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.customer();
    let order_id: OrderId = ctx.place(customer).await.id;
    let older = ctx.db().begin().await.unwrap();
    // The older transaction writes first, so it has the older transaction id.
    ctx.orders
        .place_in(&older, order(customer, vec![item("OTHER", 1, 1)]))
        .await
        .unwrap();
    if backend == Backend::Sqlite {
        older.commit().await.unwrap();
        ctx.orders.pay(order_id, None).await.unwrap();
        ctx.orders
            .transition(order_id, OrderStatus::Cancelled, None, None)
            .await
            .unwrap();
    } else {
        ctx.orders.pay(order_id, None).await.unwrap();
        ctx.orders
            .transition_in(&older, order_id, OrderStatus::Cancelled, None, None)
            .await
            .unwrap();
        older.commit().await.unwrap();
    }
    let moves: Vec<&str> = feed(ctx.db())
        .await
        .iter()
        .filter(|e| e.subject == order_id.as_uuid().to_string())
        .map(|e| e.event_type.as_str())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| match t {
            "order.placed" => "placed",
            "order.paid" => "paid",
            "order.cancelled" => "cancelled",
            other => panic!("unexpected {other}"),
        })
        .collect();
    assert_eq!(moves, ["placed", "paid", "cancelled"]);
}
