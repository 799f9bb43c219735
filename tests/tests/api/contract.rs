//! Black-box tests of the contract itself: strict request bodies with every bad field reported,
//! details free of Rust internals, one Idempotency-Key, RFC 9110 If-Match, cursors bound to their
//! list and tamper-evident, resolvable problem types, protocol-level rejections, and the OpenAPI
//! document (served, committed, not stale). Problem pages, protocol-level rejections and the
//! document are no database's business and run once; the rest on both engines.

use crate::common::{self, Account, TestApp, assert_problem, expect_problem, spawn_with, start};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use persistence::CursorCodec;
use persistence::testing::TestDatabase;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

crate::common::on_both_backends!(
    unknown_fields_are_rejected_naming_each_one,
    validation_failed_lists_every_bad_field,
    details_never_show_rust_internals,
    two_idempotency_keys_are_a_400_and_create_nothing,
    if_match_follows_rfc_9110_on_users,
    if_match_follows_rfc_9110_on_orders,
    cursors_only_work_on_the_list_that_issued_them,
    flipped_cursor_bits_are_rejected,
    cursors_work_across_instances_sharing_a_key_only,
    responses_have_exactly_the_documented_fields,
);

/// The `(field, reason)` pairs of a 422 `validation_failed`.
fn field_errors(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {problem}"))
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn fields(problem: &Value) -> Vec<String> {
    field_errors(problem).into_iter().map(|(f, _)| f).collect()
}

async fn unknown_fields_are_rejected_naming_each_one(app: TestApp) {
    // A client trying to sign itself up deactivated, or as an admin, learns it at once.
    let problem = expect_problem(
        app.post("/v1/users").json(&json!({
            "email": "ada@example.com", "display_name": "Ada",
            "password": "correct horse battery", "status": "deactivated", "role": "admin"
        })),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        field_errors(&problem),
        [
            ("role".to_owned(), "is not a known field".to_owned()),
            ("status".to_owned(), "is not a known field".to_owned())
        ]
    );
    assert!(problem["detail"].as_str().unwrap().contains("status"));
    // Nothing was created.
    expect_problem(
        app.post("/v1/sessions")
            .json(&json!({"email": "ada@example.com", "password": "correct horse battery"})),
        401,
        "invalid_credentials",
    )
    .await;

    let user = app.create_user("grace@example.com").await;
    let problem = expect_problem(
        app.patch_as(&user, &format!("/v1/users/{}", user.id))
            .header("if-match", "\"1\"")
            .json(&json!({"display_name": "Grace", "displayname": "typo"})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&problem), ["displayname"]);

    let problem = expect_problem(
        app.post_as(&user, "/v1/orders").json(&json!({
            "currency": "EUR",
            "items": [{"sku": "A", "quantity": 1, "unit_price_cents": 1, "colour": "red"}]
        })),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&problem), ["items[0].colour"]);
    let problem = expect_problem(
        app.post("/v1/sessions")
            .json(&json!({"email": "grace@example.com", "password": "x", "remember": true})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&problem), ["remember"]);
}

async fn validation_failed_lists_every_bad_field(app: TestApp) {
    // Every domain rule broken at once.
    let problem = expect_problem(
        app.post("/v1/users").json(&json!({
            "email": "not an address", "display_name": "   ", "password": "short"
        })),
        422,
        "validation_failed",
    )
    .await;
    let errors = field_errors(&problem);
    assert_eq!(
        errors.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        ["email", "display_name", "password"]
    );
    assert!(errors.iter().all(|(_, reason)| !reason.is_empty()));

    // Every field of the wrong type, and a missing one.
    let problem = expect_problem(
        app.post("/v1/users")
            .json(&json!({"email": 1, "display_name": true})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        field_errors(&problem),
        [
            ("password".to_owned(), "is required".to_owned()),
            ("display_name".to_owned(), "must be a string".to_owned()),
            ("email".to_owned(), "must be a string".to_owned()),
        ]
    );

    // Down to the line of an order.
    let buyer = app.create_user("buyer@example.com").await;
    let problem = expect_problem(
        app.post_as(&buyer, "/v1/orders").json(&json!({
            "currency": "eur",
            "items": [
                {"sku": "A", "quantity": 1, "unit_price_cents": 1},
                {"sku": " ", "quantity": 5, "unit_price_cents": -1},
                {"sku": "C", "quantity": 1, "unit_price_cents": 1}
            ]
        })),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        fields(&problem),
        ["currency", "items[1].sku", "items[1].unit_price_cents"]
    );
    let problem = expect_problem(
        app.post_as(&buyer, "/v1/orders").json(&json!({
            "currency": "EUR",
            "items": [{"sku": "A", "quantity": 2.5, "unit_price_cents": "1"}, {"quantity": 1.5}]
        })),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        fields(&problem),
        [
            "items[0].quantity",
            "items[0].unit_price_cents",
            "items[1].sku",
            "items[1].quantity"
        ]
    );
    // Rules over the whole order come with the field rules.
    let problem = expect_problem(
        app.post_as(&buyer, "/v1/orders")
            .json(&json!({"currency": "US", "items": []})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&problem), ["currency", "items"]);
    // A body that is not an object at all.
    let problem = expect_problem(
        app.post_as(&buyer, "/v1/orders").json(&json!([1, 2])),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&problem), ["body"]);
    let orders = app
        .get_json_as(&buyer, &format!("/v1/users/{}/orders", buyer.id))
        .await;
    assert_eq!(orders["items"], json!([]));
}

