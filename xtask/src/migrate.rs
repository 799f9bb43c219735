//! `cargo xtask migrate ...`: the operator's verbs (`up`, `down`, `status`, `check`, the same
//! code as the release binary's `app migrate`), plus what only a developer's tree can do:
//! `fresh` (drop everything and reapply) and `generate` (a new migration file).

use app::ops::Outcome;
use app::ops::migrate::{MigrateVerb, locked};
use clap::{Args, Subcommand};

use crate::generate::{self, BoundedContext};
use crate::workspace_root;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub command: Option<MigrateCommand>,
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    #[command(flatten)]
    Operator(MigrateVerb),
    /// Drop every table and reapply all migrations. Without --yes, only on throw-away
    /// databases (SQLite files, PostgreSQL databases named test*).
    Fresh {
        /// Confirm dropping everything in a database that does not look throw-away.
        #[arg(long)]
        yes: bool,
    },
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
    match args.command {
        None => app::ops::migrate::run(url, None).await,
        Some(MigrateCommand::Operator(verb)) => app::ops::migrate::run(url, Some(verb)).await,
        Some(MigrateCommand::Fresh { yes }) => fresh(url, yes).await,
        Some(MigrateCommand::Generate { name, context }) => {
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

async fn fresh(url: &str, yes: bool) -> anyhow::Result<Outcome> {
    // Decided before connecting: a refused run must not touch the database at all.
    if !yes && !migration::fresh_is_safe(url) {
        eprintln!(
            "refusing to drop every table in {}: it does not look like a throw-away database \
             (a SQLite file, or a PostgreSQL database whose name starts with `test`).\n\
             If you really mean it, run again with --yes.",
            persistence::database_url::redact(url)
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
