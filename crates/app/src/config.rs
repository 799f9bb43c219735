//! Configuration from the environment (or the matching `--flags`), read once at start-up.
//!
//! Every setting is one annotated field of [`Config`]: its variable, its type, its range, its
//! default and its `--help` line live together, and clap refuses a bad value before anything
//! starts (exit code 2, a message naming the variable). The ranges are what keeps a value from
//! panicking later: no zero interval for a timer, no TTL whose date arithmetic overflows.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Arg, Args, Command, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use persistence::{CursorCodec, Faults};

use crate::ops::Verb;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, for log shippers.
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// One minute, hour, day and year in seconds, for the ranges below.
const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const YEAR: u64 = 365 * DAY;

/// Everything the service needs to start.
///
/// Tests build one in code with [`Config::new`] and change fields directly; the service reads
/// it with [`Config::from_env`]. Adding a setting is adding one annotated field here, its
/// default included.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "app",
    version,
    about = "The order-management service.",
    long_about = "The order-management service. Every setting is read from its environment \
                  variable (or the matching flag); a bad value stops the service at start with \
                  exit code 2 and a message naming the variable. RUST_LOG filters the logs."
)]
pub struct Config {
    /// Database: `sqlite://…` (created if missing) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// Listen address; port 0 picks a free port.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,
    /// Log lines as `json` (one object per line) or `pretty`.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,
    /// Let the service apply pending migrations on PostgreSQL too (true/false, 1/0, yes/no).
    #[arg(long, env = "MIGRATE_ON_START", default_value = "false", action = clap::ArgAction::Set,
        value_parser = boolean())]
    pub migrate_on_start: bool,
    /// Requests running longer are answered 408 (1 s to 1 h).
    #[arg(long = "request-timeout-secs", env = "REQUEST_TIMEOUT_SECS", default_value = "30",
        value_parser = seconds(1, HOUR))]
    pub request_timeout: Duration,
    /// A connection that has started a request but not finished its headers within this
    /// long is closed (1 s to 5 min).
    #[arg(long = "header-read-timeout-secs", env = "HEADER_READ_TIMEOUT_SECS",
        default_value = "10", value_parser = seconds(1, 5 * MINUTE))]
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed (1 s to 1 h).
    #[arg(long = "idle-timeout-secs", env = "IDLE_TIMEOUT_SECS", default_value = "60",
        value_parser = seconds(1, HOUR))]
    pub idle_timeout: Duration,
    /// After SIGTERM, in-flight requests get this long to finish before the process exits
    /// anyway (1 s to 1 h).
    #[arg(long = "shutdown-grace-secs", env = "SHUTDOWN_GRACE_SECS", default_value = "30",
        value_parser = seconds(1, HOUR))]
    pub shutdown_grace: Duration,
    /// After SIGTERM, readiness answers 503 at once but the service keeps accepting and
    /// serving for this long (every response closing its connection), so that a load balancer
    /// takes it out of rotation before the listener closes (0 to skip, up to 10 min).
    #[arg(long = "shutdown-drain-secs", env = "SHUTDOWN_DRAIN_SECS", default_value = "5",
        value_parser = seconds(0, 10 * MINUTE))]
    pub shutdown_drain: Duration,
    /// How long an `Idempotency-Key` is remembered (1 s to 10 years).
    #[arg(long = "idempotency-ttl-secs", env = "IDEMPOTENCY_TTL_SECS", default_value = "86400",
        value_parser = seconds(1, 10 * YEAR))]
    pub idempotency_ttl: Duration,
    /// How often expired idempotency keys are purged (1 s to 7 days).
    #[arg(long = "idempotency-purge-interval-secs", env = "IDEMPOTENCY_PURGE_INTERVAL_SECS",
        default_value = "3600", value_parser = seconds(1, 7 * DAY))]
    pub idempotency_purge_interval: Duration,
    /// How long a bearer token works after sign-in (1 s to 1 year).
    #[arg(long = "session-ttl-secs", env = "SESSION_TTL_SECS", default_value = "86400",
        value_parser = seconds(1, YEAR))]
    pub session_ttl: Duration,
    /// How often expired sessions and stale sign-in failures are purged (1 s to 7 days).
    #[arg(long = "session-purge-interval-secs", env = "SESSION_PURGE_INTERVAL_SECS",
        default_value = "3600", value_parser = seconds(1, 7 * DAY))]
    pub session_purge_interval: Duration,
    /// Argon2 computations at once (each takes 7 MiB and a core; 1 to 1024); more sign-ups
    /// and sign-ins queue. They run at the lowest priority, so requests always go first.
    /// Default: one per CPU.
    #[arg(long, env = "PASSWORD_HASH_CONCURRENCY", default_value_t = default_hash_concurrency(),
        value_parser = clap::value_parser!(u16).range(1..=1024).map(usize::from))]
    pub password_hash_concurrency: usize,
    /// Database pool size (1 to 1000). Default: 10 on PostgreSQL; on SQLite, readers beside
    /// the one writer, as many as there are CPUs (at least 2): each SQLite connection is a
    /// thread of its own doing the reads itself, so more than the CPUs adds memory, not speed.
    #[arg(long, env = "DB_MAX_CONNECTIONS",
        value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: Option<u32>,
    /// Bounds on every wait for the database; past one, a request answers 503
    /// `database_unavailable` with `Retry-After` instead of hanging.
    #[command(flatten)]
    pub db_timeouts: DbTimeouts,
    /// Secret (at least 32 bytes, e.g. `openssl rand -hex 32`) that authenticates list
    /// cursors; the same on every instance behind one load balancer. Unset: a random one per
    /// process, so cursors stop working when the process restarts.
    #[arg(long = "cursor-key", env = "CURSOR_KEY", value_parser = CursorKeyParser)]
    pub cursor_codec: Option<CursorCodec>,
    /// With it, a relay publishes events to NATS JetStream (`nats://host:4222`).
    #[arg(long, env = "NATS_URL", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub nats_url: Option<String>,
    /// How long events stay in the feed, in days (1 to 3650).
    #[arg(long = "event-retention-days", env = "EVENT_RETENTION_DAYS", default_value = "7",
        value_parser = clap::value_parser!(u64).range(1..=3650).map(|days| Duration::from_secs(days * DAY)))]
    pub event_retention: Duration,
    /// Where Prometheus scrapes `/metrics`, on a listener of its own (never the public port);
    /// unset, no metrics are kept.
    #[arg(long = "metrics-addr", env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// With it, spans are exported over OTLP/HTTP (the exporter reads the standard `OTEL_*`
    /// variables itself); unset, nothing is exported.
    #[arg(long = "otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub otlp_endpoint: Option<String>,
    /// With `OTEL_EXPORTER_OTLP_ENDPOINT`: the share of requests (0 to 1) whose trace is
    /// recorded and exported, unless the caller's `traceparent` already decided (its sampled
    /// flag is followed either way). Other requests still get a trace id for their response and
    /// log lines, but build no spans below the HTTP one, which keeps sampling cheap (the cost
    /// of each ratio is measured in docs/performance.md, "What observability costs").
    #[arg(long = "otel-traces-sampler-arg", env = "OTEL_TRACES_SAMPLER_ARG",
        default_value = "0.01", value_parser = ratio)]
    pub trace_sample_ratio: f64,
    /// Armed fault points (tests only; inert unless built with `fault-injection`).
    #[arg(skip)]
    pub faults: Faults,
}

