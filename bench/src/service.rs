//! The release service as a child process: started on a free loopback port, timed from spawn
//! to its first ready answer, and read from `/proc` for CPU time and peak memory.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// A running service.
pub struct Service {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// How long it took from spawn to the first `200` of `/health/ready`.
    pub start_to_ready: Duration,
}

impl Service {
    /// Starts `binary` on `database_url` and waits (up to 30 s) until it is ready.
    /// `env` adds variables (`--observability` sets `METRICS_ADDR` and the OTLP endpoint).
    pub async fn start(
        binary: &Path,
        database_url: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        Self::start_at(binary, database_url, free_port()?, env).await
    }

    /// [`Service::start`] on a given loopback `port` (a restarted instance takes its
    /// predecessor's, where a load balancer expects it).
    pub async fn start_at(
        binary: &Path,
        database_url: &str,
        port: u16,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let mut child = Command::new(binary)
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let client = reqwest::Client::new();
        let ready = format!("{base}/health/ready");
        loop {
            if let Ok(response) = client.get(&ready).send().await
                && response.status().is_success()
            {
                break;
            }
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("the service exited before it was ready ({status})");
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "the service was not ready within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(Self {
            child,
            base,
            start_to_ready: started.elapsed(),
        })
    }

    /// What reads the service's CPU time and memory from `/proc`, to hand to another task.
    pub fn probe(&self) -> Probe {
        Probe(self.child.id())
    }

    /// User plus system CPU time the service has used so far.
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        self.probe().cpu()
    }

    /// The largest resident set the service has had (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> anyhow::Result<u64> {
        self.probe().peak_rss()
    }

    /// See [`Probe::reset_peak_rss`].
    pub fn reset_peak_rss(&self) -> anyhow::Result<()> {
        self.probe().reset_peak_rss()
    }

    /// The resident set now (`VmRSS`), in bytes.
    pub fn rss(&self) -> anyhow::Result<u64> {
        self.probe().rss()
    }

    /// Stops the service.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Sends SIGTERM, as an orchestrator does, and waits (up to `within`) for the process to
    /// exit; returns its exit code.
    pub async fn terminate(mut self, within: Duration) -> anyhow::Result<Option<i32>> {
        let pid = i32::try_from(self.child.id()).context("process id out of range")?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        let deadline = Instant::now() + within;
        let mut ticks = tokio::time::interval(Duration::from_millis(10));
        loop {
            ticks.tick().await;
            if let Some(status) = self.child.try_wait()? {
                return Ok(status.code());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the service did not exit within {within:?} of SIGTERM"
            );
        }
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The service's process id, read in `/proc`.
#[derive(Debug, Clone, Copy)]
pub struct Probe(u32);

impl Probe {
    /// User plus system CPU time the service has used so far.
    pub fn cpu(self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0))?;
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th
        // fields of the whole line, in clock ticks.
        let after = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .context("unreadable /proc/<pid>/stat")?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| -> anyhow::Result<u64> {
            fields
                .get(i)
                .context("short /proc/<pid>/stat")?
                .parse::<u64>()
                .context("unreadable CPU ticks")
        };
        let total = ticks(11)? + ticks(12)?;
        Ok(Duration::from_secs_f64(
            total as f64 / clock_ticks_per_second(),
        ))
    }

    /// The largest resident set the service has had (`VmHWM`), in bytes.
    pub fn peak_rss(self) -> anyhow::Result<u64> {
        self.memory("VmHWM:")
    }

    /// Starts a new peak: Linux resets `VmHWM` to the current resident set when "5" is written
    /// to `/proc/<pid>/clear_refs`, so the next [`Probe::peak_rss`] is the peak since this
    /// call, which is how each workload gets a peak of its own.
    pub fn reset_peak_rss(self) -> anyhow::Result<()> {
        let path = format!("/proc/{}/clear_refs", self.0);
        std::fs::write(&path, "5").with_context(|| format!("cannot reset the peak in {path}"))
    }

    /// The resident set now (`VmRSS`), in bytes.
    pub fn rss(self) -> anyhow::Result<u64> {
        self.memory("VmRSS:")
    }

    fn memory(self, field: &str) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0))?;
        let line = status
            .lines()
            .find(|line| line.starts_with(field))
            .with_context(|| format!("no {field} in /proc/<pid>/status"))?;
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .with_context(|| format!("unreadable {field}"))?
            .parse()?;
        Ok(kib * 1024)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `getconf CLK_TCK` (100 on every Linux this runs on; asked rather than assumed).
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}
