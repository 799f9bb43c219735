//! `cargo xtask bench` and `cargo xtask seed` run this binary (built in release): it seeds a
//! database through the contexts' public APIs, drives the release service over HTTP with a
//! fixed number of keep-alive connections, measures the same statements straight through sqlx
//! as the floor, and reports each workload's ratio to it.

mod drill;
mod feed_lag;
mod floor;
mod load;
mod locks;
mod observability;
mod report;
mod scratch;
mod seed;
mod service;
mod sink;
mod soak;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{Parser, Subcommand};
use rand::Rng as _;
use rand::SeedableRng as _;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use floor::Floor;
use load::{Measured, Op, drive, drive_with};
use report::{Report, Row};
use scratch::Engine;
use service::{Probe, Service};

/// The service's allocator (mimalloc), so that argon2's cost per hash measured here is what the
/// service pays, not glibc malloc's page faults on each hash's fresh block.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(about = "Seed a database, or benchmark the release service against the SQL floor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate a database and fill it through the contexts' public APIs.
    Seed {
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        /// Customers to register.
        #[arg(long, default_value_t = 1_000)]
        users: usize,
        /// Three-line orders to place.
        #[arg(long, default_value_t = 20_000)]
        orders: usize,
        /// Products in the catalog (`SKU-0` ...), each priced in EUR and USD.
        #[arg(long, default_value_t = 100)]
        products: usize,
        /// Units on hand of each product; by default what the orders reserve of the busiest
        /// sku plus 10,000.
        #[arg(long)]
        stock_per_product: Option<i64>,
    },
    /// Migrate and seed a fresh database, start the service on it, and measure every workload.
    Run {
        #[command(flatten)]
        target: Target,
        /// A smoke run: small data, 1 s warm-up and 3 s per workload.
        #[arg(long)]
        quick: bool,
        /// The scale run instead: one customer with `--heavy-orders` orders and the
        /// database grown to `--scale-orders`, measuring keyset depth and table size.
        #[arg(long)]
        scale: bool,
        /// Scale run: orders of the one heavy customer.
        #[arg(long, default_value_t = 100_000)]
        heavy_orders: usize,
        /// Scale run: orders in the database when measured at scale.
        #[arg(long, default_value_t = 1_000_000)]
        scale_orders: usize,
        /// Where to write the Markdown report.
        #[arg(long)]
        report: PathBuf,
        /// Instead of the workloads, measure what tracing (exported over OTLP to a loopback
        /// stand-in collector, at several sampling ratios) and metrics (on `METRICS_ADDR`,
        /// scraped every 5 s) cost `GET /v1/orders/{id}`, every variant side by side.
        #[arg(long)]
        observability: bool,
    },
    /// Start the service on a fresh database, drive a mixed load for a while, then check the
    /// invariants (see `soak.rs`); fails on any 5xx or violation.
    Soak {
        #[command(flatten)]
        target: Target,
        /// How long the load runs: `30s`, `2m`.
        #[arg(long, default_value = "30s", value_parser = soak::parse_duration)]
        duration: Duration,
    },
    /// Two instances behind HAProxy on one fresh database, each restarted twice in turn
    /// under load (see `drill.rs`); fails on any failed request or order lost or doubled.
    DrillRollingRestart {
        #[command(flatten)]
        target: Target,
        /// Where to write the Markdown report.
        #[arg(long)]
        report: PathBuf,
    },
}

/// Keep-alive connections (and floor workers) per workload.
const CONNECTIONS: usize = 32;
/// The service's default pool size, which the floor's pool matches.
const POOL: u32 = 10;
/// How many customers sign in to drive the authenticated workloads.
const SIGNED_IN: usize = 32;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Seed {
            database_url,
            users,
            orders,
            products,
            stock_per_product,
        } => {
            let plan = seed::CatalogPlan::for_orders(products, stock_per_product, orders)?;
            migrate(&database_url).await?;
            seed::seed_with(&database_url, users, orders, plan, true).await?;
            Ok(())
        }
        Command::Run {
            target:
                Target {
                    app,
                    engine,
                    admin_url,
                },
            quick,
            scale,
            heavy_orders,
            scale_orders,
            report,
            observability,
        } => {
            let scratch = scratch::Scratch::create(engine, &admin_url).await?;
            let measured = if scale {
                run_scale(&app, scratch.url(), quick, heavy_orders, scale_orders)
                    .await
                    .map(|scale| scale.to_markdown())
            } else if observability {
                run_observability(&app, scratch.url(), quick)
                    .await
                    .map(|costs| costs.to_markdown())
            } else {
                // The SQLite run's list target is relative to the PostgreSQL path: a second
                // scratch database, on PostgreSQL, for the reference (see `run`).
                async {
                    let reference = match engine {
                        Engine::Sqlite => {
                            Some(scratch::Scratch::create(Engine::Postgres, &admin_url).await?)
                        }
                        Engine::Postgres => None,
                    };
                    let measured = run(&app, scratch.url(), quick, reference.as_ref())
                        .await
                        .map(|report| report.to_markdown());
                    if let Some(reference) = reference {
                        reference.remove().await?;
                    }
                    measured
                }
                .await
            };
            scratch.remove().await?;
            let report_text = measured?;
            println!("{report_text}");
            if let Some(dir) = report.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&report, report_text)
                .with_context(|| format!("cannot write {}", report.display()))?;
            eprintln!("bench: report written to {}", report.display());
            Ok(())
        }
        Command::Soak {
            target:
                Target {
                    app,
                    engine,
                    admin_url,
                },
            duration,
        } => {
            let scratch = scratch::Scratch::create(engine, &admin_url).await?;
            let soaked = async {
                migrate(scratch.url()).await?;
                let service = Service::start(&app, scratch.url(), &[]).await?;
                let soaked = soak::soak(&service.base, scratch.url(), duration).await;
                service.stop()?;
                soaked
            }
            .await;
            scratch.remove().await?;
            soaked
        }
        Command::DrillRollingRestart {
            target:
                Target {
                    app,
                    engine,
                    admin_url,
                },
            report,
        } => {
            anyhow::ensure!(
                matches!(engine, Engine::Postgres),
                "the rolling-restart drill runs two instances on one PostgreSQL database"
            );
            let scratch = scratch::Scratch::create(engine, &admin_url).await?;
            let drilled = async {
                migrate(scratch.url()).await?;
                drill::rolling_restart(&app, scratch.url(), &report).await
            }
            .await;
            scratch.remove().await?;
            drilled
        }
    }
}

