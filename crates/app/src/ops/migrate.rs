//! `migrate [up|down|status|check]`: the schema history, applied through the locked
//! [`migration::Runner`] so concurrent runs (two deploys, a deploy and a start-up) serialise,
//! and the deploy guard that finds drift.

use std::path::Path;

use anyhow::Context as _;
use clap::Subcommand;
use migration::drift::{self, Scope};
use migration::{MigrateError, Runner};
use persistence::database_url::redact;
use persistence::{Db, ScratchDatabase};
use tracing::instrument::WithSubscriber as _;
use tracing::subscriber::NoSubscriber;

use super::Outcome;

/// What `migrate` does (`migrate` alone = `migrate up`).
#[derive(Debug, Clone, Subcommand)]
pub enum MigrateVerb {
    /// Apply pending migrations (all of them, or the next N).
    Up {
        /// How many pending migrations to apply (default: all).
        #[arg(short = 'n', long = "steps", value_parser = clap::value_parser!(u32).range(1..))]
        steps: Option<u32>,
    },
    /// Revert the most recently applied migrations.
    Down {
        /// How many applied migrations to revert, newest first.
        #[arg(
            short = 'n',
            long = "steps",
            default_value_t = 1,
            value_parser = clap::value_parser!(u32).range(1..)
        )]
        steps: u32,
    },
    /// List every migration with its state (applied or pending).
    Status,
    /// Deploy guard: exit 1 when a migration is pending, when the schema the migrations build
    /// and the one the entities declare differ, or when the live schema has changes no
    /// migration explains (each difference named by table and column). Builds the schemas in
    /// scratch databases beside the target; creates nothing in the target itself.
    Check,
}

/// Runs `migrate <verb>` on the database at `url`.
pub async fn run(url: &str, verb: Option<MigrateVerb>) -> anyhow::Result<Outcome> {
    match verb.unwrap_or(MigrateVerb::Up { steps: None }) {
        MigrateVerb::Up { steps } => up(url, steps).await,
        MigrateVerb::Down { steps } => down(url, steps).await,
        MigrateVerb::Status => status(url).await,
        MigrateVerb::Check => check(url).await,
    }
}

/// Runs `work` while holding the migration lock, and releases the lock afterwards (also when
/// `work` failed; the lock would go with the connection anyway).
pub async fn locked<T>(
    url: &str,
    what: &str,
    work: impl AsyncFnOnce(&Runner) -> Result<T, MigrateError>,
) -> anyhow::Result<T> {
    let target = redact(url);
    tracing::info!(database = %target, "taking the migration lock");
    let runner = Runner::lock(url)
        .await
        .with_context(|| format!("cannot open {target} for migrations"))?;
    let result = work(&runner).await;
    let released = runner.release().await;
    let value = result.with_context(|| format!("{what} failed on {target}"))?;
    released.with_context(|| format!("cannot release the migration lock on {target}"))?;
    Ok(value)
}

async fn up(url: &str, steps: Option<u32>) -> anyhow::Result<Outcome> {
    let applied = locked(url, "migrate up", async |r| r.up(steps).await).await?;
    if applied.is_empty() {
        println!("nothing to apply");
    }
    for name in applied {
        println!("applied {name}");
    }
    Ok(Outcome::Success)
}

async fn down(url: &str, steps: u32) -> anyhow::Result<Outcome> {
    let reverted = locked(url, "migrate down", async |r| r.down(steps).await).await?;
    if reverted.is_empty() {
        println!("nothing to revert");
    }
    for name in reverted {
        println!("reverted {name}");
    }
    Ok(Outcome::Success)
}

async fn status(url: &str) -> anyhow::Result<Outcome> {
    let states = locked(url, "migrate status", async |r| r.status().await).await?;
    for state in &states {
        let label = if state.applied { "applied" } else { "pending" };
        println!("{label:<8} {}", state.name);
    }
    let pending = states.iter().filter(|s| !s.applied).count();
    println!("{} applied, {pending} pending", states.len() - pending);
    Ok(Outcome::Success)
}

