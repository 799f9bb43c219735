//! The outbox relay: with `NATS_URL` set, a background task publishes committed events to NATS
//! JetStream, in commit order, and marks each one sent only after JetStream acknowledged it.
//!
//! Delivery: at least once. A relay that dies between the ack and the mark publishes the
//! event again after restarting; the `Nats-Msg-Id` header (the event id) lets JetStream drop
//! the copy within its duplicate window, so the stream holds each event once. While NATS is
//! unreachable events simply wait in the outbox (the HTTP API is unaffected); the relay retries
//! with exponential backoff and logs one warning per outage and one line when it recovers.
//!
//! Several instances may run the relay: on PostgreSQL one instance at a time holds the relay
//! lease (see `persistence::outbox::claim`), so events are published once and in order.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use async_nats::{ConnectOptions, HeaderMap};
use persistence::outbox::{self, Claim};
use persistence::{Db, FaultPoint, Faults, StoreError};
use uuid::Uuid;

/// The JetStream stream the relay publishes to (created when missing).
pub const STREAM: &str = "ORDERS_BACKEND";

/// Subjects are `orders_backend.<type>`, e.g. `orders_backend.order.placed`.
pub const SUBJECT_PREFIX: &str = "orders_backend";

/// How many events one claim publishes at most.
const BATCH: u64 = 100;

/// How long the relay waits for JetStream's ack before treating NATS as unreachable.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// Fault points of the relay, armed by failure-injection tests.
pub mod faults {
    use persistence::FaultPoint;

    /// After JetStream acknowledged a batch, before the batch is marked sent: what a crash at
    /// the worst moment looks like.
    pub const AFTER_PUBLISH: FaultPoint = FaultPoint::new("app.relay.after_publish");
}

/// What the relay needs to run.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// `NATS_URL`, e.g. `nats://127.0.0.1:4222`.
    pub nats_url: String,
    /// How often an idle relay looks for new events.
    pub poll_interval: Duration,
}

/// The subject an event type is published on.
pub fn subject_of(event_type: &str) -> String {
    format!("{SUBJECT_PREFIX}.{event_type}")
}

/// Connects to NATS without waiting for it: the client keeps (re)connecting in the background,
/// so a relay started while NATS is down starts publishing once it comes up.
pub async fn connect(url: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis(100u64.saturating_mul(attempts as u64))
                .min(Duration::from_secs(2))
        })
        .connect(url)
        .await
}

/// The stream's configuration: every `orders_backend.>` subject, JetStream's default two
/// minute duplicate window.
pub fn stream_config() -> stream::Config {
    stream::Config {
        name: STREAM.to_owned(),
        subjects: vec![format!("{SUBJECT_PREFIX}.>")],
        ..Default::default()
    }
}

/// Runs the relay until the task is aborted.
pub async fn run(db: Db, config: RelayConfig, faults: Faults) {
    let client = match connect(&config.nats_url).await {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = %err, "NATS_URL is unusable; the relay does not run");
            return;
        }
    };
    let mut context = jetstream::new(client);
    context.set_timeout(ACK_TIMEOUT);
    let mut relay = Relay {
        db,
        context,
        faults,
        stream_ready: false,
    };
    let mut backoff = Backoff::default();
    let mut outage = false;
    loop {
        match relay.once().await {
            Ok(published) => {
                if outage {
                    tracing::info!("NATS is reachable again; relaying the waiting events");
                    outage = false;
                }
                backoff = Backoff::default();
                if published == 0 {
                    tokio::time::sleep(config.poll_interval).await;
                }
            }
            Err(RelayError::Nats(error)) => {
                crate::metrics::relay_error("nats");
                if !outage {
                    tracing::warn!(%error, "NATS is unreachable; events wait in the outbox");
                    outage = true;
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(RelayError::Store(error)) => {
                crate::metrics::relay_error("store");
                tracing::warn!(error = %error.detail(), "relaying events failed");
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

enum RelayError {
    Nats(String),
    Store(StoreError),
}

impl From<StoreError> for RelayError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

struct Relay {
    db: Db,
    context: jetstream::Context,
    faults: Faults,
    stream_ready: bool,
}

impl Relay {
    /// Claims one batch and publishes it; returns how many events were published (0: nothing
    /// to do, or another instance holds the lease).
    async fn once(&mut self) -> Result<usize, RelayError> {
        if !self.stream_ready {
            self.context
                .get_or_create_stream(stream_config())
                .await
                .map_err(|e| RelayError::Nats(e.to_string()))?;
            self.stream_ready = true;
        }
        let Some(claim) = outbox::claim(&self.db, BATCH).await? else {
            return Ok(0);
        };
        let (acked, failure) = self.publish(&claim).await;
        if failure.is_none() {
            self.check(faults::AFTER_PUBLISH)?;
        }
        let published = acked.len();
        claim.mark_published(&acked, persistence::now_utc()).await?;
        match failure {
            Some(error) => Err(RelayError::Nats(error)),
            None => Ok(published),
        }
    }

    /// Publishes the claim's events one at a time, each after the previous one's ack, so a
    /// failure never lets a later event overtake an earlier one on its subject. Returns the
    /// ids acknowledged, and the error that stopped it, if any.
    async fn publish(&self, claim: &Claim) -> (Vec<Uuid>, Option<String>) {
        let mut acked = Vec::with_capacity(claim.events.len());
        for event in &claim.events {
            let payload = match serde_json::to_vec(event) {
                Ok(payload) => payload,
                Err(err) => return (acked, Some(format!("cannot encode an event: {err}"))),
            };
            let mut headers = HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, event.id.to_string());
            let sent = self
                .context
                .publish_with_headers(subject_of(&event.event_type), headers, payload.into())
                .await;
            let ack = match sent {
                Ok(pending) => pending.await,
                Err(err) => Err(err),
            };
            match ack {
                Ok(_) => acked.push(event.id),
                Err(err) => return (acked, Some(err.to_string())),
            }
        }
        (acked, None)
    }

    /// A fault point of the relay; on the tests' injected crash, nothing is marked.
    fn check(&self, point: FaultPoint) -> Result<(), StoreError> {
        self.faults.check(point)
    }
}

/// 100 ms doubling up to 5 s: quick to notice NATS coming back, gentle while it stays down.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(100))
    }
}

impl Backoff {
    fn next_delay(&mut self) -> Duration {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        delay
    }
}

/// Deletes events older than `retention`: published ones when the relay runs (unpublished
/// events wait for NATS however long it takes), all of them when the feed is the only consumer.
pub async fn purge(db: &Db, retention: Duration, relay_runs: bool) -> Result<u64, String> {
    let retention = chrono::Duration::from_std(retention).map_err(|e| e.to_string())?;
    let before = persistence::now_utc()
        .checked_sub_signed(retention)
        .ok_or_else(|| "EVENT_RETENTION_DAYS is too large".to_owned())?;
    outbox::purge(db, before, relay_runs)
        .await
        .map_err(|e| e.detail())
}
