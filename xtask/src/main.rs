//! Project automation, run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).
//!
//! Exit codes: `0` success; `1` the command ran and said "no" (migrations pending, a boundary
//! crossed, `migrate fresh` refused); `2` the command could not run (bad arguments, database
//! unreachable, I/O error).
//!
//! Adding a command: add a variant to [`Command`] (its doc comment is its `--help` line), put the
//! work in its own module, and dispatch it in [`run`].

mod api;
mod bench;
mod boundaries;
mod generate;
mod migrate;
mod openapi;
mod workspace;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::LazyLock;

use app::ops::{Outcome, Verb};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// The workspace root: this crate sits one level below it.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The service's embedded SQLite file, `data/app.db` under the workspace root: the same file
/// `cargo run` at the root opens by default, whatever directory `cargo xtask` runs from.
static DEFAULT_DATABASE_URL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "sqlite://{}",
        workspace_root().join("data").join("app.db").display()
    )
});

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Project automation: migrations, maintenance and checks.",
    after_help = "Exit codes: 0 success; 1 the check failed or the command refused; 2 error.\n\
                  Logging: RUST_LOG (default `info,sqlx=warn`), on stderr."
)]
struct Cli {
    /// Database to work on: `sqlite://path/to/file.db` or `postgres://user@host/db`.
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        hide_env_values = true,
        default_value = DEFAULT_DATABASE_URL.as_str()
    )]
    database_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply, revert, inspect or create schema migrations (`migrate` alone = `migrate up`).
    Migrate(migrate::MigrateArgs),
    /// Fail when a context exposes its entity module, or when deny.toml stops covering a
    /// context (the dependency rules themselves are `cargo deny check bans`).
    CheckBoundaries,
    /// Compare every library's public API with `api/<crate>.txt` (`--bless` writes them); fail
    /// on a difference or on an item that names the ORM or an entity module.
    Api(api::ApiArgs),
    /// The release binary's operator verbs, the same code (`app --help` lists them):
    /// `users`, `purge-sessions`, `purge-idempotency-keys`, `events`, `backup`.
    #[command(flatten)]
    Operator(OperatorVerb),
    /// Benchmark the release service against the same SQL sent straight to the database
    /// (PostgreSQL, or `--sqlite`); writes `target/bench/<engine>.md`.
    Bench(bench::BenchArgs),
    /// Migrate the database and fill it through the contexts' public APIs (release build).
    Seed(bench::SeedArgs),
    /// Run a mixed load (sign-ups, placements, replays, transitions, deactivations) on the
    /// release service for `--duration`, then check the invariants; fail on any 5xx.
    Soak(bench::SoakArgs),
    /// Rehearse an operation on release instances: `drill rolling-restart`.
    Drill(bench::DrillArgs),
    /// Write the service's OpenAPI 3.1 document to `openapi.json` (`--check`: exit 1 if stale).
    Openapi(openapi::OpenApiArgs),
    // New commands go here, one module each.
}

/// The operator verbs `cargo xtask` shares with the binary (its `migrate` has developer
/// extras, see [`migrate`]).
#[derive(Debug, Subcommand)]
enum OperatorVerb {
    /// Roles: `users grant-admin EMAIL`, `users revoke-admin EMAIL`.
    Users(app::ops::UsersArgs),
    /// Delete expired sessions and sign-in failures older than the throttling window (the
    /// service also does this on a schedule).
    PurgeSessions,
    /// Delete idempotency keys whose time to live has passed (the service also does this on a
    /// schedule).
    PurgeIdempotencyKeys,
    /// Integration events: `events tail [--from-start]` prints them as they commit.
    Events(app::ops::EventsArgs),
    /// Copy the embedded SQLite database to a file while the service keeps serving.
    Backup(app::ops::BackupArgs),
}

