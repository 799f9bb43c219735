//! No password, token, token digest or password hash ever reaches a log line. Its own test
//! binary, because it installs the process-wide log subscriber and reads everything written.

#![allow(clippy::unwrap_used)]

// A binary of its own uses only a part of the helpers the API tests share.
#[allow(dead_code, unused_imports, unused_macros)]
mod common;
#[allow(dead_code)]
#[path = "common/logs.rs"]
mod logs;

use app::LogFormat;
use common::{PASSWORD, TestApp};
use logs::Captured;
use persistence::Backend;
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing_subscriber::EnvFilter;

#[tokio::test]
async fn sign_up_sign_in_and_use_log_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Debug for our own crates: a secret must not leak even when an operator turns logging up.
    app::telemetry::init_with(
        LogFormat::Json,
        EnvFilter::new(format!(
            "{},app=debug,identity=debug,users=debug,orders=debug,persistence=debug,tower_http=debug",
            app::telemetry::DEFAULT_FILTER
        )),
        move || writer.clone(),
    );
    for backend in [Backend::Sqlite, Backend::Postgres] {
        common::run(backend, |app: TestApp| use_without_leaking(app, &captured)).await;
    }
}

/// Signs up, fails and succeeds to sign in, reads and signs out, then searches the log.
async fn use_without_leaking(app: TestApp, captured: &Captured) {
    let backend = app.database.backend();
    let wrong = "a wrong password of some length";
    app.sign_up("ada@example.com").await;
    let response = app
        .post("/v1/sessions")
        .json(&json!({ "email": "ada@example.com", "password": wrong }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let account = app.create_user("grace@example.com").await;
    app.get_json_as(&account, &format!("/v1/users/{}", account.id))
        .await;
    let response = app
        .delete_as(&account, "/v1/sessions/current")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    app.stop().await;

    let logs = captured.text();
    assert!(
        logs.contains("user signed in"),
        "the capture works and sees the service's lines:\n{logs}"
    );
    let digest = Sha256::digest(account.token.as_bytes());
    let secrets = [
        PASSWORD.to_owned(),
        wrong.to_owned(),
        account.token.clone(),
        hex::encode(digest),
        hex::encode_upper(digest),
        "$argon2".to_owned(),
    ];
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the log on {backend:?}"
        );
    }
}
