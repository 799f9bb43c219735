//! `cargo xtask migrate ...`: the schema history, applied through the locked
//! [`migration::Runner`] so concurrent runs (two deploys, a deploy and a start-up) serialise.

use std::path::Path;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use migration::drift::{self, Scope, ScratchDatabase};
use migration::{MigrateError, Runner};
use persistence::Db;
use tracing::instrument::WithSubscriber as _;
use tracing::subscriber::NoSubscriber;

use crate::generate::{self, BoundedContext};
use crate::{Outcome, redact, workspace_root};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub command: Option<MigrateCommand>,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
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
    /// Drop every table and reapply all migrations. Without --yes, only on throw-away
    /// databases (SQLite files, PostgreSQL databases named test*).
    Fresh {
        /// Confirm dropping everything in a database that does not look throw-away.
        #[arg(long)]
        yes: bool,
    },
    /// Deploy guard: exit 1 when a migration is pending, when the schema the migrations build
    /// and the one the entities declare differ, or when the live schema has changes no
    /// migration explains (each difference named by table and column). Builds the schemas in
    /// scratch databases beside the target; creates nothing in the target itself.
    Check,
    /// Create `migration/src/m<YYYYMMDD_HHMMSS>_<context>_<name>.rs` from a template and
    /// register it in `migration/src/lib.rs`.
    Generate {
        /// What the migration does, in snake_case (`[a-z0-9_]+`), e.g. `add_orders_note`.
        name: String,
        /// The bounded context that owns the change.
        #[arg(long, value_enum)]
        context: BoundedContext,
    },
}

pub async fn run(url: &str, args: MigrateArgs) -> anyhow::Result<Outcome> {
    match args.command.unwrap_or(MigrateCommand::Up { steps: None }) {
        MigrateCommand::Up { steps } => up(url, steps).await,
        MigrateCommand::Down { steps } => down(url, steps).await,
        MigrateCommand::Status => status(url).await,
        MigrateCommand::Fresh { yes } => fresh(url, yes).await,
        MigrateCommand::Check => check(url).await,
        MigrateCommand::Generate { name, context } => {
            let path = generate::generate(
                &workspace_root().join("migration").join("src"),
                context,
                &name,
                chrono::Utc::now(),
            )?;
            println!("created {}", path.display());
            println!("registered it in migration/src/lib.rs");
            println!("write its up and down, then apply it with `cargo xtask migrate`");
            Ok(Outcome::Success)
        }
    }
}

/// Runs `work` while holding the migration lock, and releases the lock afterwards (also when
/// `work` failed; the lock would go with the connection anyway).
async fn locked<T>(
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

async fn fresh(url: &str, yes: bool) -> anyhow::Result<Outcome> {
    // Decided before connecting: a refused run must not touch the database at all.
    if !yes && !migration::fresh_is_safe(url) {
        eprintln!(
            "refusing to drop every table in {}: it does not look like a throw-away database \
             (a SQLite file, or a PostgreSQL database whose name starts with `test`).\n\
             If you really mean it, run again with --yes.",
            redact(url)
        );
        return Ok(Outcome::Failed);
    }
    let applied = locked(url, "migrate fresh", async |r| r.fresh().await).await?;
    println!("dropped every table");
    for name in applied {
        println!("applied {name}");
    }
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
///    [`migration::drift::ScratchDatabase`]);
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
    let missing = persistence::sqlite_file_path(url).is_some_and(|path| !Path::new(path).exists());
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
        lines.push("run `cargo xtask migrate` to apply them".to_owned());
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
            let statements: Vec<String> = BoundedContext::ALL
                .iter()
                .flat_map(|context| context.declared_schema(backend))
                .collect();
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
    let scratch = ScratchDatabase::create(target)
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
