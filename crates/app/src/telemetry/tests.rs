use std::io::Write;
use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderValue};
use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SdkTracerProvider, ShouldSample};
use tracing::{Subscriber, span};
use tracing_subscriber::layer::{self, SubscriberExt};
use tracing_subscriber::{EnvFilter, Layer};

use super::log_lines::*;
use super::propagation::*;
use super::sampling::*;
use super::unsampled::*;
use super::*;

/// Every byte the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn request_data_cannot_forge_a_line_in_either_format() {
    for format in [LogFormat::Pretty, LogFormat::Json] {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber(format, EnvFilter::new("info"), move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            let path = "/v1/users\n2026-01-01T00:00:00Z  INFO forged: admin signed in\r\x1b[2K";
            let span = tracing::info_span!("request", path = %path, request_id = %"a\nb");
            let _entered = span.enter();
            tracing::info!(error = %"line one\nline two\u{2028}", "reading {path} failed");
        });
        let bytes = captured.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{format:?}: {text}");
        assert!(!text.contains('\r') && !text.contains('\u{1b}'), "{text:?}");
        assert!(!text.contains('\u{2028}'), "{text:?}");
        assert!(
            lines[0].contains("forged"),
            "the data is kept, escaped: {text}"
        );
    }
}

/// Counts every span and enter the OpenTelemetry layer's filter lets through: what that
/// layer would have done work for.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<usize>>);

