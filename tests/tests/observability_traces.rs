//! One request is one trace: the HTTP span continues the caller's `traceparent`, the context
//! operation is its child, and every SQL statement and transaction hangs below that, with the
//! statement's kind and table and never a bound value. Its own test binary, because it installs
//! the process-wide subscriber (with an in-memory span exporter) and reads the log lines.
//!
//! The subscriber samples a ratio of 0 of the new traces: a caller's sampled `traceparent` is
//! traced whatever the ratio, and a request that is not sampled still names its trace.

#![allow(clippy::unwrap_used)]

// A binary of its own uses only a part of the helpers the API tests share.
#[allow(dead_code, unused_imports, unused_macros)]
mod common;
#[allow(dead_code)]
#[path = "common/logs.rs"]
mod logs;

use std::collections::HashMap;

use app::LogFormat;
use common::TestApp;
use logs::Captured;
use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use persistence::Backend;
use serde_json::json;
use tracing_subscriber::EnvFilter;

/// The spans of one trace, by span id.
struct Trace(HashMap<SpanId, SpanData>);

impl Trace {
    fn of(spans: Vec<SpanData>, trace: TraceId) -> Self {
        Self(
            spans
                .into_iter()
                .filter(|span| span.span_context.trace_id() == trace)
                .map(|span| (span.span_context.span_id(), span))
                .collect(),
        )
    }

    fn named(&self, name: &str) -> Vec<&SpanData> {
        self.0.values().filter(|span| span.name == name).collect()
    }

    fn one(&self, name: &str) -> &SpanData {
        let found = self.named(name);
        assert_eq!(found.len(), 1, "one {name} span in {:#?}", self.names());
        found[0]
    }

    fn names(&self) -> Vec<String> {
        self.0.values().map(|span| span.name.to_string()).collect()
    }

    /// Whether `ancestor` is `span`'s parent, grandparent, ….
    fn descends(&self, span: &SpanData, ancestor: &SpanData) -> bool {
        let mut parent = span.parent_span_id;
        while let Some(up) = self.0.get(&parent) {
            if up.span_context.span_id() == ancestor.span_context.span_id() {
                return true;
            }
            parent = up.parent_span_id;
        }
        false
    }

    /// The tree below `root`, one span a line with its duration and telling attributes: what
    /// docs/operations.md tells readers to print (`--nocapture`).
    fn render(&self, root: &SpanData) -> String {
        let mut out = String::new();
        self.render_into(root, 0, &mut out);
        out
    }

    fn render_into(&self, span: &SpanData, depth: usize, out: &mut String) {
        let shown: Vec<String> = [
            "http.route",
            "http.response.status_code",
            "user_id",
            "db.operation",
            "db.sql.table",
            "db.transaction.outcome",
        ]
        .iter()
        .filter_map(|key| attribute(span, key).map(|value| format!("{key}={value}")))
        .collect();
        let micros = span
            .end_time
            .duration_since(span.start_time)
            .unwrap_or_default()
            .as_micros();
        out.push_str(&format!(
            "{}{} ({micros} µs) {}\n",
            "  ".repeat(depth),
            span.name,
            shown.join(" ")
        ));
        let mut children: Vec<&SpanData> = self
            .0
            .values()
            .filter(|child| child.parent_span_id == span.span_context.span_id())
            .collect();
        children.sort_by_key(|child| child.start_time);
        for child in children {
            self.render_into(child, depth + 1, out);
        }
    }

    /// The statement spans (SeaORM's, one per SQL statement) below `ancestor`.
    fn statements_below(&self, ancestor: &SpanData) -> Vec<&SpanData> {
        self.0
            .values()
            .filter(|span| span.name.starts_with("sea_orm.") && self.descends(span, ancestor))
            .collect()
    }
}

