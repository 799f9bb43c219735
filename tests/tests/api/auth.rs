//! Black-box tests of authentication (sign-up, sign-in, sign-out, throttling, revocation across
//! instances) and of contract v2's authorization table, row by row, on both engines.

use std::time::Duration;

use crate::common::{self, Account, PASSWORD, TestApp, assert_problem, expect_problem, spawn_with};
use persistence::testing::TestDatabase;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

crate::common::on_both_backends!(
    sign_up_returns_a_customer_and_never_a_secret,
    passwords_outside_12_to_128_characters_are_422,
    sign_in_issues_a_bearer_token_that_works,
    unknown_email_wrong_password_and_deactivated_account_look_alike,
    missing_malformed_and_revoked_tokens_are_401_with_challenge,
    sign_out_revokes_only_that_token,
    ten_failures_throttle_the_address_on_every_instance,
    revocation_takes_effect_at_once_on_another_instance,
    expired_sessions_stop_working,
    revoked_admin_role_takes_effect_at_once,
    authorization_table_row_by_row,
);

async fn sign_out(app: &TestApp, token: &str) -> reqwest::Response {
    app.delete("/v1/sessions/current")
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn sign_in_request(app: &TestApp, email: &str, password: &str) -> RequestBuilder {
    app.post("/v1/sessions")
        .json(&json!({ "email": email, "password": password }))
}

async fn sign_up_returns_a_customer_and_never_a_secret(app: TestApp) {
    let response = app
        .post("/v1/users")
        .json(&json!({ "email": "ada@example.com", "display_name": "Ada", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let text = response.text().await.unwrap();
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.contains("argon2"), "{text}");
    let user: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(user["role"], "customer");
    assert_eq!(user["status"], "active");
    let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
    assert!(
        keys.iter()
            .all(|k| !k.contains("password") && !k.contains("hash")),
        "{keys:?}"
    );
}

async fn passwords_outside_12_to_128_characters_are_422(app: TestApp) {
    for (i, password) in ["a".repeat(11), "a".repeat(129)].iter().enumerate() {
        let problem = expect_problem(
            app.post("/v1/users").json(&json!({
                "email": format!("short{i}@example.com"),
                "display_name": "Short",
                "password": password,
            })),
            422,
            "validation_failed",
        )
        .await;
        assert!(problem["detail"].as_str().unwrap().contains("password"));
        assert!(!problem.to_string().contains(password.as_str()));
    }
    expect_problem(
        app.post("/v1/users")
            .json(&json!({ "email": "none@example.com", "display_name": "None" })),
        422,
        "validation_failed",
    )
    .await;
    // Length is counted in characters, not bytes: twelve two-byte characters are enough.
    let response = app
        .post("/v1/users")
        .json(&json!({ "email": "u@example.com", "display_name": "U", "password": "é".repeat(12) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

async fn sign_in_issues_a_bearer_token_that_works(app: TestApp) {
    let user = app.sign_up("grace@example.com").await;
    let before = chrono::Utc::now();
    let response = sign_in_request(&app, " Grace@Example.com ", PASSWORD)
        .send()
        .await
        .unwrap();
    let after = chrono::Utc::now();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["user_id"], user["id"]);
    let token = session["token"].as_str().unwrap();
    assert_eq!(token.len(), 43, "256 bits, base64url without padding");
    let expires_at: chrono::DateTime<chrono::Utc> =
        session["expires_at"].as_str().unwrap().parse().unwrap();
    let day = chrono::Duration::hours(24);
    assert!(
        before + day <= expires_at && expires_at <= after + day,
        "default lifetime is 24 h: {before} .. {after} -> {expires_at}"
    );

    let me = app
        .get(&format!("/v1/users/{}", user["id"].as_str().unwrap()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], "grace@example.com");
    assert_eq!(me["role"], "customer");
}

async fn unknown_email_wrong_password_and_deactivated_account_look_alike(app: TestApp) {
    let gone = app.create_user("gone@example.com").await;
    let response = app
        .post_as(&gone, &format!("/v1/users/{}/deactivate", gone.id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    app.sign_up("here@example.com").await;

    let mut problems = Vec::new();
    for (email, password) in [
        ("nobody@example.com", PASSWORD),
        ("here@example.com", "wrong password, long enough"),
        ("gone@example.com", PASSWORD),
        ("not an address", PASSWORD),
    ] {
        let response = sign_in_request(&app, email, password).send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let mut problem = assert_problem(response, 401, "invalid_credentials").await;
        assert!(!problem.to_string().contains(password));
        problem.as_object_mut().unwrap().remove("instance");
        problems.push(problem);
    }
    problems.dedup();
    assert_eq!(
        problems.len(),
        1,
        "one indistinguishable answer: {problems:?}"
    );
}

async fn missing_malformed_and_revoked_tokens_are_401_with_challenge(app: TestApp) {
    let ada = app.create_user("ada@example.com").await;
    let path = format!("/v1/users/{}", ada.id);
    let revoked = app.sign_in("ada@example.com").await;
    let response = sign_out(&app, &revoked).await;
    assert_eq!(response.status(), 204);

    let forged = "A".repeat(43);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("empty bearer", Some("Bearer ".to_owned())),
        ("other scheme", Some(format!("Basic {}", ada.token))),
        ("garbage", Some("Bearer not-a-token".to_owned())),
        ("forged", Some(format!("Bearer {forged}"))),
        ("revoked", Some(format!("Bearer {revoked}"))),
    ];
    for (case, header) in cases {
        let mut request = app.get(&path);
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{case}");
        assert_problem(response, 401, "unauthenticated").await;
    }
    // The live token still works.
    app.get_json_as(&ada, &path).await;
}

async fn sign_out_revokes_only_that_token(app: TestApp) {
    let ada = app.create_user("ada@example.com").await;
    let laptop = app.sign_in("ada@example.com").await;
    let response = sign_out(&app, &laptop).await;
    assert_eq!(response.status(), 204);
    let path = format!("/v1/users/{}", ada.id);
    let response = app.get(&path).bearer_auth(&laptop).send().await.unwrap();
    assert_problem(response, 401, "unauthenticated").await;
    app.get_json_as(&ada, &path).await;
    // Signing out twice: the token is already gone.
    let response = sign_out(&app, &laptop).await;
    assert_problem(response, 401, "unauthenticated").await;
}

async fn ten_failures_throttle_the_address_on_every_instance(app: TestApp) {
    app.sign_up("target@example.com").await;
    app.sign_up("bystander@example.com").await;
    for attempt in 1..=10 {
        let response = sign_in_request(&app, "target@example.com", "not the password!")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    // The eleventh attempt is refused even with the right password, and on another instance:
    // the count lives in the database.
    let other = app.second_instance().await;
    let response = app
        .client
        .post(format!("{}/v1/sessions", other.address))
        .json(&json!({ "email": "TARGET@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    let problem = assert_problem(response, 429, "too_many_attempts").await;
    assert!(!problem.to_string().contains(PASSWORD));
    // Another address is not affected.
    app.sign_in("bystander@example.com").await;
}

async fn revocation_takes_effect_at_once_on_another_instance(app: TestApp) {
    let other = app.second_instance().await;
    let on_other = |path: &str, token: &str| {
        app.client
            .get(format!("{}{path}", other.address))
            .bearer_auth(token.to_owned())
    };
    let ada = app.create_user("ada@example.com").await;
    let path = format!("/v1/users/{}", ada.id);
    assert_eq!(
        on_other(&path, &ada.token).send().await.unwrap().status(),
        200
    );

    // Sign-out answered by one instance: the very next request on the other fails.
    let response = app
        .delete_as(&ada, "/v1/sessions/current")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = on_other(&path, &ada.token).send().await.unwrap();
    assert_problem(response, 401, "unauthenticated").await;

    // Deactivation answered by one instance revokes every session of the user everywhere.
    let phone = app.sign_in("ada@example.com").await;
    let laptop = app.sign_in("ada@example.com").await;
    let admin = app.create_admin("admin@example.com").await;
    assert_eq!(on_other(&path, &phone).send().await.unwrap().status(), 200);
    let response = app
        .post_as(&admin, &format!("{path}/deactivate"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for token in [&phone, &laptop] {
        let response = on_other(&path, token).send().await.unwrap();
        assert_problem(response, 401, "unauthenticated").await;
    }
    // The admin's own session is untouched.
    assert_eq!(
        on_other(&path, &admin.token).send().await.unwrap().status(),
        200
    );
}

async fn expired_sessions_stop_working(database: TestDatabase) {
    let app = spawn_with(database, |config| {
        config.session_ttl = Duration::from_secs(1);
    })
    .await;
    let ada = app.create_user("ada@example.com").await;
    let path = format!("/v1/users/{}", ada.id);
    // Wait for the condition (expiry), with a deadline, instead of sleeping a guessed time.
    let expired = common::poll(Duration::from_secs(15), || async {
        let response = app.get_as(&ada, &path).send().await.unwrap();
        if response.status() == 401 {
            return Some(response);
        }
        assert_eq!(response.status(), 200);
        None
    })
    .await
    .expect("the token outlived its 1 s lifetime");
    assert_problem(expired, 401, "unauthenticated").await;
}

async fn revoked_admin_role_takes_effect_at_once(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let me = app
        .get_json_as(&admin, &format!("/v1/users/{}", admin.id))
        .await;
    assert_eq!(me["role"], "admin");
    app.get_json_as(&admin, "/v1/users").await;
    let id = uuid::Uuid::parse_str(&admin.id).unwrap();
    identity::Identity::new(app.database.db().clone(), Default::default())
        .set_role(identity::AccountId::from_uuid(id), identity::Role::Customer)
        .await
        .unwrap();
    expect_problem(app.get_as(&admin, "/v1/users"), 403, "forbidden").await;
}

// ---- The authorization table of contract v2, one row at a time ----------------------------

/// Who makes a request in a row of the table.
#[derive(Clone, Copy, Debug)]
enum Actor {
    Anonymous,
    Owner,
    OtherCustomer,
    Admin,
}

struct Table {
    app: TestApp,
    alice: Account,
    bob: Account,
    admin: Account,
}

impl Table {
    fn who(&self, actor: Actor) -> Option<&Account> {
        match actor {
            Actor::Anonymous => None,
            Actor::Owner => Some(&self.alice),
            Actor::OtherCustomer => Some(&self.bob),
            Actor::Admin => Some(&self.admin),
        }
    }

    fn request(&self, actor: Actor, method: Method, path: &str) -> RequestBuilder {
        match self.who(actor) {
            Some(account) => self.app.request_as(account, method, path),
            None => self.app.client.request(method, self.app.url(path)),
        }
    }

    /// Sends one row's request and checks its status (and, for errors, its problem code).
    async fn expect(
        &self,
        actor: Actor,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: u16,
        code: Option<&str>,
    ) -> Value {
        let mut request = self.request(actor, method.clone(), path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if method == Method::PATCH {
            let version = self.version_of(path).await;
            request = request.header("if-match", format!("\"{version}\""));
        }
        let response = request.send().await.unwrap();
        let row = format!("{method} {path} as {actor:?}");
        match code {
            Some(code) => {
                if status == 401 {
                    assert_eq!(response.headers()["www-authenticate"], "Bearer", "{row}");
                }
                let problem = assert_problem(response, status, code).await;
                assert_eq!(problem["status"], status, "{row}");
                problem
            }
            None => {
                assert_eq!(response.status(), status, "{row}");
                if status == 204 {
                    Value::Null
                } else {
                    response.json().await.unwrap()
                }
            }
        }
    }

    /// The two rows every owned resource shares: anonymous callers get 401, other customers
    /// a 404 with the same `code` as a missing resource.
    async fn expect_hidden(&self, method: Method, path: &str, body: Option<Value>, code: &str) {
        self.expect(
            Actor::Anonymous,
            method.clone(),
            path,
            body.clone(),
            401,
            Some("unauthenticated"),
        )
        .await;
        self.expect(Actor::OtherCustomer, method, path, body, 404, Some(code))
            .await;
    }

    async fn version_of(&self, path: &str) -> i64 {
        self.app.get_json_as(&self.admin, path).await["version"]
            .as_i64()
            .unwrap()
    }

    /// A fresh order of alice's, brought to `status` by the owner and the admin.
    async fn alice_order(&self, status: &str) -> String {
        let order = self.app.create_order(&self.alice).await;
        let id = order["id"].as_str().unwrap().to_owned();
        if status == "paid" {
            let response = self
                .app
                .post_as(&self.alice, &format!("/v1/orders/{id}/pay"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        id
    }

    async fn order_status(&self, id: &str) -> String {
        let order = self
            .app
            .get_json_as(&self.admin, &format!("/v1/orders/{id}"))
            .await;
        order["status"].as_str().unwrap().to_owned()
    }
}

async fn authorization_table_row_by_row(app: TestApp) {
    use Actor::{Admin, Anonymous, Owner};
    app.stock("SKU-1", 150, common::PLENTY).await;
    let alice = app.create_user("alice@example.com").await;
    let bob = app.create_user("bob@example.com").await;
    let admin = app.create_admin("admin@example.com").await;
    let t = Table {
        app,
        alice,
        bob,
        admin,
    };
    let alice_id = t.alice.id.clone();
    let bob_id = t.bob.id.clone();
    let unauthenticated = Some("unauthenticated");

    // Operations need no token.
    for path in ["/health/live", "/health/ready"] {
        t.expect(Anonymous, Method::GET, path, None, 200, None)
            .await;
    }

    // GET /v1/users: admins only.
    let users = "/v1/users";
    t.expect(Anonymous, Method::GET, users, None, 401, unauthenticated)
        .await;
    t.expect(Owner, Method::GET, users, None, 403, Some("forbidden"))
        .await;
    let list = t.expect(Admin, Method::GET, users, None, 200, None).await;
    let roles: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["customer", "customer", "admin"]);

    // GET and PATCH /v1/users/{id}, GET /v1/users/{id}/orders: self, else 404; admins yes.
    let alice_path = format!("/v1/users/{alice_id}");
    let alice_orders = format!("/v1/users/{alice_id}/orders");
    let rename = || Some(json!({ "display_name": "Alice L." }));
    for (method, path, body) in [
        (Method::GET, &alice_path, None),
        (Method::PATCH, &alice_path, rename()),
        (Method::GET, &alice_orders, None),
    ] {
        t.expect_hidden(method.clone(), path, body.clone(), "user_not_found")
            .await;
        t.expect(Owner, method.clone(), path, body.clone(), 200, None)
            .await;
        t.expect(Admin, method, path, body, 200, None).await;
    }
    let seen_by_admin = t.app.get_json_as(&t.admin, &alice_path).await;
    assert_eq!(seen_by_admin["role"], "customer");

    // POST /v1/orders: customers for themselves; admins for anyone named.
    let place = |user_id: Option<&str>| {
        let mut body = json!({
            "currency": "EUR",
            "items": [{ "sku": "SKU-1", "quantity": 1, "unit_price_cents": 150 }]
        });
        if let Some(id) = user_id {
            body["user_id"] = json!(id);
        }
        Some(body)
    };
    t.expect(
        Anonymous,
        Method::POST,
        "/v1/orders",
        place(None),
        401,
        unauthenticated,
    )
    .await;
    let own = t
        .expect(Owner, Method::POST, "/v1/orders", place(None), 201, None)
        .await;
    assert_eq!(own["user_id"], alice_id.as_str());
    t.expect(
        Owner,
        Method::POST,
        "/v1/orders",
        place(Some(&alice_id)),
        201,
        None,
    )
    .await;
    t.expect(
        Owner,
        Method::POST,
        "/v1/orders",
        place(Some(&bob_id)),
        403,
        Some("forbidden"),
    )
    .await;
    let for_bob = t
        .expect(
            Admin,
            Method::POST,
            "/v1/orders",
            place(Some(&bob_id)),
            201,
            None,
        )
        .await;
    assert_eq!(for_bob["user_id"], bob_id.as_str());
    let problem = t
        .expect(
            Admin,
            Method::POST,
            "/v1/orders",
            place(None),
            422,
            Some("validation_failed"),
        )
        .await;
    assert!(problem["detail"].as_str().unwrap().contains("user_id"));

    // GET /v1/orders/{id}: owner, else 404; admins yes.
    let order = t.alice_order("pending").await;
    let order_path = format!("/v1/orders/{order}");
    t.expect_hidden(Method::GET, &order_path, None, "order_not_found")
        .await;
    t.expect(Owner, Method::GET, &order_path, None, 200, None)
        .await;
    t.expect(Admin, Method::GET, &order_path, None, 200, None)
        .await;

    // POST /v1/orders/{id}/pay and /cancel: owner, else 404 (and nothing changes); admins yes.
    for action in ["pay", "cancel"] {
        let order = t.alice_order("pending").await;
        let path = format!("/v1/orders/{order}/{action}");
        t.expect_hidden(Method::POST, &path, None, "order_not_found")
            .await;
        assert_eq!(t.order_status(&order).await, "pending");
        t.expect(Owner, Method::POST, &path, None, 200, None).await;
        let order = t.alice_order("pending").await;
        let path = format!("/v1/orders/{order}/{action}");
        t.expect(Admin, Method::POST, &path, None, 200, None).await;
    }

    // POST /v1/orders/{id}/ship: 403 for the owner, 404 for other customers; admins yes.
    let order = t.alice_order("paid").await;
    let path = format!("/v1/orders/{order}/ship");
    t.expect_hidden(Method::POST, &path, None, "order_not_found")
        .await;
    t.expect(Owner, Method::POST, &path, None, 403, Some("forbidden"))
        .await;
    assert_eq!(t.order_status(&order).await, "paid");
    let shipped = t.expect(Admin, Method::POST, &path, None, 200, None).await;
    assert_eq!(shipped["status"], "shipped");

    // POST /v1/users/{id}/deactivate: self, else 404; admins yes. Last: it ends sessions.
    let deactivate = format!("/v1/users/{alice_id}/deactivate");
    t.expect_hidden(Method::POST, &deactivate, None, "user_not_found")
        .await;
    assert_eq!(
        t.app.get_json_as(&t.admin, &alice_path).await["status"],
        "active"
    );
    let by_self = t
        .expect(Owner, Method::POST, &deactivate, None, 200, None)
        .await;
    assert_eq!(by_self["status"], "deactivated");
    t.expect(Owner, Method::GET, &alice_path, None, 401, unauthenticated)
        .await;
    let bob_deactivate = format!("/v1/users/{bob_id}/deactivate");
    let by_admin = t
        .expect(Admin, Method::POST, &bob_deactivate, None, 200, None)
        .await;
    assert_eq!(by_admin["status"], "deactivated");
    assert_eq!(by_admin["role"], "customer");

    // DELETE /v1/sessions/current: any signed-in caller.
    t.expect(
        Anonymous,
        Method::DELETE,
        "/v1/sessions/current",
        None,
        401,
        unauthenticated,
    )
    .await;
    t.expect(
        Admin,
        Method::DELETE,
        "/v1/sessions/current",
        None,
        204,
        None,
    )
    .await;
}
