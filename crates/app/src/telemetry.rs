//! Logs and traces: `RUST_LOG` filters the log lines, `LOG_FORMAT` picks JSON or pretty lines,
//! and with `OTEL_EXPORTER_OTLP_ENDPOINT` every request's spans go to an OpenTelemetry collector.
//!
//! Without the endpoint no OpenTelemetry layer is installed at all: no trace ids are made, no
//! statement spans exist, nothing is exported, and requests cost what they did before. With it,
//! W3C `traceparent` headers continue the caller's trace, responses carry `traceparent`, and
//! JSON log lines carry `trace_id` and `span_id` so that logs and traces join.
//!
//! Sampling is decided once per request, when its HTTP span starts: the caller's `traceparent`
//! decides if it has one, otherwise `OTEL_TRACES_SAMPLER_ARG` is the share of requests traced.
//! A request that is not sampled keeps its trace id (response, log lines) but its workflow,
//! context, transaction and statement spans are never built: building them only for the
//! sampler to drop them at their end cost 17 % more CPU per request (README, "What it costs").

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanExporter};
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{self, FilterExt, LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::LogFormat;

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// The service's name in exported traces, unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "orders-backend";

/// Whether an OpenTelemetry layer is installed: the HTTP layer reads and writes `traceparent`
/// only then.
static TRACING_ON: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (and trace context propagated) in this process.
pub fn tracing_on() -> bool {
    TRACING_ON.load(Ordering::Relaxed)
}

/// Keeps the exporter alive; dropping it (at the end of `main`) flushes the spans not sent yet.
#[must_use = "dropping the guard stops the exporter"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends every finished span now: what tests call before reading an in-memory exporter.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider
            && let Err(err) = provider.force_flush()
        {
            tracing::warn!(error = %err, "flushing spans failed");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("warning: exporting the last spans failed: {err}");
        }
    }
}

/// Installs the global subscriber once, writing to stdout; later calls (tests) are no-ops. With
/// an OTLP endpoint (see [`crate::Config::otlp_endpoint`]) the traces of `sample_ratio` of the
/// requests (see [`crate::Config::trace_sample_ratio`]) are exported over OTLP/HTTP; an
/// exporter that cannot be built is reported on stderr and the service runs without it.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>, sample_ratio: f64) -> Telemetry {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    if otlp_endpoint.is_none() {
        init_with(format, filter, std::io::stdout);
        return Telemetry { provider: None };
    }
    // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS, _TIMEOUT…) itself.
    match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => {
            let provider = SdkTracerProvider::builder()
                .with_resource(resource())
                .with_sampler(sampler(sample_ratio))
                .with_batch_exporter(exporter)
                .build();
            install(format, filter, std::io::stdout, Some(provider))
        }
        Err(err) => {
            eprintln!("warning: OTEL_EXPORTER_OTLP_ENDPOINT is set but unusable: {err}");
            init_with(format, filter, std::io::stdout);
            Telemetry { provider: None }
        }
    }
}

/// Installs the global subscriber with an explicit filter and destination and no tracing
/// export: what tests use to read the service's log lines (for example, to prove no secret is
/// ever written).
pub fn init_with<W>(format: LogFormat, filter: EnvFilter, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    drop(install(format, filter, writer, None));
}

/// Installs the global subscriber with the spans of `sample_ratio` of the requests going to
/// `exporter`, synchronously as each span ends: what the span-tree and sampling tests use with
/// an in-memory exporter.
pub fn init_with_exporter<W, E>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    exporter: E,
    sample_ratio: f64,
) -> Telemetry
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    E: SpanExporter + 'static,
{
    let provider = SdkTracerProvider::builder()
        .with_resource(resource())
        .with_sampler(sampler(sample_ratio))
        .with_simple_exporter(exporter)
        .build();
    install(format, filter, writer, Some(provider))
}

/// The caller's decision when its `traceparent` made one, else `ratio` of the new traces (by
/// trace id, so every service that samples by ratio keeps the same traces).
fn sampler(ratio: f64) -> Sampler {
    Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
}

