//! The report: one row per workload (the service next to its floor), then start-up, memory and
//! argon2 figures, then every target met or not, as Markdown.

use std::fmt::Write as _;
use std::time::Duration;

use crate::feed_lag::Lags;
use crate::load::Measured;
use crate::locks::LockWaits;

/// One workload's figures.
pub struct Row {
    pub name: &'static str,
    pub http: Measured,
    /// CPU the service used in the measured window (or windows, when measured in rounds).
    pub cpu: Duration,
    /// The service's largest resident set in the measured window(s), bytes.
    pub peak: u64,
    /// The service's resident set after the (last) window, or once the floor has run too, bytes.
    pub rss_after: u64,
    /// The same statements straight through sqlx; `None` when there is no SQL floor to speak
    /// of (sign-in is argon2 by design).
    pub floor: Option<Measured>,
    /// Write workloads: the same work done the best known way (see
    /// `Floor::place_order_best`), which the write targets are judged against.
    pub best: Option<Measured>,
}

/// Placement on two instances sharing the database; then on one, beside the feed's reader,
/// with a transaction held open midway.
pub struct TwoInstances {
    pub http: Measured,
    pub held: Measured,
    pub lags: Lags,
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
    /// 8 connections reading orders alone and beside a sign-in flood: as fast as they go, then
    /// at a fixed rate.
    pub reads_beside_flood: Vec<ReadsBesideFlood>,
    /// SQLite run only: the list workload on PostgreSQL, measured in turns with the SQLite
    /// list row, which the list's CPU target is relative to.
    pub reference: Option<Row>,
    /// PostgreSQL only: the lock waits sampled during a placement workload's measured window,
    /// on the service and on its floor (see `locks.rs`).
    pub lock_waits: Vec<(&'static str, LockWaits, LockWaits)>,
    /// How far the feed trailed the commits during the placement workload.
    pub feed_lag: Option<Lags>,
    /// PostgreSQL only: placement on two instances.
    pub two_instances: Option<TwoInstances>,
}

impl Row {
    /// A row that [`Row::add_round`] fills, round by round.
    pub fn pooled(name: &'static str) -> Self {
        Self {
            name,
            http: Measured::empty(),
            cpu: Duration::ZERO,
            peak: 0,
            rss_after: 0,
            floor: None,
            best: None,
        }
    }

