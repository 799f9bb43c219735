//! The drift check reads each engine's catalog faithfully: two databases built by the
//! migrations agree, and hand-made changes (a column added, an index dropped, a column made
//! nullable) are each reported by table and column, on both engines.

#![allow(clippy::unwrap_used)]

use migration::drift::{
    Aspect, Drift, ForeignKeyShape, IndexKey, IndexShape, SchemaSnapshot, Scope, compare,
    execute_script, snapshot,
};
use migration::{Runner, pending};
use persistence::Backend;
use persistence::testing::TestDatabase;
use persistence_orm::Orm;
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

persistence::both_backends!(
    migrated_databases_agree_and_the_snapshot_sees_everything,
    hand_made_changes_are_reported_by_table_and_column,
    scratch_databases_live_beside_the_target_and_are_removed
);

async fn migrated(backend: Backend) -> Option<TestDatabase> {
    let test = TestDatabase::create(backend).await?;
    let runner = Runner::lock(test.url()).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
    Some(test)
}

async fn migrated_databases_agree_and_the_snapshot_sees_everything(backend: Backend) {
    let (Some(one), Some(two)) = (migrated(backend).await, migrated(backend).await) else {
        return;
    };
    let first = snapshot(one.db()).await.unwrap();
    let second = snapshot(two.db()).await.unwrap();
    assert_eq!(compare(&first, &second, Scope::Everything), []);

    // Not vacuous: the snapshot holds what the migrations built, and nothing else.
    let mut names: Vec<&str> = first.tables.keys().map(String::as_str).collect();
    if backend == Backend::Sqlite {
        // SQLite's event positions come from a counter table, PostgreSQL's from a sequence.
        names.retain(|&name| name != "event_positions");
    }
    assert_eq!(
        names,
        [
            "credentials",
            "event_relay_lease",
            "events",
            "idempotency_keys",
            "order_items",
            "orders",
            "products",
            "sessions",
            "sign_in_failures",
            "stock",
            "stock_adjustments",
            "stock_reservations",
            "users"
        ]
    );
    let orders = &first.tables["orders"];
    assert_eq!(orders.primary_key, ["id"]);
    assert!(!orders.columns["user_id"].nullable);
    assert!(orders.indexes.contains(&IndexShape {
        keys: vec![
            IndexKey::Column("user_id".into()),
            IndexKey::Column("id".into())
        ],
        unique: false,
        predicate: None,
    }));
    assert_eq!(
        first.tables["order_items"].primary_key,
        ["order_id", "line_no"]
    );
    assert!(
        first.tables["order_items"]
            .foreign_keys
            .contains(&ForeignKeyShape {
                columns: vec!["order_id".into()],
                references: "orders".into(),
                referenced_columns: vec!["id".into()],
                on_delete: "CASCADE".into(),
                on_update: "NO ACTION".into(),
            })
    );
    let users = &first.tables["users"];
    assert_eq!(users.columns["version"].default.as_deref(), Some("1"));
    assert!(users.indexes.iter().any(
        |i| i.unique && matches!(&i.keys[..], [IndexKey::Expression(e)] if e.contains("lower"))
    ));
    assert!(users.checks.iter().any(|c| c.column == "status"));
    let uuid = match backend {
        Backend::Sqlite => "blob",
        Backend::Postgres => "uuid",
    };
    assert_eq!(users.columns["id"].data_type, uuid);
    assert_eq!(users.columns["email"].data_type, "varchar(254)");
}

