//! Black-box tests of contract v3's catalog and inventory on both engines: who may read and
//! change products and stock (every route as anonymous, customer and admin), lists in sku
//! order, the server pricing every order, stock reserved by placement and given back by
//! cancellation and deactivation, turned into a sale by shipping, and refusals that write
//! nothing.

use crate::common::{Account, TestApp, assert_stock_invariants, expect_problem};
use reqwest::Method;
use serde_json::{Value, json};

crate::common::on_both_backends!(
    every_catalog_route_as_anonymous_customer_and_admin,
    products_list_in_sku_order_and_archived_ones_only_for_admins,
    product_changes_need_if_match_and_never_touch_placed_orders,
    adjustments_keep_on_hand_at_or_above_reserved,
    the_server_prices_every_order,
    short_lines_are_409_naming_every_one_and_reserve_nothing,
    cancel_releases_ship_sells_and_deactivation_releases,
    a_replay_reserves_nothing,
);

/// Creates a product as `admin` with `on_hand` units; returns its JSON.
async fn product(app: &TestApp, admin: &Account, sku: &str, eur: i64, on_hand: i64) -> Value {
    let response = app
        .post_as(admin, "/v1/products")
        .json(&json!({
            "sku": sku, "name": format!("Product {sku}"),
            "prices": [{"currency": "EUR", "unit_price_cents": eur}, {"currency": "USD", "unit_price_cents": eur + 1}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!("/v1/products/{sku}")
    );
    if on_hand != 0 {
        adjust(app, admin, sku, on_hand).await;
    }
    app.get_json(&format!("/v1/products/{sku}")).await
}

async fn adjust(app: &TestApp, admin: &Account, sku: &str, delta: i64) -> Value {
    let response = app
        .post_as(admin, &format!("/v1/products/{sku}/stock/adjustments"))
        .json(&json!({"delta": delta, "reason": "count"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "adjust {sku} by {delta}");
    response.json().await.unwrap()
}

async fn stock(app: &TestApp, admin: &Account, sku: &str) -> (i64, i64) {
    let stock = app
        .get_json_as(admin, &format!("/v1/products/{sku}/stock"))
        .await;
    (
        stock["on_hand"].as_i64().unwrap(),
        stock["reserved"].as_i64().unwrap(),
    )
}

async fn place(app: &TestApp, who: &Account, items: Value) -> reqwest::Response {
    app.post_as(who, "/v1/orders")
        .json(&json!({"currency": "EUR", "items": items}))
        .send()
        .await
        .unwrap()
}

async fn event_count(app: &TestApp, admin: &Account) -> usize {
    let mut count = 0;
    let mut after = String::new();
    app.settle_feed().await;
    loop {
        let page = app
            .get_json_as(admin, &format!("/v1/events?limit=100{after}"))
            .await;
        let items = page["items"].as_array().unwrap().len();
        count += items;
        // The feed always offers a cursor to resume from; a short page is its end.
        match page["next"].as_str() {
            Some(cursor) if items == 100 => after = format!("&after={cursor}"),
            _ => return count,
        }
    }
}

async fn every_catalog_route_as_anonymous_customer_and_admin(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let customer = app.create_user("customer@example.com").await;
    product(&app, &admin, "ON-SALE", 100, 5).await;
    product(&app, &admin, "GONE", 100, 0).await;
    let archived = app
        .post_as(&admin, "/v1/products/GONE/archive")
        .send()
        .await
        .unwrap();
    assert_eq!(archived.status(), 200);

    let new = || json!({"sku": "NEW-1", "name": "New", "prices": [{"currency": "EUR", "unit_price_cents": 1}]});
    let change = || json!({"name": "Renamed"});
    let delta = || json!({"delta": 1, "reason": "found one"});
    // Reads of what is on sale: everyone.
    for who in [None, Some(&customer), Some(&admin)] {
        for path in ["/v1/products", "/v1/products/ON-SALE"] {
            let request = match who {
                Some(who) => app.get_as(who, path),
                None => app.get(path),
            };
            assert_eq!(request.send().await.unwrap().status(), 200, "{path}");
        }
    }
    // Archived: 404 (and absent from lists) but for admins.
    expect_problem(app.get("/v1/products/GONE"), 404, "product_not_found").await;
    expect_problem(
        app.get_as(&customer, "/v1/products/GONE"),
        404,
        "product_not_found",
    )
    .await;
    assert_eq!(
        app.get_as(&admin, "/v1/products/GONE")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // An invalid token on a public route is still refused.
    expect_problem(
        app.get("/v1/products").bearer_auth("not-a-token"),
        401,
        "unauthenticated",
    )
    .await;
    // Changes and stock: 401 anonymous, 403 customer, admin allowed.
    let admin_only: Vec<(Method, &str, Option<Value>, u16)> = vec![
        (Method::POST, "/v1/products", Some(new()), 201),
        (Method::PATCH, "/v1/products/ON-SALE", Some(change()), 200),
        (Method::POST, "/v1/products/ON-SALE/archive", None, 200),
        (Method::GET, "/v1/products/ON-SALE/stock", None, 200),
        (
            Method::POST,
            "/v1/products/ON-SALE/stock/adjustments",
            Some(delta()),
            201,
        ),
    ];
    for (method, path, body, ok) in admin_only {
        let send = |who: Option<&Account>| {
            let mut request = match who {
                Some(who) => app.request_as(who, method.clone(), path),
                None => app.client.request(method.clone(), app.url(path)),
            };
            if method == Method::PATCH {
                request = request.header("if-match", "*");
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            request
        };
        expect_problem(send(None), 401, "unauthenticated").await;
        expect_problem(send(Some(&customer)), 403, "forbidden").await;
        assert_eq!(
            send(Some(&admin)).send().await.unwrap().status(),
            ok,
            "{method} {path} as admin"
        );
    }
    // Unknown skus, and paths that could never be skus, are 404 for admins too.
    for path in [
        "/v1/products/NOPE",
        "/v1/products/NOPE/stock",
        "/v1/products/-bad",
    ] {
        expect_problem(app.get_as(&admin, path), 404, "product_not_found").await;
    }
}

async fn products_list_in_sku_order_and_archived_ones_only_for_admins(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    // Created out of order, with case mattering (bytewise: upper before lower).
    for sku in ["b-2", "A-1", "a-3", "C-4", "B-5"] {
        product(&app, &admin, sku, 10, 0).await;
    }
    app.post_as(&admin, "/v1/products/a-3/archive")
        .send()
        .await
        .unwrap();
    let listed = |items: &Value| -> Vec<String> {
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = app.get_json("/v1/products?limit=2").await;
    assert_eq!(listed(&first["items"]), ["A-1", "B-5"]);
    assert_eq!(first["items"][0]["available"], 0);
    let cursor = first["next"].as_str().unwrap();
    let second = app
        .get_json(&format!("/v1/products?limit=2&after={cursor}"))
        .await;
    assert_eq!(listed(&second["items"]), ["C-4", "b-2"]);
    assert!(second["next"].is_null(), "the last page (a-3 is archived)");
    let everything = app.get_json_as(&admin, "/v1/products?limit=100").await;
    assert_eq!(
        listed(&everything["items"]),
        ["A-1", "B-5", "C-4", "a-3", "b-2"]
    );
    // A cursor of the public list is not one of the admin's list, nor of another list.
    expect_problem(
        app.get_as(&admin, &format!("/v1/products?after={cursor}")),
        422,
        "invalid_cursor",
    )
    .await;
    expect_problem(
        app.get_as(&admin, &format!("/v1/users?after={cursor}")),
        422,
        "invalid_cursor",
    )
    .await;
    expect_problem(app.get("/v1/products?limit=0"), 422, "invalid_limit").await;
    // Creating a taken sku, archived or not, is 409; bad fields are 422, all named.
    expect_problem(
        app.post_as(&admin, "/v1/products").json(&json!({
            "sku": "a-3", "name": "Again", "prices": [{"currency": "EUR", "unit_price_cents": 1}]
        })),
        409,
        "sku_taken",
    )
    .await;
    let problem = expect_problem(
        app.post_as(&admin, "/v1/products").json(&json!({
            "sku": "-x", "name": " ", "description": "a\u{202E}b",
            "prices": [{"currency": "EUR", "unit_price_cents": 1}, {"currency": "EUR", "unit_price_cents": 2}]
        })),
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["sku", "name", "description", "prices[1].currency"]);
}

async fn product_changes_need_if_match_and_never_touch_placed_orders(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let buyer = app.create_user("buyer@example.com").await;
    let created = product(&app, &admin, "LAMP", 1000, 10).await;
    assert_eq!(created["version"], 1);
    let placed = place(&app, &buyer, json!([{"sku": "LAMP", "quantity": 1}])).await;
    assert_eq!(placed.status(), 201);
    let order: Value = placed.json().await.unwrap();
    assert_eq!(order["items"][0]["unit_price_cents"], 1000);

    let patch = |if_match: Option<&str>| {
        let request = app
            .patch_as(&admin, "/v1/products/LAMP")
            .json(&json!({"prices": [{"currency": "EUR", "unit_price_cents": 1200}]}));
        match if_match {
            Some(tag) => request.header("if-match", tag),
            None => request,
        }
    };
    expect_problem(patch(None), 428, "precondition_required").await;
    expect_problem(patch(Some("\"7\"")), 412, "version_conflict").await;
    let changed = patch(Some("\"1\"")).send().await.unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.headers()["etag"], "\"2\"");
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(
        changed["prices"],
        json!([{"currency": "EUR", "unit_price_cents": 1200}])
    );
    assert_eq!(changed["available"], 9);
    assert_eq!(changed["name"], "Product LAMP", "unsent fields stay");
    // The order keeps the price it was placed at; new orders pay the new one.
    let kept = app
        .get_json_as(
            &buyer,
            &format!("/v1/orders/{}", order["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(kept["items"][0]["unit_price_cents"], 1000);
    assert_eq!(kept["total_cents"], 1000);
    let second: Value = place(&app, &buyer, json!([{"sku": "LAMP", "quantity": 2}]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["total_cents"], 2400);
    // Archiving twice answers the same archived product.
    let first = app
        .post_as(&admin, "/v1/products/LAMP/archive")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let again: Value = app
        .post_as(&admin, "/v1/products/LAMP/archive")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["status"], "archived");
    assert_eq!(again, first);
    let kept = app
        .get_json_as(
            &buyer,
            &format!("/v1/orders/{}", order["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(kept["status"], "pending");
    assert_stock_invariants(&app, &admin, &["LAMP"]).await;
}

async fn adjustments_keep_on_hand_at_or_above_reserved(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let buyer = app.create_user("buyer@example.com").await;
    product(&app, &admin, "BOLT", 5, 10).await;
    assert_eq!(
        place(&app, &buyer, json!([{"sku": "BOLT", "quantity": 4}]))
            .await
            .status(),
        201
    );
    let adjust_by = |delta: i64| {
        app.post_as(&admin, "/v1/products/BOLT/stock/adjustments")
            .json(&json!({"delta": delta, "reason": "recount"}))
    };
    // 10 on hand, 4 reserved: taking 7 would leave 3 < 4.
    expect_problem(adjust_by(-7), 409, "insufficient_stock").await;
    expect_problem(adjust_by(-11), 409, "insufficient_stock").await;
    let adjusted = adjust(&app, &admin, "BOLT", -6).await;
    assert_eq!(adjusted["stock"]["on_hand"], 4);
    assert_eq!(adjusted["stock"]["available"], 0);
    assert_eq!(adjusted["adjustment"]["delta"], -6);
    assert_eq!(adjusted["adjustment"]["reason"], "count");
    let problem = expect_problem(
        app.post_as(&admin, "/v1/products/BOLT/stock/adjustments")
            .json(&json!({"delta": 0, "reason": " "})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
    expect_problem(adjust_by(1_000_000_001), 422, "validation_failed").await;
    // If-Match on the stock's version.
    let version = app.get_json_as(&admin, "/v1/products/BOLT/stock").await["version"]
        .as_i64()
        .unwrap();
    expect_problem(
        adjust_by(1).header("if-match", format!("\"{}\"", version + 5)),
        412,
        "version_conflict",
    )
    .await;
    let ok = adjust_by(1)
        .header("if-match", format!("\"{version}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
    assert_eq!(
        ok.headers()["etag"].to_str().unwrap(),
        format!("\"{}\"", version + 1)
    );
    expect_problem(
        app.post_as(&admin, "/v1/products/NOPE/stock/adjustments")
            .json(&json!({"delta": 1, "reason": "x"})),
        404,
        "product_not_found",
    )
    .await;
    assert_stock_invariants(&app, &admin, &["BOLT"]).await;
}

async fn the_server_prices_every_order(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let buyer = app.create_user("buyer@example.com").await;
    product(&app, &admin, "BOOK", 1250, 10).await;
    product(&app, &admin, "PEN", 199, 10).await;
    // Prices left out: the catalog's. A matching sent price is fine.
    let placed = place(
        &app,
        &buyer,
        json!([{"sku": "BOOK", "quantity": 2}, {"sku": "PEN", "quantity": 1, "unit_price_cents": 199}]),
    )
    .await;
    assert_eq!(placed.status(), 201);
    let order: Value = placed.json().await.unwrap();
    assert_eq!(order["total_cents"], 2 * 1250 + 199);
    assert_eq!(
        order["items"],
        json!([
            {"sku": "BOOK", "quantity": 2, "unit_price_cents": 1250},
            {"sku": "PEN", "quantity": 1, "unit_price_cents": 199}
        ])
    );
    let events = event_count(&app, &admin).await;
    let stock_before = (
        stock(&app, &admin, "BOOK").await,
        stock(&app, &admin, "PEN").await,
    );
    // A price the client chose is refused, naming the current price of every such line.
    let problem = expect_problem(
        app.post_as(&buyer, "/v1/orders").json(&json!({
            "currency": "EUR",
            "items": [{"sku": "BOOK", "quantity": 1000, "unit_price_cents": 0},
                      {"sku": "PEN", "quantity": 1, "unit_price_cents": 1}]
        })),
        409,
        "price_changed",
    )
    .await;
    assert_eq!(
        problem["prices"],
        json!([{"sku": "BOOK", "unit_price_cents": 1250}, {"sku": "PEN", "unit_price_cents": 199}])
    );
    // Unknown and archived skus, and prices in a currency a product lacks: 422 naming lines.
    product(&app, &admin, "OLD", 5, 5).await;
    app.post_as(&admin, "/v1/products/OLD/archive")
        .send()
        .await
        .unwrap();
    let problem = expect_problem(
        app.post_as(&buyer, "/v1/orders").json(&json!({
            "currency": "EUR",
            "items": [{"sku": "BOOK", "quantity": 1}, {"sku": "ANYTHING", "quantity": 1}, {"sku": "OLD", "quantity": 1}]
        })),
        422,
        "unknown_product",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["items[1].sku", "items[2].sku"]);
    let problem = expect_problem(
        app.post_as(&buyer, "/v1/orders").json(&json!({
            "currency": "JPY", "items": [{"sku": "PEN", "quantity": 1}]
        })),
        422,
        "currency_not_offered",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "items[0].sku");
    // The same sku twice is a validation error.
    expect_problem(
        app.post_as(&buyer, "/v1/orders").json(&json!({
            "currency": "EUR", "items": [{"sku": "PEN", "quantity": 1}, {"sku": "PEN", "quantity": 2}]
        })),
        422,
        "validation_failed",
    )
    .await;
    // USD is priced too.
    let usd = app
        .post_as(&buyer, "/v1/orders")
        .json(&json!({"currency": "USD", "items": [{"sku": "PEN", "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(usd.status(), 201);
    let usd: Value = usd.json().await.unwrap();
    assert_eq!(usd["total_cents"], 200);
    // Nothing of the refusals was written: only the USD order's event is new.
    assert_eq!(
        event_count(&app, &admin).await,
        events + 4,
        "OLD's creation, adjustment and archive, then the USD order"
    );
    assert_eq!(stock(&app, &admin, "BOOK").await, stock_before.0);
    let pen = stock(&app, &admin, "PEN").await;
    assert_eq!(pen, (stock_before.1.0, stock_before.1.1 + 1));
    assert_stock_invariants(&app, &admin, &["BOOK", "PEN", "OLD"]).await;
}

async fn short_lines_are_409_naming_every_one_and_reserve_nothing(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let buyer = app.create_user("buyer@example.com").await;
    product(&app, &admin, "A", 1, 3).await;
    product(&app, &admin, "B", 1, 1).await;
    product(&app, &admin, "C", 1, 100).await;
    let problem = expect_problem(
        app.post_as(&buyer, "/v1/orders").json(&json!({
            "currency": "EUR",
            "items": [{"sku": "C", "quantity": 5}, {"sku": "B", "quantity": 2}, {"sku": "A", "quantity": 4}]
        })),
        409,
        "insufficient_stock",
    )
    .await;
    assert_eq!(
        problem["shortages"],
        json!([
            {"sku": "A", "requested": 4, "available": 3},
            {"sku": "B", "requested": 2, "available": 1}
        ])
    );
    for sku in ["A", "B", "C"] {
        assert_eq!(
            stock(&app, &admin, sku).await.1,
            0,
            "{sku} reserved nothing"
        );
    }
    let orders = app
        .get_json_as(&buyer, &format!("/v1/users/{}/orders", buyer.id))
        .await;
    assert_eq!(orders["items"], json!([]));
    // Exactly what is available can be ordered.
    assert_eq!(
        place(
            &app,
            &buyer,
            json!([{"sku": "A", "quantity": 3}, {"sku": "B", "quantity": 1}])
        )
        .await
        .status(),
        201
    );
    let listed = app.get_json("/v1/products?limit=100").await;
    let available: Vec<i64> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["available"].as_i64().unwrap())
        .collect();
    assert_eq!(available, [0, 0, 100]);
    assert_stock_invariants(&app, &admin, &["A", "B", "C"]).await;
}

async fn cancel_releases_ship_sells_and_deactivation_releases(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let buyer = app.create_user("buyer@example.com").await;
    product(&app, &admin, "KIT", 10, 20).await;
    let mut ids = Vec::new();
    for quantity in [1, 2, 3, 4] {
        let order: Value = place(&app, &buyer, json!([{"sku": "KIT", "quantity": quantity}]))
            .await
            .json()
            .await
            .unwrap();
        ids.push(order["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(stock(&app, &admin, "KIT").await, (20, 10));
    let act =
        |who: &Account, id: &str, verb: &str| app.post_as(who, &format!("/v1/orders/{id}/{verb}"));
    // Cancel a pending order: its 1 unit comes back.
    assert_eq!(
        act(&buyer, &ids[0], "cancel")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(stock(&app, &admin, "KIT").await, (20, 9));
    // Pay and cancel: back too.
    assert_eq!(
        act(&buyer, &ids[1], "pay").send().await.unwrap().status(),
        200
    );
    assert_eq!(stock(&app, &admin, "KIT").await, (20, 9), "paying keeps it");
    assert_eq!(
        act(&buyer, &ids[1], "cancel")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(stock(&app, &admin, "KIT").await, (20, 7));
    // Pay and ship: a sale, on hand and reserved both drop.
    act(&buyer, &ids[2], "pay").send().await.unwrap();
    assert_eq!(
        act(&admin, &ids[2], "ship").send().await.unwrap().status(),
        200
    );
    assert_eq!(stock(&app, &admin, "KIT").await, (17, 4));
    // A refused move changes no stock.
    expect_problem(act(&buyer, &ids[2], "cancel"), 409, "illegal_transition").await;
    assert_eq!(stock(&app, &admin, "KIT").await, (17, 4));
    // Deactivation cancels the pending order (4 units) and gives them back.
    let deactivated = app
        .post_as(&admin, &format!("/v1/users/{}/deactivate", buyer.id))
        .send()
        .await
        .unwrap();
    assert_eq!(deactivated.status(), 200);
    assert_eq!(stock(&app, &admin, "KIT").await, (17, 0));
    assert_eq!(app.get_json("/v1/products/KIT").await["available"], 17);
    assert_stock_invariants(&app, &admin, &["KIT"]).await;
}

async fn a_replay_reserves_nothing(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let buyer = app.create_user("buyer@example.com").await;
    product(&app, &admin, "ONE", 7, 1).await;
    let send = || {
        app.post_as(&buyer, "/v1/orders")
            .header("idempotency-key", "only-one")
            .json(&json!({"currency": "EUR", "items": [{"sku": "ONE", "quantity": 1}]}))
    };
    let first = send().send().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    // The last unit is gone, yet the retry answers with the original order.
    let again = send().send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(stock(&app, &admin, "ONE").await, (1, 1));
    // Even after a price change: a retry is the same request.
    app.patch_as(&admin, "/v1/products/ONE")
        .header("if-match", "*")
        .json(&json!({"prices": [{"currency": "EUR", "unit_price_cents": 9}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(send().send().await.unwrap().status(), 201);
    assert_stock_invariants(&app, &admin, &["ONE"]).await;
}