    /// One more round: requests and CPU add up, the peak is the largest, the resident set after
    /// is the last round's.
    pub fn add_round(&mut self, http: Measured, cpu: Duration, peak: u64, rss_after: u64) {
        self.http.merge(http);
        self.cpu += cpu;
        self.peak = self.peak.max(peak);
        self.rss_after = rss_after;
    }
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
            reads_beside_flood: Vec::new(),
            reference: None,
            lock_waits: Vec::new(),
            feed_lag: None,
            two_instances: None,
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
        for row in self.rows.iter().chain(&self.reference) {
            let per_request = cpu_per_request_us(row).unwrap_or(0.0);
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
        // The service's default PASSWORD_HASH_CONCURRENCY: one per CPU.
        let hashers = cpus();
        let _ = writeln!(
            out,
            "- argon2id per hash, one at a time (median of {}): {hash_ms:.1} ms, so at most {:.0} sign-ins or sign-ups/s on the service's {hashers} hashing thread(s), one per CPU",
            crate::ARGON2_ROUNDS,
            hashers as f64 * 1000.0 / hash_ms.max(0.001),
        );
        for reads in &self.reads_beside_flood {
            let (alone, during, flood) = (&reads.alone, &reads.during, &reads.flood);
            let _ = writeln!(
                out,
                "- GET /v1/orders/{{id}} on 8 connections, {}: alone {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms; while 32 connections sign in ({:.0} sign-ins/s): {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms ({:.2}x the p99 alone)",
                reads.pace(),
                alone.rate(),
                alone.quantile_ms(0.5),
                alone.quantile_ms(0.99),
                flood.rate(),
                during.rate(),
                during.quantile_ms(0.5),
                during.quantile_ms(0.99),
                during.quantile_ms(0.99) / alone.quantile_ms(0.99).max(0.001),
            );
            if let Some(hashing) = &reads.hashing {
                let _ = writeln!(
                    out,
                    "  - beside the floor (the flood's hashes without the service: {:.0} hashes/s on {} idle-class threads in the bench): p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms ({:.2}x the p99 alone); the flood's p99 is {:.2}x this one",
                    reads.floor_hashes.0 as f64 / reads.floor_hashes.1.as_secs_f64().max(1e-9),
                    cpus(),
                    hashing.quantile_ms(0.5),
                    hashing.quantile_ms(0.95),
                    hashing.quantile_ms(0.99),
                    hashing.quantile_ms(0.99) / alone.quantile_ms(0.99).max(0.001),
                    during.quantile_ms(0.99) / hashing.quantile_ms(0.99).max(0.001),
                );
            }
            let rounds: Vec<String> = reads.round_p99s.iter().map(RoundP99s::shown).collect();
            let _ = writeln!(
                out,
                "  - the same, p95: {:.1} ms alone, {:.1} ms during ({:.2}x); p99 of each round, alone / {}during: {} ms",
                alone.quantile_ms(0.95),
                during.quantile_ms(0.95),
                during.quantile_ms(0.95) / alone.quantile_ms(0.95).max(0.001),
                if reads.hashing.is_some() {
                    "beside the floor / "
                } else {
                    ""
                },
                rounds.join(", "),
            );
        }
        let _ = writeln!(
            out,
            "- {} keep-alive connections per workload; a failed floor operation counts in non-2xx's place",
            crate::CONNECTIONS
        );
        for (name, service, floor) in &self.lock_waits {
            let _ = writeln!(
                out,
                "- lock waits of {name} (client backends in `pg_stat_activity` waiting for a lock, sampled every {} ms in the measured window, mean): service {}; floor {}",
                crate::locks::EVERY.as_millis(),
                service.shown(),
                floor.shown(),
            );
        }
        for row in &self.rows {
            if let Some(best) = &row.best {
                let _ = writeln!(
                    out,
                    "- {} against its best-way floor (the same work in the fewest round trips known; see `floor.rs`): floor {:.0} ops/s, p99 {:.1} ms; the service {:.2}x its throughput, {:.2}x its p99",
                    row.name,
                    best.rate(),
                    best.quantile_ms(0.99),
                    row.http.rate() / best.rate().max(1e-9),
                    row.http.quantile_ms(0.99) / best.quantile_ms(0.99).max(1e-9),
                );
            }
        }
        if let Some(lags) = &self.feed_lag {
            let _ = writeln!(
                out,
                "- the event feed behind the commits during POST /v1/orders (a reader polling every {} ms from the end; from the change's time to first seen): {}",
                crate::feed_lag::EVERY.as_millis(),
                lags.shown(),
            );
        }
        if let Some(two) = &self.two_instances {
            let one = self.place_row().map_or(0.0, |row| row.http.rate());
            let _ = writeln!(
                out,
                "- POST /v1/orders on two instances ({} connections each): {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, {} non-2xx ({:.2}x one instance)",
                crate::CONNECTIONS / 2,
                two.http.rate(),
                two.http.quantile_ms(0.5),
                two.http.quantile_ms(0.99),
                two.http.failures,
                two.http.rate() / one.max(1e-9),
            );
            let _ = writeln!(
                out,
                "- POST /v1/orders on one instance while a transaction stays open for {:.0} ms midway: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, {} non-2xx ({:.2}x the window without it); the feed behind the commits: {}",
                two.lags.held_open.unwrap_or_default().as_secs_f64() * 1000.0,
                two.held.rate(),
                two.held.quantile_ms(0.5),
                two.held.quantile_ms(0.99),
                two.held.failures,
                two.held.rate() / one.max(1e-9),
                two.lags.shown(),
            );
        }
        let _ = writeln!(out, "\n#### Targets\n");
        let _ = writeln!(out, "| target | measured | required | met? |");
        let _ = writeln!(out, "|---|---:|---:|---|");
        for target in self.targets() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                target.name, target.measured, target.required, target.verdict
            );
        }
        out
    }

    /// Every target that this run's figures speak to, judged. The three ratios to
    /// the floor are required of PostgreSQL only; SQLite has two targets of its own instead.
    fn targets(&self) -> Vec<Target> {
        let sqlite = self.engine == "SQLite";
        let mut targets = Vec::new();
        for (row, floor_target) in self.rows.iter().zip(crate::TARGETS) {
            // A write is judged against its best-way floor, a read against its SQL floor.
            let (floor, which) = match &row.best {
                Some(best) => (Some(best), "best-way floor"),
                None => (row.floor.as_ref(), "SQL floor"),
            };
            let ratio = floor
                .filter(|floor| floor.rate() > 0.0)
                .map(|floor| row.http.rate() / floor.rate());
            let name = format!("{}: throughput ratio to its {which}", row.name);
            targets.push(if sqlite {
                Target::reported(name, ratio.map(|r| format!("{r:.2}x")))
            } else {
                Target::judged(
                    name,
                    ratio.map(|r| (r, format!("{r:.2}x"))),
                    Requirement::AtLeast(floor_target),
                    format!(">= {floor_target:.1}x"),
                )
            });
        }

        if !sqlite {
            let place = self.place_row();
            targets.push(Target::judged(
                "POST /v1/orders p99, to its best-way floor's",
                place.and_then(|row| {
                    let best = row.best.as_ref()?.quantile_ms(0.99);
                    let p99 = row.http.quantile_ms(0.99);
                    (best > 0.0).then(|| {
                        (
                            p99 / best,
                            format!("{:.2}x ({p99:.1} / {best:.1} ms)", p99 / best),
                        )
                    })
                }),
                Requirement::AtMost(2.0),
                "<= 2.0x".into(),
            ));
            let transitions = self.rows.iter().find(|row| row.name == crate::TRANSITIONS);
            targets.push(Target::judged(
                "transitions (pay, cancel): throughput ratio to their best-way floor",
                transitions.and_then(|row| {
                    let best = row.best.as_ref()?.rate();
                    (best > 0.0).then(|| {
                        let ratio = row.http.rate() / best;
                        (ratio, format!("{ratio:.2}x"))
                    })
                }),
                Requirement::AtLeast(0.8),
                ">= 0.8x".into(),
            ));
            let one = place.map_or(0.0, |row| row.http.rate());
            targets.push(Target::judged(
                "POST /v1/orders on two instances, to one instance",
                self.two_instances
                    .as_ref()
                    .filter(|_| one > 0.0)
                    .map(|two| {
                        let ratio = two.http.rate() / one;
                        (
                            ratio,
                            format!("{ratio:.2}x ({:.0} / {one:.0} req/s)", two.http.rate()),
                        )
                    }),
                Requirement::AtLeast(1.0),
                ">= 1.0x".into(),
            ));
            targets.push(Target::judged(
                "the feed behind the commits under POST /v1/orders, p99",
                self.feed_lag.as_ref().map(|lags| {
                    let p99 = lags.quantile_ms(0.99);
                    (
                        p99,
                        format!("{p99:.1} ms (p50 {:.1} ms)", lags.quantile_ms(0.5)),
                    )
                }),
                Requirement::AtMost(100.0),
                "<= 100 ms".into(),
            ));
        }

        if sqlite {
            let place = self.rows.get(2);
            targets.push(Target::judged(
                format!("{} p99", place.map_or("POST /v1/orders", |row| row.name)),
                place.map(|row| {
                    let p99 = row.http.quantile_ms(0.99);
                    (p99, format!("{p99:.1} ms"))
                }),
                Requirement::AtMost(50.0),
                "<= 50 ms".into(),
            ));
            let list = self.rows.get(1).and_then(cpu_per_request_us);
            let reference = self.reference.as_ref().and_then(cpu_per_request_us);
            targets.push(Target::judged(
                "GET /v1/users/{id}/orders?limit=20: service CPU per request, SQLite / PostgreSQL (the reference row, measured in turns)",
                list.zip(reference).filter(|(_, pg)| *pg > 0.0).map(|(lite, pg)| {
                    (lite / pg, format!("{:.2}x ({lite:.0} / {pg:.0} µs)", lite / pg))
                }),
                Requirement::AtMost(2.0),
                "<= 2.0x".into(),
            ));
        }

        let peak = self.rows.iter().take(3).map(|row| row.peak).max();
        targets.push(Target::judged(
            "peak RSS during the non-password workloads (the largest peak of the first three rows)",
            peak.map(|bytes| (mb(bytes), format!("{:.1} MB", mb(bytes)))),
            Requirement::AtMost(30.0),
            "<= 30 MB".into(),
        ));

        let slowest = self.start_to_ready.iter().max();
        targets.push(Target::judged(
            format!(
                "start to ready (the slowest of {} start(s))",
                self.start_to_ready.len()
            ),
            slowest.map(|d| {
                let ms = d.as_secs_f64() * 1000.0;
                (ms, format!("{ms:.0} ms"))
            }),
            Requirement::AtMost(50.0),
            "<= 50 ms".into(),
        ));

        // Within 20% of cores / hash time: at least 0.8 x CPUs / argon2's time per hash.
        let hash = self.argon2.as_secs_f64();
        let ceiling = if hash > 0.0 {
            cpus() as f64 / hash
        } else {
            f64::INFINITY
        };
        for (index, what) in [(3, "sign-up"), (4, "sign-in")] {
            targets.push(Target::judged(
                format!("{what} throughput, within 20% of CPUs / argon2 time per hash"),
                self.rows.get(index).map(|row| {
                    let rate = row.http.rate();
                    (rate, format!("{rate:.1}/s"))
                }),
                Requirement::AtLeast(0.8 * ceiling),
                format!(
                    ">= {:.1}/s (0.8 x {} CPUs / {:.1} ms)",
                    0.8 * ceiling,
                    cpus(),
                    hash * 1000.0
                ),
            ));
        }

        for reads in &self.reads_beside_flood {
            let during = reads.during.quantile_ms(0.99);
            let ratio_to = |base: f64| {
                (base > 0.0).then(|| {
                    (
                        during / base,
                        format!("{:.2}x ({during:.1} / {base:.1} ms)", during / base),
                    )
                })
            };
            let name = format!(
                "reads beside the sign-in flood: p99 of GET /v1/orders/{{id}} on 8 connections {} during the flood / its p99 alone",
                reads.pace()
            );
            // Reported, not judged: as fast as they go, reads and hashing contest the same
            // CPUs (a read latency under saturation measures a share of CPU, not a delay); at a
            // fixed rate the ratio includes what the hashes cost reads whoever runs them, which
            // the floor measures.
            let alone = ratio_to(reads.alone.quantile_ms(0.99));
            targets.push(Target::reported(name, alone.map(|(_, shown)| shown)));
            if let Some(hashing) = &reads.hashing {
                targets.push(Target::judged(
                    format!(
                        "reads beside the sign-in flood: p99 of GET /v1/orders/{{id}} on 8 connections {} during the flood / beside the flood's hashes without the service (the floor)",
                        reads.pace()
                    ),
                    ratio_to(hashing.quantile_ms(0.99)),
                    Requirement::AtMost(1.5),
                    "<= 1.5x".into(),
                ));
            }
        }
        targets
    }
}

