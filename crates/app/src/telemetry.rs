//! Logging: `RUST_LOG` filters, `LOG_FORMAT` picks JSON or pretty lines.

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::LogFormat;

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// Installs the global subscriber once, writing to stdout; later calls (tests) are no-ops.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    init_with(format, filter, std::io::stdout);
}

/// Installs the global subscriber with an explicit filter and destination: what tests use to
/// read the service's log lines (for example, to prove no secret is ever written).
pub fn init_with<W>(format: LogFormat, filter: EnvFilter, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let _ = tracing::subscriber::set_global_default(subscriber(format, filter, writer));
}

/// The service's subscriber, not yet installed.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    // No ANSI colours: the escaping writer below would escape them, and escape sequences in
    // request data must not reach a terminal either.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Escaping(writer));
    match format {
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
        LogFormat::Pretty => Box::new(builder.finish()),
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

    #[test]
    fn only_the_final_newline_survives() {
        assert_eq!(
            escape(b"GET /a\nINFO forged\r\x1b[2J done\n"),
            "GET /a\\nINFO forged\\r\\u001b[2J done\n"
        );
        assert_eq!(escape("tab\tand \u{2028}".as_bytes()), "tab\tand \\u2028");
    }
}
