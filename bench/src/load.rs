//! Load drivers: a fixed number of workers, each issuing one operation after another for a
//! fixed time after a warm-up, recording the latency of every operation; either as fast as they
//! go (a closed loop) or at a fixed offered rate (an open loop).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
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

    /// Nothing yet: what [`Measured::merge`] starts from.
    pub fn empty() -> Self {
        Self {
            operations: 0,
            failures: 0,
            elapsed: Duration::ZERO,
            latencies_us: Vec::new(),
        }
    }

    /// Adds `other`'s operations and window to this one's, as one measurement of both windows:
    /// how interleaved rounds of two variants pool into one figure per variant.
    pub fn merge(&mut self, mut other: Measured) {
        self.operations += other.operations;
        self.failures += other.failures;
        self.elapsed += other.elapsed;
        self.latencies_us.append(&mut other.latencies_us);
        self.latencies_us.sort_unstable();
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
    drive_with(workers, None, warmup, measure, || ()).await.0
}

/// [`drive`], calling `at_start` when the measured window opens (after the warm-up) and
/// returning what it returned: where the service's CPU time is read and its peak memory reset,
/// so that both cover the measured window only, as the request count does.
///
/// With a `rate`, operations are offered at that many a second instead of as fast as the
/// workers go (an open loop): they fall due evenly spaced from the start of the warm-up, and
/// whichever worker is free takes the next one due. A latency runs from when its operation fell
/// due if no worker was free then, so waiting for one counts too (no coordinated omission).
/// This is latency as a client at a given traffic sees it; a closed loop's latency under
/// saturation is mostly its own queue.
pub async fn drive_with<W, F, T>(
    workers: Vec<W>,
    rate: Option<f64>,
    warmup: Duration,
    measure: Duration,
    at_start: F,
) -> (Measured, T)
where
    W: FnMut() -> Op + Send + 'static,
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let pace = rate.map(|rate| Duration::from_secs_f64(1.0 / rate.max(1.0)));
    let origin = Instant::now();
    let start = origin + warmup;
    let end = start + measure;
    let claimed = Arc::new(AtomicU32::new(0));
    let opened = tokio::spawn(async move {
        tokio::time::sleep_until(start.into()).await;
        at_start()
    });
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut next| {
            let claimed = Arc::clone(&claimed);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0u64;
                loop {
                    let began = match pace {
                        Some(pace) => {
                            let due = origin + pace * claimed.fetch_add(1, Ordering::Relaxed);
                            if due >= end {
                                break;
                            }
                            if Instant::now() < due {
                                // On time: the operation starts when the timer fires. That
                                // can be up to a millisecond late (the timer's resolution),
                                // which is the driver's, not the service's.
                                tokio::time::sleep_until(due.into()).await;
                                Instant::now()
                            } else {
                                // Behind: it has been waiting for a worker since it fell due.
                                due
                            }
                        }
                        None => Instant::now(),
                    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(latencies_us: Vec<u32>, failures: u64) -> Measured {
        Measured {
            operations: latencies_us.len() as u64,
            failures,
            elapsed: Duration::from_secs(1),
            latencies_us,
        }
    }

    #[test]
    fn merged_rounds_are_one_measurement_of_both_windows() {
        let mut pooled = Measured::empty();
        pooled.merge(measured(vec![1_000, 3_000], 1));
        pooled.merge(measured(vec![2_000, 50_000], 0));
        assert_eq!(pooled.operations, 4);
        assert_eq!(pooled.failures, 1);
        assert_eq!(pooled.elapsed, Duration::from_secs(2));
        assert!((pooled.rate() - 2.0).abs() < f64::EPSILON);
        assert!((pooled.quantile_ms(0.0) - 1.0).abs() < f64::EPSILON);
        assert!((pooled.quantile_ms(1.0) - 50.0).abs() < f64::EPSILON);
        // Sorted across rounds: the median is the second-smallest of all four.
        assert!((pooled.quantile_ms(0.34) - 2.0).abs() < f64::EPSILON);
    }
}