/// Reads of orders beside a sign-in flood, next to the same reads alone.
pub struct ReadsBesideFlood {
    /// The offered rate, reads/s, the same alone and during the flood; `None` for as fast as
    /// the connections go.
    pub rate: Option<f64>,
    pub alone: Measured,
    /// The same reads beside the flood's hashes run by the bench itself, at a fixed rate only:
    /// the floor (see `hashing_floor`).
    pub hashing: Option<Measured>,
    /// The floor's hashes done in its measured windows, and the windows' total length.
    pub floor_hashes: (u64, Duration),
    pub during: Measured,
    /// The sign-ins beside `during`.
    pub flood: Measured,
    /// Each round's p99s: how far one round's tail strays from the pooled one on this machine,
    /// for whoever judges the p99 ratio.
    pub round_p99s: Vec<RoundP99s>,
}

/// One round's p99s of the reads, ms.
pub struct RoundP99s {
    pub alone: f64,
    pub hashing: Option<f64>,
    pub during: f64,
}

impl RoundP99s {
    fn shown(&self) -> String {
        match self.hashing {
            Some(hashing) => format!("{:.1} / {hashing:.1} / {:.1}", self.alone, self.during),
            None => format!("{:.1} / {:.1}", self.alone, self.during),
        }
    }
}

