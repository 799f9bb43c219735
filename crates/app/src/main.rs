//! `cargo run`: the order-management service.

use std::process::ExitCode;

use app::{Application, Config, telemetry};

/// mimalloc instead of the system allocator: every password hash allocates 19 MiB, and glibc's
/// malloc raises its mmap threshold after the first such block is freed, after which the blocks
/// stay in per-thread arenas and the service's resident set only grows (measured with
/// `cargo xtask bench`). mimalloc hands large blocks back to the OS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // A bad setting exits here with code 2 and a message naming its variable (`--help`
    // prints every setting and exits 0), before anything has started.
    let config = Config::from_env().unwrap_or_else(|err| err.exit());
    let telemetry = telemetry::init(
        config.log_format,
        config.otlp_endpoint.as_deref(),
        config.trace_sample_ratio,
    );
    let result = async {
        let app = Application::build(config).await?;
        app.run_until_stopped().await?;
        anyhow::Ok(())
    }
    .await;
    // Exports the spans not sent yet.
    drop(telemetry);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
