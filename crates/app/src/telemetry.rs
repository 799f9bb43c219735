//! Logs and traces: `RUST_LOG` filters the log lines, `LOG_FORMAT` picks JSON or pretty lines,
//! and with `OTEL_EXPORTER_OTLP_ENDPOINT` every request's spans go to an OpenTelemetry collector.
//!
//! Without the endpoint no OpenTelemetry layer is installed at all: nothing is exported and no
//! trace id is made. A request that arrives with a W3C `traceparent` still joins the caller's
//! trace in the logs (many deployments ship logs only, and the gateway in front started the
//! trace): its JSON log lines carry the caller's `trace_id` and its response a `traceparent`,
//! and nothing else is recorded. With the endpoint, `traceparent` headers continue the caller's
//! trace, responses carry `traceparent`, and JSON log lines carry `trace_id` and `span_id` so
//! that logs and traces join.
//!
//! Sampling is decided once per request, before its HTTP span exists ([`request_span`]): the
//! caller's `traceparent` decides if it has one, otherwise `OTEL_TRACES_SAMPLER_ARG` is the share
//! of requests traced (by trace id, the SDK's `TraceIdRatioBased` rule). A sampled request's
//! span goes through the OpenTelemetry layer as before. An unsampled request's span comes from
//! another callsite ([`UNSAMPLED_TARGET`]) that the OpenTelemetry layer never admits, so it
//! costs no OpenTelemetry work at all: its trace id and span id ride in a span extension, made
//! current by `SampledTraces` while the span is entered, and are what its response's
//! `traceparent` and its JSON log lines name. No span below it (workflow, context, transaction,
//! statement) is even built, so an unsampled request costs about what an untraced one does.

use std::cell::RefCell;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::KeyValue;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    Link, SpanId, SpanKind, TraceContextExt, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, SamplingResult, SdkTracerProvider,
    ShouldSample, SpanExporter,
};
use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{self, FilterExt, LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::{self, Filter, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};
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

/// The installed `OTEL_TRACES_SAMPLER_ARG` (an `f64`'s bits): [`request_span`] samples new
/// traces by it, before any span exists.
static SAMPLE_RATIO: AtomicU64 = AtomicU64::new(0);

/// The target of an unsampled request's span. The OpenTelemetry layer's filter never admits
/// it, so that span costs no OpenTelemetry work; it sits below `app::routes` (the sampled
/// span's target) so that `RUST_LOG` directives treat both alike.
pub const UNSAMPLED_TARGET: &str = "app::routes::unsampled";

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
    let filter = env_filter();
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
            install(
                format,
                filter,
                std::io::stdout,
                Some((provider, sample_ratio)),
            )
        }
        Err(err) => {
            eprintln!("warning: OTEL_EXPORTER_OTLP_ENDPOINT is set but unusable: {err}");
            init_with(format, filter, std::io::stdout);
            Telemetry { provider: None }
        }
    }
}

/// The log filter: `RUST_LOG`, or [`DEFAULT_FILTER`] when it is unset or unreadable.
pub fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
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
    install(format, filter, writer, Some((provider, sample_ratio)))
}

/// The SDK's sampler once [`request_span`] has decided: a span with a parent follows it (a
/// request's span follows the caller's sampled `traceparent`, every span below a request
/// follows the request), a new root request span is recorded because only a sampled request
/// gets a span the OpenTelemetry layer sees, and any other new root (a background job's) is
/// sampled by `ratio` as before.
fn sampler(ratio: f64) -> Sampler {
    Sampler::ParentBased(Box::new(DecidedRequests { ratio }))
}

/// See [`sampler`]: the root sampler, which tells a request's span by its kind (`otel.kind =
/// "server"`, set by no other span of the service).
#[derive(Clone, Debug)]
struct DecidedRequests {
    ratio: f64,
}

impl ShouldSample for DecidedRequests {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        if *span_kind == SpanKind::Server {
            return SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: TraceState::default(),
            };
        }
        Sampler::TraceIdRatioBased(self.ratio).should_sample(
            parent_context,
            trace_id,
            name,
            span_kind,
            attributes,
            links,
        )
    }
}