/// What `run` and `soak` drive: the release service, on a scratch database of their own that
/// they create beside `admin_url` and remove afterwards.
#[derive(Debug, clap::Args)]
struct Target {
    /// The release `app` binary.
    #[arg(long)]
    app: PathBuf,
    /// `postgres` or `sqlite`.
    #[arg(long)]
    engine: Engine,
    /// For PostgreSQL: a role allowed to `CREATE DATABASE`.
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    admin_url: String,
}

/// Applies every migration, as an operator would before starting the service.
async fn migrate(url: &str) -> anyhow::Result<()> {
    let runner = migration::Runner::lock(url).await?;
    runner.up(None).await?;
    runner.release().await?;
    Ok(())
}

/// A signed-in seeded customer.
#[derive(Clone)]
struct Session {
    customer: seed::Customer,
    token: String,
    digest: Vec<u8>,
}

/// `--observability`: seeds as the plain run does, signs the customers in once, then measures
/// `GET /v1/orders/{id}` with the service restarted under every observability variant.
async fn run_observability(
    app: &std::path::Path,
    url: &str,
    quick: bool,
) -> anyhow::Result<observability::Costs> {
    let (users, orders) = if quick { (200, 2_000) } else { (1_000, 20_000) };
    let (warmup, measure, rounds) = if quick {
        (Duration::from_secs(1), Duration::from_secs(3), 2)
    } else {
        (Duration::from_secs(3), Duration::from_secs(10), 3)
    };
    migrate(url).await?;
    eprintln!("bench: seeding {users} users and {orders} orders");
    let customers = seed::seed(url, users, orders, false).await?;
    let service = Service::start(app, url, &[]).await?;
    let sessions = sign_in_all(&service.base, &customers).await?;
    service.stop()?;
    observability::measure(app, url, &sessions, (warmup, measure), rounds).await
}

