//! Black-box tests of the integration-event feed, `GET /v1/events`, on both engines: who may
//! read it, that every change produces exactly one event in a CloudEvents 1.0 envelope whose
//! data is the resource as the API shows it, that paging resumes exactly, and that a failure
//! around the append leaves neither the change nor the event.

use crate::common::{self, Account, TestApp, expect_problem};
use persistence::outbox::faults::{AFTER_APPEND, BEFORE_APPEND};
use serde_json::{Value, json};

crate::common::on_both_backends!(
    the_feed_is_for_admins_only,
    every_change_produces_exactly_one_event,
    paging_resumes_after_the_last_event_seen,
    a_fault_around_the_append_leaves_neither_change_nor_event,
);

/// Every event of the feed, paging with `limit`.
async fn all_events(app: &TestApp, admin: &Account, limit: u32) -> Vec<Value> {
    let mut events = Vec::new();
    let mut path = format!("/v1/events?limit={limit}");
    app.settle_feed().await;
    loop {
        let page = app.get_json_as(admin, &path).await;
        let items = page["items"].as_array().unwrap().clone();
        let caught_up = items.len() < limit as usize;
        events.extend(items);
        if caught_up {
            return events;
        }
        path = format!(
            "/v1/events?limit={limit}&after={}",
            page["next"].as_str().unwrap()
        );
    }
}

