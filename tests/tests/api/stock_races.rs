//! Stock under concurrency, on both engines: many customers racing for the last units, orders
//! over overlapping skus in shuffled line order, concurrent cancels and ships of one order, a
//! deactivation during placements and adjustments racing placements. After every run the
//! contract's three invariants hold. On PostgreSQL a gate (a pausing fault point) holds every
//! placement inside its transaction, its customer locked and its lines priced, until all of
//! them are there, so their reservations really race; SQLite has one writer at a time, and
//! there the placements run concurrently without the gate.

use std::time::Duration;

use crate::common::{self, Account, TestApp, assert_stock_invariants, spawn_with};
use app::workflows::faults::PLACE_BEFORE_RESERVATION;
use futures::future::join_all;
use persistence::Backend;
use persistence::testing::TestDatabase;
use serde_json::{Value, json};

crate::common::on_both_backends!(
    forty_customers_race_for_the_last_ten_units,
    overlapping_orders_in_shuffled_line_order_never_deadlock,
    concurrent_cancels_and_ships_of_one_order_move_it_once,
    a_deactivation_during_placements_releases_every_unit,
    adjustments_racing_placements_never_oversell,
);

/// A service whose pool lets `concurrent` transactions stay open at once.
async fn spawn_for(database: TestDatabase, concurrent: u32) -> TestApp {
    spawn_with(database, |config| {
        config.db_max_connections = Some(concurrent + 8);
        config.request_timeout = Duration::from_secs(120);
    })
    .await
}

async fn customers(app: &TestApp, n: usize) -> Vec<Account> {
    join_all((0..n).map(|i| app.create_user_named(i))).await
}

fn order(items: Value) -> Value {
    json!({"currency": "EUR", "items": items})
}

/// Sends every placement at once and returns the statuses, in order. On PostgreSQL they all
/// wait at the gate until every one of them holds its transaction open there.
async fn race(app: &TestApp, placements: Vec<(&Account, Value)>) -> Vec<u16> {
    let gate = (app.database.backend() == Backend::Postgres)
        .then(|| app.faults.gate(PLACE_BEFORE_RESERVATION));
    let count = u32::try_from(placements.len()).unwrap();
    let sent = join_all(placements.into_iter().map(|(who, body)| {
        let request = app.post_as(who, "/v1/orders").json(&body);
        tokio::spawn(async move { request.send().await.unwrap() })
    }));
    let opened = async {
        if let Some(gate) = &gate {
            tokio::time::timeout(Duration::from_secs(60), gate.arrivals(count))
                .await
                .expect("every placement reaches the gate");
            gate.open();
        }
    };
    let (responses, ()) = tokio::join!(sent, opened);
    let mut statuses = Vec::new();
    for response in responses {
        let response = response.unwrap();
        let status = response.status().as_u16();
        if status != 201 {
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["code"], "insufficient_stock", "{problem}");
        }
        statuses.push(status);
    }
    statuses
}

async fn forty_customers_race_for_the_last_ten_units(database: TestDatabase) {
    let app = spawn_for(database, 40).await;
    let admin = app.create_admin("admin@example.com").await;
    app.stock("LAST", 100, 10).await;
    let buyers = customers(&app, 40).await;
    let placements = buyers
        .iter()
        .map(|who| (who, order(json!([{"sku": "LAST", "quantity": 1}]))))
        .collect();
    let statuses = race(&app, placements).await;
    assert_eq!(statuses.iter().filter(|&&s| s == 201).count(), 10);
    assert_eq!(statuses.iter().filter(|&&s| s == 409).count(), 30);
    let product = app.get_json("/v1/products/LAST").await;
    assert_eq!(product["available"], 0);
    assert_stock_invariants(&app, &admin, &["LAST"]).await;
}

async fn overlapping_orders_in_shuffled_line_order_never_deadlock(database: TestDatabase) {
    let app = spawn_for(database, 32).await;
    let admin = app.create_admin("admin@example.com").await;
    let skus = ["S-A", "S-B", "S-C", "S-D"];
    for sku in skus {
        app.stock(sku, 10, 25).await;
    }
    let buyers = customers(&app, 32).await;
    let placements = buyers
        .iter()
        .enumerate()
        .map(|(i, who)| {
            // Three or four skus each, rotated and every other one reversed: no two
            // neighbours lock in the same line order.
            let mut lines: Vec<&str> = skus
                .iter()
                .copied()
                .cycle()
                .skip(i % 4)
                .take(3 + i % 2)
                .collect();
            if i % 2 == 1 {
                lines.reverse();
            }
            let items: Vec<Value> = lines
                .into_iter()
                .map(|sku| json!({"sku": sku, "quantity": 1 + i % 3}))
                .collect();
            (who, order(json!(items)))
        })
        .collect();
    let statuses = race(&app, placements).await;
    assert!(
        statuses.iter().all(|&s| s == 201 || s == 409),
        "placed or refused, never a deadlock: {statuses:?}"
    );
    assert!(
        statuses.contains(&201) && statuses.contains(&409),
        "{statuses:?}"
    );
    assert_stock_invariants(&app, &admin, &skus).await;
}

