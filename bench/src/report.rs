//! The report: one row per workload (the service next to its floor), then start-up, memory and
//! argon2 figures, as Markdown.

use std::fmt::Write as _;
use std::time::Duration;

use crate::load::Measured;

/// One workload's figures.
pub struct Row {
    pub name: &'static str,
    pub http: Measured,
    /// CPU the service used during the measured workload (warm-up included).
    pub cpu: Duration,
    /// The service's largest resident set during the workload (warm-up included), bytes.
    pub peak: u64,
    /// The service's resident set right after the workload, bytes.
    pub rss_after: u64,
    /// The same statements straight through sqlx; `None` when there is no SQL floor to speak
    /// of (sign-in is argon2 by design).
    pub floor: Option<Measured>,
}

/// A whole run.
pub struct Report {
    engine: &'static str,
    pub rows: Vec<Row>,
    pub start_to_ready: Vec<Duration>,
    /// Resident set once ready, before any request, bytes.
    pub rss_ready: u64,
    /// Peak resident set while the bench signs its customers in, one at a time, bytes.
    pub sign_in_peak: u64,
    /// Peak resident set while 8 connections read beside 32 signing in, bytes.
    pub flood_peak: u64,
    pub argon2: Duration,
    /// 8 connections reading orders alone, the same during a sign-in flood, and the flood.
    pub reads_under_sign_ins: Option<(Measured, Measured, Measured)>,
}

impl Report {
    pub fn new(engine: &'static str) -> Self {
        Self {
            engine,
            rows: Vec::new(),
            start_to_ready: Vec::new(),
            rss_ready: 0,
            sign_in_peak: 0,
            flood_peak: 0,
            argon2: Duration::ZERO,
            reads_under_sign_ins: None,
        }
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### {} ({} CPUs)\n", self.engine, cpus());
        let _ = writeln!(
            out,
            "| workload | req/s | p50 ms | p99 ms | non-2xx | service CPU µs/req | peak RSS, MB | RSS after, MB | floor ops/s | floor p99 ms | ratio |"
        );
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for row in &self.rows {
            let per_request = if row.http.operations > 0 {
                row.cpu.as_secs_f64() * 1e6 / row.http.operations as f64
            } else {
                0.0
            };
            let (floor_rate, floor_p99, ratio) = match &row.floor {
                Some(floor) if floor.rate() > 0.0 => (
                    format!("{:.0}", floor.rate()),
                    format!("{:.1}", floor.quantile_ms(0.99)),
                    format!("{:.2}x", row.http.rate() / floor.rate()),
                ),
                _ => ("-".into(), "-".into(), "-".into()),
            };
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.1} | {:.1} | {} | {:.0} | {:.1} | {:.1} | {} | {} | {} |",
                row.name,
                row.http.rate(),
                row.http.quantile_ms(0.5),
                row.http.quantile_ms(0.99),
                row.http.failures,
                per_request,
                mb(row.peak),
                mb(row.rss_after),
                floor_rate,
                floor_p99,
                ratio,
            );
        }
        let starts: Vec<String> = self
            .start_to_ready
            .iter()
            .map(|d| format!("{:.0} ms", d.as_secs_f64() * 1000.0))
            .collect();
        let hash_ms = self.argon2.as_secs_f64() * 1000.0;
        let _ = writeln!(out);
        let _ = writeln!(out, "- start to ready: {}", starts.join(", "));
        let peak = self
            .rows
            .iter()
            .map(|row| row.peak)
            .chain([self.sign_in_peak, self.flood_peak])
            .max()
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- RSS of the service: {:.1} MB once ready; peak {:.1} MB while {} customers sign in one at a time, {:.1} MB during the reads beside the sign-in flood; peak of the whole run {:.1} MB",
            mb(self.rss_ready),
            mb(self.sign_in_peak),
            crate::SIGNED_IN,
            mb(self.flood_peak),
            mb(peak),
        );
        // The service's default PASSWORD_HASH_CONCURRENCY: half the CPUs, at least one.
        let hashers = (cpus() / 2).max(1);
        let _ = writeln!(
            out,
            "- argon2id per hash, one at a time: {hash_ms:.1} ms, so at most {:.0} sign-ins or sign-ups/s on the service's {hashers} hashing thread(s) ({:.0}/s on all {} CPUs)",
            hashers as f64 * 1000.0 / hash_ms.max(0.001),
            cpus() as f64 * 1000.0 / hash_ms.max(0.001),
            cpus()
        );
        if let Some((alone, during, flood)) = &self.reads_under_sign_ins {
            let _ = writeln!(
                out,
                "- GET /v1/orders/{{id}} on 8 connections: alone {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms; while 32 connections sign in ({:.0} sign-ins/s): {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms ({:.2}x the p99 alone)",
                alone.rate(),
                alone.quantile_ms(0.5),
                alone.quantile_ms(0.99),
                flood.rate(),
                during.rate(),
                during.quantile_ms(0.5),
                during.quantile_ms(0.99),
                during.quantile_ms(0.99) / alone.quantile_ms(0.99).max(0.001),
            );
        }
        let _ = writeln!(
            out,
            "- {} keep-alive connections per workload; a failed floor operation counts in non-2xx's place",
            crate::CONNECTIONS
        );
        out
    }
}