/// Vetoes every span that would belong to a trace that is not sampled, for every layer: the
/// request's span is decided when it is first entered (its OpenTelemetry context is then
/// current), and everything created below it inherits that decision. A disabled span is never
/// built, so an unsampled request costs its one HTTP span (which carries the trace id), not the
/// dozen spans below it that the sampler would drop at their end. Log lines inside such a
/// request still name the request's span (and its `request_id`), only not the spans below it.
struct SampledTraces {
    /// The spans the OpenTelemetry layer would see; no other span is vetoed.
    traced: Targets,
}

impl SampledTraces {
    fn new() -> Self {
        Self {
            traced: trace_filter(),
        }
    }

    /// Whether the current OpenTelemetry context is a span of a trace that is not recorded.
    fn inside_unsampled_trace() -> bool {
        opentelemetry::Context::map_current(|context| {
            let span = context.span();
            let ids = span.span_context();
            ids.is_valid() && !ids.is_sampled()
        })
    }
}

impl<S: Subscriber> Layer<S> for SampledTraces {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        // Only traced spans are decided one by one; the rest keep their static interest.
        if meta.is_span() && self.traced.would_enable(meta.target(), meta.level()) {
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: layer::Context<'_, S>) -> bool {
        !meta.is_span() || !Self::inside_unsampled_trace()
    }
}

fn resource() -> opentelemetry_sdk::Resource {
    let builder = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        builder.build()
    } else {
        builder.with_service_name(SERVICE_NAME).build()
    }
}

/// The spans the OpenTelemetry layer sees: every span of the service and of SeaORM's
/// statements at INFO and above (see [`trace_layer`] for events).
fn trace_filter() -> Targets {
    Targets::new()
        .with_default(Level::INFO)
        .with_target("sqlx", Level::WARN)
        .with_target("hyper", Level::WARN)
        .with_target("reqwest", Level::WARN)
        .with_target("async_nats", Level::WARN)
}

/// The log-line layer: JSON (with trace ids when tracing is on) or pretty, written through
/// [`Escaping`] so that request data cannot forge a line. No ANSI colours: the escaping writer
/// would escape them, and escape sequences in request data must not reach a terminal either.
fn log_layer<S, W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let writer = Escaping(writer);
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .event_format(WithTraceIds(
                tracing_subscriber::fmt::format().json().flatten_event(true),
            ))
            .with_ansi(false)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
    }
}

/// The service's log subscriber without tracing, not yet installed (tests use it scoped).
#[cfg(test)]
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    Box::new(tracing_subscriber::registry().with(log_layer(format, filter, writer)))
}

/// The OpenTelemetry layer: the spans [`trace_filter`] admits, of sampled traces only.
fn trace_layer<S>(provider: &SdkTracerProvider) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    // Source locations, thread names, targets and busy/idle timings would add seven attributes
    // (two of them allocated strings) to every span, and their bytes to every export; an
    // operator follows a request by its span names and attributes.
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("app"))
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(
            trace_filter().and(
                filter::filter_fn(|meta| {
                    // Events only from WARN up (they become span events; an ERROR marks the
                    // span as failed): the INFO line every request logs at its end would
                    // otherwise be built into an event of every request's span, sampled or not.
                    meta.is_span() || *meta.level() <= Level::WARN
                })
                .with_max_level_hint(LevelFilter::INFO),
            ),
        )
        .boxed()
}

fn install<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    provider: Option<SdkTracerProvider>,
) -> Telemetry
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let logs = log_layer(format, filter, writer);
    let traces = provider.as_ref().map(trace_layer);
    let sampled_only = traces.is_some().then(SampledTraces::new);
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .with(sampled_only)
        .try_init()
        .is_ok();
    if installed && provider.is_some() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        TRACING_ON.store(true, Ordering::Relaxed);
    }
    Telemetry {
        provider: provider.filter(|_| installed),
    }
}

/// Continues the caller's trace: makes `span` (a request's span, not yet entered) a child of
/// the W3C `traceparent` in `headers`, if there is one and tracing is on.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if !tracing_on() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderReader(headers));
    if parent.span().span_context().is_valid() {
        // Fails only for a disabled span, which has nothing to continue.
        let _ = span.set_parent(parent);
    }
}

