//! The service's operational behaviour: health, errors outside handlers, request ids, limits,
//! start-up migration policy and graceful shutdown.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{PASSWORD, assert_problem, expect_problem, spawn, start};
use persistence::Backend;
use persistence::testing::TestDatabase;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

persistence::both_backends!(
    health_endpoints_answer,
    unknown_routes_and_wrong_methods_are_problems,
    request_ids_are_set_and_propagated,
    oversized_bodies_are_413,
    in_flight_requests_finish_on_shutdown,
    slow_requests_time_out_with_408,
);

async fn health_endpoints_answer(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    assert_eq!(app.get("/health/live").send().await.unwrap().status(), 200);
    assert_eq!(app.get("/health/ready").send().await.unwrap().status(), 200);
}

async fn unknown_routes_and_wrong_methods_are_problems(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    expect_problem(app.get("/v2/nothing"), 404, "not_found").await;
    let response = app
        .client
        .delete(app.url("/v1/users"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("allow"));
    assert_problem(response, 405, "method_not_allowed").await;
}

async fn request_ids_are_set_and_propagated(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let generated = app.get("/health/live").send().await.unwrap();
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "generated id {id}");
    let echoed = app
        .get("/v1/users/not-a-uuid")
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "client-chosen-42");
}

async fn oversized_bodies_are_413(backend: Backend) {
    let Some(app) = spawn(backend).await else {
        return;
    };
    let huge = json!({
        "email": "big@example.com",
        "display_name": "x".repeat(1024 * 1024 + 1),
        "password": PASSWORD,
    });
    expect_problem(app.post("/v1/users").json(&huge), 413, "payload_too_large").await;
}

/// A request whose body is still arriving when shutdown begins is answered, not cut off.
///
/// No guessed sleeps: `Expect: 100-continue` makes the server say when the handler has started
/// reading the body (the request is in flight), and an idle keep-alive connection that the server
/// closes says when graceful shutdown has begun.
async fn in_flight_requests_finish_on_shutdown(backend: Backend) {
    let Some(mut app) = spawn(backend).await else {
        return;
    };
    let addr = app.address.trim_start_matches("http://").to_owned();

    // An idle keep-alive connection: the server closes it once shutdown begins.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(format!("GET /health/live HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let live = read_one_response(&mut idle).await;
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");

    let body = json!({ "email": "late@example.com", "display_name": "Late", "password": PASSWORD })
        .to_string();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/users HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The handler is reading the body: the request is in flight.
    let interim = read_head(&mut stream).await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    stream.write_all(&body.as_bytes()[..10]).await.unwrap();

    let (shutdown, server) = (app.shutdown_handle(), app.server_handle());
    let _ = shutdown.send(());
    // Shutdown has begun once the server closes the idle connection.
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), idle.read_to_end(&mut rest))
        .await
        .expect("shutdown closes idle connections")
        .unwrap();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));

    stream.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("the in-flight request is answered")
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops after the in-flight request")
        .unwrap()
        .unwrap();
}

/// Reads a response head (status line and headers, up to the blank line) and nothing more.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("a response head within 10 s")
            .unwrap();
        assert_eq!(
            read,
            1,
            "connection closed mid-head: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Reads one whole response with a `content-length` body, leaving the connection open.
async fn read_one_response(stream: &mut TcpStream) -> String {
    let head = read_head(stream).await;
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    head + &String::from_utf8(body).unwrap()
}

async fn slow_requests_time_out_with_408(backend: Backend) {
    let Some(app) = common::spawn_with(backend, |config| {
        config.request_timeout = Duration::from_millis(300);
    })
    .await
    else {
        return;
    };
    // A client that stalls mid-body holds its request open past the timeout.
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/users HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{{\"email\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("the server answers without waiting for the rest of the body")
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("application/problem+json"), "{response}");
    assert!(
        response.contains("\"code\":\"request_timeout\""),
        "{response}"
    );
    // Fast requests are unaffected.
    assert_eq!(app.get("/health/live").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn readiness_is_503_when_the_database_is_gone() {
    let Some(mut app) = spawn(Backend::Postgres).await else {
        return;
    };
    assert_eq!(app.get("/health/ready").send().await.unwrap().status(), 200);
    assert!(app.database.pull_the_plug().await);
    expect_problem(app.get("/health/ready"), 503, "database_unavailable").await;
    // Liveness is about the process, not its dependencies.
    assert_eq!(app.get("/health/live").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn sqlite_applies_pending_migrations_at_start() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let instance = start(database.url(), |_| {}).await;
    let client = common::client();
    let response = client
        .post(format!("{}/v1/users", instance.address))
        .json(
            &json!({ "email": "first@example.com", "display_name": "First", "password": PASSWORD }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let _ = instance.shutdown.send(());
}

#[tokio::test]
async fn postgres_refuses_to_start_with_pending_migrations() {
    let Some(database) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let mut config = app::Config::new(database.url());
    config.bind_addr = "127.0.0.1:0".parse().unwrap();
    let refused = app::Application::build(config.clone()).await;
    let message = format!("{:#}", refused.err().expect("must refuse"));
    assert!(message.contains("cargo xtask migrate"), "{message}");

    config.migrate_on_start = true;
    let app = app::Application::build(config)
        .await
        .expect("MIGRATE_ON_START=1 applies them");
    let address = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let ready: Value = common::client()
        .get(format!("{address}/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    let _ = tx.send(());
    server.await.unwrap().unwrap();
}