/// Whether a new trace with this id is sampled at `ratio`: the SDK's own `TraceIdRatioBased`
/// rule, so that the share and the choice by trace id stay what docs/operations.md says.
fn ratio_samples(ratio: f64, trace_id: TraceId) -> bool {
    let result = Sampler::TraceIdRatioBased(ratio).should_sample(
        None,
        trace_id,
        "request",
        &SpanKind::Server,
        &[],
        &[],
    );
    result.decision == SamplingDecision::RecordAndSample
}

/// The ids of an unsampled request: the caller's trace id or a new one, and a new span id
/// for the request's span. They are what its response's `traceparent` and log lines name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceIds {
    /// The trace the request belongs to.
    pub trace_id: TraceId,
    /// The request's own span within it.
    pub span_id: SpanId,
}

/// What [`request_span`] decided for one request.
#[derive(Debug)]
enum Sampling {
    /// Recorded: the span goes to the OpenTelemetry layer, as the child of the caller's span
    /// when the caller sent a sampled `traceparent`.
    Sampled(Option<opentelemetry::Context>),
    /// Not recorded: the span comes from the [`UNSAMPLED_TARGET`] callsite and carries these.
    Unsampled(TraceIds),
}

/// The caller's trace context, when the request has a valid `traceparent`.
fn caller_context(headers: &HeaderMap) -> Option<opentelemetry::Context> {
    if !headers.contains_key("traceparent") {
        return None;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderReader(headers));
    let valid = parent.span().span_context().is_valid();
    valid.then_some(parent)
}

/// The decision for a request with these headers: a valid `traceparent` decides by its
/// sampled flag (and its trace id is kept), otherwise a new trace id sampled at `ratio`.
fn decide(headers: &HeaderMap, ratio: f64) -> Sampling {
    let ids = RandomIdGenerator::default();
    if let Some(parent) = caller_context(headers) {
        let caller = parent.span().span_context().clone();
        return if caller.is_sampled() {
            Sampling::Sampled(Some(parent))
        } else {
            Sampling::Unsampled(TraceIds {
                trace_id: caller.trace_id(),
                span_id: new_span_id(&ids),
            })
        };
    }
    let trace_id = loop {
        let id = ids.new_trace_id();
        if id != TraceId::INVALID {
            break id;
        }
    };
    if ratio_samples(ratio, trace_id) {
        // The SDK makes the recorded root's own trace id; this one only drew the lot.
        Sampling::Sampled(None)
    } else {
        Sampling::Unsampled(TraceIds {
            trace_id,
            span_id: new_span_id(&ids),
        })
    }
}

fn new_span_id(ids: &RandomIdGenerator) -> SpanId {
    loop {
        let id = ids.new_span_id();
        if id != SpanId::INVALID {
            return id;
        }
    }
}

/// Makes a request's span, deciding its sampling first from its `headers`: `sampled` makes
/// the span the OpenTelemetry layer records (continuing the caller's trace if it sent one),
/// `unsampled` the same span from a callsite with target [`UNSAMPLED_TARGET`], which that layer
/// never sees. With tracing off this is `sampled()`, unless the caller sent a `traceparent`:
/// then the span is `unsampled()` with the caller's trace id, for the log lines and the
/// response only.
pub fn request_span(
    headers: &HeaderMap,
    sampled: impl FnOnce() -> tracing::Span,
    unsampled: impl FnOnce() -> tracing::Span,
) -> tracing::Span {
    if !tracing_on() {
        return match caller_context(headers) {
            Some(caller) => span_for(
                Sampling::Unsampled(TraceIds {
                    trace_id: caller.span().span_context().trace_id(),
                    span_id: new_span_id(&RandomIdGenerator::default()),
                }),
                sampled,
                unsampled,
            ),
            None => sampled(),
        };
    }
    let ratio = f64::from_bits(SAMPLE_RATIO.load(Ordering::Relaxed));
    span_for(decide(headers, ratio), sampled, unsampled)
}

