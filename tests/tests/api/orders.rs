//! Black-box tests of the orders endpoints, idempotency, and the workflows that span the users,
//! orders and identity contexts — including failure injection and races — on both engines.

use crate::common::{
    self, Account, PASSWORD, TestApp, assert_problem, expect_problem, one_created_id,
};
use persistence::FaultPoint;
use serde_json::{Value, json};

crate::common::on_both_backends!(
    place_and_get_order,
    unknown_and_deactivated_customers_cannot_order,
    get_unknown_order_is_404,
    user_orders_are_listed_newest_first_with_cursor,
    lifecycle_transitions_and_conflicts,
    idempotent_replay_returns_the_first_order,
    replay_after_deactivation_returns_the_original_order,
    concurrent_requests_with_one_key_create_one_order,
    two_instances_honour_one_key_once,
    deactivation_cancels_pending_orders_only,
    fault_between_user_and_credential_writes_leaves_nothing_half_written,
    fault_between_user_and_order_writes_leaves_nothing_half_written,
    fault_between_order_and_session_writes_leaves_nothing_half_written,
    fault_after_session_writes_leaves_nothing_half_written,
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

/// The orders of `user_id` as `viewer` (the user itself or an admin) sees them.
async fn orders_of(app: &TestApp, viewer: &Account, user_id: &str) -> Vec<Value> {
    let page: Value = app
        .get_json_as(viewer, &format!("/v1/users/{user_id}/orders?limit=100"))
        .await;
    page["items"].as_array().unwrap().clone()
}

async fn place_and_get_order(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    let buyer = app.create_user("buyer@example.com").await;
    let admin = app.create_admin("admin@example.com").await;
    let user_id = buyer.id.clone();
    let response = app
        .post_as(&buyer, "/v1/orders")
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

    // The owner and an admin read the same order.
    for who in [&buyer, &admin] {
        let fetched = app.get_as(who, &location).send().await.unwrap();
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.headers()["etag"], "\"1\"");
        assert_eq!(fetched.json::<Value>().await.unwrap(), order);
    }
}

/// Validation runs before any query, so the engine cannot change the answer: one engine is
/// enough here (the rules themselves are unit-tested in the orders crate).
#[tokio::test]
async fn invalid_orders_are_422_and_write_nothing() {
    let app = common::service().await;
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    let picky = app.create_user("picky@example.com").await;
    let user_id = picky.id.clone();
    let item = |sku: &str, quantity: i64, price: i64| json!({ "sku": sku, "quantity": quantity, "unit_price_cents": price });
    let cases = [
        json!({ "user_id": user_id, "currency": "EUR", "items": [] }),
        json!({ "user_id": user_id, "currency": "EUR", "items": [item("A", 0, 100)] }),
        json!({ "user_id": user_id, "currency": "EUR", "items": [item("A", 1, -1)] }),
        json!({ "user_id": user_id, "currency": "eur", "items": [item("A", 1, 1)] }),
        json!({ "user_id": user_id, "currency": "EURO", "items": [item("A", 1, 1)] }),
        json!({ "user_id": user_id, "currency": "EUR", "items": [item("", 1, 1)] }),
        json!({ "user_id": user_id, "currency": "EUR", "items": [item(&"S".repeat(65), 1, 1)] }),
        json!({ "user_id": user_id, "currency": "EUR", "items": [item("A", 1_000_001, 1)] }),
        json!({ "user_id": user_id, "currency": "EUR", "items": [item("A", 1, 1), item("A", 2, 1)] }),
        json!({ "user_id": "not-a-uuid", "currency": "EUR", "items": [item("A", 1, 1)] }),
    ];
    for body in cases {
        expect_problem(
            app.post_as(&picky, "/v1/orders").json(&body),
            422,
            "validation_failed",
        )
        .await;
    }
    assert!(orders_of(&app, &picky, &user_id).await.is_empty());
}

async fn unknown_and_deactivated_customers_cannot_order(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    // Only an admin can name another customer, so only an admin can name a missing or a
    // deactivated one.
    let admin = app.create_admin("admin@example.com").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    expect_problem(
        app.post_as(&admin, "/v1/orders")
            .json(&order_body(&unknown)),
        422,
        "unknown_customer",
    )
    .await;

    let gone = app.create_user("gone@example.com").await;
    let user_id = gone.id.clone();
    let deactivated = app
        .post_as(&admin, &format!("/v1/users/{user_id}/deactivate"))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 200);
    expect_problem(
        app.post_as(&admin, "/v1/orders")
            .json(&order_body(&user_id)),
        422,
        "customer_deactivated",
    )
    .await;
    // The deactivated customer itself no longer has a session to order with.
    expect_problem(
        app.post_as(&gone, "/v1/orders").json(&order_body(&user_id)),
        401,
        "unauthenticated",
    )
    .await;
    assert!(orders_of(&app, &admin, &user_id).await.is_empty());
}