/// The embedded default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db";

impl Config {
    /// Every setting at its default, with this database: what tests start from. The defaults
    /// are the ones the fields above declare for clap, so `--help`, the service and tests
    /// cannot disagree; the environment is not read.
    pub fn new(database_url: impl Into<String>) -> Self {
        let matches = <Self as CommandFactory>::command()
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(["app"])
            .and_then(|matches| Self::from_arg_matches(&matches));
        let mut config = matches.unwrap_or_else(|err| panic!("the settings' defaults: {err}"));
        config.database_url = database_url.into();
        config
    }

    /// Reads the command line and the environment. A bad value is an error whose message
    /// names the variable; `--help` and `--version` are "errors" too, which `main` prints and
    /// exits with (`clap::Error::exit`: 2 for a bad value, 0 for help).
    pub fn from_env() -> Result<Self, clap::Error> {
        Self::from_args(std::env::args_os())
    }

    /// As [`Config::from_env`], with explicit arguments (the environment is still read).
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut command = Self::command();
        let matches = command.try_get_matches_from_mut(args)?;
        Self::from_arg_matches(&matches).map_err(|err| err.format(&mut command))
    }

    /// Reads the command line and the environment as the binary does: the settings, and the
    /// operator verb if one was named (`app migrate status`); without one, the binary serves.
    pub fn with_verb_from_env() -> Result<(Self, Option<Verb>), clap::Error> {
        let mut command = Self::command();
        let matches = command.try_get_matches_from_mut(std::env::args_os())?;
        let config = Self::from_arg_matches(&matches).map_err(|err| err.format(&mut command))?;
        let verb = match matches.subcommand_name() {
            Some(_) => {
                Some(Verb::from_arg_matches(&matches).map_err(|err| err.format(&mut command))?)
            }
            None => None,
        };
        Ok((config, verb))
    }

    /// The clap command: the settings, then the operator verbs (see [`crate::ops`]). Every
    /// setting's value is shown by its variable's name (so clap's own error messages name the
    /// variable), and values read from the environment never appear in `--help`
    /// (`DATABASE_URL` and `CURSOR_KEY` can hold secrets).
    pub fn command() -> Command {
        let settings = <Self as CommandFactory>::command().mut_args(|arg| {
            let name = arg.get_env().and_then(OsStr::to_str).map(str::to_owned);
            match name {
                Some(name) => arg.value_name(name).hide_env_values(true),
                None => arg,
            }
        });
        Verb::augment_subcommands(settings).after_help(
            "Without a command the service serves. Settings go before the command \
             (`app --database-url URL migrate status`) or in the environment. A command exits \
             0 when done, 1 when it refused or its check failed, 2 on a bad setting or an error.",
        )
    }
}

