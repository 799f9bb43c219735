//! With no OTLP endpoint configured, a request that arrives with a W3C `traceparent` still
//! joins the caller's trace where an operator looks: its JSON log lines carry the caller's
//! trace id, and its response a `traceparent` of that trace. A request without one (or with a
//! malformed one) gets neither. Its own test binary, because it installs the process-wide log
//! subscriber and reads everything written. No database question here: SQLite only.

#![allow(clippy::unwrap_used)]

// A binary of its own uses only a part of the helpers the API tests share.
#[allow(dead_code, unused_imports, unused_macros)]
mod common;
#[allow(dead_code)]
#[path = "common/logs.rs"]
mod logs;

use app::LogFormat;
use logs::Captured;
use tracing_subscriber::EnvFilter;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn a_callers_traceparent_reaches_the_log_lines_and_the_response_without_a_collector() {
    let captured = Captured::default();
    let writer = captured.clone();
    app::telemetry::init_with(
        LogFormat::Json,
        EnvFilter::new(app::telemetry::DEFAULT_FILTER),
        move || writer.clone(),
    );
    let app = common::service().await;
    assert!(!app::telemetry::tracing_on(), "no collector in this test");

    let joined = app
        .get("/v1/products")
        .header("traceparent", CALLER)
        .header("x-request-id", "joined-request")
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), 200);
    let traceparent = joined.headers()["traceparent"].to_str().unwrap().to_owned();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[1], TRACE_ID, "the caller's trace: {traceparent}");
    assert_ne!(parts[2], "00f067aa0ba902b7", "the service's own span id");
    assert_eq!(parts[3], "00", "nothing was recorded: {traceparent}");

    let plain = app
        .get("/v1/products")
        .header("x-request-id", "plain-request")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("traceparent").is_none());

    let malformed = app
        .get("/v1/products")
        .header("traceparent", "00-not-a-trace-01")
        .header("x-request-id", "malformed-request")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 200);
    assert!(malformed.headers().get("traceparent").is_none());
    app.stop().await;

    let logs = captured.text();
    let lines_of = |request: &str| -> Vec<serde_json::Value> {
        logs.lines()
            .filter(|line| line.contains(request))
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let joined = lines_of("joined-request");
    assert!(!joined.is_empty(), "the request logged its line:\n{logs}");
    for line in &joined {
        assert_eq!(line["trace_id"], TRACE_ID, "{line}");
        assert_eq!(line["span_id"], parts[2], "{line}");
    }
    for request in ["plain-request", "malformed-request"] {
        let lines = lines_of(request);
        assert!(!lines.is_empty(), "{request} logged its line:\n{logs}");
        assert!(
            lines.iter().all(|line| line.get("trace_id").is_none()),
            "{lines:?}"
        );
    }
}
