//! A closed-loop load driver: a fixed number of workers, each issuing one operation after
//! another for a fixed time after a warm-up, recording the latency of every operation.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// One operation; `true` when it succeeded (a 2xx, or the statements ran).
pub type Op = Pin<Box<dyn Future<Output = bool> + Send>>;

/// What one workload measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub operations: u64,
    pub failures: u64,
    pub elapsed: Duration,
    /// Sorted latencies, microseconds.
    latencies_us: Vec<u32>,
}

impl Measured {
    /// Operations per second over the measured window.
    pub fn rate(&self) -> f64 {
        self.operations as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency at quantile `q` (0..=1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let rank = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        f64::from(self.latencies_us[rank]) / 1000.0
    }
}

/// Runs `workers` loops, each calling its own `next()` for a new operation, for `warmup` and
/// then `measure`; only operations that start inside the measured window count.
pub async fn drive<W>(workers: Vec<W>, warmup: Duration, measure: Duration) -> Measured
where
    W: FnMut() -> Op + Send + 'static,
{
    drive_with(workers, warmup, measure, || ()).await.0
}

/// [`drive`], calling `at_start` when the measured window opens (after the warm-up) and
/// returning what it returned: where the service's CPU time is read and its peak memory reset,
/// so that both cover the measured window only, as the request count does.
pub async fn drive_with<W, F, T>(
    workers: Vec<W>,
    warmup: Duration,
    measure: Duration,
    at_start: F,
) -> (Measured, T)
where
    W: FnMut() -> Op + Send + 'static,
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let start = Instant::now() + warmup;
    let end = start + measure;
    let opened = tokio::spawn(async move {
        tokio::time::sleep_until(start.into()).await;
        at_start()
    });
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut next| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0u64;
                loop {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    let ok = next().await;
                    if began >= start {
                        let micros = began.elapsed().as_micros().min(u128::from(u32::MAX));
                        latencies.push(micros as u32);
                        if !ok {
                            failures += 1;
                        }
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    let mut failures = 0;
    for task in tasks {
        if let Ok((mut l, f)) = task.await {
            latencies_us.append(&mut l);
            failures += f;
        }
    }
    latencies_us.sort_unstable();
    let measured = Measured {
        operations: latencies_us.len() as u64,
        failures,
        elapsed: measure,
        latencies_us,
    };
    // The window opened before the last worker ended, so this does not wait.
    let opened = opened
        .await
        .unwrap_or_else(|err| std::panic::resume_unwind(err.into_panic()));
    (measured, opened)
}