/// Writes the `traceparent` of the current span into a response's headers, so that a caller
/// can find the request's trace; nothing when tracing is off.
pub fn write_traceparent(headers: &mut HeaderMap) {
    if !tracing_on() {
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

/// A JSON event format that starts each line with the `trace_id` and `span_id` of the span the
/// event happened in, when tracing is on; otherwise the line is the inner format's, unchanged.
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        if !tracing_on() {
            return self.0.format_event(ctx, writer, event);
        }
        let context = opentelemetry::Context::current();
        let span = context.span();
        let ids = span.span_context();
        if !ids.is_valid() {
            return self.0.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",{rest}",
                ids.trace_id(),
                ids.span_id()
            ),
            None => writer.write_str(&line),
        }
    }
}

/// Makes writers that escape control characters, so that no value a client chose (a path, an
/// id, an e-mail address inside a database error) can start a forged log line or move a
/// terminal's cursor. The formatter writes one whole event per `write`; its final newline is
/// the only one kept. JSON lines have no raw control characters to begin with.
struct Escaping<M>(M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Escaping<M> {
    type Writer = EscapingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        EscapingWriter(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        EscapingWriter(self.0.make_writer_for(meta))
    }
}

/// See [`Escaping`].
struct EscapingWriter<W>(W);

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(escape(buf).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `line` with every control character (and the Unicode line and paragraph separators)
/// written as an escape, except one final newline.
fn escape(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let (body, newline) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (text.as_ref(), ""),
    };
    let mut escaped = String::with_capacity(text.len());
    for c in body.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push('\t'),
            // `\uXXXX`, which is also a valid escape inside a JSON string: the JSON format's
            // encoder leaves C1 controls and the line separators raw.
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                escaped.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => escaped.push(c),
        }
    }
    escaped.push_str(newline);
    escaped
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

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

    /// A request's span and one span created inside it, under the OpenTelemetry layer alone
    /// with `ratio`, optionally continuing a remote parent whose sampled flag is `remote`:
    /// whether the inner span was built, and the request's trace id and sampled flag.
    fn inner_span_under(ratio: f64, remote: Option<bool>) -> (bool, bool, bool) {
        let provider = SdkTracerProvider::builder()
            .with_sampler(sampler(ratio))
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(trace_layer(&provider))
            .with(SampledTraces::new());
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request");
            if let Some(sampled) = remote {
                let flag = if sampled { "01" } else { "00" };
                let mut headers = HeaderMap::new();
                headers.insert(
                    "traceparent",
                    HeaderValue::from_str(&format!(
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flag}"
                    ))
                    .unwrap_or_else(|e| panic!("{e}")),
                );
                let parent = TraceContextPropagator::new().extract(&HeaderReader(&headers));
                request.set_parent(parent).unwrap_or_else(|e| panic!("{e}"));
            }
            let _entered = request.enter();
            let inner = tracing::info_span!("orders.get");
            let ids = opentelemetry::Context::current()
                .span()
                .span_context()
                .clone();
            (!inner.is_disabled(), ids.is_valid(), ids.is_sampled())
        })
    }

    #[test]
    fn spans_below_an_unsampled_request_are_never_built() {
        assert_eq!(inner_span_under(0.0, None), (false, true, false));
        assert_eq!(inner_span_under(1.0, Some(false)), (false, true, false));
    }

    #[test]
    fn spans_below_a_sampled_request_are_built_whatever_the_ratio() {
        assert_eq!(inner_span_under(1.0, None), (true, true, true));
        assert_eq!(inner_span_under(0.0, Some(true)), (true, true, true));
    }

    #[test]
    fn only_the_final_newline_survives() {
        assert_eq!(
            escape(b"GET /a\nINFO forged\r\x1b[2J done\n"),
            "GET /a\\nINFO forged\\r\\u001b[2J done\n"
        );
        assert_eq!(escape("tab\tand \u{2028}".as_bytes()), "tab\tand \\u2028");
    }
}