async fn concurrent_cancels_and_ships_of_one_order_move_it_once(database: TestDatabase) {
    let app = spawn_for(database, 16).await;
    let admin = app.create_admin("admin@example.com").await;
    let buyer = app.create_user("buyer@example.com").await;
    app.stock("ONE-WAY", 10, 50).await;
    for _ in 0..4 {
        let placed: Value = app
            .post_as(&buyer, "/v1/orders")
            .json(&order(json!([{"sku": "ONE-WAY", "quantity": 2}])))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = placed["id"].as_str().unwrap().to_owned();
        let paid = app
            .post_as(&buyer, &format!("/v1/orders/{id}/pay"))
            .send()
            .await
            .unwrap();
        assert_eq!(paid.status(), 200);
        let moves = (0..12).map(|i| {
            let (who, verb) = if i % 2 == 0 {
                (&buyer, "cancel")
            } else {
                (&admin, "ship")
            };
            let request = app.post_as(who, &format!("/v1/orders/{id}/{verb}"));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        });
        let statuses: Vec<u16> = join_all(moves)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            statuses.iter().filter(|&&s| s == 200).count(),
            1,
            "exactly one move wins: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|&s| s == 200 || s == 409),
            "{statuses:?}"
        );
    }
    assert_stock_invariants(&app, &admin, &["ONE-WAY"]).await;
}

async fn a_deactivation_during_placements_releases_every_unit(database: TestDatabase) {
    let app = spawn_for(database, 12).await;
    let admin = app.create_admin("admin@example.com").await;
    let buyer = app.create_user("buyer@example.com").await;
    app.stock("HELD", 10, 100).await;
    let gate = (app.database.backend() == Backend::Postgres)
        .then(|| app.faults.gate(PLACE_BEFORE_RESERVATION));
    let placements = join_all((0..10).map(|_| {
        let request = app
            .post_as(&buyer, "/v1/orders")
            .json(&order(json!([{"sku": "HELD", "quantity": 3}])));
        tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
    }));
    let deactivation = async {
        if let Some(gate) = &gate {
            // Every placement holds the customer's standing; the deactivation must wait.
            tokio::time::timeout(Duration::from_secs(60), gate.arrivals(10))
                .await
                .expect("every placement reaches the gate");
        }
        let request = app.post_as(&admin, &format!("/v1/users/{}/deactivate", buyer.id));
        let deactivating = tokio::spawn(async move { request.send().await.unwrap().status() });
        if let Some(gate) = &gate {
            gate.open();
        }
        deactivating.await.unwrap()
    };
    let (statuses, deactivated) = tokio::join!(placements, deactivation);
    assert_eq!(deactivated, 200);
    for status in statuses {
        let status = status.unwrap();
        // Placed before the deactivation (then cancelled by it), or refused after it: 422 when
        // the request's session was checked before the deactivation revoked it, 401 after.
        assert!(status == 201 || status == 422 || status == 401, "{status}");
    }
    let orders = common::all_pages(&app, &admin, &format!("/v1/users/{}/orders", buyer.id)).await;
    assert!(
        orders.iter().all(|o| o["status"] == "cancelled"),
        "{orders:?}"
    );
    let stock = app.get_json_as(&admin, "/v1/products/HELD/stock").await;
    assert_eq!(stock["reserved"], 0);
    assert_stock_invariants(&app, &admin, &["HELD"]).await;
}

async fn adjustments_racing_placements_never_oversell(database: TestDatabase) {
    let app = spawn_for(database, 24).await;
    let admin = app.create_admin("admin@example.com").await;
    app.stock("TIGHT", 10, 20).await;
    let buyers = customers(&app, 20).await;
    let gate = (app.database.backend() == Backend::Postgres)
        .then(|| app.faults.gate(PLACE_BEFORE_RESERVATION));
    let placements = join_all(buyers.iter().map(|who| {
        let request = app
            .post_as(who, "/v1/orders")
            .json(&order(json!([{"sku": "TIGHT", "quantity": 1}])));
        tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
    }));
    let adjustments = async {
        if let Some(gate) = &gate {
            tokio::time::timeout(Duration::from_secs(60), gate.arrivals(20))
                .await
                .expect("every placement reaches the gate");
        }
        let taking = join_all((0..10).map(|_| {
            let request = app
                .post_as(&admin, "/v1/products/TIGHT/stock/adjustments")
                .json(&json!({"delta": -1, "reason": "damaged"}));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        }));
        if let Some(gate) = &gate {
            gate.open();
        }
        taking.await
    };
    let (placed, taken) = tokio::join!(placements, adjustments);
    let placed: Vec<u16> = placed.into_iter().map(Result::unwrap).collect();
    let taken: Vec<u16> = taken.into_iter().map(Result::unwrap).collect();
    assert!(placed.iter().all(|&s| s == 201 || s == 409), "{placed:?}");
    assert!(taken.iter().all(|&s| s == 201 || s == 409), "{taken:?}");
    let sold = placed.iter().filter(|&&s| s == 201).count();
    let removed = taken.iter().filter(|&&s| s == 201).count();
    assert!(
        sold + removed <= 20,
        "never more than there was: {sold} + {removed}"
    );
    assert_stock_invariants(&app, &admin, &["TIGHT"]).await;
}