async fn hand_made_changes_are_reported_by_table_and_column(backend: Backend) {
    let (Some(reference), Some(live)) = (migrated(backend).await, migrated(backend).await) else {
        return;
    };
    let nullable_digest: &[&str] = match backend {
        Backend::Postgres => {
            &["ALTER TABLE sign_in_failures ALTER COLUMN login_digest DROP NOT NULL"]
        }
        // SQLite cannot alter a column: rebuild the table as the migration did, but nullable.
        Backend::Sqlite => &[
            "DROP TABLE sign_in_failures",
            "CREATE TABLE \"sign_in_failures\" ( \"id\" blob NOT NULL PRIMARY KEY, \
             \"login_digest\" blob NULL CHECK (length(\"login_digest\") = 32), \
             \"attempted_at\" timestamp_with_timezone_text NOT NULL )",
            "CREATE INDEX \"sign_in_failures_login_digest_attempted_at_idx\" ON \
             \"sign_in_failures\" (\"login_digest\", \"attempted_at\")",
        ],
    };
    let mut script = vec![
        "ALTER TABLE orders ADD COLUMN note text".to_owned(),
        "DROP INDEX sessions_expires_at_idx".to_owned(),
    ];
    script.extend(nullable_digest.iter().map(|s| (*s).to_owned()));
    execute_script(live.db(), &script).await.unwrap();

    let expected = snapshot(reference.db()).await.unwrap();
    let found = snapshot(live.db()).await.unwrap();
    let drift = |table: &str, column: &str, what: Aspect, expected: &str, found: &str| Drift {
        table: table.into(),
        column: column.into(),
        what,
        expected: expected.into(),
        found: found.into(),
    };
    let wanted = [
        drift("orders", "note", Aspect::Column, "absent", "text NULL"),
        drift(
            "sessions",
            "expires_at",
            Aspect::Index,
            "(expires_at)",
            "absent",
        ),
        drift(
            "sign_in_failures",
            "login_digest",
            Aspect::Nullability,
            "NOT NULL",
            "NULL",
        ),
    ];
    // Exactly these, nothing else: the rebuilt table is otherwise identical.
    assert_eq!(compare(&expected, &found, Scope::Everything), wanted);
    assert_eq!(compare(&expected, &found, Scope::Declarable), wanted);
    let lines: Vec<String> = wanted
        .iter()
        .map(|d| d.describe("migrations", "live"))
        .collect();
    assert_eq!(
        lines,
        [
            "orders.note: column: migrations absent, live text NULL",
            "sessions.expires_at: index: migrations (expires_at), live absent",
            "sign_in_failures.login_digest: nullability: migrations NOT NULL, live NULL",
        ]
    );
    // And the reverse direction names the sides the other way round.
    let reverse = compare(&found, &expected, Scope::Everything);
    assert_eq!(reverse[0].expected, "text NULL");
    assert_eq!(reverse[0].found, "absent");
}

async fn database_exists(admin: &TestDatabase, name: &str) -> bool {
    let sql = format!("SELECT COUNT(*) AS n FROM pg_database WHERE datname = '{name}'");
    let row = admin
        .db()
        .orm()
        .query_one_raw(Statement::from_string(
            admin.db().orm().get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap() == 1
}

async fn scratch_databases_live_beside_the_target_and_are_removed(backend: Backend) {
    let Some(target) = TestDatabase::create(backend).await else {
        return;
    };
    let scratch = persistence::ScratchDatabase::create(target.url(), "test")
        .await
        .unwrap();
    assert_eq!(scratch.backend(), backend);
    let runner = Runner::lock(scratch.url()).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();

    // The target itself is untouched: still empty, every migration pending.
    assert_eq!(
        snapshot(target.db()).await.unwrap(),
        SchemaSnapshot::default()
    );
    assert_eq!(
        pending(target.db()).await.unwrap().len(),
        migration::Migrator::migrations().len()
    );

    match backend {
        Backend::Postgres => {
            let name = scratch.postgres_name().unwrap().to_owned();
            assert!(name.starts_with("test_"));
            assert!(scratch.url().ends_with(&format!("/{name}")));
            assert!(database_exists(&target, &name).await);
            scratch.remove().await.unwrap();
            assert!(!database_exists(&target, &name).await);
        }
        Backend::Sqlite => {
            let file = persistence::database_url::sqlite_file_path(scratch.url())
                .unwrap()
                .to_owned();
            assert!(std::path::Path::new(&file).exists());
            assert_ne!(
                std::path::Path::new(&file).parent(),
                persistence::database_url::sqlite_file_path(target.url())
                    .and_then(|t| std::path::Path::new(t).parent())
            );
            scratch.remove().await.unwrap();
            assert!(!std::path::Path::new(&file).exists());
        }
    }
}