impl ReadsBesideFlood {
    fn pace(&self) -> String {
        match self.rate {
            Some(rate) => format!("at {rate:.0} reads/s"),
            None => "as fast as they go".into(),
        }
    }
}

/// What a target asks of its figure.
#[derive(Debug, Clone, Copy)]
pub enum Requirement {
    /// At least this much: a ratio to the floor, a throughput.
    AtLeast(f64),
    /// At most this much: a time, a size, a ratio of latencies or CPU.
    AtMost(f64),
    /// Nothing: the figure is reported, not judged (the issue asks it of the other engine).
    Nothing,
}

/// Whether `measured` meets `requirement`: "met", "NOT met", or "-" when nothing is required.
/// Kept apart from the formatting so that the verdict, the point of the table, is tested; a
/// figure that is not a number (nothing was measured) meets nothing.
pub fn judge(measured: f64, requirement: Requirement) -> &'static str {
    let met = match requirement {
        Requirement::AtLeast(bound) => measured >= bound,
        Requirement::AtMost(bound) => measured <= bound,
        Requirement::Nothing => return "-",
    };
    if met { "met" } else { "NOT met" }
}

/// One row of the targets table.
struct Target {
    name: String,
    measured: String,
    required: String,
    verdict: &'static str,
}

impl Target {
    /// A target with a requirement; `measured` is the figure judged and how it is shown, `None`
    /// when the run did not measure it (which is not met).
    fn judged(
        name: impl Into<String>,
        measured: Option<(f64, String)>,
        requirement: Requirement,
        required: String,
    ) -> Self {
        let (verdict, measured) = match measured {
            Some((value, shown)) => (judge(value, requirement), shown),
            None => ("NOT met", "not measured".to_owned()),
        };
        Self {
            name: name.into(),
            measured,
            required,
            verdict,
        }
    }