/// How long a request may wait for the database, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Args)]
pub struct DbTimeouts {
    /// How long a request waits for a pooled (or new) database connection before answering
    /// 503, in milliseconds (1 ms to 10 min).
    #[arg(long = "db-acquire-timeout-ms", env = "DB_ACQUIRE_TIMEOUT_MS", default_value = "5000",
        value_parser = millis(1, 10 * MINUTE * 1000))]
    pub acquire: Duration,
    /// PostgreSQL's `statement_timeout` (lock waits included), in milliseconds (0 keeps the
    /// server's setting, up to 1 h).
    #[arg(long = "db-statement-timeout-ms", env = "DB_STATEMENT_TIMEOUT_MS",
        default_value = "10000",
        value_parser = millis(0, HOUR * 1000).map(|d| (!d.is_zero()).then_some(d)))]
    pub statement: ::std::option::Option<Duration>,
    /// How long SQLite waits for another writer's lock before answering 503, in milliseconds
    /// (0 to 10 min).
    #[arg(long = "sqlite-busy-timeout-ms", env = "SQLITE_BUSY_TIMEOUT_MS", default_value = "5000",
        value_parser = millis(0, 10 * MINUTE * 1000))]
    pub sqlite_busy: Duration,
}

impl Default for DbTimeouts {
    /// The defaults the fields declare for clap (see [`Config::new`]).
    fn default() -> Self {
        Config::new(DEFAULT_DATABASE_URL).db_timeouts
    }
}

/// The pool size when `DB_MAX_CONNECTIONS` is not set, for the engine of `database_url`.
pub(crate) fn default_db_connections(database_url: &str) -> u32 {
    // An unreadable URL gets PostgreSQL's default; opening the database reports it.
    if matches!(
        persistence::Backend::from_url(database_url),
        Ok(persistence::Backend::Sqlite)
    ) {
        std::thread::available_parallelism()
            .map_or(2, |n| u32::try_from(n.get()).unwrap_or(u32::MAX).max(2))
    } else {
        10
    }
}

