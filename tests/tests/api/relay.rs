//! The NATS JetStream relay, black-box: each test starts its own `nats-server -js` on a free
//! port with its store in a temporary directory, runs the service with `NATS_URL` pointing at
//! it, and reads what reached the stream. Every wait is for a condition, with a deadline.

use std::collections::{HashMap, HashSet};

use crate::common::nats::Nats;
use crate::common::{self, Account, DEADLINE, TestApp, spawn_with, wait_until};
use app::relay;
use futures::StreamExt;
use persistence::Backend;
use persistence::outbox;
use persistence::testing::TestDatabase;
use serde_json::Value;

crate::common::on_both_backends!(
    a_crash_after_publish_republishes_and_the_stream_stores_once,
    nats_down_under_load_loses_nothing_and_duplicates_nothing,
    retention_purges_published_events_and_keeps_unpublished_ones_while_a_relay_runs,
    two_writers_whose_commits_interleave_reach_the_stream_once_in_commit_order,
);
crate::common::on_postgres!(two_instances_on_one_postgres_publish_each_event_once);

async fn spawn_relaying(database: TestDatabase, nats: &Nats) -> TestApp {
    let url = nats.url();
    spawn_with(database, move |config| config.nats_url = Some(url)).await
}

async fn unpublished(app: &TestApp) -> u64 {
    outbox::unpublished_count(app.database.db()).await.unwrap()
}

/// The feed's event ids, in commit order (read through persistence: the relay tests need no
/// admin).
async fn feed_ids(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = outbox::FeedPoint::START;
    app.settle_feed().await;
    loop {
        let page = outbox::read(
            app.database.db(),
            after,
            persistence::Limit::new(100).unwrap(),
        )
        .await
        .unwrap();
        if let Some(last) = page.items.last() {
            after = last.point;
        }
        let done = page.next.is_none();
        ids.extend(page.items.into_iter().map(|e| e.id.to_string()));
        if done {
            return ids;
        }
    }
}

/// Asserts the stream holds exactly the feed: every event once, with its id as `Nats-Msg-Id`,
/// on `orders_backend.<type>`, and on each subject in commit order.
async fn assert_stream_is_the_feed(app: &TestApp, nats: &Nats) {
    let feed = feed_ids(app).await;
    let stored = nats.stored().await;
    let ids: Vec<&String> = stored.iter().map(|(_, id, _)| id).collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "no event twice in the stream"
    );
    assert_eq!(stored.len(), feed.len(), "every event in the stream");
    let rank: HashMap<&String, usize> = feed.iter().enumerate().map(|(i, id)| (id, i)).collect();
    let mut last_on_subject: HashMap<&str, usize> = HashMap::new();
    for (subject, id, envelope) in &stored {
        assert_eq!(&envelope["id"], id.as_str());
        assert_eq!(
            subject,
            &relay::subject_of(envelope["type"].as_str().unwrap())
        );
        let position = rank[id];
        if let Some(previous) = last_on_subject.insert(subject, position) {
            assert!(previous < position, "{subject}: commit order");
        }
    }
}

async fn a_crash_after_publish_republishes_and_the_stream_stores_once(database: TestDatabase) {
    let nats = Nats::start().await;
    // Watch every publish on the wire (JetStream dedup does not hide copies from core
    // subscribers), to see the re-sends.
    let watcher = async_nats::connect(nats.url()).await.unwrap();
    let mut wire = watcher.subscribe("orders_backend.>").await.unwrap();
    let app = spawn_relaying(database, &nats).await;
    app.faults.arm(relay::faults::AFTER_PUBLISH);
    let ada: Account = app.create_user("ada@example.com").await;
    app.create_order(&ada).await;
    let events = feed_ids(&app).await;
    // The registration, the product and its stock `create_order` puts on sale, the order.
    assert_eq!(events.len(), 4);

    // Published, acknowledged, never marked: published again, and again.
    let mut sent: HashMap<String, usize> = HashMap::new();
    while sent.values().filter(|&&n| n >= 2).count() < events.len() {
        let message = tokio::time::timeout(DEADLINE, wire.next())
            .await
            .expect("the relay re-sends")
            .unwrap();
        let id = message
            .headers
            .unwrap()
            .get(async_nats::header::NATS_MESSAGE_ID)
            .unwrap()
            .to_string();
        *sent.entry(id).or_default() += 1;
    }
    assert_eq!(unpublished(&app).await, 4, "still waiting to be marked");
    assert_eq!(nats.stored().await.len(), 4, "stored once all the same");

    app.faults.disarm(relay::faults::AFTER_PUBLISH);
    wait_until("every event is marked sent", || async {
        unpublished(&app).await == 0
    })
    .await;
    assert_stream_is_the_feed(&app, &nats).await;
}

