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
    // No ANSI colours: the escaping writer below would escape them, and escape sequences in
    // request data must not reach a terminal either.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Escaping(writer));
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
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
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                escaped.push_str(&c.escape_unicode().to_string());
            }
            c => escaped.push(c),
        }
    }
    escaped.push_str(newline);
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn only_the_final_newline_survives() {
        assert_eq!(
            escape(b"GET /a\nINFO forged\r\x1b[2J done\n"),
            "GET /a\\nINFO forged\\r\\u{1b}[2J done\n"
        );
        assert_eq!(escape("tab\tand \u{2028}".as_bytes()), "tab\tand \\u{2028}");
    }
}
