//! `--observability`: what tracing and metrics cost `GET /v1/orders/{id}`, every configuration
//! side by side from one run. The service is restarted once per variant on the same seeded
//! database, and the variants are interleaved over several rounds, so that a burst of load from
//! elsewhere on a shared machine spreads over all of them instead of landing on one.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::load::Measured;
use crate::service::Service;
use crate::sink::Sink;
use crate::{Session, WORKLOADS, measure_window_sending};

/// One way of running the service.
struct Variant {
    name: &'static str,
    metrics: bool,
    /// `OTEL_TRACES_SAMPLER_ARG`, with traces exported to the stand-in collector; `None`: no
    /// tracing at all.
    sampled: Option<&'static str>,
    /// Whether every request carries a caller's `traceparent` (as behind a gateway that
    /// started the trace), which the service puts in its log lines even with tracing off.
    traceparent: bool,
}

/// The caller's trace context of the `traceparent` variants: sampled, as a gateway that traces
/// every request would send it.
const CALLER_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Every configuration an operator could run, from nothing to everything, and `off` a second
/// time: the two `off` rows differ only by chance, which shows how small a cost the run can
/// tell from noise.
const VARIANTS: &[Variant] = &[
    Variant {
        name: "off",
        metrics: false,
        sampled: None,
        traceparent: false,
    },
    Variant {
        name: "off, again (the run's noise)",
        metrics: false,
        sampled: None,
        traceparent: false,
    },
    Variant {
        name: "off, every request with a caller's traceparent (logs join it)",
        metrics: false,
        sampled: None,
        traceparent: true,
    },
    Variant {
        name: "metrics only",
        metrics: true,
        sampled: None,
        traceparent: false,
    },
    Variant {
        name: "tracing, every trace exported (ratio 1)",
        metrics: false,
        sampled: Some("1"),
        traceparent: false,
    },
    Variant {
        name: "tracing, ratio 0.1",
        metrics: false,
        sampled: Some("0.1"),
        traceparent: false,
    },
    Variant {
        name: "tracing, ratio 0.01",
        metrics: false,
        sampled: Some("0.01"),
        traceparent: false,
    },
    Variant {
        name: "metrics + tracing, ratio 1",
        metrics: true,
        sampled: Some("1"),
        traceparent: false,
    },
    Variant {
        name: "metrics + tracing, ratio 0.1",
        metrics: true,
        sampled: Some("0.1"),
        traceparent: false,
    },
    Variant {
        name: "metrics + tracing, ratio 0.01",
        metrics: true,
        sampled: Some("0.01"),
        traceparent: false,
    },
];

impl Variant {
    fn env(&self, sink: &Sink) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if self.metrics {
            env.push(("METRICS_ADDR", sink.metrics_addr.to_string()));
        }
        if let Some(ratio) = self.sampled {
            env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint.clone()));
            env.push(("OTEL_TRACES_SAMPLER_ARG", ratio.to_owned()));
            // The SDK's own spelling of the same sampler: a service built before
            // `OTEL_TRACES_SAMPLER_ARG` was one of its settings reads these two itself, so the
            // same harness measures it too.
            env.push(("OTEL_TRACES_SAMPLER", "parentbased_traceidratio".to_owned()));
        }
        env
    }
}

/// What one variant measured over all rounds.
#[derive(Default)]
struct Totals {
    operations: u64,
    failures: u64,
    elapsed: Duration,
    cpu: Duration,
    p50_ms: Vec<f64>,
    p99_ms: Vec<f64>,
    exports: u64,
    bytes: u64,
}

impl Totals {
    fn add(&mut self, measured: &Measured, cpu: Duration, exports: u64, bytes: u64) {
        self.operations += measured.operations;
        self.failures += measured.failures;
        self.elapsed += measured.elapsed;
        self.cpu += cpu;
        self.p50_ms.push(measured.quantile_ms(0.5));
        self.p99_ms.push(measured.quantile_ms(0.99));
        self.exports += exports;
        self.bytes += bytes;
    }

    fn rate(&self) -> f64 {
        self.operations as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    fn cpu_per_request_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / (self.operations.max(1) as f64)
    }
}

