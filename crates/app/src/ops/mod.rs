//! The operator verbs, run by the release binary (`app migrate status`, `app backup --to …`)
//! and by `cargo xtask` alike: a production host has the binary, not the source tree and a
//! toolchain. Each works through the contexts' public APIs, never their tables.
//!
//! Exit codes: `0` done; `1` the verb refused or its check failed (an unknown e-mail, drift, a
//! backup file already there, a backup asked of PostgreSQL); `2` it could not run (a bad
//! setting, the database unreachable, an I/O error).

mod accounts;
mod backup;
mod events;
pub mod migrate;
mod purge;

use std::process::ExitCode;

use clap::Subcommand;

pub use accounts::{RoleChange, UsersArgs, set_role};
pub use backup::{BackupArgs, backup};
pub use events::EventsArgs;

/// An operator verb: a subcommand of the binary (and of `cargo xtask`).
#[derive(Debug, Clone, Subcommand)]
pub enum Verb {
    /// Apply, revert, list or check schema migrations (`migrate` alone = `migrate up`).
    Migrate {
        #[command(subcommand)]
        verb: Option<migrate::MigrateVerb>,
    },
    /// Roles: `users grant-admin EMAIL`, `users revoke-admin EMAIL`.
    Users(UsersArgs),
    /// Delete expired sessions and sign-in failures older than the throttling window (the
    /// service also does this on a schedule).
    PurgeSessions,
    /// Delete idempotency keys whose time to live has passed (the service also does this on a
    /// schedule).
    PurgeIdempotencyKeys,
    /// Integration events: `events tail [--from-start]` prints them as they commit.
    Events(EventsArgs),
    /// Copy the embedded SQLite database to a file while the service keeps serving.
    Backup(BackupArgs),
}

/// How a verb that ran to completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, or the check passed.
    Success,
    /// The check failed or the verb refused; it has already said why.
    Failed,
}

impl Outcome {
    /// The process exit code of a verb's result: 0, 1, or 2 for an error (after printing it).
    pub fn exit_code(result: anyhow::Result<Self>) -> ExitCode {
        match result {
            Ok(Self::Success) => ExitCode::SUCCESS,
            Ok(Self::Failed) => ExitCode::from(1),
            Err(err) => {
                eprintln!("error: {err:#}");
                ExitCode::from(2)
            }
        }
    }
}

/// Runs `verb` on the database at `database_url`.
pub async fn run(database_url: &str, verb: Verb) -> anyhow::Result<Outcome> {
    match verb {
        Verb::Migrate { verb } => migrate::run(database_url, verb).await,
        Verb::Users(args) => accounts::run(database_url, args).await,
        Verb::PurgeSessions => purge::sessions(database_url).await,
        Verb::PurgeIdempotencyKeys => purge::idempotency_keys(database_url).await,
        Verb::Events(args) => events::run(database_url, args).await,
        Verb::Backup(args) => backup::run(database_url, &args).await,
    }
}

/// Opens the database named on the command line; the error never shows a password.
async fn connect(url: &str) -> anyhow::Result<persistence::Db> {
    persistence::Db::connect(url).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot open {}: {}",
            persistence::database_url::redact(url),
            e.detail()
        )
    })
}