async fn run(
    app: &std::path::Path,
    url: &str,
    quick: bool,
    reference: Option<&scratch::Scratch>,
) -> anyhow::Result<Report> {
    let (users, orders) = if quick { (200, 2_000) } else { (1_000, 20_000) };
    let (warmup, measure) = if quick {
        (Duration::from_secs(1), Duration::from_secs(3))
    } else {
        (Duration::from_secs(5), Duration::from_secs(20))
    };
    migrate(url).await?;
    eprintln!("bench: seeding {users} users and {orders} orders");
    let customers = seed::seed(url, users, orders, false).await?;

    let mut starts = Vec::new();
    for _ in 0..if quick { 1 } else { 3 } {
        let service = Service::start(app, url, &[]).await?;
        starts.push(service.start_to_ready);
        service.stop()?;
    }
    let service = Service::start(app, url, &[]).await?;
    let rss_ready = service.rss()?;
    service.reset_peak_rss()?;
    let sessions = sign_in_all(&service.base, &customers).await?;
    let sign_in_peak = service.peak_rss()?;
    let floor = Floor::connect(url, POOL).await?;
    let db = persistence::Db::connect(url).await?;
    // The service's hashing (one idle-class thread per CPU), in this process: argon2's cost
    // per hash, and the flood's floor.
    let hasher = identity::Identity::new(db.clone(), identity::IdentityConfig::default());
    let phc = floor.stored_hash().await?;
    let mut report = Report::new(if url.starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    });
    report.start_to_ready = starts;
    report.rss_ready = rss_ready;
    report.sign_in_peak = sign_in_peak;
    report.argon2 = argon2_cost(&hasher).await?;
    // Hashing never touches the database: no connection of the bench's stays open beside the
    // workloads.
    db.close().await?;

    // The SQLite run's yardstick for its list target (CPU per request within 2x the PostgreSQL
    // path's): the same workload on a PostgreSQL service seeded alike, measured in turns with
    // SQLite's, because measured minutes apart the two would compare two speeds of a shared
    // machine.
    let reference = match reference {
        Some(scratch) => Some(Reference::start(app, scratch.url(), (users, orders)).await?),
        None => None,
    };
    for workload in WORKLOADS {
        eprintln!("bench: {}", workload.name);
        let mut row = Row::pooled(workload.name);
        let mut lock_waits = (None, None);
        match (&reference, workload.kind) {
            (Some(reference), Kind::ListOrders) => {
                eprintln!("bench: in turns with {LIST_ON_POSTGRES}");
                let mut pg = Row::pooled(LIST_ON_POSTGRES);
                let rounds = measure.as_secs().div_ceil(ROUND.as_secs()).max(1);
                let (slice, warmup) = (measure / rounds as u32, warmup.min(ROUND_WARMUP));
                for _ in 0..rounds {
                    let on_sqlite = (&service, &sessions);
                    measure_round(&mut row, on_sqlite, *workload, (warmup, slice)).await?;
                    let on_postgres = (&reference.service, &reference.sessions);
                    measure_round(&mut pg, on_postgres, *workload, (warmup, slice)).await?;
                }
                report.reference = Some(pg);
            }
            _ => {
                let on_service = (&service, &sessions);
                let sampler = lock_sampler(workload.kind, url, (warmup, measure));
                let feed = (workload.kind == Kind::PlaceOrder)
                    .then(|| feed_lag::Sampler::start(url, (warmup, measure), None));
                measure_round(&mut row, on_service, *workload, (warmup, measure)).await?;
                lock_waits.0 = sampler.finish().await?;
                if let Some(feed) = feed {
                    report.feed_lag = Some(feed.finish().await?);
                }
            }
        }
        let sampler = lock_sampler(workload.kind, url, (warmup, measure));
        row.floor = match workload.kind {
            Kind::SignIn => None,
            _ => Some(
                drive(
                    floor_workers(*workload, &floor, &sessions, &phc, false),
                    warmup,
                    measure,
                )
                .await,
            ),
        };
        lock_waits.1 = sampler.finish().await?;
        if matches!(workload.kind, Kind::PlaceOrder | Kind::HotSku) {
            let best = floor_workers(*workload, &floor, &sessions, &phc, true);
            row.best = Some(drive(best, warmup, measure).await);
        }
        if let (Some(service), Some(floor)) = lock_waits {
            report.lock_waits.push((workload.name, service, floor));
        }
        // What docs/performance.md calls RSS after: the resident set once the floor has run too.
        row.rss_after = service.rss()?;
        report.rows.push(row);
    }
    if let Some(reference) = reference {
        reference.service.stop()?;
    }
    report
        .rows
        .push(transitions(&service, &floor, &sessions, (warmup, measure)).await?);
    if !url.starts_with("sqlite:") {
        report.two_instances =
            Some(two_instances(app, url, &service, &sessions, (warmup, measure)).await?);
    }
    // Reads beside a sign-in flood, next to the same reads alone: as fast as they go, then at
    // half the rate they reached alone, a fixed traffic whose latency the flood must not harm.
    let flood = (&service, &sessions, &hasher);
    let saturated = reads_beside_flood(flood, None, (warmup, measure)).await?;
    let rate = saturated.alone.rate() / 2.0;
    report.reads_beside_flood.push(saturated);
    let paced = reads_beside_flood(flood, Some(rate), (warmup, measure)).await?;
    report.reads_beside_flood.push(paced);
    report.flood_peak = service.peak_rss()?;
    floor.close().await;
    service.stop()?;
    Ok(report)
}

/// The transitions workload's name.
const TRANSITIONS: &str = "POST /v1/orders/{id}/pay, then /cancel (alternating)";

/// Transitions on the signed-in customers' pending orders (those seeded and those the
/// placement workloads left): each connection pays an order, then cancels it (releasing its
/// stock), then goes on to the next, on the service, then on its SQL floor, then on its
/// best-way floor, each on a third of every customer's orders. Shipping is left out: it takes
/// an admin, whose orders the bench does not hold.
async fn transitions(
    service: &Service,
    floor: &Floor,
    sessions: &Arc<Vec<Session>>,
    (warmup, measure): (Duration, Duration),
) -> anyhow::Result<Row> {
    eprintln!("bench: {TRANSITIONS}");
    let customers: Vec<uuid::Uuid> = sessions.iter().map(|s| s.customer.id).collect();
    let mut pending: std::collections::HashMap<uuid::Uuid, Vec<uuid::Uuid>> = Default::default();
    for (customer, order) in floor.pending_orders(&customers).await? {
        pending.entry(customer).or_default().push(order);
    }
    // Each connection's orders, for each of the three variants: a third of its customer's.
    let mut shares: Vec<[Vec<uuid::Uuid>; 3]> =
        (0..CONNECTIONS).map(|_| Default::default()).collect();
    for (worker, share) in shares.iter_mut().enumerate() {
        let customer = sessions[worker % sessions.len()].customer.id;
        let sharing = (0..CONNECTIONS).filter(|w| w % sessions.len() == worker % sessions.len());
        let (nth, of) = (
            sharing.clone().take_while(|&w| w < worker).count(),
            sharing.count(),
        );
        let orders = pending
            .get(&customer)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (i, order) in orders.iter().enumerate().filter(|(i, _)| i % of == nth) {
            share[(i / of) % 3].push(*order);
        }
    }
    let workers = |variant: usize| {
        shares
            .iter()
            .enumerate()
            .map(|(worker, share)| {
                let session = sessions[worker % sessions.len()].clone();
                let mut orders = share[variant].clone().into_iter();
                let mut paying: Option<uuid::Uuid> = None;
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap_or_default();
                let base = service.base.clone();
                let floor = floor.clone();
                move || -> Op {
                    // Pay the next order, then cancel it.
                    let (order, cancel) = match paying.take() {
                        Some(order) => (Some(order), true),
                        None => {
                            paying = orders.next();
                            (paying, false)
                        }
                    };
                    let (client, base, floor) = (client.clone(), base.clone(), floor.clone());
                    let (token, digest, customer) = (
                        session.token.clone(),
                        session.digest.clone(),
                        session.customer.id,
                    );
                    Box::pin(async move {
                        let Some(order) = order else {
                            // Out of orders: a failure, without spinning.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            return false;
                        };
                        match variant {
                            0 => {
                                let verb = if cancel { "cancel" } else { "pay" };
                                client
                                    .post(format!("{base}/v1/orders/{order}/{verb}"))
                                    .bearer_auth(&token)
                                    .send()
                                    .await
                                    .is_ok_and(|r| r.status().is_success())
                            }
                            1 => floor
                                .transition(&digest, customer, order, cancel)
                                .await
                                .is_ok(),
                            _ => floor
                                .transition_best(&digest, customer, order, cancel)
                                .await
                                .is_ok(),
                        }
                    })
                }
            })
            .collect::<Vec<_>>()
    };
    let mut row = Row::pooled(TRANSITIONS);
    let (http, cpu_before) = drive_with(
        workers(0),
        None,
        warmup,
        measure,
        window_opened(service.probe()),
    )
    .await;
    let cpu = service.cpu()?.saturating_sub(cpu_before?);
    row.add_round(http, cpu, service.peak_rss()?, service.rss()?);
    row.floor = Some(drive(workers(1), warmup, measure).await);
    row.best = Some(drive(workers(2), warmup, measure).await);
    Ok(row)
}

