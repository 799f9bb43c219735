//! Head sampling. It is decided once per request, before the request's span exists
//! ([`request_span`]): the caller's `traceparent` decides if it has one, otherwise
//! `OTEL_TRACES_SAMPLER_ARG` is the share of requests traced (by trace id, the SDK's
//! `TraceIdRatioBased` rule). A sampled request's span goes through the OpenTelemetry layer. An
//! unsampled request's span comes from another callsite ([`UNSAMPLED_TARGET`]) that the
//! OpenTelemetry layer never admits, so it costs no OpenTelemetry work: its trace id and span
//! id ride in a span extension, which [`super::unsampled`] makes current while the span is
//! entered, and are what its response's `traceparent` and its JSON log lines name.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http::HeaderMap;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Link, SpanId, SpanKind, TraceContextExt, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, SamplingResult, ShouldSample,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::{LookupSpan, Registry};

use super::propagation::caller_context;

/// Whether an OpenTelemetry layer is installed: the HTTP layer reads and writes `traceparent`
/// only then.
static TRACING_ON: AtomicBool = AtomicBool::new(false);

/// The installed `OTEL_TRACES_SAMPLER_ARG` (an `f64`'s bits): [`request_span`] samples new
/// traces by it, before any span exists.
static SAMPLE_RATIO: AtomicU64 = AtomicU64::new(0);

/// The target of an unsampled request's span. The OpenTelemetry layer's filter never admits
/// it, so that span costs no OpenTelemetry work; it sits below `app::middleware` (the sampled
/// span's target) so that `RUST_LOG` directives treat both alike.
pub const UNSAMPLED_TARGET: &str = "app::middleware::unsampled";

/// Turns head sampling on at `ratio`, once the OpenTelemetry layer is installed.
pub(super) fn enable(ratio: f64) {
    SAMPLE_RATIO.store(ratio.to_bits(), Ordering::Relaxed);
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    TRACING_ON.store(true, Ordering::Relaxed);
}

/// Whether spans are exported (and trace context propagated) in this process.
pub fn tracing_on() -> bool {
    TRACING_ON.load(Ordering::Relaxed)
}

/// The SDK's sampler once [`request_span`] has decided: a span with a parent follows it (a
/// request's span follows the caller's sampled `traceparent`, every span below a request
/// follows the request), a new root request span is recorded because only a sampled request
/// gets a span the OpenTelemetry layer sees, and any other new root (a background job's) is
/// sampled by `ratio` as before.
pub(super) fn sampler(ratio: f64) -> Sampler {
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
pub(super) enum Sampling {
    /// Recorded: the span goes to the OpenTelemetry layer, as the child of the caller's span
    /// when the caller sent a sampled `traceparent`.
    Sampled(Option<opentelemetry::Context>),
    /// Not recorded: the span comes from the [`UNSAMPLED_TARGET`] callsite and carries these.
    Unsampled(TraceIds),
}

/// The decision for a request with these headers: a valid `traceparent` decides by its
/// sampled flag (and its trace id is kept), otherwise a new trace id sampled at `ratio`.
pub(super) fn decide(headers: &HeaderMap, ratio: f64) -> Sampling {
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

pub(super) fn span_for(
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
