//! `backup --to FILE [--force]`: a consistent copy of the embedded SQLite database, taken while
//! the service keeps serving and writing. The copy appears atomically: it is written under a
//! temporary name beside FILE, flushed to disk, then given FILE's name, so FILE is never half a
//! copy. An existing FILE is kept unless `--force`. PostgreSQL is refused: `pg_dump` and
//! `pg_basebackup` are its tools.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use persistence::database_url::redact;
use persistence::{Backend, Db};

use super::{Outcome, connect};

/// `backup ...`
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where to write the copy.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// Replace FILE if it already exists.
    #[arg(long)]
    pub force: bool,
}

pub(super) async fn run(url: &str, args: &BackupArgs) -> anyhow::Result<Outcome> {
    let backend = Backend::from_url(url).map_err(|e| anyhow::anyhow!(e.detail()))?;
    if backend == Backend::Postgres {
        eprintln!(
            "backup copies the embedded SQLite database; for PostgreSQL use pg_dump (a logical \
             copy) or pg_basebackup (a physical one)"
        );
        return Ok(Outcome::Failed);
    }
    // Decided before connecting, which would create a missing database file.
    if let Some(path) = persistence::database_url::sqlite_file_path(url)
        && !Path::new(path).exists()
    {
        eprintln!("there is no database at {path}");
        return Ok(Outcome::Failed);
    }
    if args.to.exists() && !args.force {
        eprintln!(
            "{} already exists; pass --force to replace it",
            args.to.display()
        );
        return Ok(Outcome::Failed);
    }
    let db = connect(url).await?;
    let copied = backup(&db, &args.to, args.force).await;
    db.close().await.ok();
    let bytes = copied?;
    println!(
        "copied {} to {} ({bytes} bytes)",
        redact(url),
        args.to.display()
    );
    Ok(Outcome::Success)
}

/// Copies the database behind `db` to `to`, atomically (see the module's documentation), and
/// returns the copy's size. Without `replace`, an existing `to` is an error and stays as it was.
pub async fn backup(db: &Db, to: &Path, replace: bool) -> anyhow::Result<u64> {
    let dir = match to.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = to
        .file_name()
        .with_context(|| format!("{} names no file", to.display()))?;
    let temporary = dir.join(format!(
        ".{}.{}.partial",
        name.to_string_lossy(),
        persistence::new_id().simple()
    ));
    let result = async {
        db.copy_into(&temporary)
            .await
            .map_err(|e| anyhow::anyhow!("cannot copy the database: {}", e.detail()))?;
        let size = flush(&temporary)?;
        if replace {
            std::fs::rename(&temporary, to)
        } else {
            // A link fails rather than replace a file that appeared meanwhile.
            std::fs::hard_link(&temporary, to).and_then(|()| std::fs::remove_file(&temporary))
        }
        .with_context(|| format!("cannot write {}", to.display()))?;
        // The new name itself reaches the disk with the directory.
        std::fs::File::open(&dir)
            .and_then(|dir| dir.sync_all())
            .with_context(|| format!("cannot flush {}", dir.display()))?;
        anyhow::Ok(size)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Flushes the file at `path` to disk; returns its size.
fn flush(path: &Path) -> anyhow::Result<u64> {
    let file = std::fs::File::open(path)
        .and_then(|file| file.sync_all().map(|()| file))
        .with_context(|| format!("cannot flush {}", path.display()))?;
    Ok(file.metadata()?.len())
}