/// Placement on two service instances sharing the database, the connections split between
/// them; then placement on one instance again, beside the feed's reader, while a transaction
/// with a transaction id stays open for [`HELD_OPEN`] midway: it holds the feed back and must
/// not hold back the writers.
async fn two_instances(
    app: &std::path::Path,
    url: &str,
    first: &Service,
    sessions: &Arc<Vec<Session>>,
    (warmup, measure): (Duration, Duration),
) -> anyhow::Result<report::TwoInstances> {
    eprintln!("bench: POST /v1/orders on two instances");
    let second = Service::start(app, url, &[]).await?;
    let place = WORKLOADS
        .iter()
        .find(|w| w.kind == Kind::PlaceOrder)
        .copied()
        .context("no placement workload")?;
    let half = CONNECTIONS / 2;
    let mut workers: Vec<_> = http_workers(place, &first.base, sessions)
        .into_iter()
        .take(half)
        .collect();
    workers.extend(
        http_workers(place, &second.base, sessions)
            .into_iter()
            .skip(half),
    );
    let http = drive(workers, warmup, measure).await;
    second.stop()?;
    eprintln!("bench: POST /v1/orders on one instance, a transaction held open midway");
    let feed = feed_lag::Sampler::start(url, (warmup, measure), Some(HELD_OPEN));
    let held = drive(http_workers(place, &first.base, sessions), warmup, measure).await;
    let lags = feed.finish().await?;
    Ok(report::TwoInstances { http, held, lags })
}

/// How long the two-instance window's open transaction stays open.
const HELD_OPEN: Duration = Duration::from_secs(1);

/// `GET /v1/orders/{id}` on 8 connections, at `rate` reads/s or as fast as they go, alone and
/// beside 32 connections signing in (which keep the hashing threads saturated), in turns; at a
/// fixed rate also beside the floor, the flood's hashes without the service ([`hashing_floor`]).
async fn reads_beside_flood(
    (service, sessions, hasher): (&Service, &Arc<Vec<Session>>, &identity::Identity),
    rate: Option<f64>,
    (warmup, measure): (Duration, Duration),
) -> anyhow::Result<report::ReadsBesideFlood> {
    let pace = rate.map_or("as fast as they go".to_owned(), |r| format!("{r:.0}/s"));
    eprintln!("bench: GET /v1/orders/{{id}} ({pace}) alone, then during a sign-in flood");
    let readers = || {
        let mut workers = http_workers(WORKLOADS[0], &service.base, sessions);
        workers.truncate(8);
        workers
    };
    // Interleaved rounds of alone and during, pooled per variant: on a shared machine whose
    // speed drifts over minutes, one window of each would compare two moments of the machine as
    // much as the flood.
    let rounds = measure.as_secs().div_ceil(ROUND.as_secs()).max(1);
    let (slice, warmup) = (measure / rounds as u32, warmup.min(ROUND_WARMUP));
    let mut beside = report::ReadsBesideFlood {
        rate,
        alone: Measured::empty(),
        hashing: rate.map(|_| Measured::empty()),
        floor_hashes: (0, Duration::ZERO),
        during: Measured::empty(),
        flood: Measured::empty(),
        round_p99s: Vec::new(),
    };
    for round in 0..rounds {
        let (alone, ()) = drive_with(readers(), rate, warmup, slice, || ()).await;
        // At a fixed rate, the same reads beside the flood's floor. As fast as they go, the
        // reads take the CPUs themselves, so there is no floor to compare with.
        let mut hashing_p99 = None;
        if let Some(pooled) = beside.hashing.as_mut() {
            let (hashing, hashes) = hashing_floor(hasher, readers(), rate, (warmup, slice)).await?;
            hashing_p99 = Some(hashing.quantile_ms(0.99));
            pooled.merge(hashing);
            beside.floor_hashes = (
                beside.floor_hashes.0 + hashes,
                beside.floor_hashes.1 + slice,
            );
        }
        // The peak memory beside the flood is that of every round: reset when the first opens.
        let probe = service.probe();
        let opened = move || match round {
            0 => probe.reset_peak_rss(),
            _ => Ok(()),
        };
        let ((during, opened), flood) = tokio::join!(
            drive_with(readers(), rate, warmup, slice, opened),
            drive(
                http_workers(WORKLOADS[4], &service.base, sessions),
                warmup,
                slice
            ),
        );
        opened?;
        beside.round_p99s.push(report::RoundP99s {
            alone: alone.quantile_ms(0.99),
            hashing: hashing_p99,
            during: during.quantile_ms(0.99),
        });
        beside.alone.merge(alone);
        beside.during.merge(during);
        beside.flood.merge(flood);
    }
    Ok(beside)
}

