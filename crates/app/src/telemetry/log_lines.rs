//! The log line formats: JSON lines (carrying `trace_id` and `span_id` when the request has
//! them) or pretty lines, both written through an escaping writer so that request data cannot
//! forge a line.

use std::fmt;
use std::io::Write;

use opentelemetry::trace::TraceContextExt;
use tracing::Subscriber;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

use super::sampling::TraceIds;
use super::unsampled::current_unsampled;
use crate::LogFormat;

/// The log-line layer: JSON (with trace ids when tracing is on) or pretty, written through
/// [`Escaping`] so that request data cannot forge a line. No ANSI colours: the escaping writer
/// would escape them, and escape sequences in request data must not reach a terminal either.
pub(super) fn log_layer<S, W>(
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
pub(super) fn escape(line: &[u8]) -> String {
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
