//! The lock waits a placement workload shows on PostgreSQL: while its measured window is open,
//! a separate connection samples `pg_stat_activity` every [`EVERY`] and counts the client
//! backends of the database that are waiting for a heavyweight lock (`wait_event_type =
//! 'Lock'`: `transactionid` when a row lock's holder must commit first, `tuple` while queued
//! behind another waiter for the same row) next to those running a statement at all. The mean
//! of those counts is how many connections of the pool, on average, were doing nothing but
//! waiting for another transaction's stock rows. Deadlocks come from `pg_stat_database`, before
//! and after. SQLite has one writer at a time and no such view: nothing is sampled there.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::Connection as _;

/// How often `pg_stat_activity` is read.
pub const EVERY: Duration = Duration::from_millis(20);

/// What the samples of one window showed.
#[derive(Debug, Clone, Default)]
pub struct LockWaits {
    pub samples: u64,
    /// Sum over the samples of the backends waiting for a lock.
    waiting: u64,
    /// The most backends waiting at once.
    pub max_waiting: u64,
    /// Sum over the samples of the backends running a statement (waiting or not).
    active: u64,
    /// Samples of a waiting backend, per wait event (`transactionid`, `tuple`, ...).
    pub by_event: BTreeMap<String, u64>,
    /// Deadlocks PostgreSQL detected in the window.
    pub deadlocks: i64,
}

impl LockWaits {
    /// Mean backends waiting for a lock.
    pub fn mean_waiting(&self) -> f64 {
        self.waiting as f64 / self.samples.max(1) as f64
    }

    /// Mean backends running a statement.
    pub fn mean_active(&self) -> f64 {
        self.active as f64 / self.samples.max(1) as f64
    }

    /// `transactionid 91%, tuple 9%`.
    pub fn events(&self) -> String {
        let total: u64 = self.by_event.values().sum();
        if total == 0 {
            return "none".to_owned();
        }
        self.by_event
            .iter()
            .map(|(event, n)| format!("{event} {:.0}%", *n as f64 * 100.0 / total as f64))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `0.40 waiting of 3.10 active (max 7 at once; transactionid 91%, tuple 9%); 0
    /// deadlocks; 150 samples`.
    pub fn shown(&self) -> String {
        format!(
            "{:.2} waiting of {:.2} active (max {} at once; {}); {} deadlocks; {} samples",
            self.mean_waiting(),
            self.mean_active(),
            self.max_waiting,
            self.events(),
            self.deadlocks,
            self.samples,
        )
    }
}

/// A sampler running beside a workload.
pub struct Sampler(Option<tokio::task::JoinHandle<anyhow::Result<LockWaits>>>);

impl Sampler {
    /// Starts sampling the database at `url` once `warmup` has passed, for `measure`: the
    /// window [`crate::load::drive`] measures when started at the same moment. Does nothing
    /// on SQLite.
    pub fn start(url: &str, warmup: Duration, measure: Duration) -> Self {
        if url.starts_with("sqlite:") {
            return Self(None);
        }
        let url = url.to_owned();
        let start = Instant::now() + warmup;
        Self(Some(tokio::spawn(async move {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .context("the lock sampler cannot connect")?;
            tokio::time::sleep_until(start.into()).await;
            let deadlocks = || {
                sqlx::query_scalar::<_, i64>(
                    "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
                )
            };
            let deadlocks_before = deadlocks().fetch_one(&mut conn).await?;
            let mut waits = LockWaits::default();
            let end = start + measure;
            let mut tick = tokio::time::interval(EVERY);
            while Instant::now() < end {
                tick.tick().await;
                let rows: Vec<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
                    "SELECT wait_event_type, wait_event, state FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() \
                     AND backend_type = 'client backend'",
                )
                .fetch_all(&mut conn)
                .await?;
                let mut waiting = 0;
                for (kind, event, state) in &rows {
                    if state.as_deref() == Some("active") {
                        waits.active += 1;
                    }
                    if kind.as_deref() == Some("Lock") {
                        waiting += 1;
                        let event = event.clone().unwrap_or_else(|| "?".to_owned());
                        *waits.by_event.entry(event).or_default() += 1;
                    }
                }
                waits.samples += 1;
                waits.waiting += waiting;
                waits.max_waiting = waits.max_waiting.max(waiting);
            }
            waits.deadlocks = deadlocks().fetch_one(&mut conn).await? - deadlocks_before;
            conn.close().await?;
            Ok(waits)
        })))
    }

    /// A sampler that samples nothing (a workload whose lock waits are not reported).
    pub fn none() -> Self {
        Self(None)
    }

    /// What it saw; `None` on SQLite or from [`Sampler::none`].
    pub async fn finish(self) -> anyhow::Result<Option<LockWaits>> {
        match self.0 {
            None => Ok(None),
            Some(task) => Ok(Some(task.await.context("the lock sampler panicked")??)),
        }
    }
}