/// Words that only a Rust programmer would recognise.
const INTERNALS: &[&str] = &[
    "struct",
    "expected",
    "i64",
    "u16",
    "variant",
    "invalid type",
    "serde",
    "Uuid",
    "Vec<",
    "Option<",
    "`",
    "UUID parsing failed",
    "Failed to deserialize",
];

async fn assert_plain_detail(response: reqwest::Response, status: u16, code: &str) {
    let problem = assert_problem(response, status, code).await;
    let mut texts = vec![problem["detail"].as_str().unwrap().to_owned()];
    texts.extend(field_errors_or_none(&problem));
    for text in texts {
        for word in INTERNALS {
            assert!(!text.contains(word), "{code}: {text:?} mentions {word:?}");
        }
    }
}

fn field_errors_or_none(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["reason"].as_str().unwrap().to_owned())
        .collect()
}

async fn details_never_show_rust_internals(app: TestApp) {
    app.stock("A", 1, common::PLENTY).await;
    let buyer = app.create_user("buyer@example.com").await;
    let order = app.create_order(&buyer).await;
    let id = order["id"].as_str().unwrap();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            app.post("/v1/users").json(&json!({"email": []})),
            422,
            "validation_failed",
        ),
        (
            app.post("/v1/users")
                .header("content-type", "application/json")
                .body("{\"email\": "),
            400,
            "malformed_json",
        ),
        (
            app.post("/v1/users").body("email=a"),
            415,
            "unsupported_media_type",
        ),
        (
            app.post_as(&buyer, "/v1/orders")
                .header("content-type", "application/json")
                .body(r#"{"currency": "EUR", "items": [{"sku": "A", "quantity": 99999999999999999999, "unit_price_cents": 1}]}"#),
            422,
            "validation_failed",
        ),
        (
            app.post_as(&buyer, "/v1/orders").json(&json!({
                "user_id": "not-a-uuid", "currency": "EUR",
                "items": [{"sku": "A", "quantity": 1, "unit_price_cents": 1}]
            })),
            422,
            "validation_failed",
        ),
        (
            app.post_as(&buyer, &format!("/v1/orders/{id}/refund")),
            404,
            "not_found",
        ),
        (app.get_as(&buyer, "/v1/orders/12345"), 404, "not_found"),
        (
            app.get_as(&buyer, &format!("/v1/users/{}/orders?limit=x", buyer.id)),
            422,
            "invalid_limit",
        ),
        (
            app.get_as(&buyer, &format!("/v1/users/{}/orders?after=%00", buyer.id)),
            422,
            "invalid_cursor",
        ),
        (app.delete_as(&buyer, "/v1/orders"), 405, "method_not_allowed"),
    ];
    for (request, status, code) in cases {
        assert_plain_detail(request.send().await.unwrap(), status, code).await;
    }
}

async fn two_idempotency_keys_are_a_400_and_create_nothing(app: TestApp) {
    app.stock("A", 1, common::PLENTY).await;
    let buyer = app.create_user("buyer@example.com").await;
    let body =
        json!({"currency": "EUR", "items": [{"sku": "A", "quantity": 1, "unit_price_cents": 1}]});
    let problem = expect_problem(
        app.post_as(&buyer, "/v1/orders")
            .header("idempotency-key", "first")
            .header("idempotency-key", "second")
            .json(&body),
        400,
        "duplicate_header",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );
    let orders = app
        .get_json_as(&buyer, &format!("/v1/users/{}/orders", buyer.id))
        .await;
    assert_eq!(orders["items"], json!([]));
    // A bad key is a 422 naming the header.
    let problem = expect_problem(
        app.post_as(&buyer, "/v1/orders")
            .header("idempotency-key", "has space")
            .json(&body),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&problem), ["Idempotency-Key"]);
    // One key works as before.
    let response = app
        .post_as(&buyer, "/v1/orders")
        .header("idempotency-key", "first")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// PATCHes a user's name with the given `If-Match` values and returns the response.
