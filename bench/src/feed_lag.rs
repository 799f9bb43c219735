//! How far the event feed trails the commits under a write load: while a measured window is
//! open, a reader polls `persistence::outbox::read` from the feed's end every [`EVERY`], as a
//! consumer of `GET /v1/events` would, and records for each new event how long after its
//! change it first saw it (the change's time is stamped just before its commit). Optionally a
//! transaction that holds a transaction id stays open for a while in the middle of the window,
//! to show what an open transaction does to the feed (it holds the feed back, never a writer).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use persistence::outbox::{self, FeedPoint};
use sqlx::Connection as _;

/// How often the feed is polled.
pub const EVERY: Duration = Duration::from_millis(5);

/// The lags seen in one window.
#[derive(Debug, Clone, Default)]
pub struct Lags {
    /// Sorted, microseconds.
    lags_us: Vec<u64>,
    /// How long the transaction held open in the window stayed open, if one did.
    pub held_open: Option<Duration>,
}

impl Lags {
    /// Events seen.
    pub fn events(&self) -> usize {
        self.lags_us.len()
    }

    /// The lag at quantile `q`, milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.lags_us.is_empty() {
            return 0.0;
        }
        let rank = ((self.lags_us.len() - 1) as f64 * q).round() as usize;
        self.lags_us[rank] as f64 / 1000.0
    }

    /// `p50 3.1 ms, p99 12.0 ms, max 40.2 ms over 31,000 events`.
    pub fn shown(&self) -> String {
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} events",
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.quantile_ms(1.0),
            self.events()
        )
    }
}

/// A reader of the feed running beside a workload.
pub struct Sampler(tokio::task::JoinHandle<anyhow::Result<Lags>>);

impl Sampler {
    /// Starts reading the feed of the database at `url`, counting the events first seen in the
    /// window that opens after `warmup` and lasts `measure`: the window [`crate::load::drive`]
    /// measures when started at the same moment. With `hold_open`, a transaction with a
    /// transaction id stays open that long from the middle of the window (PostgreSQL only).
    pub fn start(
        url: &str,
        (warmup, measure): (Duration, Duration),
        hold_open: Option<Duration>,
    ) -> Self {
        let url = url.to_owned();
        Self(tokio::spawn(async move {
            let db = persistence::Db::connect(&url)
                .await
                .context("the feed reader cannot connect")?;
            let limit = persistence::Limit::new(i64::from(persistence::Limit::MAX))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut after = FeedPoint::START;
            // From the end: only what commits from now on.
            loop {
                let page = outbox::read(&db, after, limit).await?;
                match page.items.last() {
                    Some(last) => after = last.point,
                    None => break,
                }
            }
            let start = Instant::now() + warmup;
            let end = start + measure;
            let holder = match hold_open {
                Some(held) if !url.starts_with("sqlite:") => {
                    Some(tokio::spawn(hold(url.clone(), start + measure / 2, held)))
                }
                _ => None,
            };
            let mut lags = Lags::default();
            let mut tick = tokio::time::interval(EVERY);
            while Instant::now() < end {
                tick.tick().await;
                loop {
                    let page = outbox::read(&db, after, limit).await?;
                    let seen = Instant::now();
                    let now = chrono::Utc::now();
                    for event in &page.items {
                        if seen >= start {
                            let lag = (now - event.time).num_microseconds().unwrap_or(0);
                            lags.lags_us.push(lag.max(0).unsigned_abs());
                        }
                    }
                    match page.items.last() {
                        Some(last) if page.next.is_some() => after = last.point,
                        Some(last) => {
                            after = last.point;
                            break;
                        }
                        None => break,
                    }
                }
            }
            if let Some(holder) = holder {
                lags.held_open = Some(holder.await.context("the open transaction panicked")??);
            }
            db.close().await?;
            lags.lags_us.sort_unstable();
            Ok(lags)
        }))
    }

    /// What it saw.
    pub async fn finish(self) -> anyhow::Result<Lags> {
        self.0.await.context("the feed reader panicked")?
    }
}

/// At `from`, opens a transaction that takes a transaction id and keeps it open for `held`.
async fn hold(url: String, from: Instant, held: Duration) -> anyhow::Result<Duration> {
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .context("the open transaction cannot connect")?;
    tokio::time::sleep_until(from.into()).await;
    let opened = Instant::now();
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx)
        .await?;
    tokio::time::sleep(held).await;
    tx.commit().await?;
    let open = opened.elapsed();
    conn.close().await?;
    Ok(open)
}