fn span_for(
    sampling: Sampling,
    sampled: impl FnOnce() -> tracing::Span,
    unsampled: impl FnOnce() -> tracing::Span,
) -> tracing::Span {
    match sampling {
        Sampling::Sampled(None) => sampled(),
        Sampling::Sampled(Some(parent)) => {
            let span = sampled();
            // Fails only for a disabled span, which has nothing to continue.
            let _ = span.set_parent(parent);
            span
        }
        Sampling::Unsampled(ids) => {
            let span = unsampled();
            span.with_subscriber(|(id, dispatch)| {
                if let Some(registry) = dispatch.downcast_ref::<Registry>()
                    && let Some(span) = registry.span(id)
                {
                    span.extensions_mut().insert(ids);
                }
            });
            span
        }
    }
}

thread_local! {
    /// The unsampled request spans entered on this thread, innermost last, with their ids:
    /// what the response's `traceparent` and the JSON log lines read, in place of the
    /// OpenTelemetry context a sampled request's span attaches.
    static ENTERED_UNSAMPLED: RefCell<Vec<(span::Id, TraceIds)>> = const { RefCell::new(Vec::new()) };
}

/// The ids of the unsampled request being polled on this thread, if any.
fn current_unsampled() -> Option<TraceIds> {
    ENTERED_UNSAMPLED
        .try_with(|entered| {
            entered
                .try_borrow()
                .ok()
                .and_then(|entered| entered.last().map(|(_, ids)| *ids))
        })
        .ok()
        .flatten()
}

/// Vetoes every span that would belong to an unsampled request, for every layer: a traced
/// span created while the nearest enclosing span (of those this layer's filter admits: traced
/// spans and unsampled requests) is an unsampled request's is disabled, so it is never built,
/// not even by the log layer. Log lines inside such a request still name the request's span
/// (and its `request_id`), only not the spans below it.
///
/// It also keeps an unsampled request's span alive whatever `RUST_LOG` says (its filter admits
/// that callsite, as the OpenTelemetry layer's admitted every request's span before), and
/// makes its ids current on the thread while it is entered (see [`current_unsampled`]).
struct SampledTraces;

impl<S> Layer<S> for SampledTraces
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, meta: &Metadata<'_>, cx: layer::Context<'_, S>) -> bool {
        // Only reached for what `SampledTracesFilter` admits: an unsampled request, or a traced
        // span. `lookup_current` skips the spans that filter does not admit.
        meta.target() == UNSAMPLED_TARGET
            || cx
                .lookup_current()
                .is_none_or(|current| current.metadata().target() != UNSAMPLED_TARGET)
    }

    fn on_enter(&self, id: &span::Id, cx: layer::Context<'_, S>) {
        let Some(span) = cx.span(id) else { return };
        if span.metadata().target() != UNSAMPLED_TARGET {
            return;
        }
        let ids = span.extensions().get::<TraceIds>().copied();
        if let Some(ids) = ids {
            let _ = ENTERED_UNSAMPLED.try_with(|entered| {
                if let Ok(mut entered) = entered.try_borrow_mut() {
                    entered.push((id.clone(), ids));
                }
            });
        }
    }

    fn on_exit(&self, id: &span::Id, _: layer::Context<'_, S>) {
        let _ = ENTERED_UNSAMPLED.try_with(|entered| {
            if let Ok(mut entered) = entered.try_borrow_mut()
                && let Some(at) = entered.iter().rposition(|(entered, _)| entered == id)
            {
                entered.remove(at);
            }
        });
    }
}

/// [`SampledTraces`]'s filter: the traced spans (to veto them) and unsampled requests' spans
/// (to keep them), decided per span (`sometimes`) so that the veto is asked every time.
struct SampledTracesFilter {
    /// The spans the OpenTelemetry layer would see.
    traced: Targets,
}

impl SampledTracesFilter {
    fn admits(&self, meta: &Metadata<'_>) -> bool {
        meta.is_span()
            && (meta.target() == UNSAMPLED_TARGET
                || self.traced.would_enable(meta.target(), meta.level()))
    }
}