/// The flood's floor, like the SQL floor of the other workloads: the flood's argon2 work without
/// the service. 32 tasks hash passwords back to back on `hasher`, the identity context's own
/// hashing threads (one per CPU, idle class, nice 19) in this process, which shares the
/// service's session and so its scheduling group, while `readers` are measured. Returns the
/// reads and how many hashes were done in their measured window.
///
/// Why a floor: on a virtual machine whose idle vCPUs poll, waking a thread on a busy vCPU
/// costs an interrupt that waking it on an idle one does not, even when the busy thread is in
/// the idle scheduling class (docs/performance.md, "Reads beside a sign-in flood"). And argon2 streams
/// 7 MiB per hash through caches the reads share. A read wakes threads about eight times, so hashes that
/// keep both CPUs busy lengthen reads whoever runs them; during the flood minus beside the
/// floor is what the service adds.
async fn hashing_floor<W>(
    hasher: &identity::Identity,
    readers: Vec<W>,
    rate: Option<f64>,
    (warmup, measure): (Duration, Duration),
) -> anyhow::Result<(Measured, u64)>
where
    W: FnMut() -> Op + Send + 'static,
{
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let hashing: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (hasher, stop, done) = (hasher.clone(), Arc::clone(&stop), Arc::clone(&done));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let password = identity::Password::parse(seed::PASSWORD)?;
                    hasher.hash_password(password).await?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            })
        })
        .collect();
    let at_open = Arc::clone(&done);
    let (measured, opened) = drive_with(readers, rate, warmup, measure, move || {
        at_open.load(Ordering::Relaxed)
    })
    .await;
    let hashes = done.load(Ordering::Relaxed).saturating_sub(opened);
    stop.store(true, Ordering::Relaxed);
    for task in hashing {
        task.await??;
    }
    Ok((measured, hashes))
}

/// The measured length of one round where variants are measured in turns (reads alone and
/// beside the flood; the list on SQLite and on PostgreSQL), and the warm-up before each (the
/// flood fills the hashing queue within its first sign-ins).
const ROUND: Duration = Duration::from_secs(5);
const ROUND_WARMUP: Duration = Duration::from_secs(1);

/// The PostgreSQL service that the SQLite run's list is measured against: started on its own
/// scratch database, seeded like the SQLite one, its customers signed in.
struct Reference {
    service: Service,
    sessions: Arc<Vec<Session>>,
}

impl Reference {
    async fn start(
        app: &std::path::Path,
        url: &str,
        (users, orders): (usize, usize),
    ) -> anyhow::Result<Self> {
        migrate(url).await?;
        eprintln!(
            "bench: seeding PostgreSQL with {users} users and {orders} orders, for the list's reference"
        );
        let customers = seed::seed(url, users, orders, false).await?;
        let service = Service::start(app, url, &[]).await?;
        let sessions = sign_in_all(&service.base, &customers).await?;
        Ok(Self { service, sessions })
    }
}

/// The reference row's name in the SQLite report's workload table.
const LIST_ON_POSTGRES: &str =
    "GET /v1/users/{id}/orders?limit=20 on PostgreSQL (reference, in turns with the list above)";

/// One measured window of `workload` on `service`, after its warm-up, added to `row`.
async fn measure_round(
    row: &mut Row,
    on: (&Service, &Arc<Vec<Session>>),
    workload: Workload,
    window: (Duration, Duration),
) -> anyhow::Result<()> {
    let (http, cpu) = measure_window(on, workload, window).await?;
    row.add_round(http, cpu, on.0.peak_rss()?, on.0.rss()?);
    Ok(())
}

/// One measured window of `workload` on `service` after its warm-up: what the clients saw,
/// and the CPU the service spent in the window.
async fn measure_window(
    on: (&Service, &Arc<Vec<Session>>),
    workload: Workload,
    window: (Duration, Duration),
) -> anyhow::Result<(Measured, Duration)> {
    measure_window_sending(on, workload, window, reqwest::header::HeaderMap::new()).await
}

/// [`measure_window`] with `headers` on every request.
async fn measure_window_sending(
    (service, sessions): (&Service, &Arc<Vec<Session>>),
    workload: Workload,
    (warmup, measure): (Duration, Duration),
    headers: reqwest::header::HeaderMap,
) -> anyhow::Result<(Measured, Duration)> {
    let (http, cpu_before) = drive_with(
        http_workers_sending(workload, &service.base, sessions, headers),
        None,
        warmup,
        measure,
        window_opened(service.probe()),
    )
    .await;
    Ok((http, service.cpu()?.saturating_sub(cpu_before?)))
}

