//! `events tail [--from-start]`: prints integration events as they commit, one
//! CloudEvents JSON envelope per line, for operators.
//!
//! With `NATS_URL` set it reads the JetStream stream (what consumers see); without it, the
//! feed (`persistence::outbox`, the same log `GET /v1/events` serves), polling for new events.
//! Either way it runs until interrupted.

use std::io::Write;
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use clap::{Args, Subcommand};
use futures::StreamExt;
use persistence::{Limit, outbox};

use super::{Outcome, connect};

/// How often the feed is polled for new events when `NATS_URL` is unset.
const FEED_POLL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Debug, Clone, Subcommand)]
enum EventsCommand {
    /// Print events as they are committed: from the NATS stream when NATS_URL is set, else
    /// from the database's feed.
    Tail {
        /// Start with the oldest event kept instead of only the new ones.
        #[arg(long)]
        from_start: bool,
        /// NATS server to read the stream from; unset: read the feed in the database.
        #[arg(long, env = "NATS_URL", hide_env_values = true)]
        nats_url: Option<String>,
    },
}

pub async fn run(database_url: &str, args: EventsArgs) -> anyhow::Result<Outcome> {
    match args.command {
        EventsCommand::Tail {
            from_start,
            nats_url: Some(url),
        } => tail_stream(&url, from_start).await,
        EventsCommand::Tail {
            from_start,
            nats_url: None,
        } => tail_feed(database_url, from_start).await,
    }
}

async fn tail_stream(url: &str, from_start: bool) -> anyhow::Result<Outcome> {
    let client = async_nats::connect(url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach NATS at {url}: {e}"))?;
    let jetstream = async_nats::jetstream::new(client);
    let stream = jetstream
        .get_stream(crate::relay::STREAM)
        .await
        .map_err(|e| anyhow::anyhow!("no stream {}: {e}", crate::relay::STREAM))?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: if from_start {
                DeliverPolicy::All
            } else {
                DeliverPolicy::New
            },
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the stream: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the stream: {e}"))?;
    let mut out = std::io::stdout().lock();
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| anyhow::anyhow!("reading the stream failed: {e}"))?;
        out.write_all(&message.payload)?;
        writeln!(out)?;
        out.flush()?;
    }
    Ok(Outcome::Success)
}

async fn tail_feed(database_url: &str, from_start: bool) -> anyhow::Result<Outcome> {
    let db = connect(database_url).await?;
    let limit = Limit::new(i64::from(Limit::MAX)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut after = outbox::FeedPoint::START;
    if !from_start {
        // Skip to the end: only what commits from now on.
        loop {
            let page = read(&db, after, limit).await?;
            match page.items.last() {
                Some(last) => after = last.point,
                None => break,
            }
        }
    }
    let mut out = std::io::stdout().lock();
    loop {
        let page = read(&db, after, limit).await?;
        for event in &page.items {
            serde_json::to_writer(&mut out, event)?;
            writeln!(out)?;
            after = event.point;
        }
        out.flush()?;
        if page.next.is_none() {
            tokio::time::sleep(FEED_POLL).await;
        }
    }
}

async fn read(
    db: &persistence::Db,
    after: outbox::FeedPoint,
    limit: Limit,
) -> anyhow::Result<persistence::Page<persistence::Event>> {
    outbox::read(db, after, limit)
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the feed: {}", e.detail()))
}
