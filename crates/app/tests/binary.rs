//! The service binary as an operator runs it: every bad setting stops it at start with exit code
//! 2 and a message naming the variable, `--help` lists every setting, and SIGTERM ends it with
//! exit code 0 within the grace period even while clients hold connections open.

#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use persistence::Backend;
use persistence::testing::TestDatabase;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_app");

/// Every setting the service reads; `--help` must list each one.
const VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "BIND_ADDR",
    "LOG_FORMAT",
    "MIGRATE_ON_START",
    "REQUEST_TIMEOUT_SECS",
    "HEADER_READ_TIMEOUT_SECS",
    "IDLE_TIMEOUT_SECS",
    "SHUTDOWN_GRACE_SECS",
    "SHUTDOWN_DRAIN_SECS",
    "IDEMPOTENCY_TTL_SECS",
    "IDEMPOTENCY_PURGE_INTERVAL_SECS",
    "SESSION_TTL_SECS",
    "SESSION_PURGE_INTERVAL_SECS",
    "PASSWORD_HASH_CONCURRENCY",
    "DB_MAX_CONNECTIONS",
    "DB_ACQUIRE_TIMEOUT_MS",
    "DB_STATEMENT_TIMEOUT_MS",
    "SQLITE_BUSY_TIMEOUT_MS",
    "CURSOR_KEY",
    "NATS_URL",
    "EVENT_RETENTION_DAYS",
    "METRICS_ADDR",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_TRACES_SAMPLER_ARG",
];

/// The binary with no inherited settings (the test runner's environment must not leak in).
fn service() -> Command {
    let mut command = Command::new(BIN);
    command.env_clear().kill_on_drop(true);
    command
}

#[tokio::test]
async fn help_lists_every_setting_and_exits_0() {
    let output = service().arg("--help").output().await.unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout).unwrap();
    for variable in VARIABLES {
        assert!(
            help.contains(&format!("[env: {variable}]")),
            "{variable} missing:\n{help}"
        );
    }
    assert!(help.contains("[default: 30]"), "{help}");
}

#[tokio::test]
async fn every_bad_setting_exits_2_naming_its_variable() {
    // A database that cannot open: were a bad value ever accepted, the service would stop with
    // exit code 1 instead of serving, and the assertion below would say which.
    let unusable = "sqlite:///nonexistent-directory/app.db";
    let cases = [
        ("REQUEST_TIMEOUT_SECS", "0"),
        ("REQUEST_TIMEOUT_SECS", "thirty"),
        ("HEADER_READ_TIMEOUT_SECS", "0"),
        ("IDLE_TIMEOUT_SECS", "0"),
        ("SHUTDOWN_GRACE_SECS", "0"),
        ("SHUTDOWN_DRAIN_SECS", "-1"),
        ("SHUTDOWN_DRAIN_SECS", "601"),
        ("IDEMPOTENCY_PURGE_INTERVAL_SECS", "0"),
        ("SESSION_PURGE_INTERVAL_SECS", "0"),
        ("DB_MAX_CONNECTIONS", "0"),
        ("DB_MAX_CONNECTIONS", "-1"),
        ("PASSWORD_HASH_CONCURRENCY", "0"),
        ("DB_ACQUIRE_TIMEOUT_MS", "0"),
        ("DB_STATEMENT_TIMEOUT_MS", "3600001"),
        ("SQLITE_BUSY_TIMEOUT_MS", "forever"),
        ("IDEMPOTENCY_TTL_SECS", "0"),
        ("IDEMPOTENCY_TTL_SECS", "18446744073709551615"),
        ("SESSION_TTL_SECS", "9223372036854775807"),
        ("EVENT_RETENTION_DAYS", "0"),
        ("EVENT_RETENTION_DAYS", "106751991167300"),
        ("MIGRATE_ON_START", "on"),
        ("MIGRATE_ON_START", "TRUE "),
        ("LOG_FORMAT", "xml"),
        ("BIND_ADDR", "localhost"),
        ("NATS_URL", ""),
        ("METRICS_ADDR", "localhost:9000"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ("OTEL_TRACES_SAMPLER_ARG", "-0.01"),
        ("OTEL_TRACES_SAMPLER_ARG", "10%"),
        ("OTEL_TRACES_SAMPLER_ARG", ""),
        ("CURSOR_KEY", "too-short-secret"),
    ];
    for (variable, value) in cases {
        let output = service()
            .env("DATABASE_URL", unusable)
            .env(variable, value)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{variable}={value:?}: {stderr}"
        );
        assert!(stderr.contains(variable), "{variable}={value:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        if variable == "CURSOR_KEY" {
            assert!(!stderr.contains(value), "the secret is echoed: {stderr}");
        }
    }
}

