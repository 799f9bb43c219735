//! `cargo run`: the order-management service; `app <verb>` runs an operator verb instead
//! (`app --help` lists them).

use std::process::ExitCode;

use app::{Application, Config, ops, telemetry};

/// mimalloc instead of the system allocator: every password hash allocates 7 MiB, and glibc's
/// malloc raises its mmap threshold after the first such block is freed, after which the blocks
/// stay in per-thread arenas and the service's resident set only grows. mimalloc hands large
/// blocks back to the OS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let huge_pages = disable_transparent_huge_pages();
    // A bad setting exits here with code 2 and a message naming its variable (`--help`
    // prints every setting and exits 0), before anything has started.
    let (config, verb) = Config::with_verb_from_env().unwrap_or_else(|err| err.exit());
    if let Some(verb) = verb {
        // A verb's output is on stdout; its log lines go to stderr.
        telemetry::init_with(config.log_format, telemetry::env_filter(), std::io::stderr);
        return ops::Outcome::exit_code(ops::run(&config.database_url, verb).await);
    }
    let telemetry = telemetry::init(
        config.log_format,
        config.otlp_endpoint.as_deref(),
        config.trace_sample_ratio,
    );
    if let Err(err) = huge_pages {
        tracing::warn!(error = %err, "cannot disable transparent huge pages; resident memory may be larger");
    }
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

/// Turns transparent huge pages off for this process. With them, every touched 4 KiB page of
/// an allocator arena can bring in a whole 2 MiB page, and a freed password hash's block can
/// stay as huge pages (docs/performance.md, "Memory"). Nothing here gains from huge pages (a
/// small heap, no large scans in memory). mimalloc is built with `no_thp` as well, so
/// it does not advise them even for the arena it maps before `main`.
#[cfg(target_os = "linux")]
fn disable_transparent_huge_pages() -> nix::Result<()> {
    nix::sys::prctl::set_thp_disable(true)
}

/// Transparent huge pages are a Linux setting; elsewhere there is nothing to turn off.
#[cfg(not(target_os = "linux"))]
fn disable_transparent_huge_pages() -> Result<(), std::convert::Infallible> {
    Ok(())
}
