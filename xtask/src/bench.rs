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
    /// Orders of the scale run's one heavy customer.
    #[arg(long, default_value_t = 100_000)]
    heavy_orders: usize,
    /// Orders in the database for the scale run's second measurement.
    #[arg(long, default_value_t = 1_000_000)]
    scale_orders: usize,
    #[command(flatten)]
    scratch: ScratchArgs,
}

/// Options of `cargo xtask soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// How long the mixed load runs: `30s`, `2m`, `500ms`.
    #[arg(long, default_value = "30s")]
    duration: String,
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
    /// drops it afterwards.
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
}

/// Options of `cargo xtask seed`.
#[derive(Debug, clap::Args)]
pub struct SeedArgs {
    /// Customers to register (each with a credential; password `bench password 1234`).
    #[arg(long, default_value_t = 1_000)]
    users: usize,
    /// Three-line orders to place from the catalog (priced by it, their stock reserved),
    /// spread evenly over the customers.
    #[arg(long, default_value_t = 20_000)]
    orders: usize,
    /// Products in the catalog (`SKU-0`, `SKU-1`, ...), each priced in EUR and USD.
    #[arg(long, default_value_t = 100)]
    products: usize,
    /// Units on hand of each product (set through the stock adjustments); by default what the
    /// orders reserve of the busiest sku plus 10,000 to sell.
    #[arg(long)]
    stock_per_product: Option<i64>,
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
        .arg("--admin-url")
        .arg(&args.scratch.postgres_url)
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
            .arg("--heavy-orders")
            .arg(args.heavy_orders.to_string())
            .arg("--scale-orders")
            .arg(args.scale_orders.to_string());
    }
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
        .arg("--admin-url")
        .arg(&args.scratch.postgres_url)
        .arg("--duration")
        .arg(&args.duration);
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
        .arg("--admin-url")
        .arg(&args.scratch.postgres_url)
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
        .arg("--users")
        .arg(args.users.to_string())
        .arg("--orders")
        .arg(args.orders.to_string())
        .arg("--products")
        .arg(args.products.to_string());
    if let Some(stock) = args.stock_per_product {
        command.arg("--stock-per-product").arg(stock.to_string());
    }
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
