//! `cargo xtask migrate ...`: the schema history, applied through the locked
//! [`migration::Runner`] so concurrent runs (two deploys, a deploy and a start-up) serialise.

use std::path::Path;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use migration::{MigrateError, Runner};
use persistence::Db;

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
    /// Exit 1 and list them if any migration is pending, 0 otherwise: a deploy guard. Reads
    /// only; creates nothing.
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
    let target = redact(url);
    // Opening a missing SQLite file would create it; a database that does not exist has every
    // migration pending, which an empty in-memory database reports just as well.
    let read_url = match persistence::sqlite_file_path(url) {
        Some(path) if !Path::new(path).exists() => {
            tracing::info!(database = %target, "database file does not exist yet");
            "sqlite::memory:"
        }
        _ => url,
    };
    let db = Db::connect(read_url)
        .await
        .with_context(|| format!("cannot connect to {target}"))?;
    let pending = migration::pending(&db).await;
    let closed = db.close().await;
    let pending =
        pending.with_context(|| format!("cannot read the migration state of {target}"))?;
    closed.with_context(|| format!("cannot close the connection to {target}"))?;
    if pending.is_empty() {
        println!("up to date: no pending migrations");
        return Ok(Outcome::Success);
    }
    println!("{} pending migration(s):", pending.len());
    for name in &pending {
        println!("pending  {name}");
    }
    println!("run `cargo xtask migrate` to apply them");
    Ok(Outcome::Failed)
}
