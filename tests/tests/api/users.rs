//! Black-box tests of the users endpoints and the service's HTTP conventions, on both engines.

use crate::common::{self, PASSWORD, TestApp, assert_problem, expect_problem};
use serde_json::{Value, json};

crate::common::on_both_backends!(
    create_returns_user_with_location_and_etag,
    duplicate_email_in_any_case_is_409,
    concurrent_signups_with_one_email_create_one_user,
    get_unknown_or_malformed_id_is_404_problem,
    list_paginates_with_opaque_cursor,
    list_rejects_bad_limit_and_cursor,
    patch_requires_current_version,
    deactivate_sets_status,
);

async fn create_returns_user_with_location_and_etag(app: TestApp) {
    let response = app
        .post("/v1/users")
        .json(&json!({
            "email": "  Ada@Example.COM ",
            "display_name": " Ada Lovelace ",
            "password": PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["display_name"], "Ada Lovelace");
    assert_eq!(user["status"], "active");
    assert_eq!(user["role"], "customer");
    assert_eq!(user["version"], 1);
    assert_eq!(etag, "\"1\"");
    let id = user["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert_eq!(location, format!("/v1/users/{id}"));
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(user["created_at"], user["updated_at"]);

    // The new user signs in (with the address in any case) and reads itself at `Location`.
    let token = app.sign_in("ADA@example.com").await;
    let fetched = app.get(&location).bearer_auth(&token).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["etag"], "\"1\"");
    let fetched: Value = fetched.json().await.unwrap();
    assert_eq!(fetched, user);
}

async fn duplicate_email_in_any_case_is_409(app: TestApp) {
    app.create_user("grace@example.com").await;
    expect_problem(
        app.post("/v1/users").json(&json!({
            "email": "GRACE@example.com",
            "display_name": "Other",
            "password": "another long password",
        })),
        409,
        "email_taken",
    )
    .await;
}

async fn concurrent_signups_with_one_email_create_one_user(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let requests = (0..10).map(|i| {
        app.post("/v1/users")
            .json(&json!({
                "email": format!("RACE@example.com{}", if i % 2 == 0 { "" } else { " " }),
                "display_name": format!("Racer {i}"),
                "password": PASSWORD,
            }))
            .send()
    });
    let responses = futures::future::join_all(requests).await;
    let mut statuses: Vec<u16> = responses
        .iter()
        .map(|r| r.as_ref().unwrap().status().as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    let list: Value = app.get_json_as(&admin, "/v1/users").await;
    let racers: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["id"] != admin.id.as_str())
        .collect();
    assert_eq!(racers.len(), 1, "{list}");
    assert_eq!(racers[0]["email"], "race@example.com");
    // The one winner can sign in: its credential was written with its user row.
    app.sign_in("race@example.com").await;
}

/// Validation runs before any query, so the engine cannot change the answer: one engine is
/// enough here (the rules themselves are unit-tested in the users and identity crates).
#[tokio::test]
async fn invalid_input_is_422_problem() {
    let app = common::service().await;
    let admin = app.create_admin("admin@example.com").await;
    for body in [
        json!({ "email": "not-an-email", "display_name": "X", "password": PASSWORD }),
        json!({ "email": "x@example.com", "display_name": "   ", "password": PASSWORD }),
        json!({ "email": "x@example.com", "password": PASSWORD }),
        json!({ "email": 5, "display_name": "X", "password": PASSWORD }),
        json!({ "email": "x@example.com", "display_name": "X" }),
        json!({ "email": "x@example.com", "display_name": "X", "password": "too short" }),
    ] {
        expect_problem(app.post("/v1/users").json(&body), 422, "validation_failed").await;
    }
    let malformed = app
        .post("/v1/users")
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, 400, "malformed_json").await;
    let list: Value = app.get_json_as(&admin, "/v1/users").await;
    let ids: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| &u["id"])
        .collect();
    assert_eq!(ids, [admin.id.as_str()], "nothing was written");
}

async fn get_unknown_or_malformed_id_is_404_problem(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    let customer = app.create_user("ada@example.com").await;
    let unknown = uuid::Uuid::now_v7();
    for who in [&admin, &customer] {
        expect_problem(
            app.get_as(who, &format!("/v1/users/{unknown}")),
            404,
            "user_not_found",
        )
        .await;
        expect_problem(app.get_as(who, "/v1/users/not-a-uuid"), 404, "not_found").await;
    }
}

