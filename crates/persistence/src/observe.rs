//! What the kernel tells an operator about the database: one span per SQL statement (SeaORM's
//! `tracing-spans`, with the statement's table added here), one span per transaction with its
//! outcome, transaction metrics, and the statement count of a unit of work (a request).
//!
//! Everything here costs next to nothing while no subscriber wants the spans and no metrics
//! recorder is installed: the statement hook checks whether its span is enabled before it looks
//! at the SQL, and the `metrics` facade is a no-op without a recorder.

use std::cell::Cell;
use std::future::Future;
use std::time::Instant;

use sea_orm::metric::Info;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::sql_text::find_keyword;

tokio::task_local! {
    /// The statements sent so far by the unit of work running on this task, if one counts.
    static STATEMENTS: Cell<u64>;
}

/// Runs `work` and counts the SQL statements it sends (on the pool or in transactions),
/// however deep in the contexts they are issued: what the HTTP layer reports as "statements per
/// request". Work moved to other tasks is not counted.
pub async fn count_statements_of<F: Future>(work: F) -> (F::Output, u64) {
    let count = Cell::new(0);
    STATEMENTS
        .scope(count, async move {
            let output = work.await;
            let sent = STATEMENTS.with(Cell::get);
            (output, sent)
        })
        .await
}

/// Called by SeaORM after each statement, inside the statement's own span.
pub(crate) fn on_statement(info: &Info<'_>) {
    let _ = STATEMENTS.try_with(|count| count.set(count.get() + 1));
    let span = tracing::Span::current();
    // Only SeaORM's own statement span gets the table (it is current while the hook runs);
    // with no subscriber wanting it, the SQL is not even looked at.
    if !span
        .metadata()
        .is_some_and(|meta| meta.name().starts_with("sea_orm."))
    {
        return;
    }
    if let Some(table) = table_of(&info.statement.sql) {
        span.set_attribute("db.sql.table", table.to_owned());
    }
}

/// The table a generated statement works on: the name after `FROM`, `INTO` or `UPDATE`, without
/// quotes. Only the SQL text is read, never the bound values (SeaORM sends those separately).
pub(crate) fn table_of(sql: &str) -> Option<&str> {
    let sql = sql.trim_start();
    let keyword_end = |keyword: &str| find_keyword(sql, keyword).map(|at| at + keyword.len());
    let first = sql.split_whitespace().next()?;
    let rest_at = if first.eq_ignore_ascii_case("SELECT") || first.eq_ignore_ascii_case("DELETE") {
        keyword_end("FROM")?
    } else if first.eq_ignore_ascii_case("INSERT") {
        keyword_end("INTO")?
    } else if first.eq_ignore_ascii_case("UPDATE") {
        first.len()
    } else {
        return None;
    };
    let name = sql[rest_at..]
        .trim_start()
        .split(|c: char| c.is_whitespace() || c == '(' || c == ',' || c == ';')
        .next()?;
    let name = name.rsplit('.').next().unwrap_or(name);
    let name = name.trim_matches(|c| c == '"' || c == '`');
    (!name.is_empty()).then_some(name)
}

/// The span and clock of one transaction: recorded as `commit` or `rollback` when it ends,
/// including a transaction dropped uncommitted (SeaORM rolls those back).
#[derive(Debug)]
pub(crate) struct TxObserver {
    span: tracing::Span,
    started: Instant,
    ended: bool,
}

impl TxObserver {
    /// Opens the transaction's span, a child of whatever operation began it.
    pub(crate) fn begin(system: &'static str) -> Self {
        Self {
            span: tracing::info_span!(
                "db.transaction",
                otel.kind = "client",
                db.system = system,
                db.transaction.outcome = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            ),
            started: Instant::now(),
            ended: false,
        }
    }

    /// Records how the transaction ended; later calls (and the drop) do nothing.
    pub(crate) fn end(&mut self, outcome: &'static str) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.span.record("db.transaction.outcome", outcome);
        if outcome != "commit" {
            self.span.record("otel.status_code", "ERROR");
        }
        metrics::counter!("db_transactions_total", "outcome" => outcome).increment(1);
        metrics::histogram!("db_transaction_duration_seconds", "outcome" => outcome)
            .record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for TxObserver {
    fn drop(&mut self) {
        self.end("rollback");
    }
}

#[cfg(test)]
mod tests {
    use super::table_of;

    #[test]
    fn the_table_is_read_from_generated_statements() {
        let cases = [
            (
                r#"SELECT "orders"."id", "orders"."total" FROM "orders" WHERE "orders"."id" = $1"#,
                Some("orders"),
            ),
            (
                r#"INSERT INTO "users" ("id", "email") VALUES (?, ?)"#,
                Some("users"),
            ),
            (
                r#"UPDATE "orders" SET "status" = $1 WHERE "id" = $2"#,
                Some("orders"),
            ),
            (
                r#"DELETE FROM "sessions" WHERE "expires_at" < ?"#,
                Some("sessions"),
            ),
            ("select count(*) from public.events", Some("events")),
            ("SELECT 1", None),
            ("BEGIN IMMEDIATE", None),
        ];
        for (sql, table) in cases {
            assert_eq!(table_of(sql), table, "{sql}");
        }
    }
}