/// The spans of trace `id` once its `root` span has ended: the HTTP span ends when the server
/// has sent the last byte, which can be just after the client read it.
async fn finished_trace(
    exporter: &InMemorySpanExporter,
    telemetry: &app::telemetry::Telemetry,
    id: &str,
    root: &str,
) -> Trace {
    let id = TraceId::from_hex(id).unwrap();
    let ended = common::poll(std::time::Duration::from_secs(10), || async {
        telemetry.flush();
        let trace = Trace::of(exporter.get_finished_spans().unwrap(), id);
        (!trace.named(root).is_empty()).then_some(trace)
    })
    .await;
    ended.unwrap_or_else(|| {
        panic!(
            "no {root} span ended in trace {id}: {:#?}",
            exporter
                .get_finished_spans()
                .unwrap()
                .iter()
                .map(|s| (
                    s.name.to_string(),
                    s.span_context.trace_id().to_string(),
                    s.parent_span_id.to_string()
                ))
                .collect::<Vec<_>>()
        )
    })
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[tokio::test]
async fn an_order_is_one_trace_from_http_to_each_statement() {
    let captured = Captured::default();
    let writer = captured.clone();
    let exporter = InMemorySpanExporter::default();
    let telemetry = app::telemetry::init_with_exporter(
        LogFormat::Json,
        EnvFilter::new(app::telemetry::DEFAULT_FILTER),
        move || writer.clone(),
        exporter.clone(),
        0.0,
    );
    assert!(app::telemetry::tracing_on());
    for backend in [Backend::Sqlite, Backend::Postgres] {
        common::run(backend, |app: TestApp| {
            traces_of(app, &exporter, &telemetry, &captured)
        })
        .await;
    }
}

/// The traces of one service: an order placed, a placement rolled back, an unsampled request.
async fn traces_of(
    app: TestApp,
    exporter: &InMemorySpanExporter,
    telemetry: &app::telemetry::Telemetry,
    captured: &Captured,
) {
    app.stock("SKU-1", 150, common::PLENTY).await;
    app.stock("SECRET-SKU-77", 150, common::PLENTY).await;
    placing_an_order(&app, exporter, telemetry, captured).await;
    a_failed_placement_shows_its_rollback(&app, exporter, telemetry).await;
    an_unsampled_request_names_its_trace_but_exports_nothing(&app, exporter, telemetry, captured)
        .await;
    app.stop().await;
}

async fn placing_an_order(
    app: &TestApp,
    exporter: &InMemorySpanExporter,
    telemetry: &app::telemetry::Telemetry,
    captured: &Captured,
) {
    let buyer = app.create_user("buyer@example.com").await;
    exporter.reset();

    // The caller's trace: ours must continue it.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = app
        .post_as(&buyer, "/v1/orders")
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .json(&json!({
            "currency": "EUR",
            "items": [{ "sku": "SECRET-SKU-77", "quantity": 2, "unit_price_cents": 150 }]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let traceparent = response.headers()["traceparent"]
        .to_str()
        .unwrap()
        .to_owned();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        traceparent.starts_with(&format!("00-{caller_trace}-")),
        "the response names the caller's trace: {traceparent}"
    );
    let trace = finished_trace(exporter, telemetry, caller_trace, "POST /v1/orders").await;
    let http = trace.one("POST /v1/orders");
    assert_eq!(
        http.parent_span_id,
        SpanId::from_hex(caller_span).unwrap(),
        "the HTTP span is the caller's child"
    );
    assert!(traceparent.contains(&http.span_context.span_id().to_string()));
    assert_eq!(
        attribute(http, "request_id").as_deref(),
        Some(request_id.as_str())
    );
    assert_eq!(
        attribute(http, "user_id").as_deref(),
        Some(buyer.id.as_str())
    );
    assert_eq!(attribute(http, "http.route").as_deref(), Some("/v1/orders"));
    assert_eq!(
        attribute(http, "http.response.status_code").as_deref(),
        Some("201")
    );

    eprintln!("{}", trace.render(http));
    let place = trace.one("workflows.place_order");
    assert!(
        trace.descends(place, http),
        "workflows.place_order is below the HTTP span"
    );
    let transaction = trace
        .named("db.transaction")
        .into_iter()
        .find(|span| trace.descends(span, place))
        .expect("the order's transaction is below workflows.place_order");
    assert_eq!(
        attribute(transaction, "db.transaction.outcome").as_deref(),
        Some("commit")
    );

    let statements = trace.statements_below(place);
    let inserted: Vec<String> = statements
        .iter()
        .filter(|span| attribute(span, "db.operation").as_deref() == Some("INSERT"))
        .filter_map(|span| attribute(span, "db.sql.table"))
        .collect();
    assert!(
        inserted.iter().any(|table| table == "orders"),
        "an INSERT into orders below workflows.place_order: {inserted:?}"
    );
    assert!(
        inserted.iter().any(|table| table == "order_items"),
        "an INSERT into order_items below workflows.place_order: {inserted:?}"
    );
    for statement in &statements {
        assert!(attribute(statement, "db.operation").is_some());
    }

    // No bound value, no token, anywhere in the trace.
    for span in trace.0.values() {
        for kv in &span.attributes {
            let value = kv.value.to_string();
            assert!(
                !value.contains("SECRET-SKU-77") && !value.contains(&buyer.token),
                "{} carries a bound value or the token in {}: {value}",
                span.name,
                kv.key
            );
        }
    }

    // The request's log lines join the trace.
    let logs = captured.text();
    let joined = logs
        .lines()
        .filter(|line| line.contains(&request_id))
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line["trace_id"] == caller_trace && line["span_id"].is_string())
        .count();
    assert!(
        joined >= 1,
        "the request's JSON log lines carry its trace_id:\n{logs}"
    );
}

async fn a_failed_placement_shows_its_rollback(
    app: &TestApp,
    exporter: &InMemorySpanExporter,
    telemetry: &app::telemetry::Telemetry,
) {
    let admin = app.create_admin("admin@example.com").await;
    exporter.reset();
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let response = app
        .post_as(&admin, "/v1/orders")
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .json(&json!({
            "user_id": uuid::Uuid::now_v7(),
            "currency": "EUR",
            "items": [{ "sku": "SKU-1", "quantity": 1, "unit_price_cents": 150 }]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let trace = finished_trace(exporter, telemetry, trace_id, "POST /v1/orders").await;
    let place = trace.one("workflows.place_order");
    let transaction = trace
        .named("db.transaction")
        .into_iter()
        .find(|span| trace.descends(span, place))
        .expect("the placement's transaction is below workflows.place_order");
    assert_eq!(
        attribute(transaction, "db.transaction.outcome").as_deref(),
        Some("rollback")
    );
    assert!(
        matches!(transaction.status, Status::Error { .. }),
        "a rolled-back transaction is an error in its span: {:?}",
        transaction.status
    );
    assert_eq!(
        attribute(trace.one("POST /v1/orders"), "http.response.status_code").as_deref(),
        Some("422")
    );
}

/// The trace id and sampled flag of a response's `traceparent` (`00-<trace>-<span>-<flags>`).
fn traceparent_of(response: &reqwest::Response) -> (String, String) {
    let value = response.headers()["traceparent"].to_str().unwrap();
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    (parts[1].to_owned(), parts[3].to_owned())
}

async fn an_unsampled_request_names_its_trace_but_exports_nothing(
    app: &TestApp,
    exporter: &InMemorySpanExporter,
    telemetry: &app::telemetry::Telemetry,
    captured: &Captured,
) {
    let reader = app.create_user("reader@example.com").await;
    let order = app.create_order(&reader).await;
    let path = format!("/v1/orders/{}", order["id"].as_str().unwrap());
    exporter.reset();

    // No traceparent, ratio 0: not sampled, yet the response and the log lines name a trace.
    let response = app.get_as(&reader, &path).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let (own_trace, flags) = traceparent_of(&response);
    assert_eq!(flags, "00", "the response says the trace was not sampled");
    assert!(TraceId::from_hex(&own_trace).unwrap() != TraceId::INVALID);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    // A caller's unsampled trace is continued, and stays unsampled.
    let caller_trace = "5cf92f3577b34da6a3ce929d0e0e4737";
    let response = app
        .get_as(&reader, &path)
        .header(
            "traceparent",
            format!("00-{caller_trace}-00f067aa0ba902b8-00"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        traceparent_of(&response),
        (caller_trace.to_owned(), "00".to_owned())
    );

    // A caller's sampled trace is exported in full, ratio 0 or not; once it is, the requests
    // before it have long ended.
    let sampled_trace = "6df92f3577b34da6a3ce929d0e0e4738";
    let response = app
        .get_as(&reader, &path)
        .header(
            "traceparent",
            format!("00-{sampled_trace}-00f067aa0ba902b9-01"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(traceparent_of(&response).1, "01");
    let trace = finished_trace(exporter, telemetry, sampled_trace, "GET /v1/orders/{id}").await;
    let get = trace.one("orders.get");
    assert!(trace.descends(get, trace.one("GET /v1/orders/{id}")));
    assert!(!trace.statements_below(get).is_empty());

    let exported: Vec<String> = exporter
        .get_finished_spans()
        .unwrap()
        .iter()
        .map(|span| span.span_context.trace_id().to_string())
        .filter(|trace| trace == &own_trace || trace == caller_trace)
        .collect();
    assert!(
        exported.is_empty(),
        "spans of unsampled traces were exported: {exported:?}"
    );

    let logs = captured.text();
    let joined = logs
        .lines()
        .filter(|line| line.contains(&request_id))
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|line| line["trace_id"] == own_trace.as_str())
        .count();
    assert!(
        joined >= 1,
        "the unsampled request's log lines carry its trace_id:\n{logs}"
    );
}
