//! `cargo xtask bench` and `cargo xtask seed`: build the release service and the `bench` binary,
//! then let `bench` do the work (it seeds through the contexts' APIs, drives the service over
//! HTTP and measures the SQL floor through sqlx). Release builds, because a debug build measures
//! the compiler's unoptimised code, not ours.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

use crate::Outcome;
use crate::workspace::Workspace;

/// Options of `cargo xtask bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Benchmark the embedded SQLite engine instead of PostgreSQL.
    #[arg(long)]
    sqlite: bool,
    /// A smoke run (small data, 3 s per workload): proves the harness works, in under a minute.
    #[arg(long)]
    quick: bool,
    /// Instead of the workloads, measure what tracing and metrics cost `GET /v1/orders/{id}`:
    /// off, metrics only, tracing exported (to a loopback stand-in collector) at sampling
    /// ratios 1, 0.1 and 0.01, and metrics with tracing, side by side in one table; the report
    /// is `<engine>-observability.md`.
    #[arg(long)]
    observability: bool,
    /// The scale run instead of the workloads: seeds 20,000 orders and measures GET of an
    /// order, then gives one customer `--heavy-orders` orders, grows the database to
    /// `--scale-orders` (through `Orders::place_many_in`, in batches) and measures GET of an order
    /// again and that customer's first list page next to a page 90% deep. Writes
    /// `target/bench/<engine>-scale.md`.
    #[arg(long, conflicts_with = "observability")]
    scale: bool,
    /// Orders of the scale run's one heavy customer (default: the bench binary's).
    #[arg(long)]
    heavy_orders: Option<usize>,
    /// Orders in the database for the scale run's second measurement (default: the bench
    /// binary's).
    #[arg(long)]
    scale_orders: Option<usize>,
    #[command(flatten)]
    scratch: ScratchArgs,
}

/// Options of `cargo xtask soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// How long the mixed load runs: `30s`, `2m`, `500ms` (default: the bench binary's).
    #[arg(long)]
    duration: Option<String>,
    /// Soak the embedded SQLite engine instead of PostgreSQL.
    #[arg(long)]
    sqlite: bool,
    #[command(flatten)]
    scratch: ScratchArgs,
}

/// Options of `cargo xtask drill`.
#[derive(Debug, clap::Args)]
pub struct DrillArgs {
    #[command(subcommand)]
    drill: Drill,
    #[command(flatten)]
    scratch: ScratchArgs,
}

#[derive(Debug, clap::Subcommand)]
enum Drill {
    /// Two release instances on one fresh PostgreSQL database behind HAProxy, under a load of
    /// keyed placements and reads; each instance restarted twice in turn. Fails on any failed
    /// request or any order lost or doubled; writes `target/drill/rolling-restart.md`.
    RollingRestart,
}

/// Where `bench` and `soak` create their scratch PostgreSQL database.
#[derive(Debug, clap::Args)]
pub struct ScratchArgs {
    /// A PostgreSQL role allowed to create databases; the run creates `bench_<uuid>` there and
    /// drops it afterwards (default: `BENCH_POSTGRES_URL`, else the local server, as the bench
    /// binary reads them).
    #[arg(long)]
    postgres_url: Option<String>,
}

/// Options of `cargo xtask seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// Customers to register (each with a credential; password `bench password 1234`).
    #[arg(long)]
    users: Option<usize>,
    /// Three-line orders to place from the catalog (priced by it, their stock reserved),
    /// spread evenly over the customers.
    #[arg(long)]
    orders: Option<usize>,
    /// Products in the catalog (`SKU-0`, `SKU-1`, ...), each priced in EUR and USD.
    #[arg(long)]
    products: Option<usize>,
    /// Units on hand of each product (set through the stock adjustments); by default what the
    /// orders reserve of the busiest sku plus 10,000 to sell.
    #[arg(long)]
    stock_per_product: Option<i64>,
}

/// `flag value` when the option was given, nothing otherwise: the bench binary states each
/// default once.
fn pass<T: ToString>(flag: &str, value: Option<T>) -> Vec<String> {
    value.map_or_else(Vec::new, |value| vec![flag.to_owned(), value.to_string()])
}