/// Bytes as decimal megabytes.
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// One workload at one size in the scale run, the service next to its floor.
pub struct Ratio {
    pub name: String,
    pub http: Measured,
    pub floor: Measured,
    /// The lowest acceptable service/floor throughput ratio.
    pub target: f64,
}

/// The scale run's figures: each row a workload at some size.
pub struct Scale {
    engine: &'static str,
    pub rows: Vec<(String, Measured)>,
    /// The targeted workloads against their floor, at the normal size and at scale.
    pub ratios: Vec<Ratio>,
    /// How many orders the database held at scale, and how long growing it took.
    pub seeded: Option<(usize, Duration)>,
}

impl Scale {
    pub fn new(engine: &'static str) -> Self {
        Self {
            engine,
            rows: Vec::new(),
            ratios: Vec::new(),
            seeded: None,
        }
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### Scale, {} ({} CPUs)\n", self.engine, cpus());
        let _ = writeln!(
            out,
            "| workload | req/s | p50 ms | p99 ms | non-2xx | p50 ratio |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        let mut base: Option<f64> = None;
        for (index, (name, measured)) in self.rows.iter().enumerate() {
            // Rows come in pairs: small then large, first page then deep page.
            if index % 2 == 0 {
                base = Some(measured.quantile_ms(0.5));
            }
            let ratio = match base {
                Some(b) if b > 0.0 => format!("{:.2}x", measured.quantile_ms(0.5) / b),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.2} | {:.2} | {} | {} |",
                name,
                measured.rate(),
                measured.quantile_ms(0.5),
                measured.quantile_ms(0.99),
                measured.failures,
                ratio,
            );
        }
        if !self.ratios.is_empty() {
            let _ = writeln!(
                out,
                "\n| workload, size | req/s | p50 ms | p99 ms | non-2xx | floor ops/s | floor p99 ms | ratio | target |"
            );
            let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
            for row in &self.ratios {
                let ratio = row.http.rate() / row.floor.rate().max(f64::MIN_POSITIVE);
                let verdict = if ratio >= row.target {
                    "met"
                } else {
                    "NOT met"
                };
                let _ = writeln!(
                    out,
                    "| {} | {:.0} | {:.1} | {:.1} | {} | {:.0} | {:.1} | {:.2}x | >= {:.1}x {} |",
                    row.name,
                    row.http.rate(),
                    row.http.quantile_ms(0.5),
                    row.http.quantile_ms(0.99),
                    row.http.failures + row.floor.failures,
                    row.floor.rate(),
                    row.floor.quantile_ms(0.99),
                    ratio,
                    row.target,
                    verdict,
                );
            }
        }
        if let Some((orders, took)) = self.seeded {
            let _ = writeln!(
                out,
                "\n- grown to {orders} orders through `Orders::place_many_in` in {:.0} s",
                took.as_secs_f64()
            );
        }
        let _ = writeln!(
            out,
            "- {} keep-alive connections per workload; in the first table the ratio compares each row with the row above it (the same workload, small vs large), in the second the service's throughput with its SQL floor's (the same statements through sqlx)",
            crate::CONNECTIONS
        );
        out
    }
}