fn types_and_subjects(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn without_role(mut user: Value) -> Value {
    user.as_object_mut().unwrap().remove("role");
    user
}

async fn the_feed_is_for_admins_only(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let customer = app.create_user("ada@example.com").await;
    expect_problem(app.get("/v1/events"), 401, "unauthenticated").await;
    expect_problem(app.get_as(&customer, "/v1/events"), 403, "forbidden").await;
    app.settle_feed().await;
    let page = app.get_json_as(&admin, "/v1/events").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");

    expect_problem(
        app.get_as(&admin, "/v1/events?limit=0"),
        422,
        "invalid_limit",
    )
    .await;
    expect_problem(
        app.get_as(&admin, "/v1/events?after=garbage"),
        422,
        "invalid_cursor",
    )
    .await;
    // A cursor of another list is not a feed position.
    let users = app.get_json_as(&admin, "/v1/users?limit=1").await;
    let users_cursor = users["next"].as_str().unwrap();
    expect_problem(
        app.get_as(&admin, &format!("/v1/events?after={users_cursor}")),
        422,
        "invalid_cursor",
    )
    .await;
}

async fn every_change_produces_exactly_one_event(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let ada = app.create_user("ada@example.com").await;

    let shipped = app.create_order(&ada).await;
    let shipped_id = shipped["id"].as_str().unwrap();
    let paid = app
        .post_as(&ada, &format!("/v1/orders/{shipped_id}/pay"))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200);
    let shipped: Value = app
        .post_as(&admin, &format!("/v1/orders/{shipped_id}/ship"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cancelled = app.create_order(&ada).await;
    let cancelled_id = cancelled["id"].as_str().unwrap();
    let cancelled: Value = app
        .post_as(&ada, &format!("/v1/orders/{cancelled_id}/cancel"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pending = [app.create_order(&ada).await, app.create_order(&ada).await];

    // Refused requests change nothing, so they say nothing.
    expect_problem(
        app.post_as(&admin, &format!("/v1/orders/{shipped_id}/pay")),
        409,
        "illegal_transition",
    )
    .await;
    expect_problem(
        app.post("/v1/users").json(&json!({
            "email": "ada@example.com", "display_name": "Ada", "password": common::PASSWORD
        })),
        409,
        "email_taken",
    )
    .await;

    let deactivated = app
        .post_as(&admin, &format!("/v1/users/{}/deactivate", ada.id))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 200);
    let deactivated: Value = deactivated.json().await.unwrap();

    let events = all_events(&app, &admin, 3).await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let expected: Vec<(String, String)> = [
        ("user.registered", admin.id.clone()),
        ("user.registered", ada.id.clone()),
        // What `create_order` first puts on sale: a product and its stock.
        ("product.created", "SKU-1".to_owned()),
        ("stock.adjusted", "SKU-1".to_owned()),
        ("order.placed", shipped_id.to_owned()),
        ("order.paid", shipped_id.to_owned()),
        ("order.shipped", shipped_id.to_owned()),
        ("order.placed", cancelled_id.to_owned()),
        ("order.cancelled", cancelled_id.to_owned()),
        ("order.placed", id(&pending[0])),
        ("order.placed", id(&pending[1])),
        ("user.deactivated", ada.id.clone()),
        ("order.cancelled", id(&pending[0])),
        ("order.cancelled", id(&pending[1])),
    ]
    .into_iter()
    .map(|(t, s)| (t.to_owned(), s))
    .collect();
    assert_eq!(types_and_subjects(&events), expected);

    // The CloudEvents 1.0 envelope, with every required attribute and ours.
    let mut ids = std::collections::HashSet::new();
    for event in &events {
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["source"], "orders-backend");
        assert_eq!(event["datacontenttype"], "application/json");
        let event_id = uuid::Uuid::parse_str(event["id"].as_str().unwrap()).unwrap();
        assert_eq!(event_id.get_version_num(), 7, "UUID v7");
        assert!(ids.insert(event_id), "ids are unique");
        let time = event["time"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok(), "{time}");
        let identity = match event["type"].as_str().unwrap() {
            "product.created" => &event["data"]["sku"],
            "stock.adjusted" => &event["data"]["stock"]["sku"],
            _ => &event["data"]["id"],
        };
        assert_eq!(identity, &event["subject"]);
        assert_eq!(event.as_object().unwrap().len(), 8, "{event}");
    }

    // The data is the resource as the API showed it right after the change.
    assert_eq!(events[1]["data"], without_role(ada.user.clone()));
    // The product less `available` (stock has events of its own), then its stock.
    let product = app.get_json("/v1/products/SKU-1").await;
    let mut shown = product.clone();
    shown.as_object_mut().unwrap().remove("available");
    assert_eq!(events[2]["data"], shown);
    assert_eq!(events[3]["data"]["stock"]["on_hand"], common::PLENTY);
    assert_eq!(events[3]["data"]["adjustment"]["delta"], common::PLENTY);
    assert_eq!(events[6]["data"], shipped);
    assert_eq!(events[6]["time"], shipped["updated_at"]);
    assert_eq!(events[8]["data"], cancelled);
    assert_eq!(events[11]["data"], without_role(deactivated));
    let cancelled_by_deactivation = app
        .get_json_as(&admin, &format!("/v1/orders/{}", id(&pending[1])))
        .await;
    assert_eq!(events[13]["data"], cancelled_by_deactivation);
    assert_eq!(events[13]["data"]["status"], "cancelled");
}

async fn paging_resumes_after_the_last_event_seen(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let ada = app.create_user("ada@example.com").await;
    app.create_order(&ada).await;

    // Two registrations, the product `create_order` puts on sale and its stock, the order.
    app.settle_feed().await;
    let first = app.get_json_as(&admin, "/v1/events?limit=4").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 4);
    let cursor = first["next"].as_str().unwrap().to_owned();
    let second = app
        .get_json_as(&admin, &format!("/v1/events?limit=4&after={cursor}"))
        .await;
    assert_eq!(
        types_and_subjects(second["items"].as_array().unwrap())
            .into_iter()
            .map(|(t, _)| t)
            .collect::<Vec<_>>(),
        ["order.placed"]
    );
    // Caught up: no items, and `next` stays where the consumer is, ready for the next poll.
    let resume = second["next"].as_str().unwrap().to_owned();
    let caught_up = app
        .get_json_as(&admin, &format!("/v1/events?after={resume}"))
        .await;
    assert_eq!(caught_up["items"], json!([]));
    assert_eq!(caught_up["next"], resume.as_str());
    // What commits next is exactly what the next poll returns.
    app.create_order(&ada).await;
    app.settle_feed().await;
    let next = app
        .get_json_as(&admin, &format!("/v1/events?after={resume}"))
        .await;
    assert_eq!(next["items"].as_array().unwrap().len(), 1);
    assert_eq!(next["items"][0]["type"], "order.placed");
}

/// Every kind of change, with a fault armed between the change and its append, and between
/// the append and the commit: each answers 500 and leaves the resource as it was and the feed
/// without an event.
async fn a_fault_around_the_append_leaves_neither_change_nor_event(app: TestApp) {
    app.stock("SKU-9", 5, common::PLENTY).await;
    let admin = app.create_admin("admin@example.com").await;
    let ada = app.create_user("ada@example.com").await;
    let pending = app.create_order(&ada).await;
    let pending_id = pending["id"].as_str().unwrap();
    let paid = app.create_order(&ada).await;
    let paid_id = paid["id"].as_str().unwrap();
    let pay = app
        .post_as(&ada, &format!("/v1/orders/{paid_id}/pay"))
        .send()
        .await
        .unwrap();
    assert_eq!(pay.status(), 200);
    let paid: Value = pay.json().await.unwrap();
    let before = all_events(&app, &admin, 100).await;

    for point in [BEFORE_APPEND, AFTER_APPEND] {
        app.faults.arm(point);
        let attempts = [
            app.post("/v1/users").json(&json!({
                "email": "grace@example.com", "display_name": "Grace",
                "password": common::PASSWORD
            })),
            app.post_as(&ada, "/v1/orders").json(&json!({
                "currency": "EUR",
                "items": [{ "sku": "SKU-9", "quantity": 1, "unit_price_cents": 5 }]
            })),
            app.post_as(&ada, &format!("/v1/orders/{pending_id}/pay")),
            app.post_as(&ada, &format!("/v1/orders/{pending_id}/cancel")),
            app.post_as(&admin, &format!("/v1/orders/{paid_id}/ship")),
            app.post_as(&admin, &format!("/v1/users/{}/deactivate", ada.id)),
        ];
        for attempt in attempts {
            expect_problem(attempt, 500, "internal_error").await;
        }
        app.faults.disarm(point);

        assert_eq!(
            all_events(&app, &admin, 100).await,
            before,
            "{}: no event",
            point.name()
        );
        assert_eq!(
            app.get_json_as(&admin, &format!("/v1/orders/{pending_id}"))
                .await,
            pending,
            "{}",
            point.name()
        );
        assert_eq!(
            app.get_json_as(&admin, &format!("/v1/orders/{paid_id}"))
                .await,
            paid
        );
        let user = app
            .get_json_as(&admin, &format!("/v1/users/{}", ada.id))
            .await;
        assert_eq!(user["status"], "active");
        let orders = app
            .get_json_as(&admin, &format!("/v1/users/{}/orders", ada.id))
            .await;
        assert_eq!(orders["items"].as_array().unwrap().len(), 2, "no new order");
    }
    // The address was never taken: signing up now works, and is the one new event.
    app.sign_up("grace@example.com").await;
    let after = all_events(&app, &admin, 100).await;
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after.last().unwrap()["type"], "user.registered");
}