impl From<OperatorVerb> for Verb {
    fn from(verb: OperatorVerb) -> Self {
        match verb {
            OperatorVerb::Users(args) => Self::Users(args),
            OperatorVerb::PurgeSessions => Self::PurgeSessions,
            OperatorVerb::PurgeIdempotencyKeys => Self::PurgeIdempotencyKeys,
            OperatorVerb::Events(args) => Self::Events(args),
            OperatorVerb::Backup(args) => Self::Backup(args),
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Migrate(args) => migrate::run(&cli.database_url, args).await,
        Command::CheckBoundaries => boundaries::run(&workspace_root()),
        Command::Api(args) => api::run(&workspace_root(), &args),
        Command::Operator(verb) => app::ops::run(&cli.database_url, verb.into()).await,
        Command::Bench(args) => bench::bench(&workspace_root(), &args),
        Command::Seed(args) => bench::seed(&workspace_root(), &cli.database_url, &args),
        Command::Soak(args) => bench::soak(&workspace_root(), &args),
        Command::Drill(args) => bench::drill(&workspace_root(), &args),
        Command::Openapi(args) => openapi::run(&workspace_root(), &args),
    }
}

fn init_logging() {
    // sqlx reports PostgreSQL notices ("relation already exists, skipping") at info.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    Outcome::exit_code(run(cli).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn default_database_is_the_workspace_sqlite_file() {
        let root = workspace_root();
        assert!(root.join("Cargo.toml").is_file());
        assert!(root.join("xtask").is_dir());
        assert_eq!(
            DEFAULT_DATABASE_URL.as_str(),
            format!("sqlite://{}/data/app.db", root.display())
        );
        assert_eq!(
            persistence::database_url::sqlite_file_path(&DEFAULT_DATABASE_URL),
            Some(format!("{}/data/app.db", root.display()).as_str())
        );
    }

    #[test]
    fn users_verbs_take_an_email() {
        assert!(Cli::try_parse_from(["xtask", "users", "grant-admin", "a@example.com"]).is_ok());
        assert!(Cli::try_parse_from(["xtask", "users", "revoke-admin", "a@example.com"]).is_ok());
        assert!(Cli::try_parse_from(["xtask", "users", "grant-admin"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "users", "promote", "a@example.com"]).is_err());
    }

    #[test]
    fn api_checks_by_default_and_blesses_on_request() {
        for (argv, bless) in [
            (&["xtask", "api"][..], false),
            (&["xtask", "api", "--bless"][..], true),
        ] {
            match Cli::try_parse_from(argv).expect("parses").command {
                Command::Api(args) => {
                    assert_eq!(args.bless, bless);
                    assert_eq!(args.toolchain, "nightly");
                }
                _ => panic!("wrong command"),
            }
        }
        assert!(Cli::try_parse_from(["xtask", "api", "--toolchain", "nightly-2026-05-19"]).is_ok());
        assert!(Cli::try_parse_from(["xtask", "api", "users"]).is_err());
    }

    #[test]
    fn events_tail_takes_from_start() {
        assert!(Cli::try_parse_from(["xtask", "events", "tail"]).is_ok());
        assert!(Cli::try_parse_from(["xtask", "events", "tail", "--from-start"]).is_ok());
        assert!(Cli::try_parse_from(["xtask", "events"]).is_err());
    }

    #[test]
    fn soak_takes_a_duration_and_an_engine() {
        assert!(Cli::try_parse_from(["xtask", "soak"]).is_ok());
        assert!(Cli::try_parse_from(["xtask", "soak", "--duration", "30s", "--sqlite"]).is_ok());
        assert!(Cli::try_parse_from(["xtask", "soak", "--engine", "x"]).is_err());
    }

    #[test]
    fn migrate_defaults_to_up() {
        let cli = Cli::try_parse_from(["xtask", "migrate"]).expect("parses");
        match cli.command {
            Command::Migrate(args) => assert!(args.command.is_none()),
            _ => panic!("wrong command"),
        }
    }

    #[test]
    fn step_counts_must_be_positive() {
        assert!(Cli::try_parse_from(["xtask", "migrate", "down", "-n", "0"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "migrate", "up", "-n", "0"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "migrate", "down", "-n", "3"]).is_ok());
    }

    #[test]
    fn generate_requires_a_known_context() {
        assert!(Cli::try_parse_from(["xtask", "migrate", "generate", "add_x"]).is_err());
        assert!(
            Cli::try_parse_from([
                "xtask",
                "migrate",
                "generate",
                "add_x",
                "--context",
                "billing"
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from([
                "xtask",
                "migrate",
                "generate",
                "add_x",
                "--context",
                "orders"
            ])
            .is_ok()
        );
    }
}
