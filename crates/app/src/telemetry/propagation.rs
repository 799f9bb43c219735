//! W3C trace context over HTTP: the caller's `traceparent` in, the request's out.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::sampling::tracing_on;
use super::unsampled::current_unsampled;

/// The caller's trace context, when the request has a valid `traceparent`.
pub(super) fn caller_context(headers: &HeaderMap) -> Option<opentelemetry::Context> {
    if !headers.contains_key("traceparent") {
        return None;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderReader(headers));
    let valid = parent.span().span_context().is_valid();
    valid.then_some(parent)
}

/// Writes the `traceparent` of the current request into a response's headers, so that a
/// caller can find the request's trace; nothing when tracing is off and the caller sent none.
pub fn write_traceparent(headers: &mut HeaderMap) {
    if tracing_on() || current_unsampled().is_some() {
        write_current_traceparent(headers);
    }
}

/// An unsampled request's ids with flags `00`, else the current OpenTelemetry context's.
pub(super) fn write_current_traceparent(headers: &mut HeaderMap) {
    if let Some(ids) = current_unsampled() {
        let value = format!("00-{}-{}-00", ids.trace_id, ids.span_id);
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static("traceparent"), value);
        }
        return;
    }
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut HeaderWriter(headers));
}

struct HeaderReader<'h>(&'h HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderWriter<'h>(&'h mut HeaderMap);

impl Injector for HeaderWriter<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}
