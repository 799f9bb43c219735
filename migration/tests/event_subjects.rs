//! Turning event subjects into text keeps every existing event and its subject, on both
//! engines, and reverting it gives the UUIDs back.

#![allow(clippy::unwrap_used)]

mod common;

use persistence::testing::TestDatabase;
use persistence::{Backend, new_id};
use persistence_orm::Orm;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement, Value};

persistence::both_backends!(existing_subjects_survive_the_change_and_its_revert);

const SUBJECTS_MIGRATION: &str = "m20261202_000006_persistence_text_event_subjects";

async fn existing_subjects_survive_the_change_and_its_revert(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    let runner = common::migrated_up_to_before(&test, SUBJECTS_MIGRATION).await;

    let conn = test.db().orm_write();
    let engine = conn.get_database_backend();
    let subject = new_id();
    let insert = Statement::from_sql_and_values(
        engine,
        match backend {
            Backend::Sqlite => {
                "INSERT INTO events (id, position, type, subject, time, data) \
                 VALUES (?, 1, 'user.registered', ?, '2026-12-01T00:00:00Z', '{}')"
            }
            Backend::Postgres => {
                "INSERT INTO events (id, position, type, subject, time, data) \
                 VALUES ($1, 1, 'user.registered', $2, '2026-12-01T00:00:00Z', '{}')"
            }
        },
        [Value::from(new_id()), Value::from(subject)],
    );
    conn.execute_raw(insert).await.unwrap();

    runner.up(Some(1)).await.unwrap();
    let text = Statement::from_string(engine, "SELECT subject FROM events");
    let row = conn.query_one_raw(text).await.unwrap().unwrap();
    assert_eq!(
        row.try_get::<String>("", "subject").unwrap(),
        subject.to_string()
    );

    assert_eq!(runner.down(1).await.unwrap(), [SUBJECTS_MIGRATION]);
    // Another statement text: PostgreSQL will not reuse a cached plan whose result type changed.
    let uuid = Statement::from_string(engine, "SELECT subject AS subject FROM events");
    let row = conn.query_one_raw(uuid).await.unwrap().unwrap();
    assert_eq!(
        row.try_get::<sea_orm_migration::sea_orm::prelude::Uuid>("", "subject")
            .unwrap(),
        subject
    );
    runner.release().await.unwrap();
}
