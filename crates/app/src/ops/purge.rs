//! `purge-sessions` and `purge-idempotency-keys`: what the service's purge jobs do, on demand
//! (cron, or before a migration that rewrites those tables).

use super::{Outcome, connect};

/// Deletes expired sessions and stale sign-in failures.
pub async fn sessions(url: &str) -> anyhow::Result<Outcome> {
    let db = connect(url).await?;
    let purged = identity::purge_expired(&db, persistence::now_utc()).await;
    db.close().await.ok();
    let purged = purged?;
    println!(
        "purged {} expired session(s) and {} old sign-in failure(s)",
        purged.sessions, purged.failures
    );
    Ok(Outcome::Success)
}

/// Deletes idempotency keys past their time to live.
pub async fn idempotency_keys(url: &str) -> anyhow::Result<Outcome> {
    let db = connect(url).await?;
    let purged = orders::purge_expired_idempotency_keys(&db, persistence::now_utc()).await;
    db.close().await.ok();
    println!("purged {} expired idempotency key(s)", purged?);
    Ok(Outcome::Success)
}
