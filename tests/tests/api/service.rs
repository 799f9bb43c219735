//! The service's operational behaviour: health, errors outside handlers, request ids, limits,
//! start-up migration policy and graceful shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{self, PASSWORD, TestApp, assert_problem, expect_problem, start, wait_until};
use persistence::Backend;
use persistence::testing::TestDatabase;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

crate::common::on_both_backends!(
    health_endpoints_answer,
    in_flight_requests_finish_on_shutdown,
    the_longest_idempotency_ttl_still_places_keyed_orders,
);
crate::common::on_postgres!(
    readiness_is_503_when_the_database_is_gone,
    postgres_refuses_to_start_with_pending_migrations,
);

async fn health_endpoints_answer(app: TestApp) {
    assert_eq!(app.get("/health/live").send().await.unwrap().status(), 200);
    assert_eq!(app.get("/health/ready").send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_wrong_methods_are_problems() {
    let app = common::service().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_set_and_propagated() {
    let app = common::service().await;
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
    let longest = "a.b_c-".repeat(10) + "1234";
    let kept = app
        .get("/health/live")
        .header("x-request-id", &longest)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], longest.as_str());
    // Too long, or characters a log line or a header must not carry: a new id instead.
    for unsafe_id in [
        format!("{longest}5"),
        "two words".to_owned(),
        "id\" request_id=forged".to_owned(),
        "<script>".to_owned(),
        String::new(),
    ] {
        let replaced = app
            .get("/health/live")
            .header("x-request-id", &unsafe_id)
            .send()
            .await
            .unwrap();
        let id = replaced.headers()["x-request-id"].to_str().unwrap();
        assert!(
            uuid::Uuid::parse_str(id).is_ok(),
            "{unsafe_id:?} became {id:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413() {
    let app = common::service().await;
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
/// reading the body (the request is in flight), the listener refusing new connections says when
/// graceful shutdown has begun, and the idle keep-alive connection is then closed at once.
async fn in_flight_requests_finish_on_shutdown(mut app: TestApp) {
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
    // Shutdown has begun once the listener refuses new connections.
    common::wait_within(
        Duration::from_secs(10),
        "the listener refuses new connections",
        || async { TcpStream::connect(&addr).await.is_err() },
    )
    .await;
    // And the idle keep-alive connection is closed, not kept until the grace period ends.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_with_408() {
    let app = common::service_with(|config| {
        config.request_timeout = Duration::from_millis(300);
    })
    .await;
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

async fn readiness_is_503_when_the_database_is_gone(mut app: TestApp) {
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

async fn postgres_refuses_to_start_with_pending_migrations(database: TestDatabase) {
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

/// How long a test waits for the server to close a connection it should close much sooner.
const CLOSED_WITHIN: Duration = Duration::from_secs(10);

/// Reads until the server closes the connection; what arrived before.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    tokio::time::timeout(CLOSED_WITHIN, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    rest
}

/// A client that starts a request and never finishes its headers (slowloris) is cut off after
/// the header-read timeout, while an idle timeout far longer has not passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_request_heads_are_closed_after_the_header_read_timeout() {
    let app = common::service_with(|config| {
        config.header_read_timeout = Duration::from_millis(500);
        config.idle_timeout = Duration::from_secs(600);
    })
    .await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut half_line = TcpStream::connect(&addr).await.unwrap();
    half_line.write_all(b"GET /health/li").await.unwrap();
    let started = std::time::Instant::now();
    let answer = until_closed(&mut half_line).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );

    // Headers that stop half-way, after a first request was served on the connection.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(format!("GET /health/live HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let live = read_one_response(&mut stream).await;
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await
        .unwrap();
    assert!(until_closed(&mut stream).await.is_empty());
    // The service itself is unaffected.
    assert_eq!(app.get("/health/live").send().await.unwrap().status(), 200);
}

/// A keep-alive connection that sends nothing more is closed after the idle timeout, and so
/// is one that never sends a byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let app = common::service_with(|config| {
        config.idle_timeout = Duration::from_millis(500);
        config.header_read_timeout = Duration::from_secs(600);
    })
    .await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut kept_alive = TcpStream::connect(&addr).await.unwrap();
    for _ in 0..2 {
        kept_alive
            .write_all(format!("GET /health/live HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let live = read_one_response(&mut kept_alive).await;
        assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    }
    let started = std::time::Instant::now();
    assert!(until_closed(&mut kept_alive).await.is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );

    let mut silent = TcpStream::connect(&addr).await.unwrap();
    assert!(until_closed(&mut silent).await.is_empty());
}

/// A client that writes its whole (too large) body before reading, as Python's urllib does,
/// reads the 413 problem instead of a connection reset: the server drains the body first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_written_before_reading_still_gets_its_413() {
    let app = common::service().await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let body = vec![b' '; 3 * 1024 * 1024];
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/users HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Far more than the socket buffers hold: this completes only if the server reads it.
    tokio::time::timeout(Duration::from_secs(30), stream.write_all(&body))
        .await
        .expect("the server reads the body")
        .expect("the connection is not reset under the write");
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("the server answers")
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains("\"code\":\"payload_too_large\""),
        "{response}"
    );
}

/// Text that would render as something else, or as nothing, is refused with the field named
/// (the rules themselves are unit-tested in the users crate). Validation runs before any query,
/// so one engine is enough.
#[tokio::test]
async fn hostile_display_names_are_422_naming_the_field() {
    let app = common::service().await;
    for name in ["Ada\u{202E}nimda", "A\u{200B}da", "\u{3164}"] {
        let problem = expect_problem(
            app.post("/v1/users").json(&json!({
                "email": "ada@example.com", "display_name": name, "password": PASSWORD
            })),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "display_name", "{problem}");
    }
}

/// The longest idempotency TTL the configuration accepts still leaves room for date arithmetic:
/// keyed orders are placed and replayed, not answered 500.
async fn the_longest_idempotency_ttl_still_places_keyed_orders(database: TestDatabase) {
    let app = common::spawn_with(database, |config| {
        config.idempotency_ttl = Duration::from_secs(10 * 365 * 24 * 60 * 60);
    })
    .await;
    app.stock("SKU-1", 150, common::PLENTY).await;
    let buyer = app.create_user("buyer@example.com").await;
    let body = json!({
        "currency": "EUR", "items": [{ "sku": "SKU-1", "quantity": 1, "unit_price_cents": 150 }]
    });
    let mut ids = Vec::new();
    for _ in 0..2 {
        let response = app
            .post_as(&buyer, "/v1/orders")
            .header("idempotency-key", "k-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        ids.push(response.json::<Value>().await.unwrap()["id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
}

/// An online backup of the embedded database, taken in the middle of a write load of keyed
/// placements, is a database the service opens as it is: it passed SQLite's integrity check
/// (the backup checks it before it names the file), every order acknowledged before the backup
/// began is in it, whole (its line, its total), and each key still names its one order.
#[tokio::test]
async fn a_backup_taken_under_write_load_holds_every_acknowledged_order() {
    let sqlite = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let app = common::spawn_with(sqlite, |_| {}).await;
    app.stock("BACKUP-1", 250, 1_000_000).await;
    let buyer = app.create_user("buyer@example.com").await;
    let body = json!({"currency": "EUR", "items": [{"sku": "BACKUP-1", "quantity": 2}]});
    // Key -> order id, for every placement the service acknowledged.
    let acknowledged: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            let client = app.client.clone();
            let (url, token, body) = (app.url("/v1/orders"), buyer.token.clone(), body.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("backup-{writer}-{n}");
                    n += 1;
                    let response = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("Idempotency-Key", &key)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201);
                    let order: Value = response.json().await.unwrap();
                    let id = order["id"].as_str().unwrap().to_owned();
                    acknowledged.lock().unwrap().insert(key, id);
                }
            })
        })
        .collect();
    let count = || acknowledged.lock().unwrap().len();
    wait_until("the load is under way", || async { count() >= 20 }).await;

    let before = acknowledged.lock().unwrap().clone();
    let dir = std::env::temp_dir().join(format!("backup-{}", persistence::new_id().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("copy.db");
    let db = persistence::Db::connect(app.database.url()).await.unwrap();
    let size = app::ops::backup(&db, &copy, false).await.unwrap();
    db.close().await.unwrap();
    assert!(size > 0);
    let after_backup = count();
    wait_until("writes go on after the backup", || async {
        count() >= after_backup + 20
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }

    let restored = start(&format!("sqlite://{}", copy.display()), |_| {}).await;
    let client = common::client();
    for (key, id) in &before {
        let replayed = client
            .post(format!("{}/v1/orders", restored.address))
            .bearer_auth(&buyer.token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(replayed.status(), 201, "{key}");
        assert_eq!(replayed.headers()["idempotent-replayed"], "true", "{key}");
        let order: Value = replayed.json().await.unwrap();
        assert_eq!(order["id"], id.as_str(), "{key} names its one order");
        assert_eq!(order["items"].as_array().unwrap().len(), 1, "{order}");
        assert_eq!(order["total_cents"], 500, "{order}");
    }
    let list = format!("{}/v1/users/{}/orders", restored.address, buyer.id);
    let mut orders = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page_url = match &next {
            Some(cursor) => format!("{list}?limit=100&after={cursor}"),
            None => format!("{list}?limit=100"),
        };
        let page: Value = client
            .get(page_url)
            .bearer_auth(&buyer.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        orders.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(cursor) => next = Some(cursor.to_owned()),
            None => break,
        }
    }
    let ids: std::collections::HashSet<&str> =
        orders.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), orders.len(), "no order twice");
    assert!(orders.len() >= before.len());
    assert!(
        orders.len() <= count() + 4,
        "at most the in-flight ones beyond the acknowledged"
    );
    assert!(
        orders.iter().all(|o| o["total_cents"] == 500),
        "every total equals its line"
    );
    restored.shutdown.send(()).unwrap();
    restored.server.await.unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