async fn nats_down_under_load_loses_nothing_and_duplicates_nothing(database: TestDatabase) {
    let mut nats = Nats::start().await;
    let app = spawn_relaying(database, &nats).await;
    app.stock("SKU-1", 150, common::PLENTY).await;
    let ada = app.create_user("ada@example.com").await;
    wait_until("the relay is caught up", || async {
        unpublished(&app).await == 0 && !nats_stored_is_empty(&nats).await
    })
    .await;

    // Load: a customer placing and paying orders all along.
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let load = {
        let client = app.client.clone();
        let base = app.address.clone();
        let token = ada.token.clone();
        tokio::spawn(async move {
            let mut changes = 0;
            while !*stopped.borrow_and_update() {
                let order: Value = client
                    .post(format!("{base}/v1/orders"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({
                        "currency": "EUR",
                        "items": [{ "sku": "SKU-1", "quantity": 1, "unit_price_cents": 150 }]
                    }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let id = order["id"].as_str().unwrap();
                let paid = client
                    .post(format!("{base}/v1/orders/{id}/pay"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(paid.status(), 200, "the API works while NATS is down");
                changes += 2;
            }
            changes
        })
    };

    wait_until("some events reached the stream under load", || async {
        nats.stored().await.len() >= 5
    })
    .await;
    nats.kill();
    let waiting = unpublished(&app).await;
    wait_until(
        "events pile up in the outbox while NATS is down",
        || async { unpublished(&app).await >= waiting + 10 },
    )
    .await;
    nats.restart().await;
    wait_until("the relay publishes again", || async {
        nats.stored().await.len() > 5
    })
    .await;
    stop.send(true).unwrap();
    let changes = load.await.unwrap();
    assert!(changes >= 10);
    wait_until("every event is marked sent", || async {
        unpublished(&app).await == 0
    })
    .await;
    assert_stream_is_the_feed(&app, &nats).await;
}

async fn nats_stored_is_empty(nats: &Nats) -> bool {
    nats.stored().await.is_empty()
}

/// Two instances of the service, each with its relay, on one PostgreSQL database: the lease
/// lets one publish at a time, so every event is sent exactly once, in order.
async fn two_instances_on_one_postgres_publish_each_event_once(database: TestDatabase) {
    let nats = Nats::start().await;
    let watcher = async_nats::connect(nats.url()).await.unwrap();
    // Everything on the server, so that a marker outside the stream's subjects arrives on the
    // same subscription, in order.
    let mut wire = watcher.subscribe(">").await.unwrap();
    let app = spawn_relaying(database, &nats).await;
    app.stock("SKU-1", 150, common::PLENTY).await;
    let url = nats.url();
    let second = common::start(app.database.url(), move |config| {
        config.nats_url = Some(url)
    })
    .await;
    let ada = app.create_user("ada@example.com").await;
    let mut orders = Vec::new();
    for i in 0..10 {
        // Alternate between the instances, as a load balancer would.
        let base = if i % 2 == 0 {
            &app.address
        } else {
            &second.address
        };
        let response = app
            .client
            .post(format!("{base}/v1/orders"))
            .bearer_auth(&ada.token)
            .json(&serde_json::json!({
                "currency": "EUR",
                "items": [{ "sku": "SKU-1", "quantity": 1, "unit_price_cents": 150 }]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        orders.push(response);
    }
    wait_until("every event is marked sent", || async {
        unpublished(&app).await == 0
    })
    .await;
    let feed = feed_ids(&app).await;
    // As many as before, plus the product on sale and its stock.
    assert_eq!(feed.len(), 13);
    // Nothing more is coming: a further publish would be a second send. A marker published
    // now arrives after every earlier publish, so everything before it is everything sent.
    watcher.flush().await.unwrap();
    watcher
        .publish("relay_test.marker", "end".into())
        .await
        .unwrap();
    let mut sent = Vec::new();
    loop {
        let message = tokio::time::timeout(DEADLINE, wire.next())
            .await
            .expect("the marker arrives")
            .unwrap();
        if message.subject.as_str() == "relay_test.marker" {
            break;
        }
        if !message.subject.starts_with("orders_backend.") {
            continue; // JetStream API traffic and acks.
        }
        sent.push(
            message
                .headers
                .unwrap()
                .get(async_nats::header::NATS_MESSAGE_ID)
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(sent, feed, "each event sent once, in commit order");
    assert_stream_is_the_feed(&app, &nats).await;
    let _ = second.shutdown.send(());
    let _ = second.server.await;
}

/// `EVENT_RETENTION_DAYS`: with a relay, only events published longer ago than the retention
/// go (an unpublished event waits for NATS however old it is); with the feed as the only
/// consumer, every event older than the retention goes.
async fn retention_purges_published_events_and_keeps_unpublished_ones_while_a_relay_runs(
    app: TestApp,
) {
    for n in 0..4 {
        app.sign_up(&format!("user{n}@example.com")).await;
    }
    let db = app.database.db();
    let all = feed_ids(&app).await;
    assert!(all.len() >= 4, "one event per sign-up at least: {all:?}");
    let day = std::time::Duration::from_secs(24 * 60 * 60);
    let now = persistence::now_utc();

    // The oldest event was published two days ago, the next one just now; the rest wait.
    let claim = outbox::claim(db, 1).await.unwrap().unwrap();
    let long_ago = claim.events[0].id;
    claim
        .mark_published(&[long_ago], now - chrono::Duration::days(2))
        .await
        .unwrap();
    let claim = outbox::claim(db, 1).await.unwrap().unwrap();
    let recently = claim.events[0].id;
    claim.mark_published(&[recently], now).await.unwrap();
    let waiting = unpublished(&app).await;
    assert_eq!(waiting as usize, all.len() - 2);

    // A relay runs, retention one day: only the event published two days ago goes.
    assert_eq!(relay::purge(db, day, true).await.unwrap(), 1);
    let left = feed_ids(&app).await;
    assert!(!left.contains(&long_ago.to_string()));
    assert!(left.contains(&recently.to_string()));
    assert_eq!(left.len(), all.len() - 1);

    // Retention zero: every published event is past it, and still the unpublished ones stay.
    assert_eq!(
        relay::purge(db, std::time::Duration::ZERO, true)
            .await
            .unwrap(),
        1
    );
    assert_eq!(feed_ids(&app).await.len(), waiting as usize);
    assert_eq!(unpublished(&app).await, waiting);

    // No relay: the feed is the only consumer, and everything past the retention goes.
    assert_eq!(
        relay::purge(db, std::time::Duration::ZERO, false)
            .await
            .unwrap(),
        waiting
    );
    assert!(feed_ids(&app).await.is_empty());
}

/// A test event: `subject` is the aggregate it is about, `n` tells the writes apart.
struct Noted {
    subject: &'static str,
    n: u32,
}

impl persistence::DomainEvent for Noted {
    fn event_type(&self) -> &'static str {
        "test.noted"
    }
    fn subject(&self) -> String {
        self.subject.to_owned()
    }
    fn time(&self) -> chrono::DateTime<chrono::Utc> {
        persistence::now_utc()
    }
}

/// Two writers, each round: the first begins and writes (so its transaction id is the older),
/// the second writes the shared subject and commits, then the first writes the shared subject
/// and commits last. The stream holds every event once, the feed's order, and on the shared
/// subject the commit order (the second writer's event of a round before the first's), though
/// the first writer's transaction is the older. On SQLite, where one writer holds the database
/// at a time, the rounds run their transactions in turn.
async fn two_writers_whose_commits_interleave_reach_the_stream_once_in_commit_order(
    database: TestDatabase,
) {
    let nats = Nats::start().await;
    let app = spawn_relaying(database, &nats).await;
    let db = app.database.db();
    let outbox = persistence::Outbox::new(|e: &Noted| serde_json::json!({ "n": e.n }));
    let note = |subject, n| Noted { subject, n };
    let mut committed = Vec::new();
    for round in 0..5 {
        let (first, second) = (2 * round, 2 * round + 1);
        if app.database.backend() == Backend::Postgres {
            let older = db.begin().await.unwrap();
            outbox
                .append(&older, &note("first-own", first))
                .await
                .unwrap();
            let newer = db.begin().await.unwrap();
            outbox
                .append(&newer, &note("shared", second))
                .await
                .unwrap();
            newer.commit().await.unwrap();
            outbox.append(&older, &note("shared", first)).await.unwrap();
            older.commit().await.unwrap();
        } else {
            let newer = db.begin().await.unwrap();
            outbox
                .append(&newer, &note("shared", second))
                .await
                .unwrap();
            newer.commit().await.unwrap();
            let older = db.begin().await.unwrap();
            outbox
                .append(&older, &note("first-own", first))
                .await
                .unwrap();
            outbox.append(&older, &note("shared", first)).await.unwrap();
            older.commit().await.unwrap();
        }
        committed.extend([second, first]);
    }
    wait_until("the relay is caught up", || async {
        unpublished(&app).await == 0
    })
    .await;
    assert_stream_is_the_feed(&app, &nats).await;
    let shared: Vec<u64> = nats
        .stored()
        .await
        .iter()
        .filter(|(_, _, envelope)| envelope["subject"] == "shared")
        .map(|(_, _, envelope)| envelope["data"]["n"].as_u64().unwrap())
        .collect();
    let committed: Vec<u64> = committed.into_iter().map(u64::from).collect();
    assert_eq!(shared, committed, "the shared subject in commit order");
}