/// For the placement workloads on PostgreSQL, a sampler of the lock waits in the window that
/// `drive` measures when started now (see `locks.rs`); one that samples nothing otherwise.
fn lock_sampler(kind: Kind, url: &str, (warmup, measure): (Duration, Duration)) -> locks::Sampler {
    match kind {
        Kind::PlaceOrder | Kind::HotSku => locks::Sampler::start(url, warmup, measure),
        _ => locks::Sampler::none(),
    }
}

/// What happens when a measured window opens: the service's peak memory is reset, so that a
/// workload's peak is its own (not what the warm-up or the workload before left resident), and
/// its CPU time so far is read, so that CPU per request counts the measured requests only.
fn window_opened(probe: Probe) -> impl FnOnce() -> anyhow::Result<Duration> + Send + 'static {
    move || {
        probe.reset_peak_rss()?;
        probe.cpu()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    GetOrder,
    ListOrders,
    PlaceOrder,
    SignUp,
    SignIn,
    HotSku,
}

#[derive(Debug, Clone, Copy)]
struct Workload {
    name: &'static str,
    kind: Kind,
}

const WORKLOADS: &[Workload] = &[
    Workload {
        name: "GET /v1/orders/{id}",
        kind: Kind::GetOrder,
    },
    Workload {
        name: "GET /v1/users/{id}/orders?limit=20",
        kind: Kind::ListOrders,
    },
    Workload {
        name: "POST /v1/orders (3 lines)",
        kind: Kind::PlaceOrder,
    },
    Workload {
        name: "POST /v1/users (sign-up)",
        kind: Kind::SignUp,
    },
    Workload {
        name: "POST /v1/sessions (sign-in)",
        kind: Kind::SignIn,
    },
    Workload {
        name: "POST /v1/orders (hot skus: every connection buys the same 3)",
        kind: Kind::HotSku,
    },
];

/// The hot-sku workload's skus: the first three of the bench's catalog.
const HOT_SKUS: usize = 3;

/// A spread placement's lines: three different skus of the bench's catalog, drawn at random,
/// 1, 2 and 3 units, in the drawn order (so rarely in sku order).
fn spread_lines(rng: &mut SmallRng) -> Vec<(String, i64)> {
    rand::seq::index::sample(rng, seed::BENCH_PRODUCTS, 3)
        .iter()
        .zip(1..)
        .map(|(n, quantity)| (seed::sku(n), quantity))
        .collect()
}

/// A hot placement's lines: 1, 2 and 3 units of the [`HOT_SKUS`], shuffled, so that lines come
/// in every order and only the service's sku-ordered locking keeps them from deadlocking.
fn hot_lines(rng: &mut SmallRng) -> Vec<(String, i64)> {
    let mut lines: Vec<(String, i64)> = (0..HOT_SKUS)
        .map(|n| (seed::sku(n), n as i64 + 1))
        .collect();
    lines.shuffle(rng);
    lines
}

/// `POST /v1/orders` of `lines`, priced by the server (no price shown).
fn place_request(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    lines: &[(String, i64)],
) -> reqwest::RequestBuilder {
    let items: Vec<serde_json::Value> = lines
        .iter()
        .map(|(sku, quantity)| json!({"sku": sku, "quantity": quantity}))
        .collect();
    client
        .post(format!("{base}/v1/orders"))
        .bearer_auth(token)
        .json(&json!({"currency": "EUR", "items": items}))
}

fn http_workers(
    workload: Workload,
    base: &str,
    sessions: &Arc<Vec<Session>>,
) -> Vec<impl FnMut() -> Op + Send + 'static> {
    http_workers_sending(workload, base, sessions, reqwest::header::HeaderMap::new())
}

/// [`http_workers`] whose every request also carries `headers`.
fn http_workers_sending(
    workload: Workload,
    base: &str,
    sessions: &Arc<Vec<Session>>,
    headers: reqwest::header::HeaderMap,
) -> Vec<impl FnMut() -> Op + Send + 'static> {
    (0..CONNECTIONS)
        .map(|worker| {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .default_headers(headers.clone())
                .build()
                .unwrap_or_default();
            let base = base.to_owned();
            let session = sessions[worker % sessions.len()].clone();
            let mut rng = SmallRng::seed_from_u64(worker as u64);
            move || -> Op {
                let request = match workload.kind {
                    Kind::GetOrder => {
                        let orders = &session.customer.orders;
                        let order = orders[rng.random_range(0..orders.len())];
                        client
                            .get(format!("{base}/v1/orders/{order}"))
                            .bearer_auth(&session.token)
                    }
                    Kind::ListOrders => client
                        .get(format!(
                            "{base}/v1/users/{}/orders?limit=20",
                            session.customer.id
                        ))
                        .bearer_auth(&session.token),
                    Kind::PlaceOrder => {
                        place_request(&client, &base, &session.token, &spread_lines(&mut rng))
                    }
                    Kind::HotSku => {
                        place_request(&client, &base, &session.token, &hot_lines(&mut rng))
                    }
                    Kind::SignUp => {
                        let id = uuid::Uuid::now_v7().simple();
                        client.post(format!("{base}/v1/users")).json(&json!({
                            "email": format!("{id}@signup.example"),
                            "display_name": "Bench sign-up",
                            "password": seed::PASSWORD,
                        }))
                    }
                    Kind::SignIn => client.post(format!("{base}/v1/sessions")).json(&json!({
                        "email": session.customer.email,
                        "password": seed::PASSWORD,
                    })),
                };
                Box::pin(async move {
                    match request.send().await {
                        Ok(response) => {
                            let ok = response.status().is_success();
                            ok && response.bytes().await.is_ok()
                        }
                        Err(_) => false,
                    }
                })
            }
        })
        .collect()
}