async fn get_unknown_order_is_404(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    let customer = app.create_user("curious@example.com").await;
    let admin = app.create_admin("admin@example.com").await;
    for who in [&customer, &admin] {
        expect_problem(
            app.get_as(who, &format!("/v1/orders/{}", uuid::Uuid::now_v7())),
            404,
            "order_not_found",
        )
        .await;
        expect_problem(app.get_as(who, "/v1/orders/12345"), 404, "not_found").await;
        for action in ["pay", "cancel", "ship"] {
            expect_problem(
                app.post_as(
                    who,
                    &format!("/v1/orders/{}/{action}", uuid::Uuid::now_v7()),
                ),
                404,
                "order_not_found",
            )
            .await;
        }
        expect_problem(
            app.post_as(who, &format!("/v1/orders/{}/refund", uuid::Uuid::now_v7())),
            404,
            "not_found",
        )
        .await;
    }
}

async fn user_orders_are_listed_newest_first_with_cursor(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    let frequent = app.create_user("frequent@example.com").await;
    let other = app.create_user("other@example.com").await;
    let admin = app.create_admin("admin@example.com").await;
    let user_id = frequent.id.clone();
    let mut placed = Vec::new();
    for _ in 0..5 {
        placed.push(app.create_order(&frequent).await["id"].clone());
    }
    app.create_order(&other).await;
    placed.reverse();

    // The customer and an admin page through the same list.
    for viewer in [&frequent, &admin] {
        let mut seen = Vec::new();
        let mut path = format!("/v1/users/{user_id}/orders?limit=2");
        loop {
            let page: Value = app.get_json_as(viewer, &path).await;
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
    }

    // An unknown user is a 404, not an empty list, even for an admin who may see every user.
    expect_problem(
        app.get_as(
            &admin,
            &format!("/v1/users/{}/orders", uuid::Uuid::now_v7()),
        ),
        404,
        "user_not_found",
    )
    .await;
    expect_problem(
        app.get_as(&frequent, &format!("/v1/users/{user_id}/orders?limit=0")),
        422,
        "invalid_limit",
    )
    .await;
    expect_problem(
        app.get_as(&frequent, &format!("/v1/users/{user_id}/orders?after=zzz")),
        422,
        "invalid_cursor",
    )
    .await;
}

async fn lifecycle_transitions_and_conflicts(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    // The owner pays and cancels; only an admin ships.
    let owner = app.create_user("life@example.com").await;
    let admin = app.create_admin("admin@example.com").await;
    let order = app.create_order(&owner).await;
    let id = order["id"].as_str().unwrap();
    let act = |who: &Account, action: &str| {
        app.post_as(who, &format!("/v1/orders/{id}/{action}"))
            .send()
    };

    let response = act(&admin, "ship").await.unwrap();
    assert_problem(response, 409, "illegal_transition").await;
    let paid: Value = act(&owner, "pay").await.unwrap().json().await.unwrap();
    assert_eq!(
        (paid["status"].as_str(), paid["version"].as_i64()),
        (Some("paid"), Some(2))
    );
    let response = act(&owner, "pay").await.unwrap();
    assert_problem(response, 409, "illegal_transition").await;
    // A stale If-Match loses with 412 and changes nothing.
    expect_problem(
        app.post_as(&admin, &format!("/v1/orders/{id}/ship"))
            .header("if-match", "\"1\""),
        412,
        "version_conflict",
    )
    .await;
    let shipped = app
        .post_as(&admin, &format!("/v1/orders/{id}/ship"))
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(shipped.status(), 200);
    assert_eq!(shipped.headers()["etag"], "\"3\"");
    let response = act(&owner, "cancel").await.unwrap();
    assert_problem(response, 409, "illegal_transition").await;

    // pending -> cancelled, and paid -> cancelled.
    let second = app.create_order(&owner).await;
    let second_id = second["id"].as_str().unwrap();
    let cancelled: Value = app
        .post_as(&owner, &format!("/v1/orders/{second_id}/cancel"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    expect_problem(
        app.post_as(&owner, &format!("/v1/orders/{second_id}/pay")),
        409,
        "illegal_transition",
    )
    .await;
    let third = app.create_order(&owner).await;
    let third_id = third["id"].as_str().unwrap();
    let response = app
        .post_as(&owner, &format!("/v1/orders/{third_id}/pay"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cancelled: Value = app
        .post_as(&owner, &format!("/v1/orders/{third_id}/cancel"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "cancelled");

    // Racing transitions on one paid order (ship and cancel exclude each other): one wins.
    let fourth = app.create_order(&owner).await;
    let fourth_id = fourth["id"].as_str().unwrap().to_owned();
    let response = app
        .post_as(&owner, &format!("/v1/orders/{fourth_id}/pay"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (a, b) = tokio::join!(
        app.post_as(&admin, &format!("/v1/orders/{fourth_id}/ship"))
            .send(),
        app.post_as(&owner, &format!("/v1/orders/{fourth_id}/cancel"))
            .send()
    );
    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
}

async fn idempotent_replay_returns_the_first_order(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    let retry = app.create_user("retry@example.com").await;
    let user_id = retry.id.clone();
    let send = |who: &Account, body: Value| {
        app.post_as(who, "/v1/orders")
            .header("idempotency-key", "order-123")
            .json(&body)
            .send()
    };

    let first = send(&retry, order_body(&user_id)).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let replay = send(&retry, order_body(&user_id)).await.unwrap();
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay, first);
    assert_eq!(
        orders_of(&app, &retry, &user_id).await.len(),
        1,
        "the replay created nothing"
    );

    let mut other_body = order_body(&user_id);
    other_body["currency"] = json!("USD");
    let response = send(&retry, other_body).await.unwrap();
    assert_problem(response, 422, "idempotency_key_reused").await;

    // Keys are scoped per customer.
    let someone_else = app.create_user("else@example.com").await;
    let theirs = send(&someone_else, order_body(&someone_else.id))
        .await
        .unwrap();
    assert_eq!(theirs.status(), 201);
    let theirs: Value = theirs.json().await.unwrap();
    assert_ne!(theirs["id"], first["id"]);

    expect_problem(
        app.post_as(&retry, "/v1/orders")
            .header("idempotency-key", "")
            .json(&order_body(&user_id)),
        422,
        "validation_failed",
    )
    .await;
}

/// docs/api.md's promise holds after the customer is gone: a replay with the same key and body
/// returns the original order (201, `Idempotent-Replayed: true`), because the key is looked up
/// before the customer is judged; a new key for that customer is still refused.
async fn replay_after_deactivation_returns_the_original_order(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    // The customer loses its sessions when deactivated, so an admin orders on its behalf.
    let admin = app.create_admin("admin@example.com").await;
    let customer = app.create_user("leaving@example.com").await;
    let place = |key: &'static str| {
        app.post_as(&admin, "/v1/orders")
            .header("idempotency-key", key)
            .json(&order_body(&customer.id))
            .send()
    };
    let first = place("before-leaving").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();

    let deactivated = app
        .post_as(&admin, &format!("/v1/users/{}/deactivate", customer.id))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 200);

    let replay = place("before-leaving").await.unwrap();
    assert_eq!(replay.status(), 201, "a replay, not a refusal");
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replay: Value = replay.json().await.unwrap();
    assert_eq!(replay["id"], first["id"]);
    assert_eq!(replay["total_cents"], first["total_cents"]);
    assert_eq!(replay["items"], first["items"]);
    // Deactivation cancelled it; the replay shows the order as it is now.
    assert_eq!(replay["status"], "cancelled");

    let fresh = place("after-leaving").await.unwrap();
    assert_problem(fresh, 422, "customer_deactivated").await;
    assert_eq!(orders_of(&app, &admin, &customer.id).await.len(), 1);
}

async fn concurrent_requests_with_one_key_create_one_order(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    let burst = app.create_user("burst@example.com").await;
    let requests = (0..10).map(|_| {
        app.post_as(&burst, "/v1/orders")
            .header("idempotency-key", "burst-1")
            .json(&order_body(&burst.id))
            .send()
    });
    one_created_id(futures::future::join_all(requests).await).await;
    assert_eq!(orders_of(&app, &burst, &burst.id).await.len(), 1);
}

async fn two_instances_honour_one_key_once(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    let second = app.second_instance().await;
    let replicas = app.create_user("replicas@example.com").await;
    let requests = (0..8).map(|i| {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            second.address.clone()
        };
        // One token works on every instance: sessions live in the shared database.
        app.client
            .post(format!("{base}/v1/orders"))
            .bearer_auth(&replicas.token)
            .header("idempotency-key", "replicated")
            .json(&order_body(&replicas.id))
            .send()
    });
    one_created_id(futures::future::join_all(requests).await).await;
    assert_eq!(orders_of(&app, &replicas, &replicas.id).await.len(), 1);
    let _ = second.shutdown.send(());
}

async fn deactivation_cancels_pending_orders_only(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    let closing = app.create_user("closing@example.com").await;
    let staying = app.create_user("staying@example.com").await;
    let admin = app.create_admin("admin@example.com").await;
    let pending = app.create_order(&closing).await;
    let paid = app.create_order(&closing).await;
    let response = app
        .post_as(
            &closing,
            &format!("/v1/orders/{}/pay", paid["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let others = app.create_order(&staying).await;

    // The user closes its own account.
    let response = app
        .post_as(&closing, &format!("/v1/users/{}/deactivate", closing.id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let app = &app;
    let admin = &admin;
    let status_of = |order: &Value| {
        let path = format!("/v1/orders/{}", order["id"].as_str().unwrap());
        async move { app.get_json_as(admin, &path).await }
    };
    let cancelled = status_of(&pending).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["version"], 2);
    assert_eq!(status_of(&paid).await["status"], "paid");
    assert_eq!(status_of(&others).await["status"], "pending");
    // Its sessions ended with it; the other customer's did not.
    expect_problem(
        app.get_as(&closing, &format!("/v1/users/{}", closing.id)),
        401,
        "unauthenticated",
    )
    .await;
    app.get_json_as(&staying, &format!("/v1/users/{}", staying.id))
        .await;
}

async fn fault_between_user_and_credential_writes_leaves_nothing_half_written(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    // Signing up the admin is itself a sign-up: do it before arming the fault.
    let admin = app.create_admin("admin@example.com").await;
    let email = "fragile@example.com";
    let sign_up = || {
        app.post("/v1/users")
            .json(&json!({ "email": email, "display_name": "Fragile", "password": PASSWORD }))
    };

    app.faults
        .arm(app::workflows::faults::SIGN_UP_AFTER_USER_WRITE);
    let problem = expect_problem(sign_up(), 500, "internal_error").await;
    assert!(
        !problem["detail"].as_str().unwrap().contains("injected"),
        "internals stay hidden"
    );
    app.faults
        .disarm(app::workflows::faults::SIGN_UP_AFTER_USER_WRITE);

    // No credential survived...
    let response = app
        .post("/v1/sessions")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "invalid_credentials").await;
    // ...and no user row either.
    let users: Value = app.get_json_as(&admin, "/v1/users?limit=100").await;
    let emails: Vec<&Value> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| &u["email"])
        .collect();
    assert_eq!(emails, ["admin@example.com"], "{users}");

    // The address is free: signing up again works, and so does signing in.
    let response = sign_up().send().await.unwrap();
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], email);
    assert_eq!(user["version"], 1);
    app.sign_in(email).await;
}

/// A deactivation that fails at `point` leaves the user active, its pending order pending and
/// its session alive; once the fault clears, the same deactivation does all three.
async fn deactivation_fault_leaves_nothing_half_written(app: TestApp, point: FaultPoint) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    let customer = app.create_user("fragile@example.com").await;
    let admin = app.create_admin("admin@example.com").await;
    let order = app.create_order(&customer).await;
    let user_path = format!("/v1/users/{}", customer.id);
    let order_path = format!("/v1/orders/{}", order["id"].as_str().unwrap());
    let deactivate = format!("{user_path}/deactivate");

    app.faults.arm(point);
    // Whoever asks, the customer itself or an admin, the unit of work fails as a whole.
    for who in [&customer, &admin] {
        let problem = expect_problem(app.post_as(who, &deactivate), 500, "internal_error").await;
        assert!(
            !problem["detail"].as_str().unwrap().contains("injected"),
            "internals stay hidden"
        );

        let user: Value = app.get_json_as(&admin, &user_path).await;
        assert_eq!(user["status"], "active", "{}", point.name());
        assert_eq!(user["version"], 1, "{}", point.name());
        let order_now: Value = app.get_json_as(&admin, &order_path).await;
        assert_eq!(order_now["status"], "pending", "{}", point.name());
        assert_eq!(order_now["version"], 1, "{}", point.name());
        // The session was not revoked: the customer's own token still works.
        let me = app.get_json_as(&customer, &user_path).await;
        assert_eq!(me["status"], "active", "{}", point.name());
    }

    app.faults.disarm(point);
    let response = app.post_as(&customer, &deactivate).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", point.name());
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["status"], "deactivated");
    assert_eq!(user["version"], 2);
    let order_now: Value = app.get_json_as(&admin, &order_path).await;
    assert_eq!(order_now["status"], "cancelled", "{}", point.name());
    let response = app.get_as(&customer, &user_path).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, 401, "unauthenticated").await;
    let user: Value = app.get_json_as(&admin, &user_path).await;
    assert_eq!(user["status"], "deactivated");
}

async fn fault_between_user_and_order_writes_leaves_nothing_half_written(app: TestApp) {
    deactivation_fault_leaves_nothing_half_written(
        app,
        app::workflows::faults::DEACTIVATE_AFTER_USER_WRITE,
    )
    .await;
}

async fn fault_between_order_and_session_writes_leaves_nothing_half_written(app: TestApp) {
    deactivation_fault_leaves_nothing_half_written(
        app,
        app::workflows::faults::DEACTIVATE_AFTER_ORDERS_WRITE,
    )
    .await;
}

async fn fault_after_session_writes_leaves_nothing_half_written(app: TestApp) {
    deactivation_fault_leaves_nothing_half_written(
        app,
        app::workflows::faults::DEACTIVATE_AFTER_SESSIONS_WRITE,
    )
    .await;
}

async fn fault_between_order_row_and_items_leaves_nothing_half_written(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    let halfway = app.create_user("halfway@example.com").await;
    let user_id = halfway.id.clone();
    app.faults
        .arm(app::workflows::faults::PLACE_AFTER_ORDER_ROW);
    expect_problem(
        app.post_as(&halfway, "/v1/orders")
            .header("idempotency-key", "k-1")
            .json(&order_body(&user_id)),
        500,
        "internal_error",
    )
    .await;
    assert!(
        orders_of(&app, &halfway, &user_id).await.is_empty(),
        "no order row survived"
    );

    // The key was not burned either: once the fault clears, the same request succeeds.
    app.faults
        .disarm(app::workflows::faults::PLACE_AFTER_ORDER_ROW);
    let response = app
        .post_as(&halfway, "/v1/orders")
        .header("idempotency-key", "k-1")
        .json(&order_body(&user_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers().get("idempotent-replayed"), None);
    let orders = orders_of(&app, &halfway, &user_id).await;
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["items"].as_array().unwrap().len(), 2);
}

async fn deactivation_racing_placement_never_leaves_a_pending_order(app: TestApp) {
    app.stock("BOOK-1", 1250, common::PLENTY).await;
    app.stock("PEN-9", 199, common::PLENTY).await;
    let admin = app.create_admin("admin@example.com").await;
    for round in 0..6 {
        let customer = app.create_user(&format!("race{round}@example.com")).await;
        let user_id = customer.id.clone();
        // Two placements by an admin (whose session survives the deactivation) and two by the
        // customer itself (whose session does not).
        let by_admin = (0..2).map(|_| {
            app.post_as(&admin, "/v1/orders")
                .json(&order_body(&user_id))
                .send()
        });
        let by_customer = (0..2).map(|_| {
            app.post_as(&customer, "/v1/orders")
                .json(&order_body(&user_id))
                .send()
        });
        // Alternate who deactivates: the customer itself or an admin.
        let deactivator = if round % 2 == 0 { &customer } else { &admin };
        let deactivation = app
            .post_as(deactivator, &format!("/v1/users/{user_id}/deactivate"))
            .send();
        let (by_admin, by_customer, deactivated) = tokio::join!(
            futures::future::join_all(by_admin),
            futures::future::join_all(by_customer),
            deactivation
        );
        assert_eq!(deactivated.unwrap().status(), 200);
        for response in by_admin {
            let status = response.unwrap().status().as_u16();
            assert!(
                status == 201 || status == 422,
                "placement answered {status}"
            );
        }
        // The customer's own placement may also find its session already revoked.
        for response in by_customer {
            let status = response.unwrap().status().as_u16();
            assert!(
                status == 201 || status == 422 || status == 401,
                "placement answered {status}"
            );
        }
        for order in orders_of(&app, &admin, &user_id).await {
            assert_eq!(order["status"], "cancelled", "round {round}: {order}");
        }
    }
}