/// Builds, then runs every workload on a fresh database and writes `target/bench/<engine>.md`.
pub fn bench(root: &Path, args: &BenchArgs) -> anyhow::Result<Outcome> {
    let release = build(root)?;
    let engine = if args.sqlite { "sqlite" } else { "postgres" };
    let suffix = match (args.scale, args.observability, args.quick) {
        // `--scale` and `--observability` exclude each other (clap refuses both).
        (true, _, true) => "-scale-quick",
        (true, _, false) => "-scale",
        (false, false, false) => "",
        (false, false, true) => "-quick",
        (false, true, false) => "-observability",
        (false, true, true) => "-observability-quick",
    };
    let report = release
        .parent()
        .unwrap_or(&release)
        .join("bench")
        .join(format!("{engine}{suffix}.md"));
    let mut command = Command::new(release.join("bench"));
    command
        .arg("run")
        .arg("--app")
        .arg(release.join("app"))
        .arg("--engine")
        .arg(engine)
        .arg("--report")
        .arg(&report);
    if args.quick {
        command.arg("--quick");
    }
    if args.observability {
        command.arg("--observability");
    }
    if args.scale {
        command
            .arg("--scale")
            .args(pass("--heavy-orders", args.heavy_orders))
            .args(pass("--scale-orders", args.scale_orders));
    }
    command.args(pass("--admin-url", args.scratch.postgres_url.as_ref()));
    status(command)
}

/// Builds, then runs a mixed load on the release service over a fresh database and checks the
/// invariants afterwards (the `bench` binary's `soak`); fails on any 5xx or violation.
pub fn soak(root: &Path, args: &SoakArgs) -> anyhow::Result<Outcome> {
    let release = build(root)?;
    let mut command = Command::new(release.join("bench"));
    command
        .arg("soak")
        .arg("--app")
        .arg(release.join("app"))
        .arg("--engine")
        .arg(if args.sqlite { "sqlite" } else { "postgres" })
        .args(pass("--admin-url", args.scratch.postgres_url.as_ref()))
        .args(pass("--duration", args.duration.as_ref()));
    status(command)
}

/// Builds, then rehearses an operation on the release service (the `bench` binary's `drill`).
pub fn drill(root: &Path, args: &DrillArgs) -> anyhow::Result<Outcome> {
    let release = build(root)?;
    let Drill::RollingRestart = args.drill;
    let report = release
        .parent()
        .unwrap_or(&release)
        .join("drill")
        .join("rolling-restart.md");
    let mut command = Command::new(release.join("bench"));
    command
        .arg("drill-rolling-restart")
        .arg("--app")
        .arg(release.join("app"))
        .arg("--engine")
        .arg("postgres")
        .args(pass("--admin-url", args.scratch.postgres_url.as_ref()))
        .arg("--report")
        .arg(&report);
    status(command)
}

/// Builds, migrates `url` and fills it through the contexts' public APIs.
pub fn seed(root: &Path, url: &str, args: &SeedArgs) -> anyhow::Result<Outcome> {
    let release = build(root)?;
    let mut command = Command::new(release.join("bench"));
    command
        .arg("seed")
        .args(pass("--users", args.users))
        .args(pass("--orders", args.orders))
        .args(pass("--products", args.products))
        .args(pass("--stock-per-product", args.stock_per_product));
    command.env("DATABASE_URL", url);
    status(command)
}

/// `cargo build --release -p app -p bench`; returns the release directory.
fn build(root: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let built = Command::new(cargo)
        .args(["build", "--release", "-p", "app", "-p", "bench"])
        .current_dir(root)
        .status()
        .context("cannot run cargo build")?;
    anyhow::ensure!(built.success(), "the release build failed");
    Ok(Workspace::load(root)?.target_directory.join("release"))
}

fn status(mut command: Command) -> anyhow::Result<Outcome> {
    let ran = command
        .status()
        .with_context(|| format!("cannot run {:?}", command.get_program()))?;
    Ok(if ran.success() {
        Outcome::Success
    } else {
        Outcome::Failed
    })
}