fn floor_workers(
    workload: Workload,
    floor: &Floor,
    sessions: &Arc<Vec<Session>>,
    phc: &str,
    best: bool,
) -> Vec<impl FnMut() -> Op + Send + 'static> {
    (0..CONNECTIONS)
        .map(|worker| {
            let floor = floor.clone();
            let session = sessions[worker % sessions.len()].clone();
            let phc = phc.to_owned();
            let mut rng = SmallRng::seed_from_u64(worker as u64);
            move || -> Op {
                let floor = floor.clone();
                let digest = session.digest.clone();
                let customer = session.customer.id;
                let orders = &session.customer.orders;
                let order = orders[rng.random_range(0..orders.len())];
                let phc = phc.clone();
                let lines = match workload.kind {
                    Kind::PlaceOrder => spread_lines(&mut rng),
                    Kind::HotSku => hot_lines(&mut rng),
                    _ => Vec::new(),
                };
                Box::pin(async move {
                    let done = match workload.kind {
                        Kind::GetOrder => floor.get_order(&digest, order).await,
                        Kind::ListOrders => floor.list_orders(&digest, customer).await,
                        Kind::PlaceOrder | Kind::HotSku if best => {
                            floor.place_order_best(&digest, customer, &lines).await
                        }
                        Kind::PlaceOrder => floor.place_order(&digest, customer, &lines).await,
                        Kind::HotSku => floor.place_hot_order(&digest, customer, &lines).await,
                        Kind::SignUp => floor.sign_up(&phc).await,
                        Kind::SignIn => Ok(()),
                    };
                    done.is_ok()
                })
            }
        })
        .collect()
}

/// Signs the first `SIGNED_IN` customers in.
async fn sign_in_all(
    base: &str,
    customers: &[seed::Customer],
) -> anyhow::Result<Arc<Vec<Session>>> {
    let client = reqwest::Client::new();
    let mut sessions = Vec::new();
    for customer in customers.iter().take(SIGNED_IN) {
        let token = sign_in(&client, base, &customer.email).await?;
        let raw = URL_SAFE_NO_PAD.decode(&token)?;
        let digest = Sha256::digest(raw).to_vec();
        sessions.push(Session {
            customer: customer.clone(),
            token,
            digest,
        });
    }
    Ok(Arc::new(sessions))
}

async fn sign_in(client: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<String> {
    let response = client
        .post(format!("{base}/v1/sessions"))
        .json(&json!({"email": email, "password": seed::PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "sign-in of {email} answered {}",
        response.status()
    );
    let body: serde_json::Value = response.json().await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .context("sign-in answered no token")
}

/// argon2's own cost on this machine: the median of ten hashes, one at a time. The median, so
/// that a hash slowed by whatever else runs on a shared machine does not move the figure.
async fn argon2_cost(identity: &identity::Identity) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(ARGON2_ROUNDS);
    for _ in 0..ARGON2_ROUNDS {
        let password = identity::Password::parse(seed::PASSWORD)?;
        let started = Instant::now();
        identity.hash_password(password).await?;
        times.push(started.elapsed());
    }
    Ok(median(&mut times))
}

/// How many hashes `argon2_cost` times.
const ARGON2_ROUNDS: usize = 10;

/// The middle of `times` (the mean of the two middle ones when even); zero when empty.
fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    match times.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => times[n / 2],
        n => (times[n / 2 - 1] + times[n / 2]) / 2,
    }
}

/// Starts the service, signs the customers in and measures GET of an order with `orders` in
/// the database, as one row of the scale report; the service keeps running for more.
async fn get_order_at(
    app: &std::path::Path,
    url: &str,
    customers: &[seed::Customer],
    orders: usize,
    scale: &mut report::Scale,
    (warmup, measure): (Duration, Duration),
) -> anyhow::Result<(Service, Arc<Vec<Session>>)> {
    let service = Service::start(app, url, &[]).await?;
    let sessions = sign_in_all(&service.base, customers).await?;
    eprintln!("bench: GET of an order at {orders} orders");
    let measured = drive(
        http_workers(WORKLOADS[0], &service.base, &sessions),
        warmup,
        measure,
    )
    .await;
    scale.rows.push((
        format!("GET /v1/orders/{{id}} at {orders} orders"),
        measured,
    ));
    Ok((service, sessions))
}