async fn list_paginates_with_opaque_cursor(app: TestApp) {
    // The admin who lists is itself a user: the first of the five.
    let admin = app.create_admin("admin@example.com").await;
    let mut created = vec![Value::from(admin.id.clone())];
    for i in 0..4 {
        created.push(Value::from(
            app.create_user(&format!("user{i}@example.com")).await.id,
        ));
    }
    let mut seen = Vec::new();
    let mut path = "/v1/users?limit=2".to_owned();
    let mut sizes = Vec::new();
    loop {
        let page: Value = app.get_json_as(&admin, &path).await;
        let items = page["items"].as_array().unwrap();
        sizes.push(items.len());
        seen.extend(items.iter().map(|u| u["id"].clone()));
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/users?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(seen, created, "registration order, no gaps, no duplicates");
    let default: Value = app.get_json_as(&admin, "/v1/users").await;
    assert_eq!(default["items"].as_array().unwrap().len(), 5);
    assert_eq!(default["next"], Value::Null);
    let roles: Vec<&Value> = default["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| &u["role"])
        .collect();
    assert_eq!(
        roles,
        ["admin", "customer", "customer", "customer", "customer"]
    );
}

async fn list_rejects_bad_limit_and_cursor(app: TestApp) {
    let admin = app.create_admin("admin@example.com").await;
    for limit in ["0", "101", "-1", "ten"] {
        expect_problem(
            app.get_as(&admin, &format!("/v1/users?limit={limit}")),
            422,
            "invalid_limit",
        )
        .await;
    }
    let response = app
        .get_as(&admin, "/v1/users?limit=100")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    expect_problem(
        app.get_as(&admin, "/v1/users?after=garbage"),
        422,
        "invalid_cursor",
    )
    .await;
}

async fn patch_requires_current_version(app: TestApp) {
    let user = app.create_user("edit@example.com").await;
    let admin = app.create_admin("admin@example.com").await;
    let path = format!("/v1/users/{}", user.id);
    let body = json!({ "display_name": "Renamed" });

    expect_problem(
        app.patch_as(&user, &path).json(&body),
        428,
        "precondition_required",
    )
    .await;

    let response = app
        .patch_as(&user, &path)
        .header("if-match", "\"1\"")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let renamed: Value = response.json().await.unwrap();
    assert_eq!(renamed["display_name"], "Renamed");
    assert_eq!(renamed["version"], 2);
    assert_eq!(renamed["role"], "customer");

    // The same stale ETag again: somebody (we) changed it since.
    expect_problem(
        app.patch_as(&user, &path)
            .header("if-match", "\"1\"")
            .json(&json!({ "display_name": "Lost update" })),
        412,
        "version_conflict",
    )
    .await;
    let current: Value = app.get_json_as(&user, &path).await;
    assert_eq!(current["display_name"], "Renamed");

    expect_problem(
        app.patch_as(&user, &path)
            .header("if-match", "\"2\"")
            .json(&json!({ "display_name": "" })),
        422,
        "validation_failed",
    )
    .await;

    // An admin renames someone else under the same rules; the answer shows that user's role.
    let response = app
        .patch_as(&admin, &path)
        .header("if-match", "\"2\"")
        .json(&json!({ "display_name": "Renamed by admin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"3\"");
    let renamed: Value = response.json().await.unwrap();
    assert_eq!(renamed["display_name"], "Renamed by admin");
    assert_eq!(renamed["role"], "customer");

    // A user that does not exist, even for an admin who may see every user.
    let unknown = format!("/v1/users/{}", uuid::Uuid::now_v7());
    expect_problem(
        app.patch_as(&admin, &unknown)
            .header("if-match", "\"1\"")
            .json(&body),
        404,
        "user_not_found",
    )
    .await;
}

async fn deactivate_sets_status(app: TestApp) {
    let user = app.create_user("leaving@example.com").await;
    let admin = app.create_admin("admin@example.com").await;
    let path = format!("/v1/users/{}/deactivate", user.id);
    let response = app.post_as(&user, &path).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "deactivated");
    assert_eq!(body["version"], 2);
    assert_eq!(body["role"], "customer");
    // Deactivation ended the user's session.
    let response = app
        .get_as(&user, &format!("/v1/users/{}", user.id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, 401, "unauthenticated").await;
    // Idempotent: a second call (by an admin, the user's token being gone) changes nothing.
    let again = app.post_as(&admin, &path).send().await.unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["status"], "deactivated");
    assert_eq!(again["version"], 2);
    let unknown = format!("/v1/users/{}/deactivate", uuid::Uuid::now_v7());
    expect_problem(app.post_as(&admin, &unknown), 404, "user_not_found").await;
}
