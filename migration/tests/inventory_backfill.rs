//! The inventory's migration gives orders placed before it what they would have had, on both
//! engines: a reservation per pending or paid order and sku, stock with exactly that much on
//! hand, and an opening adjustment that also covers what shipped orders took. Reverting it
//! drops the inventory's tables and nothing else.

#![allow(clippy::unwrap_used)]

mod common;

use persistence::testing::TestDatabase;
use persistence::{Backend, new_id};
use persistence_orm::Orm;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement, Value};

persistence::both_backends!(orders_placed_before_the_inventory_hold_their_stock);

const INVENTORY_MIGRATION: &str = "m20261202_000008_inventory_create_stock";

async fn orders_placed_before_the_inventory_hold_their_stock(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    let runner = common::migrated_up_to_before(&test, INVENTORY_MIGRATION).await;

    let conn = test.db().orm_write();
    let engine = conn.get_database_backend();
    let (p1, p2, p3) = match backend {
        Backend::Sqlite => ("?", "?", "?"),
        Backend::Postgres => ("$1", "$2", "$3"),
    };
    // (status, lines): the same sku twice in one old order is summed.
    let orders = [
        ("pending", vec![("OLD-A", 2), ("OLD-B", 1), ("OLD-A", 1)]),
        ("paid", vec![("OLD-A", 4)]),
        ("shipped", vec![("OLD-A", 5), ("OLD-C", 7)]),
        ("cancelled", vec![("OLD-B", 9)]),
    ];
    for (status, lines) in &orders {
        let id = new_id();
        conn.execute_raw(Statement::from_sql_and_values(
            engine,
            format!(
                "INSERT INTO orders (id, user_id, status, currency, total_cents, version, \
                 created_at, updated_at) VALUES ({p1}, {p2}, {p3}, 'EUR', 0, 1, \
                 '2026-11-30T00:00:00Z', '2026-11-30T00:00:00Z')"
            ),
            [Value::from(id), Value::from(new_id()), Value::from(*status)],
        ))
        .await
        .unwrap();
        for (line_no, (sku, quantity)) in (1..).zip(lines) {
            conn.execute_raw(Statement::from_sql_and_values(
                engine,
                format!(
                    "INSERT INTO order_items (order_id, line_no, sku, quantity, \
                     unit_price_cents) VALUES ({p1}, {line_no}, {p2}, {p3}, 1)"
                ),
                [
                    Value::from(id),
                    Value::from(*sku),
                    Value::from(*quantity as i64),
                ],
            ))
            .await
            .unwrap();
        }
    }

    runner.up(Some(1)).await.unwrap();
    let rows = |sql: &'static str| async move {
        conn.query_all_raw(Statement::from_string(engine, sql))
            .await
            .unwrap()
    };
    let stock: Vec<(String, i64, i64)> =
        rows("SELECT sku, on_hand, reserved FROM stock ORDER BY sku")
            .await
            .into_iter()
            .map(|r| {
                (
                    r.try_get("", "sku").unwrap(),
                    r.try_get("", "on_hand").unwrap(),
                    r.try_get("", "reserved").unwrap(),
                )
            })
            .collect();
    // OLD-A: 3 pending + 4 paid held, 5 shipped; OLD-B: 1 held (the cancelled 9 are not);
    // OLD-C: only shipped.
    assert_eq!(
        stock,
        [
            ("OLD-A".to_owned(), 7, 7),
            ("OLD-B".to_owned(), 1, 1),
            ("OLD-C".to_owned(), 0, 0)
        ]
    );
    let adjusted: Vec<(String, i64)> =
        rows("SELECT sku, delta FROM stock_adjustments ORDER BY sku")
            .await
            .into_iter()
            .map(|r| {
                (
                    r.try_get("", "sku").unwrap(),
                    r.try_get("", "delta").unwrap(),
                )
            })
            .collect();
    // on hand = adjustments - shipped.
    assert_eq!(
        adjusted,
        [
            ("OLD-A".to_owned(), 12),
            ("OLD-B".to_owned(), 1),
            ("OLD-C".to_owned(), 7)
        ]
    );
    let reserved: Vec<(String, i64)> =
        rows("SELECT sku, quantity FROM stock_reservations ORDER BY sku, quantity")
            .await
            .into_iter()
            .map(|r| {
                (
                    r.try_get("", "sku").unwrap(),
                    r.try_get("", "quantity").unwrap(),
                )
            })
            .collect();
    assert_eq!(
        reserved,
        [
            ("OLD-A".to_owned(), 3),
            ("OLD-A".to_owned(), 4),
            ("OLD-B".to_owned(), 1)
        ]
    );

    // Reverting to before the inventory keeps the orders and their lines.
    let from_inventory = runner
        .status()
        .await
        .unwrap()
        .into_iter()
        .skip_while(|state| state.name != INVENTORY_MIGRATION)
        .count();
    let after = u32::try_from(from_inventory).unwrap();
    runner.down(after).await.unwrap();
    assert_eq!(
        count(conn, engine, "SELECT COUNT(*) AS n FROM order_items").await,
        7
    );
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
}

async fn count(
    conn: &impl ConnectionTrait,
    engine: sea_orm_migration::sea_orm::DbBackend,
    sql: &str,
) -> i64 {
    let row = conn
        .query_one_raw(Statement::from_string(engine, sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}