    /// A figure shown without a requirement.
    fn reported(name: impl Into<String>, measured: Option<String>) -> Self {
        Self {
            name: name.into(),
            measured: measured.unwrap_or_else(|| "-".into()),
            required: "-".into(),
            verdict: judge(f64::NAN, Requirement::Nothing),
        }
    }
}

/// The service's CPU time per measured request, µs; `None` when nothing was measured.
impl Report {
    /// The placement row (three spread lines).
    fn place_row(&self) -> Option<&Row> {
        self.rows
            .iter()
            .find(|row| row.name.starts_with("POST /v1/orders (3"))
    }
}

fn cpu_per_request_us(row: &Row) -> Option<f64> {
    (row.http.operations > 0).then(|| row.cpu.as_secs_f64() * 1e6 / row.http.operations as f64)
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

#[cfg(test)]
mod tests {
    use super::{Requirement, judge};

    #[test]
    fn a_ratio_just_under_its_floor_is_not_met() {
        assert_eq!(judge(0.49, Requirement::AtLeast(0.5)), "NOT met");
        assert_eq!(judge(0.5, Requirement::AtLeast(0.5)), "met");
        assert_eq!(judge(0.51, Requirement::AtLeast(0.5)), "met");
    }

    #[test]
    fn a_ceiling_is_met_up_to_and_including_it() {
        assert_eq!(judge(50.0, Requirement::AtMost(50.0)), "met");
        assert_eq!(judge(50.1, Requirement::AtMost(50.0)), "NOT met");
    }

    #[test]
    fn nothing_measured_meets_nothing_and_nothing_required_is_not_judged() {
        assert_eq!(judge(f64::NAN, Requirement::AtLeast(0.5)), "NOT met");
        assert_eq!(judge(f64::NAN, Requirement::AtMost(1.5)), "NOT met");
        assert_eq!(judge(0.1, Requirement::Nothing), "-");
    }
}
