//! `--observability`: a stand-in OpenTelemetry collector on a loopback port, so that the service
//! runs with its OTLP exporter on (encoding and sending every span) without a real collector,
//! and a Prometheus stand-in that scrapes `/metrics` as often as a real one would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

/// What the stand-ins saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// OTLP export requests received.
    pub exports: AtomicU64,
    /// Bytes of spans received.
    pub bytes: AtomicU64,
    /// Successful scrapes of `/metrics`.
    pub scrapes: AtomicU64,
}

/// The running stand-ins; dropping them stops both.
pub struct Sink {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for the service.
    pub endpoint: String,
    /// `METRICS_ADDR` for the service.
    pub metrics_addr: SocketAddr,
    /// What the collector and the scraper saw, for the report.
    pub seen: Arc<Seen>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Sink {
    /// Starts the collector and the scraper (every `scrape_every`).
    pub async fn start(scrape_every: Duration) -> anyhow::Result<Self> {
        let seen = Arc::new(Seen::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let router = axum::Router::new()
            .route("/v1/traces", axum::routing::post(export))
            .layer(DefaultBodyLimit::disable())
            .with_state(seen.clone());
        let collector = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let scraper = {
            let seen = seen.clone();
            let url = format!("http://{metrics_addr}/metrics");
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut ticks = tokio::time::interval(scrape_every);
                loop {
                    ticks.tick().await;
                    if let Ok(response) = client.get(&url).send().await
                        && response.status().is_success()
                        && response.text().await.is_ok()
                    {
                        seen.scrapes.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        Ok(Self {
            endpoint,
            metrics_addr,
            seen,
            tasks: vec![collector, scraper],
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Accepts an export: an empty `ExportTraceServiceResponse` is an empty protobuf message.
async fn export(State(seen): State<Arc<Seen>>, body: Bytes) -> impl IntoResponse {
    seen.exports.fetch_add(1, Ordering::Relaxed);
    seen.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
    )
}
