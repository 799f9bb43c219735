//! Prometheus metrics on `METRICS_ADDR`: after a few requests the scrape holds every series the
//! docs/operations.md lists, labelled by route template (never a raw path) and status class.
//! Its own test binary, because the metrics recorder is process-wide.

#![allow(clippy::unwrap_used)]

// A binary of its own uses only a part of the helpers the API tests share.
#[allow(dead_code, unused_imports, unused_macros)]
mod common;

use common::{TestApp, spawn_with};
use persistence::testing::TestDatabase;
use serde_json::json;

common::on_both_backends!(a_scrape_after_a_few_requests_has_every_series);

/// The value of the sample whose line starts with `name{` (or `name `) and contains every one
/// of `labels`.
fn sample(scrape: &str, name: &str, labels: &[&str]) -> Option<f64> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

fn expect(scrape: &str, name: &str, labels: &[&str]) -> f64 {
    sample(scrape, name, labels)
        .unwrap_or_else(|| panic!("no {name} with {labels:?} in the scrape:\n{scrape}"))
}

async fn scrape(app: &TestApp) -> String {
    let url = app.metrics_url.as_deref().expect("METRICS_ADDR is set");
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().await.unwrap()
}

async fn a_scrape_after_a_few_requests_has_every_series(database: TestDatabase) {
    let app = spawn_with(database, |config| {
        config.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    app.stock("SKU-1", 150, common::PLENTY).await;
    assert_ne!(
        app.metrics_url.as_deref(),
        Some(app.url("/metrics").as_str()),
        "metrics have a listener of their own"
    );
    let public = app.get("/metrics").send().await.unwrap();
    assert_eq!(public.status(), 404, "never on the public port");

    let buyer = app.create_user("buyer@example.com").await;
    let wrong = app
        .post("/v1/sessions")
        .json(&json!({ "email": "buyer@example.com", "password": "not the password at all" }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body = json!({
        "currency": "EUR",
        "items": [{ "sku": "SKU-1", "quantity": 1, "unit_price_cents": 150 }]
    });
    let mut order_id = String::new();
    for _ in 0..2 {
        let placed = app
            .post_as(&buyer, "/v1/orders")
            .header("Idempotency-Key", "metrics-test-key")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(placed.status(), 201);
        let order: serde_json::Value = placed.json().await.unwrap();
        order_id = order["id"].as_str().unwrap().to_owned();
    }
    let got = app
        .get_as(&buyer, &format!("/v1/orders/{order_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let listed = app
        .get_as(&buyer, &format!("/v1/users/{}/orders?limit=20", buyer.id))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let admin = app.create_admin("admin@example.com").await;
    let refused = app
        .post_as(&admin, "/v1/orders")
        .json(&json!({
            "user_id": uuid::Uuid::now_v7(),
            "currency": "EUR",
            "items": [{ "sku": "SKU-1", "quantity": 1, "unit_price_cents": 150 }]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422, "a placement that rolls back");
    // Pages of products, small and large (anonymous: no session to look up).
    for i in 0..30 {
        app.stock(&format!("LIST-{i:02}"), 10, 5).await;
    }
    for path in [
        "/v1/products?limit=1",
        "/v1/products?limit=25",
        "/v1/products?limit=100",
    ] {
        assert_eq!(app.get(path).send().await.unwrap().status(), 200);
    }

    let scrape = scrape(&app).await;
    let get_order = [
        "method=\"GET\"",
        "route=\"/v1/orders/{id}\"",
        "status=\"2xx\"",
    ];
    assert!(expect(&scrape, "http_requests_total", &get_order) >= 1.0);
    assert!(expect(&scrape, "http_request_duration_seconds_count", &get_order) >= 1.0);
    assert!(expect(&scrape, "http_request_duration_seconds_bucket", &get_order) >= 0.0);
    assert!(
        expect(
            &scrape,
            "http_requests_total",
            &[
                "method=\"POST\"",
                "route=\"/v1/sessions\"",
                "status=\"4xx\""
            ]
        ) >= 1.0
    );
    assert!(
        !scrape.contains(&order_id),
        "no raw path (an id) in any label"
    );
    let statements = ["method=\"GET\"", "route=\"/v1/orders/{id}\""];
    let count = expect(&scrape, "db_statements_per_request_count", &statements);
    let sum = expect(&scrape, "db_statements_per_request_sum", &statements);
    assert!(
        count >= 1.0 && sum >= count,
        "a GET of an order sends at least one statement: {sum} in {count}"
    );
    // A page of orders is three statements whatever its size, as the bench's SQL floor sends:
    // the session, the orders, all of their lines (whether the user exists is asked only when
    // the page is empty).
    let list = ["method=\"GET\"", "route=\"/v1/users/{id}/orders\""];
    let count = expect(&scrape, "db_statements_per_request_count", &list);
    let sum = expect(&scrape, "db_statements_per_request_sum", &list);
    assert!(count >= 1.0);
    assert_eq!(sum, 3.0 * count, "statements per page of orders");
    // A page of products is two statements whatever its size: the products, then their stock.
    let products = ["method=\"GET\"", "route=\"/v1/products\""];
    let count = expect(&scrape, "db_statements_per_request_count", &products);
    let sum = expect(&scrape, "db_statements_per_request_sum", &products);
    assert!(count >= 3.0);
    assert_eq!(sum, 2.0 * count, "statements per page of products");
    assert!(expect(&scrape, "db_pool_connections", &["state=\"open\""]) >= 1.0);
    assert!(expect(&scrape, "db_pool_connections", &["state=\"idle\""]) >= 0.0);
    assert_eq!(
        expect(&scrape, "db_pool_connections", &["state=\"max\""]),
        8.0
    );
    assert_eq!(expect(&scrape, "db_pool_waiting", &[]), 0.0);
    assert!(expect(&scrape, "db_transactions_total", &["outcome=\"commit\""]) >= 1.0);
    assert!(expect(&scrape, "db_transactions_total", &["outcome=\"rollback\""]) >= 1.0);
    assert!(
        expect(
            &scrape,
            "db_transaction_duration_seconds_count",
            &["outcome=\"commit\""]
        ) >= 1.0
    );
    assert!(expect(&scrape, "sign_ins_total", &["outcome=\"success\""]) >= 1.0);
    assert!(
        expect(
            &scrape,
            "sign_ins_total",
            &["outcome=\"invalid_credentials\""]
        ) >= 1.0
    );
    assert_eq!(expect(&scrape, "password_hashes_waiting", &[]), 0.0);
    // No relay runs: every event waits in the outbox.
    assert!(expect(&scrape, "outbox_backlog_events", &[]) >= 3.0);
    assert!(expect(&scrape, "outbox_oldest_unpublished_age_seconds", &[]) >= 0.0);
    assert_eq!(
        expect(&scrape, "relay_publish_errors_total", &["cause=\"nats\""]),
        0.0
    );
    assert!(expect(&scrape, "idempotent_replays_total", &[]) >= 1.0);
    assert_eq!(expect(&scrape, "migrations_pending", &[]), 0.0);
    for described in [
        "# HELP http_requests_total",
        "# HELP db_statements_per_request",
        "# HELP outbox_backlog_events",
    ] {
        assert!(scrape.contains(described), "{described} in the scrape");
    }
}