async fn rename_with(
    app: &TestApp,
    who: &Account,
    path: &str,
    if_match: &[&str],
) -> reqwest::Response {
    let mut request = app
        .patch_as(who, path)
        .json(&json!({"display_name": "Renamed"}));
    for value in if_match {
        request = request.header("if-match", *value);
    }
    request.send().await.unwrap()
}

async fn if_match_follows_rfc_9110_on_users(app: TestApp) {
    let user = app.create_user("user@example.com").await;
    let admin = app.create_admin("admin@example.com").await;
    let path = format!("/v1/users/{}", user.id);
    // `*` matches any current version.
    let response = rename_with(&app, &user, &path, &["*"]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    // Strong comparison: a weak tag never matches, even of the current version.
    let stale = rename_with(&app, &user, &path, &["W/\"2\""]).await;
    assert_problem(stale, 412, "version_conflict").await;
    // A list matches when any member does, within one field or across several.
    let response = rename_with(&app, &user, &path, &["\"7\", \"2\""]).await;
    assert_eq!(response.status(), 200);
    let response = rename_with(&app, &user, &path, &["\"1\"", "\"3\""]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"4\"");
    let stale = rename_with(&app, &user, &path, &["\"1\", \"2\", W/\"4\""]).await;
    assert_problem(stale, 412, "version_conflict").await;
    let current = app.get_json_as(&user, &path).await;
    assert_eq!(current["version"], 4);
    // Without If-Match an existing user is 428.
    assert_problem(
        rename_with(&app, &user, &path, &[]).await,
        428,
        "precondition_required",
    )
    .await;
    // A missing user is 404 whatever the precondition: never 428.
    let missing = format!("/v1/users/{}", uuid::Uuid::now_v7());
    for if_match in [&["*"][..], &["\"1\""], &["\"1\", \"2\""], &["W/\"1\""], &[]] {
        let response = rename_with(&app, &admin, &missing, if_match).await;
        assert_problem(response, 404, "user_not_found").await;
    }
    // Someone else's user is missing for a customer, with or without `*`.
    let other = format!("/v1/users/{}", admin.id);
    assert_problem(
        rename_with(&app, &user, &other, &["*"]).await,
        404,
        "user_not_found",
    )
    .await;
}

async fn transition_with(
    app: &TestApp,
    who: &Account,
    path: &str,
    if_match: &[&str],
) -> reqwest::Response {
    let mut request = app.post_as(who, path);
    for value in if_match {
        request = request.header("if-match", *value);
    }
    request.send().await.unwrap()
}

async fn if_match_follows_rfc_9110_on_orders(app: TestApp) {
    let buyer = app.create_user("buyer@example.com").await;
    let other = app.create_user("other@example.com").await;
    let order = app.create_order(&buyer).await;
    let id = order["id"].as_str().unwrap();
    let pay = format!("/v1/orders/{id}/pay");
    let cancel = format!("/v1/orders/{id}/cancel");
    // Weak tags never match; a list without the current version does not either.
    assert_problem(
        transition_with(&app, &buyer, &pay, &["W/\"1\""]).await,
        412,
        "version_conflict",
    )
    .await;
    assert_problem(
        transition_with(&app, &buyer, &pay, &["\"2\", \"3\""]).await,
        412,
        "version_conflict",
    )
    .await;
    // `*` matches the existing order.
    let response = transition_with(&app, &buyer, &pay, &["*"]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    // A list with the current version matches.
    let response = transition_with(&app, &buyer, &cancel, &["\"1\", \"2\""]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"3\"");
    // A missing order, or someone else's, is 404 with any If-Match.
    let missing = format!("/v1/orders/{}/cancel", uuid::Uuid::now_v7());
    for if_match in [&["*"][..], &["\"1\""], &["\"1\", \"2\""]] {
        assert_problem(
            transition_with(&app, &buyer, &missing, if_match).await,
            404,
            "order_not_found",
        )
        .await;
        assert_problem(
            transition_with(&app, &other, &cancel, if_match).await,
            404,
            "order_not_found",
        )
        .await;
    }
}

/// The `next` cursor of the first page (limit 1) of `path`.
async fn first_cursor(app: &TestApp, who: &Account, path: &str) -> String {
    let page = app.get_json_as(who, &format!("{path}?limit=1")).await;
    page["next"]
        .as_str()
        .unwrap_or_else(|| panic!("{path} has one page only: {page}"))
        .to_owned()
}

async fn cursors_only_work_on_the_list_that_issued_them(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let ada = app.create_user("ada@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    for who in [&ada, &ada, &bob, &bob] {
        app.create_order(who).await;
    }
    let users = first_cursor(&app, &admin, "/v1/users").await;
    let ada_orders = format!("/v1/users/{}/orders", ada.id);
    let bob_orders = format!("/v1/users/{}/orders", bob.id);
    let ada_cursor = first_cursor(&app, &admin, &ada_orders).await;

    // Each cursor works on its own list.
    let page = app
        .get_json_as(&admin, &format!("/v1/users?limit=1&after={users}"))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let page = app
        .get_json_as(&ada, &format!("{ada_orders}?after={ada_cursor}"))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    // On another list it is an error, never a silently wrong page.
    for (who, path) in [
        (&admin, format!("{bob_orders}?after={ada_cursor}")),
        (&admin, format!("{ada_orders}?after={users}")),
        (&admin, format!("/v1/users?after={ada_cursor}")),
    ] {
        expect_problem(app.get_as(who, &path), 422, "invalid_cursor").await;
    }
}

async fn flipped_cursor_bits_are_rejected(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    app.create_user("a@example.com").await;
    app.create_user("b@example.com").await;
    let cursor = first_cursor(&app, &admin, "/v1/users").await;
    let raw = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
    // One bit in each byte: the version, the key and the tag are all covered.
    for byte in 0..raw.len() {
        let mut flipped = raw.clone();
        flipped[byte] ^= 1 << (byte % 8);
        let forged = URL_SAFE_NO_PAD.encode(&flipped);
        expect_problem(
            app.get_as(&admin, &format!("/v1/users?after={forged}")),
            422,
            "invalid_cursor",
        )
        .await;
    }
    // Nor is a cursor made up from a known user id accepted.
    let forged = URL_SAFE_NO_PAD.encode(uuid::Uuid::now_v7().as_bytes());
    expect_problem(
        app.get_as(&admin, &format!("/v1/users?after={forged}")),
        422,
        "invalid_cursor",
    )
    .await;
}

async fn cursors_work_across_instances_sharing_a_key_only(database: TestDatabase) {
    let secret = b"a cursor secret shared by every instance";
    let shared = || CursorCodec::new(secret).unwrap();
    let app = spawn_with(database, |config| config.cursor_codec = Some(shared())).await;
    let admin = app.create_admin("admin@example.com").await;
    app.create_user("a@example.com").await;
    let cursor = first_cursor(&app, &admin, "/v1/users").await;
    let path = format!("/v1/users?after={cursor}");

    let twin = start(app.database.url(), |config| {
        config.cursor_codec = Some(shared())
    })
    .await;
    let response = app
        .client
        .get(format!("{}{path}", twin.address))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // An instance with its own (default, random) secret does not accept it.
    let stranger = start(app.database.url(), |_| {}).await;
    let response = app
        .client
        .get(format!("{}{path}", stranger.address))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_problem(response, 422, "invalid_cursor").await;
    for instance in [twin, stranger] {
        let _ = instance.shutdown.send(());
        let _ = instance.server.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problem_types_resolve_to_a_page() {
    let app = common::service().await;
    let user = app.create_user("user@example.com").await;
    let problems = [
        expect_problem(app.get("/nowhere"), 404, "not_found").await,
        expect_problem(
            app.get("/v1/users/00000000-0000-0000-0000-000000000000"),
            401,
            "unauthenticated",
        )
        .await,
        expect_problem(
            app.patch_as(&user, &format!("/v1/users/{}", user.id))
                .json(&json!({"display_name": "x"})),
            428,
            "precondition_required",
        )
        .await,
    ];
    for problem in problems {
        let kind = problem["type"].as_str().unwrap();
        let code = problem["code"].as_str().unwrap();
        assert_eq!(kind, format!("/problems/{code}"));
        // A relative reference: it resolves against the address the client used.
        let response = app.get(kind).send().await.unwrap();
        assert_eq!(response.status(), 200, "{kind}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = response.text().await.unwrap();
        assert!(page.contains(code), "{page}");
        assert!(page.contains(problem["title"].as_str().unwrap()), "{page}");
    }
    expect_problem(app.get("/problems/no_such_code"), 404, "not_found").await;
}

/// Sends raw bytes and returns the status line hyper answers with.
async fn raw_status_line(app: &TestApp, request: &[u8]) -> String {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_are_problems() {
    let app = common::service().await;
    // Too long a target, but one hyper still hands to the service: a problem document.
    let long = format!("/v1/users?after={}", "a".repeat(9 * 1024));
    expect_problem(app.get(&long), 414, "uri_too_long").await;
    // Too large a header block, likewise.
    let mut request = app.get("/health/live");
    for i in 0..20 {
        request = request.header(format!("x-filler-{i}"), "f".repeat(1024));
    }
    expect_problem(request, 431, "headers_too_large").await;
    // What hyper refuses itself, before any service code runs, is answered bare, with no body
    // (as docs/api.md documents): a request line that is not HTTP, a target of 64 KiB or more,
    // more than 100 headers.
    let status = raw_status_line(&app, b"NOT HTTP AT ALL\r\n\r\n").await;
    assert!(status.starts_with("HTTP/1.1 400"), "{status:?}");
    let huge = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let status = raw_status_line(&app, huge.as_bytes()).await;
    assert!(status.starts_with("HTTP/1.1 414"), "{status:?}");
    let many: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    let status = raw_status_line(
        &app,
        format!("GET /health/live HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 431"), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_served_and_matches_the_committed_file() {
    let app = common::service().await;
    // No token needed.
    let response = app.get("/openapi.json").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.unwrap();
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(committed_path).expect("openapi.json is committed"),
    )
    .unwrap();
    assert!(
        served == committed,
        "openapi.json is stale: run `cargo xtask openapi` and commit it"
    );

    // Every route of the contract is described, with the bearer scheme where it applies.
    let operations = [
        ("/v1/users", "post", false),
        ("/v1/users", "get", true),
        ("/v1/users/{id}", "get", true),
        ("/v1/users/{id}", "patch", true),
        ("/v1/users/{id}/deactivate", "post", true),
        ("/v1/users/{id}/orders", "get", true),
        ("/v1/sessions", "post", false),
        ("/v1/sessions/current", "delete", true),
        ("/v1/orders", "post", true),
        ("/v1/orders/{id}", "get", true),
        ("/v1/orders/{id}/pay", "post", true),
        ("/v1/orders/{id}/ship", "post", true),
        ("/v1/orders/{id}/cancel", "post", true),
        ("/health/live", "get", false),
        ("/health/ready", "get", false),
        ("/openapi.json", "get", false),
    ];
    for (path, method, secured) in operations {
        let operation = &served["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let expected = if secured {
            json!([{"bearer": []}])
        } else {
            json!([])
        };
        assert_eq!(operation["security"], expected, "{method} {path}");
        if secured {
            assert!(operation["responses"]["401"].is_object(), "{method} {path}");
        }
    }
    assert_eq!(
        served["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let place = &served["paths"]["/v1/orders"]["post"];
    let header_names: Vec<&str> = place["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(header_names.contains(&"Idempotency-Key"));
    assert!(place["responses"]["201"]["headers"]["Location"].is_object());
    let reference =
        place["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"]
            .as_str()
            .unwrap();
    let schema_name = reference.strip_prefix("#/components/schemas/").unwrap();
    let codes = &served["components"]["schemas"][schema_name]["properties"]["code"]["enum"];
    for code in [
        "unknown_customer",
        "customer_deactivated",
        "idempotency_key_reused",
        "validation_failed",
    ] {
        assert!(codes.as_array().unwrap().contains(&json!(code)), "{codes}");
    }
    let rename = &served["paths"]["/v1/users/{id}"]["patch"];
    assert!(
        rename["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "If-Match" && p["in"] == "header")
    );
    assert!(rename["responses"]["200"]["headers"]["ETag"].is_object());
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

async fn responses_have_exactly_the_documented_fields(app: TestApp) {
    app.stock("SKU-1", 150, common::PLENTY).await;
    let buyer = app.create_user("buyer@example.com").await;
    assert_eq!(
        keys(&buyer.user),
        [
            "created_at",
            "display_name",
            "email",
            "id",
            "role",
            "status",
            "updated_at",
            "version"
        ]
    );
    let order = app.create_order(&buyer).await;
    assert_eq!(
        keys(&order),
        [
            "created_at",
            "currency",
            "id",
            "items",
            "status",
            "total_cents",
            "updated_at",
            "user_id",
            "version"
        ]
    );
    assert_eq!(
        order["items"],
        json!([{"sku": "SKU-1", "quantity": 2, "unit_price_cents": 150}])
    );
    assert_eq!(order["user_id"], buyer.id.as_str());
}