async fn check(url: &str) -> anyhow::Result<Outcome> {
    let report = check_report(url).await?;
    for line in &report.lines {
        println!("{line}");
    }
    Ok(if report.passed {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}

/// What `migrate check` found: the lines it prints and whether everything agreed.
#[derive(Debug)]
pub struct CheckReport {
    /// The report, one line each, as printed.
    pub lines: Vec<String>,
    /// No migration pending, no drift between migrations and entities, none in the live schema.
    pub passed: bool,
}

/// The deploy guard behind `migrate check`, on the engine of `url`:
///
/// 1. migrations pending in `url`'s database;
/// 2. drift between the schema the migrations build and the one the contexts' entities declare
///    (each built in its own scratch database beside `url`, see
///    [`persistence::ScratchDatabase`]);
/// 3. drift between `url`'s live schema and the migrated scratch one: hand-made changes no
///    migration explains (skipped while migrations are pending or the database does not exist).
///
/// Nothing is created in `url`'s database; the scratch databases are removed afterwards.
pub async fn check_report(url: &str) -> anyhow::Result<CheckReport> {
    let target = redact(url);
    let backend = persistence::Backend::from_url(url).map_err(|e| anyhow::anyhow!(e.detail()))?;
    let engine = engine_name(backend);
    let mut lines = Vec::new();

    // Opening a missing SQLite file would create it; a database that does not exist has every
    // migration pending, which an empty in-memory database reports just as well.
    let missing = persistence::database_url::sqlite_file_path(url)
        .is_some_and(|path| !Path::new(path).exists());
    let read_url = if missing {
        tracing::info!(database = %target, "database file does not exist yet");
        "sqlite::memory:"
    } else {
        url
    };
    let db = Db::connect(read_url)
        .await
        .with_context(|| format!("cannot connect to {target}"))?;
    let live = read_live(&db, missing).await;
    let closed = db.close().await;
    let (pending, live) = live.with_context(|| format!("cannot read the schema of {target}"))?;
    closed.with_context(|| format!("cannot close the connection to {target}"))?;
    if pending.is_empty() {
        lines.push("up to date: no pending migrations".to_owned());
    } else {
        lines.push(format!("{} pending migration(s):", pending.len()));
        lines.extend(pending.iter().map(|name| format!("pending  {name}")));
        lines.push("run `app migrate` (or `cargo xtask migrate`) to apply them".to_owned());
    }

    // The migrator logs every migration it applies; on a scratch database that would read as
    // if the target were being migrated, so the scratch run logs nothing.
    let (migrated, declared) = tokio::try_join!(
        in_scratch(url, "the migrations' schema", async |scratch| {
            let runner = Runner::lock(scratch).await?;
            let applied = runner.up(None).await;
            runner.release().await?;
            applied?;
            snapshot_of(scratch).await
        })
        .with_subscriber(NoSubscriber::default()),
        in_scratch(url, "the entities' schema", async |scratch| {
            let db = Db::connect(scratch).await?;
            let statements = declared_schema(backend);
            let built = drift::execute_script(&db, &statements).await;
            let snapshot = match built {
                Ok(()) => drift::snapshot(&db).await,
                Err(err) => Err(err),
            };
            db.close().await?;
            snapshot
        }),
    )?;

    let entity_drift = drift::compare(&migrated, &declared, Scope::Declarable);
    if entity_drift.is_empty() {
        lines.push(format!(
            "migrations and entities agree on {engine} ({} tables)",
            migrated.tables.len()
        ));
    } else {
        lines.push(format!(
            "schema drift on {engine}: the migrations and the entities disagree \
             ({} difference(s)):",
            entity_drift.len()
        ));
        lines.extend(
            entity_drift
                .iter()
                .map(|d| format!("  {}", d.describe("migrations", "entities"))),
        );
        lines.push(
            "an entity changed without a migration (or the reverse): write the migration, \
             or make the entity say what the migrations do"
                .to_owned(),
        );
    }

    let live_drift = match &live {
        Some(live) => drift::compare(&migrated, live, Scope::Everything),
        None => Vec::new(),
    };
    match &live {
        None if missing => lines.push(format!(
            "live schema not compared: {target} does not exist yet"
        )),
        None => lines.push("live schema not compared while migrations are pending".to_owned()),
        Some(live) if live_drift.is_empty() => lines.push(format!(
            "live schema matches the migrations ({} tables)",
            live.tables.len()
        )),
        Some(_) => {
            lines.push(format!(
                "schema drift in {target}: changes no migration explains ({} difference(s)):",
                live_drift.len()
            ));
            lines.extend(
                live_drift
                    .iter()
                    .map(|d| format!("  {}", d.describe("migrations", "live"))),
            );
            lines.push(
                "a hand-made change: undo it, or write the migration that makes it".to_owned(),
            );
        }
    }

    let passed = pending.is_empty() && entity_drift.is_empty() && live_drift.is_empty();
    Ok(CheckReport { lines, passed })
}

/// The pending migrations and, when there are none and the database exists, its schema.
async fn read_live(
    db: &Db,
    missing: bool,
) -> Result<(Vec<String>, Option<drift::SchemaSnapshot>), MigrateError> {
    let pending = migration::pending(db).await?;
    if missing || !pending.is_empty() {
        return Ok((pending, None));
    }
    Ok((pending, Some(drift::snapshot(db).await?)))
}

/// The schema of the database at `url`.
async fn snapshot_of(url: &str) -> Result<drift::SchemaSnapshot, MigrateError> {
    let db = Db::connect(url).await?;
    let snapshot = drift::snapshot(&db).await;
    db.close().await?;
    snapshot
}

/// Runs `work` on a new scratch database beside `target`, and removes the scratch database
/// afterwards whatever happened.
async fn in_scratch<T>(
    target: &str,
    what: &str,
    work: impl AsyncFnOnce(&str) -> Result<T, MigrateError>,
) -> anyhow::Result<T> {
    let scratch = ScratchDatabase::create(target, "test")
        .await
        .with_context(|| format!("cannot create a scratch database for {what}"))?;
    let result = work(scratch.url()).await;
    let removed = scratch.remove().await;
    let value = result.with_context(|| format!("cannot build {what} in a scratch database"))?;
    removed.with_context(|| format!("cannot remove the scratch database of {what}"))?;
    Ok(value)
}

fn engine_name(backend: persistence::Backend) -> &'static str {
    match backend {
        persistence::Backend::Sqlite => "SQLite",
        persistence::Backend::Postgres => "PostgreSQL",
    }
}

/// The schema every entity declares: the outbox's (persistence owns it) and each context's, in
/// an order that runs as is on an empty database.
fn declared_schema(backend: persistence::Backend) -> Vec<String> {
    [
        persistence::outbox::declared_schema(backend),
        users::declared_schema(backend),
        orders::declared_schema(backend),
        identity::declared_schema(backend),
        catalog::declared_schema(backend),
        inventory::declared_schema(backend),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    //! `migrate check` as an operator sees it, on each engine: the report it prints and whether
    //! it fails; and the entities' side of the comparison on its own.
    #![allow(clippy::unwrap_used)]

    use super::*;
    use migration::drift::{compare, execute_script, snapshot};
    use persistence::Backend;
    use persistence::testing::TestDatabase;

    persistence::both_backends!(
        check_passes_when_migrations_entities_and_live_schema_agree,
        check_names_hand_made_changes_by_table_and_column,
        check_reports_pending_migrations_and_creates_nothing,
        entities_declare_the_schema_the_migrations_build,
    );

    /// `app migrate check --database-url URL`: its exit code (`main` turns
    /// [`Outcome::Failed`] into 1) and what it prints.
    async fn run_check(url: &str) -> (i32, String) {
        let report = check_report(url).await.unwrap();
        let code = if report.passed { 0 } else { 1 };
        let stdout: String = report
            .lines
            .iter()
            .map(|line| format!("{line}\n"))
            .collect();
        (code, stdout)
    }

    async fn migrate(url: &str) {
        let runner = Runner::lock(url).await.unwrap();
        runner.up(None).await.unwrap();
        runner.release().await.unwrap();
    }

    async fn check_passes_when_migrations_entities_and_live_schema_agree(backend: Backend) {
        let Some(test) = TestDatabase::create(backend).await else {
            return;
        };
        migrate(test.url()).await;
        let before = snapshot(test.db()).await.unwrap();
        let rows_before = test.dump().await;
        assert_eq!(
            rows_before["seaql_migrations"].len(),
            migration_count(test.url()).await,
            "{rows_before:?}"
        );

        let (code, stdout) = run_check(test.url()).await;
        assert_eq!(code, 0, "{stdout}");
        let engine = engine_name(backend);
        let tables = tables(backend);
        assert_eq!(
            stdout,
            format!(
                "up to date: no pending migrations\n\
                 migrations and entities agree on {engine} ({tables} tables)\n\
                 live schema matches the migrations ({tables} tables)\n"
            )
        );
        // The scratch databases were built elsewhere: the target is exactly as it was, its
        // schema and every row, the migrations table's included.
        assert_eq!(snapshot(test.db()).await.unwrap(), before);
        assert_eq!(test.dump().await, rows_before);
    }

    async fn check_names_hand_made_changes_by_table_and_column(backend: Backend) {
        let Some(test) = TestDatabase::create(backend).await else {
            return;
        };
        migrate(test.url()).await;
        let mut script = vec![
            "ALTER TABLE orders ADD COLUMN note text".to_owned(),
            "DROP INDEX sessions_expires_at_idx".to_owned(),
            "CREATE INDEX orders_currency_idx ON orders (currency)".to_owned(),
        ];
        if backend == Backend::Postgres {
            script.push("ALTER TABLE users ALTER COLUMN display_name DROP NOT NULL".to_owned());
            script.push(
                "ALTER TABLE order_items DROP CONSTRAINT order_items_order_id_fkey".to_owned(),
            );
        }
        execute_script(test.db(), &script).await.unwrap();

        let (code, stdout) = run_check(test.url()).await;
        assert_eq!(code, 1, "{stdout}");
        let mut wanted = vec![
            "  orders.currency: index: migrations absent, live (currency)",
            "  orders.note: column: migrations absent, live text NULL",
            "  sessions.expires_at: index: migrations (expires_at), live absent",
        ];
        if backend == Backend::Postgres {
            wanted.insert(
                0,
                "  order_items.order_id: foreign key: migrations references orders(id) \
                 ON DELETE CASCADE ON UPDATE NO ACTION, live absent",
            );
            wanted.push("  users.display_name: nullability: migrations NOT NULL, live NULL");
        }
        let reported: Vec<&str> = stdout.lines().filter(|l| l.starts_with("  ")).collect();
        assert_eq!(reported, wanted, "{stdout}");
        assert!(stdout.contains(&format!(
            "schema drift in {}: changes no migration explains ({} difference(s)):",
            test.url(),
            wanted.len()
        )));
        // The entities still agree with the migrations: only the live database drifted.
        assert!(stdout.contains("migrations and entities agree"), "{stdout}");
    }

    async fn check_reports_pending_migrations_and_creates_nothing(backend: Backend) {
        let Some(test) = TestDatabase::create(backend).await else {
            return;
        };
        assert_eq!(test.dump().await, Default::default());
        let (code, stdout) = run_check(test.url()).await;
        assert_eq!(code, 1, "{stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        let pending = format!(
            "{} pending migration(s):",
            migration_count(test.url()).await
        );
        assert_eq!(lines[0], pending);
        assert!(lines.contains(&"pending  m20261125_000001_users_create_users"));
        let agree = format!(
            "migrations and entities agree on {} ({} tables)",
            engine_name(backend),
            tables(backend)
        );
        assert!(lines.contains(&agree.as_str()), "{stdout}");
        assert_eq!(
            lines.last(),
            Some(&"live schema not compared while migrations are pending")
        );
        // Not a table, not even the migrations' own bookkeeping table, was created.
        let after = test.dump().await;
        assert!(after.is_empty(), "check created {:?}", after.keys());

        // A SQLite file that does not exist is not created either.
        if backend == Backend::Sqlite {
            let dir = tempfile_dir();
            let path = dir.join("missing.db");
            let (code, stdout) = run_check(&format!("sqlite://{}", path.display())).await;
            assert_eq!(code, 1, "{stdout}");
            assert!(stdout.ends_with("does not exist yet\n"), "{stdout}");
            assert!(!path.exists());
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    /// A fresh empty directory under the system's temp dir.
    fn tempfile_dir() -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("xtask-check-{}", persistence::new_id().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// How many migrations the migration crate holds.
    async fn migration_count(url: &str) -> usize {
        let runner = Runner::lock(url).await.unwrap();
        let count = runner.status().await.unwrap().len();
        runner.release().await.unwrap();
        count
    }

    /// The schema's tables: SQLite also keeps the outbox's position counter, which PostgreSQL
    /// replaces with a sequence.
    fn tables(backend: Backend) -> usize {
        match backend {
            Backend::Sqlite => 14,
            Backend::Postgres => 13,
        }
    }

    fn declared(backend: Backend) -> Vec<String> {
        super::declared_schema(backend)
    }

    async fn entities_declare_the_schema_the_migrations_build(backend: Backend) {
        let (Some(migrated), Some(entities)) = (
            TestDatabase::create(backend).await,
            TestDatabase::create(backend).await,
        ) else {
            return;
        };
        migrate(migrated.url()).await;
        let statements = declared(backend);
        // UUIDs are blobs on SQLite, as the migrations declare them (see docs/architecture.md).
        assert!(statements.iter().all(|s| !s.contains("uuid_text")));
        execute_script(entities.db(), &statements).await.unwrap();

        let expected = snapshot(migrated.db()).await.unwrap();
        let declared = snapshot(entities.db()).await.unwrap();
        assert_eq!(declared.tables.len(), tables(backend));
        assert_eq!(compare(&expected, &declared, Scope::Declarable), []);
        // What entities cannot declare (CHECKs, the lower(email) and composite indexes) is out of
        // this comparison's scope, not accidentally equal.
        assert!(!compare(&expected, &declared, Scope::Everything).is_empty());

        // As if an entity gained a field and lost an `indexed` without a migration.
        execute_script(
            entities.db(),
            &[
                "ALTER TABLE orders ADD COLUMN note text".to_owned(),
                "DROP INDEX \"idx-sessions-expires_at\"".to_owned(),
            ],
        )
        .await
        .unwrap();
        let declared = snapshot(entities.db()).await.unwrap();
        let lines: Vec<String> = compare(&expected, &declared, Scope::Declarable)
            .iter()
            .map(|d| d.describe("migrations", "entities"))
            .collect();
        assert_eq!(
            lines,
            [
                "orders.note: column: migrations absent, entities text NULL",
                "sessions.expires_at: index: migrations (expires_at), entities absent",
            ]
        );
    }
}
