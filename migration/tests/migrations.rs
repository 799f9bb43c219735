//! The schema history applies, reverts and reapplies cleanly on both engines, and concurrent
//! runners apply each migration exactly once.

#![allow(clippy::unwrap_used)]

use migration::{Migrator, Runner, pending};
use persistence::Backend;
use persistence::testing::TestDatabase;
use persistence_orm::Orm;
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::ConnectionTrait;

persistence::both_backends!(
    up_down_up_round_trip,
    concurrent_runners_apply_each_migration_once,
    check_reports_pending_until_applied
);

/// Every table the migrations create, over all contexts.
/// Every table the migrations make: PostgreSQL draws event positions from a sequence, SQLite
/// keeps a counter table for them.
fn all_tables(backend: Backend) -> i64 {
    match backend {
        Backend::Sqlite => 14,
        Backend::Postgres => 13,
    }
}

async fn table_count(db: &persistence::Db) -> i64 {
    let sql = match db.backend() {
        Backend::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
             AND name IN ('users', 'orders', 'order_items', 'idempotency_keys', 'credentials', \
             'sessions', 'sign_in_failures', 'events', 'event_positions', \
             'event_relay_lease', 'products', 'stock', 'stock_reservations', \
             'stock_adjustments')"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public' \
             AND table_name IN ('users', 'orders', 'order_items', 'idempotency_keys', 'credentials', \
             'sessions', 'sign_in_failures', 'events', 'event_positions', \
             'event_relay_lease', 'products', 'stock', 'stock_reservations', \
             'stock_adjustments')"
        }
    };
    let row = db
        .orm()
        .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(
            db.orm().get_database_backend(),
            sql,
        ));
    row.await.unwrap().unwrap().try_get::<i64>("", "n").unwrap()
}

async fn up_down_up_round_trip(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    let all = Migrator::migrations().len();

    let runner = Runner::lock(test.url()).await.unwrap();
    assert_eq!(runner.up(None).await.unwrap().len(), all);
    assert_eq!(table_count(test.db()).await, all_tables(backend));

    let reverted = runner.down(all as u32).await.unwrap();
    assert_eq!(reverted.len(), all);
    assert!(reverted[0] > reverted[all - 1], "down reverts newest first");
    assert_eq!(table_count(test.db()).await, 0);
    assert!(runner.status().await.unwrap().iter().all(|m| !m.applied));

    assert_eq!(runner.up(None).await.unwrap().len(), all);
    assert_eq!(table_count(test.db()).await, all_tables(backend));
    assert!(runner.status().await.unwrap().iter().all(|m| m.applied));

    // Stepwise: one down, one up.
    assert_eq!(runner.down(1).await.unwrap().len(), 1);
    assert_eq!(pending(test.db()).await.unwrap().len(), 1);
    assert_eq!(runner.up(Some(1)).await.unwrap().len(), 1);
    assert!(pending(test.db()).await.unwrap().is_empty());
    runner.release().await.unwrap();
}

async fn concurrent_runners_apply_each_migration_once(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    let run = |url: String| async move {
        let runner = Runner::lock(&url).await?;
        let applied = runner.up(None).await?;
        runner.release().await?;
        Ok::<_, migration::MigrateError>(applied)
    };
    let runs =
        futures::future::join_all((0..4).map(|_| tokio::spawn(run(test.url().to_owned())))).await;
    let mut applied_total = 0;
    for result in runs {
        applied_total += result.unwrap().expect("every runner succeeds").len();
    }
    // Each migration was applied by exactly one of the racing runners.
    assert_eq!(applied_total, Migrator::migrations().len());
    let recorded = test
        .db()
        .orm()
        .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(
            test.db().orm().get_database_backend(),
            "SELECT COUNT(*) AS n FROM seaql_migrations",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(recorded as usize, Migrator::migrations().len());
}

async fn check_reports_pending_until_applied(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    // A read-only check on an empty database creates nothing and reports everything pending.
    assert_eq!(
        pending(test.db()).await.unwrap().len(),
        Migrator::migrations().len()
    );
    assert_eq!(table_count(test.db()).await, 0);
    let runner = Runner::lock(test.url()).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
    assert!(pending(test.db()).await.unwrap().is_empty());
}