impl<S> Filter<S> for SampledTracesFilter {
    fn enabled(&self, meta: &Metadata<'_>, _: &layer::Context<'_, S>) -> bool {
        self.admits(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.admits(meta) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }
}

/// [`SampledTraces`] with its filter, boxed for the subscriber: over the spans of
/// [`trace_filter`] when traces are exported, over unsampled requests' spans alone otherwise
/// (then there is nothing to veto, and every other span costs it nothing).
fn sampled_traces<S>(exported: bool) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let traced = if exported {
        trace_filter()
    } else {
        Targets::new()
    };
    SampledTraces
        .with_filter(SampledTracesFilter { traced })
        .boxed()
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
/// statements at INFO and above, except an unsampled request's (see [`trace_layer`] for events).
fn trace_filter() -> Targets {
    Targets::new()
        .with_default(Level::INFO)
        .with_target(UNSAMPLED_TARGET, LevelFilter::OFF)
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
    traced: bool,
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
            .event_format(WithTraceIds {
                inner: tracing_subscriber::fmt::format().json().flatten_event(true),
                traced,
            })
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
    Box::new(tracing_subscriber::registry().with(log_layer(format, filter, writer, false)))
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
        .with_filter(trace_layer_filter())
        .boxed()
}

/// What reaches the OpenTelemetry layer: the spans of [`trace_filter`] and the WARN and ERROR
/// events. Events only from WARN up (they become span events; an ERROR marks the span as
/// failed): the INFO line every request logs at its end would otherwise be built into an event
/// of every sampled request's span.
fn trace_layer_filter<S: 'static>() -> impl Filter<S> + Send + Sync + 'static {
    trace_filter().and(
        filter::filter_fn(|meta| meta.is_span() || *meta.level() <= Level::WARN)
            .with_max_level_hint(LevelFilter::INFO),
    )
}

/// Installs the subscriber; with a provider, its layer records the requests sampled at `ratio`.
fn install<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    traced: Option<(SdkTracerProvider, f64)>,
) -> Telemetry
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let (provider, ratio) = traced.unzip();
    let logs = log_layer(format, filter, writer, provider.is_some());
    let traces = provider.as_ref().map(trace_layer);
    let sampled_only = sampled_traces(traces.is_some());
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .with(sampled_only)
        .try_init()
        .is_ok();
    if installed && let Some(ratio) = ratio {
        SAMPLE_RATIO.store(ratio.to_bits(), Ordering::Relaxed);
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        TRACING_ON.store(true, Ordering::Relaxed);
    }
    Telemetry {
        provider: provider.filter(|_| installed),
    }
}

/// Writes the `traceparent` of the current request into a response's headers, so that a
/// caller can find the request's trace; nothing when tracing is off and the caller sent none.
pub fn write_traceparent(headers: &mut HeaderMap) {
    if tracing_on() || current_unsampled().is_some() {
        write_current_traceparent(headers);
    }
}

/// An unsampled request's ids with flags `00`, else the current OpenTelemetry context's.
fn write_current_traceparent(headers: &mut HeaderMap) {
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

/// A JSON event format that starts each line with the `trace_id` and `span_id` of the request
/// (unsampled, or joined from the caller's `traceparent` with tracing off) or span (sampled)
/// the event happened in; otherwise the line is the inner format's, unchanged.
struct WithTraceIds<F> {
    inner: F,
    /// Whether an OpenTelemetry layer is installed beside this format.
    traced: bool,
}

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
        let traced = self.traced;
        let ids = current_unsampled().or_else(|| {
            if !traced {
                return None;
            }
            opentelemetry::Context::map_current(|context| {
                let span = context.span();
                let ids = span.span_context();
                ids.is_valid().then(|| TraceIds {
                    trace_id: ids.trace_id(),
                    span_id: ids.span_id(),
                })
            })
        });
        let Some(ids) = ids else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",{rest}",
                ids.trace_id, ids.span_id
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
}