/// The identity context's own default (one per CPU), so the two cannot drift apart.
fn default_hash_concurrency() -> usize {
    identity::IdentityConfig::default().hash_concurrency
}

/// Whole seconds from `min` to `max`, as a [`Duration`].
fn seconds(min: u64, max: u64) -> impl TypedValueParser<Value = Duration> {
    clap::value_parser!(u64)
        .range(min..=max)
        .map(Duration::from_secs)
}

/// Whole milliseconds from `min` to `max`, as a [`Duration`].
fn millis(min: u64, max: u64) -> impl TypedValueParser<Value = Duration> {
    clap::value_parser!(u64)
        .range(min..=max)
        .map(Duration::from_millis)
}

/// A sampling ratio: a finite number from 0 to 1 (`0.1`, `1e-3`).
fn ratio(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        Ok(_) => Err("must be from 0 to 1 (the share of requests traced)".to_owned()),
        Err(_) => Err("must be a number from 0 to 1, e.g. 0.01".to_owned()),
    }
}

/// The documented spellings of a boolean, and nothing else (`on`, `Y`, `2` are mistakes).
fn boolean() -> impl TypedValueParser<Value = bool> {
    PossibleValuesParser::new(["true", "false", "1", "0", "yes", "no"])
        .map(|spelling| matches!(spelling.as_str(), "true" | "1" | "yes"))
}

/// Parses `CURSOR_KEY` without ever echoing it: clap's own messages quote the bad value, and
/// a secret must not reach a terminal or a log through an error.
#[derive(Clone)]
struct CursorKeyParser;

impl TypedValueParser for CursorKeyParser {
    type Value = CursorCodec;