impl<S: Subscriber> Layer<S> for Seen {
    fn on_new_span(&self, _: &span::Attributes<'_>, _: &span::Id, _: layer::Context<'_, S>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    fn on_enter(&self, _: &span::Id, _: layer::Context<'_, S>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }
}

/// What one request did under the service's layers.
#[derive(Debug)]
struct Outcome {
    /// Whether a span created inside the request was built.
    inner_built: bool,
    /// Spans and enters the OpenTelemetry layer's filter admitted.
    seen: usize,
    /// The spans exported.
    exported: Vec<opentelemetry_sdk::trace::SpanData>,
    /// The `traceparent` written for the response.
    traceparent: String,
    /// The JSON log lines of the request.
    logs: String,
}

impl Outcome {
    /// The trace id and flags of the response's `traceparent`.
    fn traceparent(&self) -> (String, String) {
        let parts: Vec<&str> = self.traceparent.split('-').collect();
        assert_eq!(parts.len(), 4, "{}", self.traceparent);
        (parts[1].to_owned(), parts[3].to_owned())
    }

    fn sampled(&self) -> bool {
        self.traceparent().1 == "01"
    }

    /// The request's first JSON log line.
    fn first_line(&self) -> &str {
        self.logs
            .lines()
            .next()
            .unwrap_or_else(|| panic!("no line"))
    }
}

/// One request with `traceparent` (if any) under the service's layers (JSON log lines
/// filtered by `log_filter`, the OpenTelemetry layer sampling new traces at `ratio` into an
/// in-memory exporter, the veto layer), with a span created inside it and a WARN line.
fn request_under(ratio: f64, traceparent: Option<&str>, log_filter: &str) -> Outcome {
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_sampler(sampler(ratio))
        .with_simple_exporter(exporter.clone())
        .build();
    let seen = Seen::default();
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::registry()
        .with(log_layer(
            LogFormat::Json,
            EnvFilter::new(log_filter),
            move || writer.clone(),
            true,
        ))
        .with(trace_layer(&provider))
        .with(seen.clone().with_filter(trace_layer_filter()))
        .with(sampled_traces(true));
    let mut headers = HeaderMap::new();
    if let Some(traceparent) = traceparent {
        headers.insert(
            "traceparent",
            HeaderValue::from_str(traceparent).unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let (inner_built, traceparent) = tracing::subscriber::with_default(subscriber, || {
        let request = span_for(
            decide(&headers, ratio),
            || tracing::info_span!("request", otel.kind = "server"),
            || tracing::info_span!(target: UNSAMPLED_TARGET, "request", otel.kind = "server"),
        );
        let _entered = request.enter();
        let inner = tracing::info_span!("orders.get");
        inner.in_scope(|| tracing::warn!("inside"));
        let mut response = HeaderMap::new();
        write_current_traceparent(&mut response);
        let traceparent = response
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (!inner.is_disabled(), traceparent)
    });
    let seen = *seen.0.lock().unwrap_or_else(|e| e.into_inner());
    let exported = exporter
        .get_finished_spans()
        .unwrap_or_else(|e| panic!("{e}"));
    let logs = String::from_utf8(captured.0.lock().unwrap_or_else(|e| e.into_inner()).clone())
        .unwrap_or_else(|e| panic!("{e}"));
    Outcome {
        inner_built,
        seen,
        exported,
        traceparent,
        logs,
    }
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn caller(flags: &str) -> String {
    format!("00-{CALLER_TRACE}-00f067aa0ba902b7-{flags}")
}

#[test]
fn an_unsampled_request_is_never_seen_by_the_opentelemetry_layer() {
    for (ratio, traceparent) in [(0.0, None), (1.0, Some(caller("00")))] {
        let outcome = request_under(ratio, traceparent.as_deref(), "info");
        assert_eq!(outcome.seen, 0, "{outcome:?}");
        assert!(outcome.exported.is_empty(), "{outcome:?}");
        assert!(
            !outcome.inner_built,
            "spans below it are vetoed: {outcome:?}"
        );
        assert_eq!(outcome.traceparent().1, "00", "{outcome:?}");
    }
}

#[test]
fn an_unsampled_request_names_the_callers_trace_and_its_own_span() {
    let outcome = request_under(1.0, Some(&caller("00")), "info");
    let (trace, flags) = outcome.traceparent();
    assert_eq!((trace.as_str(), flags.as_str()), (CALLER_TRACE, "00"));
    let span = outcome
        .traceparent
        .split('-')
        .nth(2)
        .unwrap_or_default()
        .to_owned();
    assert_ne!(
        span, "00f067aa0ba902b7",
        "its own span id, not the caller's"
    );
    assert_ne!(span, "0000000000000000");
    // The WARN line inside names the same ids, first.
    let line = outcome.first_line();
    assert!(
        line.starts_with(&format!(
            "{{\"trace_id\":\"{CALLER_TRACE}\",\"span_id\":\"{span}\","
        )),
        "{line}"
    );
}

#[test]
fn an_unsampled_request_keeps_its_ids_when_the_log_filter_hides_its_span() {
    let outcome = request_under(0.0, None, "warn");
    let (trace, flags) = outcome.traceparent();
    assert_eq!(flags, "00");
    let line = outcome.first_line();
    assert!(
        line.starts_with(&format!("{{\"trace_id\":\"{trace}\"")),
        "{line}"
    );
    assert_eq!(outcome.seen, 0, "{outcome:?}");
}

#[test]
fn a_sampled_traceparent_is_followed_whatever_the_ratio() {
    for ratio in [0.0, 0.5, 1.0] {
        let outcome = request_under(ratio, Some(&caller("01")), "info");
        assert!(outcome.sampled() && outcome.inner_built, "{outcome:?}");
        assert_eq!(outcome.traceparent().0, CALLER_TRACE);
        let names: Vec<&str> = outcome.exported.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(names, ["orders.get", "request"], "{outcome:?}");
        for span in &outcome.exported {
            assert_eq!(span.span_context.trace_id().to_string(), CALLER_TRACE);
        }
        let line = outcome.first_line();
        assert!(
            line.starts_with(&format!("{{\"trace_id\":\"{CALLER_TRACE}\"")),
            "{line}"
        );
    }
}

#[test]
fn ratio_one_samples_every_new_trace_and_ratio_zero_none() {
    for _ in 0..20 {
        let outcome = request_under(1.0, None, "info");
        assert!(outcome.sampled() && outcome.inner_built, "{outcome:?}");
        assert_eq!(outcome.exported.len(), 2, "{outcome:?}");
        let outcome = request_under(0.0, None, "info");
        assert!(!outcome.sampled() && !outcome.inner_built, "{outcome:?}");
        assert!(outcome.exported.is_empty(), "{outcome:?}");
    }
    // A malformed traceparent decides nothing: the ratio does.
    let outcome = request_under(0.0, Some("00-xyz-00f067aa0ba902b7-01"), "info");
    assert!(!outcome.sampled(), "{outcome:?}");
    assert_ne!(outcome.traceparent().0, "xyz");
}

#[test]
fn new_traces_are_sampled_by_the_sdks_trace_id_ratio_rule() {
    let headers = HeaderMap::new();
    let mut sampled = 0;
    for _ in 0..2000 {
        match decide(&headers, 0.25) {
            Sampling::Sampled(None) => sampled += 1,
            Sampling::Unsampled(ids) => {
                let sdk = Sampler::TraceIdRatioBased(0.25).should_sample(
                    None,
                    ids.trace_id,
                    "request",
                    &SpanKind::Server,
                    &[],
                    &[],
                );
                assert_eq!(sdk.decision, SamplingDecision::Drop, "{ids:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    // 2000 draws at 0.25: 500 expected, standard deviation about 19.
    assert!((400..=600).contains(&sampled), "{sampled} of 2000 sampled");
}

#[test]
fn background_roots_are_still_sampled_by_ratio() {
    let sampler = sampler(0.0);
    let decision = |kind: SpanKind| {
        sampler
            .should_sample(None, TraceId::from(7), "job", &kind, &[], &[])
            .decision
    };
    assert_eq!(decision(SpanKind::Internal), SamplingDecision::Drop);
    assert_eq!(
        decision(SpanKind::Server),
        SamplingDecision::RecordAndSample
    );
}

#[test]
fn only_the_final_newline_survives() {
    assert_eq!(
        escape(b"GET /a\nINFO forged\r\x1b[2J done\n"),
        "GET /a\\nINFO forged\\r\\u001b[2J done\n"
    );
    assert_eq!(escape("tab\tand \u{2028}".as_bytes()), "tab\tand \\u2028");
}
