//! Moving the feed off the commit-order counter keeps every existing event in its place, a
//! cursor issued before the move resumes where it stood, new events follow the old ones, no
//! position repeats, and reverting and re-applying the move changes none of it.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use persistence::outbox::{self, DomainEvent, Event, FeedPoint, Outbox};
use persistence::testing::TestDatabase;
use persistence::{Backend, Cursor, Db, Limit, new_id};
use persistence_orm::Orm;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement, Value};
use uuid::Uuid;

persistence::both_backends!(events_and_old_cursors_survive_the_move_and_its_revert);

const FEED_MIGRATION: &str = "m20261205_000009_persistence_feed_order_without_lock";

struct Noted(String);

impl DomainEvent for Noted {
    fn event_type(&self) -> &'static str {
        "test.noted"
    }
    fn subject(&self) -> String {
        self.0.clone()
    }
    fn time(&self) -> DateTime<Utc> {
        persistence::now_utc()
    }
}

/// The whole feed after `after`, page by page.
async fn feed_after(db: &Db, mut after: FeedPoint) -> Vec<Event> {
    outbox::settle(db, Duration::from_secs(60)).await.unwrap();
    let mut all = Vec::new();
    loop {
        let page = outbox::read(db, after, Limit::new(2).unwrap())
            .await
            .unwrap();
        let Some(last) = page.items.last() else {
            return all;
        };
        after = last.point;
        all.extend(page.items);
    }
}

fn subjects(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.subject.as_str()).collect()
}

async fn events_and_old_cursors_survive_the_move_and_its_revert(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    let runner = common::migrated_up_to_before(&test, FEED_MIGRATION).await;

    // Three events as the counter wrote them: positions 1 to 3, the counter at 3.
    let conn = test.db().orm_write();
    let engine = conn.get_database_backend();
    let insert = match backend {
        Backend::Sqlite => {
            "INSERT INTO events (id, position, type, subject, time, data) \
             VALUES (?, ?, 'test.noted', ?, '2026-12-01T00:00:00Z', '{}')"
        }
        Backend::Postgres => {
            "INSERT INTO events (id, position, type, subject, time, data) \
             VALUES ($1, $2, 'test.noted', $3, '2026-12-01T00:00:00Z', '{}')"
        }
    };
    for position in 1..=3_i64 {
        let values = [
            Value::from(new_id()),
            Value::from(position),
            Value::from(format!("old-{position}")),
        ];
        conn.execute_raw(Statement::from_sql_and_values(engine, insert, values))
            .await
            .unwrap();
    }
    conn.execute_unprepared("UPDATE event_positions SET last = 3 WHERE id = 1")
        .await
        .unwrap();
    // A reader's cursor from before the move: it has seen position 1.
    let old_cursor = Cursor::after_key(Uuid::from_u64_pair(u64::from_be_bytes(*b"evtpos\0\0"), 1));

    runner.up(Some(1)).await.unwrap();
    let outbox = Outbox::new(|_: &Noted| serde_json::json!({}));
    let tx = test.db().begin().await.unwrap();
    outbox
        .append_all(&tx, &[Noted("new-1".into()), Noted("new-2".into())])
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let resumed = feed_after(test.db(), outbox::point_of(&old_cursor).unwrap()).await;
    assert_eq!(subjects(&resumed), ["old-2", "old-3", "new-1", "new-2"]);
    let all = feed_after(test.db(), FeedPoint::START).await;
    assert_eq!(
        subjects(&all),
        ["old-1", "old-2", "old-3", "new-1", "new-2"]
    );
    assert!(
        all[3..].iter().all(|e| e.point.position() > 3),
        "no position repeats: {all:?}"
    );

    assert_eq!(runner.down(1).await.unwrap(), [FEED_MIGRATION]);
    runner.up(Some(1)).await.unwrap();
    let again = feed_after(test.db(), FeedPoint::START).await;
    assert_eq!(subjects(&again), subjects(&all));
    // The counter or sequence resumes past every position handed out.
    let tx = test.db().begin().await.unwrap();
    outbox.append(&tx, &Noted("after".into())).await.unwrap();
    tx.commit().await.unwrap();
    let last = feed_after(test.db(), FeedPoint::START).await;
    assert_eq!(subjects(&last[5..]), ["after"]);
    assert!(last[5].point.position() > all[4].point.position());
    runner.release().await.unwrap();
}
