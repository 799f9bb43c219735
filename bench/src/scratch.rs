//! A database of the bench's own, made for one run and removed after it: a temporary SQLite
//! file, or a `bench_<uuid>` PostgreSQL database beside the admin URL's.

use persistence::ScratchDatabase;

/// The engine to measure.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Engine {
    Postgres,
    Sqlite,
}

/// A scratch database.
pub struct Scratch(ScratchDatabase);

impl Scratch {
    /// Creates an empty database.
    pub async fn create(engine: Engine, admin_url: &str) -> anyhow::Result<Self> {
        let beside = match engine {
            Engine::Sqlite => "sqlite:",
            Engine::Postgres => admin_url,
        };
        let scratch = ScratchDatabase::create(beside, "bench")
            .await
            .map_err(|e| anyhow::anyhow!(e.detail()))?;
        Ok(Self(scratch))
    }

    /// The URL the service and the floor connect to.
    pub fn url(&self) -> &str {
        self.0.url()
    }

    /// Drops the database (or deletes the file).
    pub async fn remove(self) -> anyhow::Result<()> {
        self.0
            .remove()
            .await
            .map_err(|e| anyhow::anyhow!(e.detail()))
    }
}