    fn parse_ref(
        &self,
        command: &Command,
        _arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<CursorCodec, clap::Error> {
        let bytes = value.as_encoded_bytes();
        CursorCodec::new(bytes).map_err(|_| {
            clap::Error::raw(
                ErrorKind::ValueValidation,
                format!(
                    "CURSOR_KEY is {} bytes; it must be at least {} (e.g. `openssl rand -hex 32`)\n",
                    bytes.len(),
                    CursorCodec::MIN_SECRET_LEN
                ),
            )
            .with_cmd(command)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses with flags only, so the tests do not depend on the environment they run in.
    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        let mut command = Config::command().mut_args(|arg| arg.env(None::<&str>));
        let matches =
            command.try_get_matches_from_mut(std::iter::once("app").chain(args.iter().copied()))?;
        Config::from_arg_matches(&matches)
    }

    #[test]
    fn config_new_has_the_declared_defaults_and_the_given_database() {
        let config = Config::new("postgres://u@h/db");
        assert_eq!(config.database_url, "postgres://u@h/db");
        assert_eq!(config.bind_addr, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(config.request_timeout, Duration::from_secs(30));
        assert_eq!(config.shutdown_drain, Duration::from_secs(5));
        assert_eq!(config.idempotency_ttl, Duration::from_secs(DAY));
        assert_eq!(config.event_retention, Duration::from_secs(7 * DAY));
        assert_eq!(config.trace_sample_ratio, 0.01);
        assert_eq!(
            DbTimeouts::default(),
            DbTimeouts {
                acquire: Duration::from_secs(5),
                statement: Some(Duration::from_secs(10)),
                sqlite_busy: Duration::from_secs(5),
            }
        );
        let parsed = parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            format!("{parsed:?}"),
            format!("{:?}", Config::new(DEFAULT_DATABASE_URL))
        );
    }

    #[test]
    fn an_unset_pool_size_is_ten_on_postgres_and_the_cpus_on_sqlite() {
        assert_eq!(default_db_connections("postgres://localhost/orders"), 10);
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let expected = u32::try_from(cpus.max(2)).unwrap_or(u32::MAX);
        assert_eq!(default_db_connections("sqlite://data/orders.db"), expected);
        let set = parse(&["--db-max-connections", "3"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.db_max_connections, Some(3));
    }

    #[test]
    fn every_setting_has_a_variable_and_a_help_line() {
        for arg in Config::command().get_arguments() {
            if matches!(arg.get_id().as_str(), "help" | "version") {
                continue;
            }
            assert!(arg.get_env().is_some(), "{} has no variable", arg.get_id());
            assert!(arg.get_help().is_some(), "{} has no help", arg.get_id());
        }
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for args in [
            ["--request-timeout-secs", "0"],
            ["--header-read-timeout-secs", "0"],
            ["--idle-timeout-secs", "0"],
            ["--shutdown-grace-secs", "0"],
            ["--idempotency-purge-interval-secs", "0"],
            ["--session-purge-interval-secs", "0"],
            ["--db-max-connections", "0"],
            ["--db-acquire-timeout-ms", "0"],
            ["--db-statement-timeout-ms", "3600001"],
            ["--password-hash-concurrency", "0"],
            ["--idempotency-ttl-secs", "18446744073709551615"],
            ["--event-retention-days", "0"],
            ["--migrate-on-start", "on"],
            ["--log-format", "xml"],
            ["--otel-traces-sampler-arg", "1.5"],
            ["--otel-traces-sampler-arg", "2"],
            ["--otel-traces-sampler-arg", "NaN"],
            ["--otel-traces-sampler-arg", "ten percent"],
        ] {
            let err = parse(&args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} accepted"));
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::ValueValidation | ErrorKind::InvalidValue
                ),
                "{args:?}: {err}"
            );
        }
    }

    /// The rows of the first table under `## Configuration` in `doc`: variable -> default cell.
    fn documented(doc: &str) -> std::collections::BTreeMap<String, String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(doc);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{doc}: {e}"));
        text.lines()
            .skip_while(|line| *line != "## Configuration")
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let variable = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((variable.to_owned(), (*cells.get(2)?).to_owned()))
            })
            .collect()
    }

    /// The configuration tables of the README and of docs/operations.md list every setting,
    /// and nothing else, with the default `--help` shows: the docs cannot drift from `Config`.
    #[test]
    fn the_documented_configuration_tables_are_the_settings() {
        let settings: Vec<(String, Option<String>)> = Config::command()
            .get_arguments()
            .filter_map(|arg| {
                let variable = arg.get_env()?.to_str()?.to_owned();
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|value| value.to_string_lossy().into_owned());
                Some((variable, default))
            })
            .collect();
        for doc in ["README.md", "docs/operations.md"] {
            let rows = documented(doc);
            for (variable, default) in &settings {
                let row = rows
                    .get(variable)
                    .unwrap_or_else(|| panic!("{doc} does not list {variable}"));
                // This one's default is the machine's CPU count, which the docs say in words.
                if variable == "PASSWORD_HASH_CONCURRENCY" {
                    continue;
                }
                if let Some(default) = default {
                    assert!(
                        row.contains(&format!("`{default}`")),
                        "{doc}: {variable} defaults to {default}, the table says {row}"
                    );
                }
            }
            for variable in rows.keys() {
                if variable == "RUST_LOG" {
                    let filter = crate::telemetry::DEFAULT_FILTER;
                    assert!(rows[variable].contains(&format!("`{filter}`")), "{doc}");
                    continue;
                }
                assert!(
                    settings.iter().any(|(setting, _)| setting == variable),
                    "{doc} lists {variable}, which is no setting"
                );
            }
        }
    }

    #[test]
    fn the_largest_ttls_fit_date_arithmetic() {
        let config = parse(&["--idempotency-ttl-secs", &(10 * YEAR).to_string()])
            .unwrap_or_else(|e| panic!("{e}"));
        let ttl =
            chrono::Duration::from_std(config.idempotency_ttl).unwrap_or_else(|e| panic!("{e}"));
        assert!(chrono::Utc::now().checked_add_signed(ttl).is_some());
    }
}
