//! Black-box tests of the orders endpoints, idempotency, and the workflows that span the users
//! and orders contexts — including failure injection and races — on both engines.

#![allow(clippy::unwrap_used)]

mod common;

use common::{TestApp, assert_problem, expect_problem, one_created_id, spawn};
use persistence::Backend;
use serde_json::{Value, json};

persistence::both_backends!(
    place_and_get_order,
    invalid_orders_are_422_and_write_nothing,
    unknown_and_deactivated_customers_cannot_order,
    get_unknown_order_is_404,
    user_orders_are_listed_newest_first_with_cursor,
    lifecycle_transitions_and_conflicts,
    idempotent_replay_returns_the_first_order,
    concurrent_requests_with_one_key_create_one_order,
    two_instances_honour_one_key_once,
    deactivation_cancels_pending_orders_only,
    fault_between_user_and_order_writes_leaves_nothing_half_written,
    fault_between_order_row_and_items_leaves_nothing_half_written,
    deactivation_racing_placement_never_leaves_a_pending_order,
);

fn order_body(user_id: &str) -> Value {
    json!({
        "user_id": user_id,
        "currency": "EUR",
        "items": [
            { "sku": "BOOK-1", "quantity": 2, "unit_price_cents": 1250 },
            { "sku": "PEN-9", "quantity": 3, "unit_price_cents": 199 }
        ]
    })
}

async fn user(app: &TestApp, email: &str) -> String {
    app.create_user(email).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn orders_of(app: &TestApp, user_id: &str) -> Vec<Value> {
    let page: Value = app
        .get_json(&format!("/v1/users/{user_id}/orders?limit=100"))
        .await;
    page["items"].as_array().unwrap().clone()
}

async fn place_and_get_order(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let user_id = user(&app, "buyer@example.com").await;
    let response = app
        .post("/v1/orders")
        .json(&order_body(&user_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let order: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/orders/{}", order["id"].as_str().unwrap())
    );
    assert_eq!(order["user_id"], user_id.as_str());
    assert_eq!(order["status"], "pending");
    assert_eq!(order["currency"], "EUR");
    assert_eq!(order["total_cents"], 2 * 1250 + 3 * 199);
    assert_eq!(order["version"], 1);
    assert_eq!(order["items"], order_body(&user_id)["items"]);

    let fetched = app.get(&location).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["etag"], "\"1\"");
    assert_eq!(fetched.json::<Value>().await.unwrap(), order);
}

async fn invalid_orders_are_422_and_write_nothing(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let user_id = user(&app, "picky@example.com").await;
    let item = |sku: &str, quantity: i64, price: i64| json!({ "sku": sku, "quantity": quantity, "unit_price_cents": price });
    let cases = [
        json!({ "user_id": user_id, "currency": "EUR", "items": [] }),
        json!({ "user_id": user_id, "currency": "EUR", "items": [item("A", 0, 100)] }),
        json!({ "user_id": user_id, "currency": "EUR", "items": [item("A", 1, -1)] }),
        json!({ "user_id": user_id, "currency": "eur", "items": [item("A", 1, 1)] }),
        json!({ "user_id": user_id, "currency": "EURO", "items": [item("A", 1, 1)] }),
        json!({ "user_id": user_id, "currency": "EUR", "items": [item("", 1, 1)] }),
        json!({ "user_id": user_id, "currency": "EUR", "items": [item(&"S".repeat(65), 1, 1)] }),
        json!({ "user_id": user_id, "currency": "EUR", "items": [item("A", 2, i64::MAX)] }),
        json!({ "user_id": user_id, "currency": "EUR", "items": [item("A", 1, i64::MAX), item("B", 1, 1)] }),
        json!({ "user_id": "not-a-uuid", "currency": "EUR", "items": [item("A", 1, 1)] }),
    ];
    for body in cases {
        expect_problem(app.post("/v1/orders").json(&body), 422, "validation_failed").await;
    }
    assert!(orders_of(&app, &user_id).await.is_empty());
}

async fn unknown_and_deactivated_customers_cannot_order(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let unknown = uuid::Uuid::now_v7().to_string();
    expect_problem(
        app.post("/v1/orders").json(&order_body(&unknown)),
        422,
        "unknown_customer",
    )
    .await;

    let user_id = user(&app, "gone@example.com").await;
    let deactivated = app
        .post(&format!("/v1/users/{user_id}/deactivate"))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 200);
    expect_problem(
        app.post("/v1/orders").json(&order_body(&user_id)),
        422,
        "customer_deactivated",
    )
    .await;
    assert!(orders_of(&app, &user_id).await.is_empty());
}