/// A running binary and the port it listens on (read from its first log lines).
struct Running {
    child: Child,
    port: u16,
    logs: tokio::task::JoinHandle<String>,
}

async fn start(database_url: &str, settings: &[(&str, &str)]) -> Running {
    let mut child = service()
        .env("DATABASE_URL", database_url)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .env("MIGRATE_ON_START", "true")
        .envs(settings.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            if event["message"] == "listening" {
                let addr: std::net::SocketAddr = event["addr"].as_str().unwrap().parse().unwrap();
                return addr.port();
            }
        }
        panic!("the service exited before listening");
    })
    .await
    .expect("the service listens within a minute");
    // Keep reading, so the service never blocks on a full pipe; the test reads the rest.
    let logs = tokio::spawn(async move {
        let mut rest = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });
    Running { child, port, logs }
}

persistence::both_backends!(sigterm_exits_0_within_the_grace_period_despite_stuck_clients);

/// Two clients that never finish: one sent half a request line, one a request whose body
/// stops half-way (in flight: the server asked for the body). SIGTERM still ends the process
/// with exit code 0, after the grace period and not much later.
async fn sigterm_exits_0_within_the_grace_period_despite_stuck_clients(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let grace = Duration::from_secs(2);
    let mut running = start(
        database.url(),
        &[
            ("SHUTDOWN_GRACE_SECS", "2"),
            ("SHUTDOWN_DRAIN_SECS", "0"),
            ("HEADER_READ_TIMEOUT_SECS", "300"),
            ("IDLE_TIMEOUT_SECS", "300"),
            ("REQUEST_TIMEOUT_SECS", "300"),
        ],
    )
    .await;
    let addr = format!("127.0.0.1:{}", running.port);

    // Half a request line, on a connection the server has served (so it was accepted).
    let mut half_line = TcpStream::connect(&addr).await.unwrap();
    half_line
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let first = read_until(&mut half_line, b"\"live\"}").await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    half_line.write_all(b"GET /health/li").await.unwrap();

    // A request in flight: the server said `100 Continue`, so its handler is reading the body.
    let mut in_flight = TcpStream::connect(&addr).await.unwrap();
    in_flight
        .write_all(
            b"POST /v1/users HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              content-length: 100\r\nexpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let interim = read_until(&mut in_flight, b"\r\n\r\n").await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    in_flight.write_all(b"{\"email\"").await.unwrap();

    let pid = Pid::from_raw(i32::try_from(running.child.id().unwrap()).unwrap());
    let signalled = Instant::now();
    kill(pid, Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(grace + Duration::from_secs(20), running.child.wait())
        .await
        .expect("the process exits after the grace period")
        .unwrap();
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "took {took:?}");
    // The in-flight request had its grace period, no more than a little over it.
    assert!(
        took >= grace,
        "exited after {took:?}, before the grace period"
    );
    let logs = running.logs.await.unwrap();
    assert!(logs.contains("grace period over"), "{logs}");
    assert!(logs.contains("\"stopped\""), "{logs}");
    // The listener is gone: new connections are refused.
    assert!(TcpStream::connect(&addr).await.is_err());
}

/// Reads from `stream` until `end` has arrived (or the peer closes), within ten seconds.
async fn read_until(stream: &mut TcpStream, end: &[u8]) -> String {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.windows(end.len()).any(|w| w == end) {
            let read = stream.read(&mut chunk).await.unwrap();
            if read == 0 {
                break;
            }
            seen.extend_from_slice(&chunk[..read]);
        }
    })
    .await
    .expect("the server answers within ten seconds");
    String::from_utf8_lossy(&seen).into_owned()
}
