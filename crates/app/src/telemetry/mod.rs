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
//! One job per module:
//! - [`sampling`]: head sampling, decided once per request before its span exists;
//! - [`unsampled`]: the layer that keeps an unsampled request's spans away from every layer;
//! - [`propagation`]: W3C `traceparent` in from callers and out on responses;
//! - [`log_lines`]: the log line formats (JSON with trace ids, or pretty) and their escaping.
//!
//! This module installs the subscriber those parts make up.

mod log_lines;
mod propagation;
mod sampling;
#[cfg(test)]
mod tests;
mod unsampled;

pub use propagation::write_traceparent;
pub use sampling::{TraceIds, UNSAMPLED_TARGET, request_span, tracing_on};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use tracing::{Level, Subscriber};
use tracing_subscriber::filter::{self, FilterExt, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Filter, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::LogFormat;
use log_lines::log_layer;
use sampling::sampler;
use unsampled::sampled_traces;

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// The service's name in exported traces, unless `OTEL_SERVICE_NAME` says otherwise.
pub const SERVICE_NAME: &str = "orders-backend";

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
        sampling::enable(ratio);
    }
    Telemetry {
        provider: provider.filter(|_| installed),
    }
}