/// The three workloads with a target ratio (reading an order, a page of a customer's orders,
/// placing an order), the service then its SQL floor, with `orders` in the database: one row
/// each of the scale report's ratio table. Placing goes last, as it adds orders.
async fn ratios_at(
    service: &Service,
    sessions: &Arc<Vec<Session>>,
    url: &str,
    orders: usize,
    scale: &mut report::Scale,
    (warmup, measure): (Duration, Duration),
) -> anyhow::Result<()> {
    let floor = Floor::connect(url, POOL).await?;
    let phc = floor.stored_hash().await?;
    for (workload, target) in WORKLOADS.iter().zip(TARGETS) {
        eprintln!(
            "bench: {} at {orders} orders, the service then its floor",
            workload.name
        );
        let http = drive(
            http_workers(*workload, &service.base, sessions),
            warmup,
            measure,
        )
        .await;
        let floor_measured = drive(
            floor_workers(*workload, &floor, sessions, &phc, false),
            warmup,
            measure,
        )
        .await;
        scale.ratios.push(report::Ratio {
            name: format!("{} at {orders} orders", workload.name),
            http,
            floor: floor_measured,
            target,
        });
    }
    floor.close().await;
    Ok(())
}

/// The lowest acceptable ratio to the floor of the first three workloads, in
/// `WORKLOADS` order.
const TARGETS: [f64; 3] = [0.5, 0.7, 0.8];

/// The scale run: GET of an order at the normal size and at `scale_orders`, and one customer's
/// first page next to a page deep in its `heavy_orders` orders.
async fn run_scale(
    app: &std::path::Path,
    url: &str,
    quick: bool,
    heavy_orders: usize,
    scale_orders: usize,
) -> anyhow::Result<report::Scale> {
    let (users, orders) = (1_000, 20_000);
    let (warmup, measure) = if quick {
        (Duration::from_secs(1), Duration::from_secs(3))
    } else {
        (Duration::from_secs(3), Duration::from_secs(10))
    };
    migrate(url).await?;
    eprintln!("bench: seeding {users} users and {orders} orders");
    let customers = seed::seed(url, users, orders, false).await?;
    let mut scale = report::Scale::new(if url.starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    });

    let (service, sessions) =
        get_order_at(app, url, &customers, orders, &mut scale, (warmup, measure)).await?;
    ratios_at(
        &service,
        &sessions,
        url,
        orders,
        &mut scale,
        (warmup, measure),
    )
    .await?;
    service.stop()?;

    // The heavy customer is the first signed-in one; the rest of the growth is spread.
    let heavy = customers[0].id;
    let started = Instant::now();
    seed::place_for(url, heavy, heavy_orders).await?;
    let rest = scale_orders.saturating_sub(orders + heavy_orders);
    let others: Vec<uuid::Uuid> = customers.iter().skip(1).map(|c| c.id).collect();
    seed::place_spread(url, &others, rest).await?;
    seed::analyze(url).await?;
    let total = orders + heavy_orders + rest;
    scale.seeded = Some((total, started.elapsed()));

    let (service, sessions) =
        get_order_at(app, url, &customers, total, &mut scale, (warmup, measure)).await?;
    ratios_at(
        &service,
        &sessions,
        url,
        total,
        &mut scale,
        (warmup, measure),
    )
    .await?;

    // Walk the heavy customer's list 100 at a time to 90% of its depth, for a deep cursor.
    let owner = &sessions[0];
    let client = reqwest::Client::new();
    let list = format!("{}/v1/users/{}/orders", service.base, owner.customer.id);
    let depth = (heavy_orders + orders / users) * 9 / 10;
    let mut cursor: Option<String> = None;
    let mut walked = 0;
    while walked + 100 <= depth {
        let mut request = client
            .get(&list)
            .query(&[("limit", "100")])
            .bearer_auth(&owner.token);
        if let Some(after) = &cursor {
            request = request.query(&[("after", after.as_str())]);
        }
        let body: serde_json::Value = request.send().await?.error_for_status()?.json().await?;
        cursor = body["next"].as_str().map(str::to_owned);
        walked += 100;
        if cursor.is_none() {
            break;
        }
    }
    let deep = cursor.context("the heavy customer's list ended early")?;
    for (name, after) in [
        ("first page".to_owned(), None),
        (format!("page after {walked} orders"), Some(deep)),
    ] {
        eprintln!("bench: the heavy customer's list, {name}");
        let workers = (0..CONNECTIONS)
            .map(|_| {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap_or_default();
                let (list, token, after) = (list.clone(), owner.token.clone(), after.clone());
                move || -> Op {
                    let mut request = client
                        .get(&list)
                        .query(&[("limit", "20")])
                        .bearer_auth(&token);
                    if let Some(after) = &after {
                        request = request.query(&[("after", after.as_str())]);
                    }
                    Box::pin(async move {
                        match request.send().await {
                            Ok(response) => {
                                response.status().is_success() && response.bytes().await.is_ok()
                            }
                            Err(_) => false,
                        }
                    })
                }
            })
            .collect();
        let measured = drive(workers, warmup, measure).await;
        scale.rows.push((
            format!(
                "GET /v1/users/{{id}}/orders?limit=20, {} orders, {name}",
                heavy_orders + orders / users
            ),
            measured,
        ));
    }
    service.stop()?;
    Ok(scale)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::median;

    #[test]
    fn the_median_ignores_one_slow_hash() {
        let ms = Duration::from_millis;
        assert_eq!(
            median(&mut [ms(30), ms(200), ms(28), ms(29)]),
            ms(29) + ms(1) / 2
        );
        assert_eq!(median(&mut [ms(30), ms(200), ms(28)]), ms(30));
        assert_eq!(median(&mut []), Duration::ZERO);
    }
}
