//! A customer's orders, newest first, page by page: order, completeness and isolation (the
//! query plan that makes it cheap is a unit test in `src/query_plan_tests.rs`).

use crate::common::{item, order, setup};
use orders::{CustomerId, OrderId};
use persistence::{Backend, Cursor, Limit, PageRequest};

persistence::both_backends!(
    list_is_newest_first_and_pages_have_no_gaps_or_duplicates,
    list_is_isolated_per_customer_and_empty_for_unknown
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