async fn get_unknown_order_is_404(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    expect_problem(
        app.get(&format!("/v1/orders/{}", uuid::Uuid::now_v7())),
        404,
        "order_not_found",
    )
    .await;
    expect_problem(app.get("/v1/orders/12345"), 404, "not_found").await;
    expect_problem(
        app.post(&format!("/v1/orders/{}/pay", uuid::Uuid::now_v7())),
        404,
        "order_not_found",
    )
    .await;
    expect_problem(
        app.post(&format!("/v1/orders/{}/refund", uuid::Uuid::now_v7())),
        404,
        "not_found",
    )
    .await;
}

async fn user_orders_are_listed_newest_first_with_cursor(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let user_id = user(&app, "frequent@example.com").await;
    let other = user(&app, "other@example.com").await;
    let mut placed = Vec::new();
    for _ in 0..5 {
        placed.push(app.create_order(&user_id).await["id"].clone());
    }
    app.create_order(&other).await;
    placed.reverse();

    let mut seen = Vec::new();
    let mut path = format!("/v1/users/{user_id}/orders?limit=2");
    loop {
        let page: Value = app.get_json(&path).await;
        for order in page["items"].as_array().unwrap() {
            assert_eq!(order["user_id"], user_id.as_str());
            assert_eq!(
                order["items"].as_array().unwrap().len(),
                1,
                "items are included"
            );
            seen.push(order["id"].clone());
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/users/{user_id}/orders?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, placed, "newest first, no gaps, no duplicates");

    expect_problem(
        app.get(&format!("/v1/users/{}/orders", uuid::Uuid::now_v7())),
        404,
        "user_not_found",
    )
    .await;
    expect_problem(
        app.get(&format!("/v1/users/{user_id}/orders?limit=0")),
        422,
        "invalid_limit",
    )
    .await;
    expect_problem(
        app.get(&format!("/v1/users/{user_id}/orders?after=zzz")),
        422,
        "invalid_cursor",
    )
    .await;
}

async fn lifecycle_transitions_and_conflicts(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let user_id = user(&app, "life@example.com").await;
    let order = app.create_order(&user_id).await;
    let id = order["id"].as_str().unwrap();
    let act = |action: &str| app.post(&format!("/v1/orders/{id}/{action}")).send();

    let response = act("ship").await.unwrap();
    assert_problem(response, 409, "illegal_transition").await;
    let paid: Value = act("pay").await.unwrap().json().await.unwrap();
    assert_eq!(
        (paid["status"].as_str(), paid["version"].as_i64()),
        (Some("paid"), Some(2))
    );
    let response = act("pay").await.unwrap();
    assert_problem(response, 409, "illegal_transition").await;
    // A stale If-Match loses with 412 and changes nothing.
    expect_problem(
        app.post(&format!("/v1/orders/{id}/ship"))
            .header("if-match", "\"1\""),
        412,
        "version_conflict",
    )
    .await;
    let shipped = app
        .post(&format!("/v1/orders/{id}/ship"))
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(shipped.status(), 200);
    assert_eq!(shipped.headers()["etag"], "\"3\"");
    let response = act("cancel").await.unwrap();
    assert_problem(response, 409, "illegal_transition").await;

    // pending -> cancelled, and paid -> cancelled.
    let second = app.create_order(&user_id).await;
    let second_id = second["id"].as_str().unwrap();
    let cancelled: Value = app
        .post(&format!("/v1/orders/{second_id}/cancel"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    expect_problem(
        app.post(&format!("/v1/orders/{second_id}/pay")),
        409,
        "illegal_transition",
    )
    .await;
    let third = app.create_order(&user_id).await;
    let third_id = third["id"].as_str().unwrap();
    app.post(&format!("/v1/orders/{third_id}/pay"))
        .send()
        .await
        .unwrap();
    let cancelled: Value = app
        .post(&format!("/v1/orders/{third_id}/cancel"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");

    // Racing transitions on one paid order (ship and cancel exclude each other): one wins.
    let fourth = app.create_order(&user_id).await;
    let fourth_id = fourth["id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/orders/{fourth_id}/pay"))
        .send()
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        app.post(&format!("/v1/orders/{fourth_id}/ship")).send(),
        app.post(&format!("/v1/orders/{fourth_id}/cancel")).send()
    );
    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
}

async fn idempotent_replay_returns_the_first_order(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let user_id = user(&app, "retry@example.com").await;
    let send = |body: Value| {
        app.post("/v1/orders")
            .header("idempotency-key", "order-123")
            .json(&body)
            .send()
    };

    let first = send(order_body(&user_id)).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let replay = send(order_body(&user_id)).await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay, first);
    assert_eq!(
        orders_of(&app, &user_id).await.len(),
        1,
        "the replay created nothing"
    );

    let mut other_body = order_body(&user_id);
    other_body["currency"] = json!("USD");
    let response = send(other_body).await.unwrap();
    assert_problem(response, 422, "idempotency_key_reused").await;

    // Keys are scoped per customer.
    let someone_else = user(&app, "else@example.com").await;
    let theirs = send(order_body(&someone_else)).await.unwrap();
    assert_eq!(theirs.status(), 201);
    let theirs: Value = theirs.json().await.unwrap();
    assert_ne!(theirs["id"], first["id"]);

    expect_problem(
        app.post("/v1/orders")
            .header("idempotency-key", "")
            .json(&order_body(&user_id)),
        422,
        "validation_failed",
    )
    .await;
}

async fn concurrent_requests_with_one_key_create_one_order(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let user_id = user(&app, "burst@example.com").await;
    let requests = (0..10).map(|_| {
        app.post("/v1/orders")
            .header("idempotency-key", "burst-1")
            .json(&order_body(&user_id))
            .send()
    });
    one_created_id(futures::future::join_all(requests).await).await;
    assert_eq!(orders_of(&app, &user_id).await.len(), 1);
}

async fn two_instances_honour_one_key_once(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let second = app.second_instance().await;
    let user_id = user(&app, "replicas@example.com").await;
    let requests = (0..8).map(|i| {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            second.address.clone()
        };
        app.client
            .post(format!("{base}/v1/orders"))
            .header("idempotency-key", "replicated")
            .json(&order_body(&user_id))
            .send()
    });
    one_created_id(futures::future::join_all(requests).await).await;
    assert_eq!(orders_of(&app, &user_id).await.len(), 1);
    let _ = second.shutdown.send(());
}

async fn deactivation_cancels_pending_orders_only(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let user_id = user(&app, "closing@example.com").await;
    let other = user(&app, "staying@example.com").await;
    let pending = app.create_order(&user_id).await;
    let paid = app.create_order(&user_id).await;
    app.post(&format!("/v1/orders/{}/pay", paid["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    let others = app.create_order(&other).await;

    let response = app
        .post(&format!("/v1/users/{user_id}/deactivate"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let app = &app;
    let status_of = |order: &Value| {
        let path = format!("/v1/orders/{}", order["id"].as_str().unwrap());
        async move { app.get_json(&path).await }
    };
    let cancelled = status_of(&pending).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["version"], 2);
    assert_eq!(status_of(&paid).await["status"], "paid");
    assert_eq!(status_of(&others).await["status"], "pending");
}

async fn fault_between_user_and_order_writes_leaves_nothing_half_written(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let user_id = user(&app, "fragile@example.com").await;
    let order = app.create_order(&user_id).await;

    app.faults
        .arm(app::workflows::faults::DEACTIVATE_AFTER_USER_WRITE);
    let problem = expect_problem(
        app.post(&format!("/v1/users/{user_id}/deactivate")),
        500,
        "internal_error",
    )
    .await;
    assert!(
        !problem["detail"].as_str().unwrap().contains("injected"),
        "internals stay hidden"
    );

    let user: Value = app.get_json(&format!("/v1/users/{user_id}")).await;
    assert_eq!(user["status"], "active");
    assert_eq!(user["version"], 1);
    let order_now: Value = app
        .get_json(&format!("/v1/orders/{}", order["id"].as_str().unwrap()))
        .await;
    assert_eq!(order_now["status"], "pending");

    app.faults
        .disarm(app::workflows::faults::DEACTIVATE_AFTER_USER_WRITE);
    let response = app
        .post(&format!("/v1/users/{user_id}/deactivate"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn fault_between_order_row_and_items_leaves_nothing_half_written(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let user_id = user(&app, "halfway@example.com").await;
    app.faults
        .arm(app::workflows::faults::PLACE_AFTER_ORDER_ROW);
    expect_problem(
        app.post("/v1/orders")
            .header("idempotency-key", "k-1")
            .json(&order_body(&user_id)),
        500,
        "internal_error",
    )
    .await;
    assert!(
        orders_of(&app, &user_id).await.is_empty(),
        "no order row survived"
    );

    // The key was not burned either: once the fault clears, the same request succeeds.
    app.faults
        .disarm(app::workflows::faults::PLACE_AFTER_ORDER_ROW);
    let response = app
        .post("/v1/orders")
        .header("idempotency-key", "k-1")
        .json(&order_body(&user_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers().get("idempotent-replayed"), None);
    let orders = orders_of(&app, &user_id).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["items"].as_array().unwrap().len(), 2);
}

async fn deactivation_racing_placement_never_leaves_a_pending_order(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    for round in 0..6 {
        let user_id = user(&app, &format!("race{round}@example.com")).await;
        let placements = (0..4).map(|_| app.post("/v1/orders").json(&order_body(&user_id)).send());
        let deactivation = app.post(&format!("/v1/users/{user_id}/deactivate")).send();
        let (placed, deactivated) =
            tokio::join!(futures::future::join_all(placements), deactivation);
        assert_eq!(deactivated.unwrap().status(), 200);
        for response in placed {
            let status = response.unwrap().status().as_u16();
            assert!(
                status == 201 || status == 422,
                "placement answered {status}"
            );
        }
        for order in orders_of(&app, &user_id).await {
            assert_eq!(order["status"], "cancelled", "round {round}: {order}");
        }
    }
}
