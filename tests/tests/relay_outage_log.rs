//! A NATS outage is one warning however many rounds fail, and its end is one line: an operator
//! reading the logs sees when it started and when it ended, not a line per retry. Its own test
//! binary, because it installs the process-wide log subscriber and reads everything written.

#![allow(clippy::unwrap_used)]

// A binary of its own uses only a part of the helpers the API tests share.
#[allow(dead_code, unused_imports, unused_macros)]
mod common;
#[allow(dead_code)]
#[path = "common/logs.rs"]
mod logs;

use app::LogFormat;
use common::nats::Nats;
use common::{TestApp, spawn_with, wait_until};
use logs::Captured;
use persistence::Backend;
use persistence::outbox;
use persistence::testing::TestDatabase;
use tracing_subscriber::EnvFilter;

const OUTAGE: &str = "NATS is unreachable; events wait in the outbox";
const RECOVERY: &str = "NATS is reachable again; relaying the waiting events";

/// Failed relay rounds so far, from the metrics endpoint.
async fn relay_errors(app: &TestApp) -> f64 {
    let url = app.metrics_url.as_deref().unwrap();
    let scrape = app
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    scrape
        .lines()
        .find(|line| line.starts_with("relay_publish_errors_total{cause=\"nats\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

async fn unpublished(app: &TestApp) -> u64 {
    outbox::unpublished_count(app.database.db()).await.unwrap()
}

#[tokio::test]
async fn an_outage_is_logged_once_and_its_end_once() {
    let captured = Captured::default();
    let writer = captured.clone();
    app::telemetry::init_with(
        LogFormat::Json,
        EnvFilter::new(app::telemetry::DEFAULT_FILTER),
        move || writer.clone(),
    );
    for backend in [Backend::Sqlite, Backend::Postgres] {
        common::run(backend, |database| {
            an_outage_and_its_end(database, &captured)
        })
        .await;
    }
}

/// NATS goes away while the relay has events to publish, then comes back.
async fn an_outage_and_its_end(database: TestDatabase, captured: &Captured) {
    let mut nats = Nats::start().await;
    let url = nats.url();
    let app = spawn_with(database, move |config| {
        config.nats_url = Some(url);
        config.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (outages, recoveries) = (captured.count(OUTAGE), captured.count(RECOVERY));
    let buyer = app.create_user("buyer@example.com").await;
    wait_until("the relay is caught up", || async {
        unpublished(&app).await == 0
    })
    .await;

    nats.kill();
    let before = relay_errors(&app).await;
    app.create_order(&buyer).await;
    wait_until("the relay failed three rounds in a row", || async {
        relay_errors(&app).await >= before + 3.0
    })
    .await;
    assert_eq!(
        captured.count(OUTAGE),
        outages + 1,
        "one warning for the whole outage:\n{}",
        captured.text()
    );
    assert_eq!(captured.count(RECOVERY), recoveries);

    nats.restart().await;
    wait_until("the waiting events are published", || async {
        unpublished(&app).await == 0
    })
    .await;
    // The relay logs its recovery once the batch it published is marked, so the line may
    // trail the count just read.
    wait_until("the recovery is logged", || async {
        captured.count(RECOVERY) > recoveries
    })
    .await;
    assert_eq!(
        captured.count(RECOVERY),
        recoveries + 1,
        "one line when NATS is back:\n{}",
        captured.text()
    );
    assert_eq!(captured.count(OUTAGE), outages + 1);
    app.stop().await;
}
