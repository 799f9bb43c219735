//! A fault after every write of every stock workflow, on both engines: placing an order,
//! cancelling and shipping it, deactivating its customer, creating a product and adjusting
//! stock. Each fault answers 500 and leaves nothing of its workflow behind: the stock, the
//! orders, the product, the idempotency key and the event feed are as they were.

use crate::common::{self, Account, TestApp, assert_stock_invariants, expect_problem};
use app::workflows::faults;
use persistence::FaultPoint;
use serde_json::{Value, json};

macro_rules! one_test_per_point {
    ($($check:ident($point:expr) as $name:ident),+ $(,)?) => {
        $(async fn $name(app: TestApp) {
            $check(scene(app).await, $point).await
        })+
        crate::common::on_both_backends!($($name),+);
    };
}

one_test_per_point!(
    placement(faults::PLACE_BEFORE_RESERVATION) as place_fails_before_reservation,
    placement(faults::PLACE_AFTER_RESERVATION) as place_fails_after_reservation,
    placement(faults::PLACE_AFTER_ORDER_ROW) as place_fails_after_order_row,
    placement(faults::PLACE_AFTER_ORDER_WRITE) as place_fails_after_order_write,
    cancellation(faults::TRANSITION_AFTER_ORDER_WRITE) as cancel_fails_after_order_write,
    cancellation(faults::TRANSITION_AFTER_STOCK_WRITE) as cancel_fails_after_stock_write,
    shipping(faults::TRANSITION_AFTER_ORDER_WRITE) as ship_fails_after_order_write,
    shipping(faults::TRANSITION_AFTER_STOCK_WRITE) as ship_fails_after_stock_write,
    deactivation(faults::DEACTIVATE_AFTER_USER_WRITE) as deactivate_fails_after_user_write,
    deactivation(faults::DEACTIVATE_AFTER_ORDERS_WRITE) as deactivate_fails_after_orders_write,
    deactivation(faults::DEACTIVATE_AFTER_STOCK_WRITE) as deactivate_fails_after_stock_write,
    deactivation(faults::DEACTIVATE_AFTER_SESSIONS_WRITE) as deactivate_fails_after_sessions_write,
    creation(faults::CREATE_PRODUCT_AFTER_PRODUCT_WRITE) as create_fails_after_product_write,
    creation(faults::CREATE_PRODUCT_AFTER_STOCK_WRITE) as create_fails_after_stock_write,
    adjustment(faults::ADJUST_AFTER_STOCK_WRITE) as adjust_fails_after_stock_write,
    adjustment(faults::ADJUST_AFTER_LEDGER_WRITE) as adjust_fails_after_ledger_write,
);

/// What a failed workflow must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    stock: Value,
    orders: Vec<Value>,
    events: usize,
}

struct Scene {
    app: TestApp,
    admin: Account,
    buyer: Account,
}

async fn scene(app: TestApp) -> Scene {
    let admin = app.create_admin("admin@example.com").await;
    let buyer = app.create_user("buyer@example.com").await;
    app.stock("FAULTY", 100, 10).await;
    Scene { app, admin, buyer }
}

impl Scene {
    async fn snapshot(&self) -> Snapshot {
        let stock = self
            .app
            .get_json_as(&self.admin, "/v1/products/FAULTY/stock")
            .await;
        let orders = common::all_pages(
            &self.app,
            &self.admin,
            &format!("/v1/users/{}/orders", self.buyer.id),
        )
        .await;
        let mut events = 0;
        let mut after = String::new();
        self.app.settle_feed().await;
        loop {
            let page = self
                .app
                .get_json_as(&self.admin, &format!("/v1/events?limit=100{after}"))
                .await;
            let items = page["items"].as_array().unwrap().len();
            events += items;
            match page["next"].as_str() {
                Some(cursor) if items == 100 => after = format!("&after={cursor}"),
                _ => break,
            }
        }
        Snapshot {
            stock,
            orders,
            events,
        }
    }

    async fn place(&self) -> Value {
        let response = self
            .app
            .post_as(&self.buyer, "/v1/orders")
            .json(&json!({"currency": "EUR", "items": [{"sku": "FAULTY", "quantity": 3}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Arms `point`, expects `request` to fail with 500 and to leave everything as it was,
    /// then disarms it.
    async fn fails_leaving_nothing(&self, point: FaultPoint, request: reqwest::RequestBuilder) {
        let before = self.snapshot().await;
        self.app.faults.arm(point);
        expect_problem(request, 500, "internal_error").await;
        self.app.faults.disarm(point);
        assert_eq!(
            self.snapshot().await,
            before,
            "{} left something",
            point.name()
        );
        assert_stock_invariants(&self.app, &self.admin, &["FAULTY"]).await;
    }
}

async fn placement(s: Scene, point: FaultPoint) {
    let send = || {
        s.app
            .post_as(&s.buyer, "/v1/orders")
            .header("idempotency-key", "after-the-fault")
            .json(&json!({"currency": "EUR", "items": [{"sku": "FAULTY", "quantity": 3}]}))
    };
    s.fails_leaving_nothing(point, send()).await;
    // The key was not recorded: the retry places the order, once.
    let retried = send().send().await.unwrap();
    assert_eq!(retried.status(), 201);
    assert!(retried.headers().get("idempotent-replayed").is_none());
    let stock = s
        .app
        .get_json_as(&s.admin, "/v1/products/FAULTY/stock")
        .await;
    assert_eq!(stock["reserved"], 3);
}

async fn cancellation(s: Scene, point: FaultPoint) {
    let order = s.place().await;
    let id = order["id"].as_str().unwrap();
    let cancel = s.app.post_as(&s.buyer, &format!("/v1/orders/{id}/cancel"));
    s.fails_leaving_nothing(point, cancel).await;
}

async fn shipping(s: Scene, point: FaultPoint) {
    let order = s.place().await;
    let id = order["id"].as_str().unwrap();
    let paid = s
        .app
        .post_as(&s.buyer, &format!("/v1/orders/{id}/pay"))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200);
    let ship = s.app.post_as(&s.admin, &format!("/v1/orders/{id}/ship"));
    s.fails_leaving_nothing(point, ship).await;
}

async fn deactivation(s: Scene, point: FaultPoint) {
    s.place().await;
    let deactivate = s
        .app
        .post_as(&s.admin, &format!("/v1/users/{}/deactivate", s.buyer.id));
    s.fails_leaving_nothing(point, deactivate).await;
    let user = s
        .app
        .get_json_as(&s.admin, &format!("/v1/users/{}", s.buyer.id))
        .await;
    assert_eq!(user["status"], "active");
}

async fn creation(s: Scene, point: FaultPoint) {
    let create = s.app.post_as(&s.admin, "/v1/products").json(&json!({
        "sku": "NEVER", "name": "Never", "prices": [{"currency": "EUR", "unit_price_cents": 1}]
    }));
    s.fails_leaving_nothing(point, create).await;
    expect_problem(
        s.app.get_as(&s.admin, "/v1/products/NEVER"),
        404,
        "product_not_found",
    )
    .await;
    expect_problem(
        s.app.get_as(&s.admin, "/v1/products/NEVER/stock"),
        404,
        "product_not_found",
    )
    .await;
}

async fn adjustment(s: Scene, point: FaultPoint) {
    s.place().await;
    let adjust = s
        .app
        .post_as(&s.admin, "/v1/products/FAULTY/stock/adjustments")
        .json(&json!({"delta": 5, "reason": "delivery"}));
    s.fails_leaving_nothing(point, adjust).await;
}