/// The variants' table.
pub struct Costs {
    engine: &'static str,
    rounds: usize,
    measure: Duration,
    rows: Vec<(&'static str, Totals)>,
    scrapes: u64,
    /// The load average when the run began and when it ended.
    load: (String, String),
}

/// Measures `GET /v1/orders/{id}` under every variant, `rounds` times each, interleaved.
/// `sessions` were signed in on an earlier service over the same database (their tokens stay
/// valid across restarts).
pub async fn measure(
    app: &std::path::Path,
    url: &str,
    sessions: &Arc<Vec<Session>>,
    (warmup, measure): (Duration, Duration),
    rounds: usize,
) -> anyhow::Result<Costs> {
    let load_before = load_average();
    let sink = Sink::start(Duration::from_secs(5)).await?;
    let mut rows: Vec<(&'static str, Totals)> = VARIANTS
        .iter()
        .map(|variant| (variant.name, Totals::default()))
        .collect();
    for round in 1..=rounds {
        // Each round starts one variant later, so that no variant always runs right after the
        // same neighbour (whose service is still winding down, or whose spans are still being
        // received): a cost that follows the position rather than the variant would look real.
        let start = (round - 1) % VARIANTS.len();
        let order = (0..VARIANTS.len()).map(|n| (start + n) % VARIANTS.len());
        for index in order {
            let (variant, (_, totals)) = (&VARIANTS[index], &mut rows[index]);
            eprintln!(
                "bench: GET /v1/orders/{{id}}, {}, round {round}/{rounds}",
                variant.name
            );
            let service = Service::start(app, url, &variant.env(&sink)).await?;
            let exports = sink.seen.exports.load(Ordering::Relaxed);
            let bytes = sink.seen.bytes.load(Ordering::Relaxed);
            let on = (&service, sessions);
            let mut headers = reqwest::header::HeaderMap::new();
            if variant.traceparent {
                headers.insert(
                    "traceparent",
                    reqwest::header::HeaderValue::from_static(CALLER_TRACEPARENT),
                );
            }
            let window = (warmup, measure);
            let (measured, cpu) = measure_window_sending(on, WORKLOADS[0], window, headers).await?;
            // The spans of the last requests are still in the exporter's batch; what reached
            // the collector during the run is a lower bound, which is enough to tell 1 from 0.01.
            let exports = sink.seen.exports.load(Ordering::Relaxed) - exports;
            let bytes = sink.seen.bytes.load(Ordering::Relaxed) - bytes;
            service.stop()?;
            totals.add(&measured, cpu, exports, bytes);
        }
    }
    Ok(Costs {
        engine: if url.starts_with("sqlite:") {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        rounds,
        measure,
        rows,
        scrapes: sink.seen.scrapes.load(Ordering::Relaxed),
        load: (load_before, load_average()),
    })
}

impl Costs {
    /// The table, each variant's cost against `off` of the same run.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "### What observability costs `GET /v1/orders/{{id}}`, {} ({} CPUs, load average {} at the start, {} at the end)\n",
            self.engine,
            crate::report::cpus(),
            self.load.0,
            self.load.1,
        );
        let _ = writeln!(
            out,
            "| variant | req/s | cost in req/s | service CPU µs/req | cost in CPU | p50 ms | p99 ms | non-2xx | OTLP exports, MB |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let Some((_, off)) = self.rows.first() else {
            return out;
        };
        let (off_rate, off_cpu) = (off.rate(), off.cpu_per_request_us());
        for (name, totals) in &self.rows {
            let rate = totals.rate();
            let cpu = totals.cpu_per_request_us();
            let exported = if totals.exports > 0 {
                format!("{}, {:.1}", totals.exports, totals.bytes as f64 / 1e6)
            } else {
                "-".to_owned()
            };
            let _ = writeln!(
                out,
                "| {name} | {rate:.0} | {:+.1} % | {cpu:.0} | {:+.1} % | {:.1} | {:.1} | {} | {exported} |",
                (off_rate - rate) / off_rate.max(f64::MIN_POSITIVE) * 100.0,
                (cpu - off_cpu) / off_cpu.max(f64::MIN_POSITIVE) * 100.0,
                median(&totals.p50_ms),
                median(&totals.p99_ms),
                totals.failures,
            );
        }
        let _ = writeln!(
            out,
            "\n- {} rounds of every variant, interleaved, each round starting one variant later; each {:.0} s measured after a warm-up, on {} keep-alive connections; req/s and CPU pooled over the rounds, p50 and p99 their medians",
            self.rounds,
            self.measure.as_secs_f64(),
            crate::CONNECTIONS
        );
        if let Some((_, again)) = self.rows.get(1) {
            let _ = writeln!(
                out,
                "- noise: `off` measured twice differs by {:.1} % in req/s and {:.1} % in CPU per request; a smaller cost cannot be told from chance in this run",
                (off_rate - again.rate()).abs() / off_rate.max(f64::MIN_POSITIVE) * 100.0,
                (off_cpu - again.cpu_per_request_us()).abs() / off_cpu.max(f64::MIN_POSITIVE)
                    * 100.0,
            );
        }
        let _ = writeln!(
            out,
            "- cost: how much fewer req/s, and how much more service CPU per request, than `off`; tracing exports over OTLP/HTTP to a loopback stand-in collector in the bench process (sharing the CPUs); metrics scraped every 5 s ({} scrapes in all)",
            self.scrapes
        );
        out
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// `/proc/loadavg`'s three figures, for the table's heading: numbers from a loaded machine are
/// to be read with that in mind.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
