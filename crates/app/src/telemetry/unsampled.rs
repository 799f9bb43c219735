//! The layer that keeps an unsampled request cheap: no span below it (workflow, context,
//! transaction, statement) is built by any layer, and its ids are current on the thread while
//! it is entered, for the response's `traceparent` and the JSON log lines.

use std::cell::RefCell;

use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{self, Filter};
use tracing_subscriber::registry::LookupSpan;

use super::sampling::{TraceIds, UNSAMPLED_TARGET};
use super::trace_filter;

thread_local! {
    /// The unsampled request spans entered on this thread, innermost last, with their ids:
    /// what the response's `traceparent` and the JSON log lines read, in place of the
    /// OpenTelemetry context a sampled request's span attaches.
    static ENTERED_UNSAMPLED: RefCell<Vec<(span::Id, TraceIds)>> = const { RefCell::new(Vec::new()) };
}

/// The ids of the unsampled request being polled on this thread, if any.
pub(super) fn current_unsampled() -> Option<TraceIds> {
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
pub(super) fn sampled_traces<S>(exported: bool) -> Box<dyn Layer<S> + Send + Sync + 'static>
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
