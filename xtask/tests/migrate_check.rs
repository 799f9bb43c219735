//! `cargo xtask migrate check` as an operator runs it: the real binary against a database on
//! each engine, judged by its exit code and what it prints. And the entities' side of the
//! comparison: the SQL each context declares builds the schema the migrations build.

#![allow(clippy::unwrap_used)]

use migration::Runner;
use migration::drift::{Scope, compare, execute_script, snapshot};
use persistence::Backend;
use persistence::testing::TestDatabase;

persistence::both_backends!(
    check_passes_when_migrations_entities_and_live_schema_agree,
    check_names_hand_made_changes_by_table_and_column,
    check_reports_pending_migrations_and_creates_nothing,
    entities_declare_the_schema_the_migrations_build,
);

/// `cargo xtask migrate check --database-url URL`: exit code and stdout.
async fn run_check(url: &str) -> (i32, String) {
    let url = url.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["migrate", "check", "--database-url", &url])
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code().unwrap();
    assert_ne!(code, 2, "the check could not run:\n{stdout}\n{stderr}");
    (code, stdout)
}

async fn migrate(url: &str) {
    let runner = Runner::lock(url).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
}

fn engine(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

async fn check_passes_when_migrations_entities_and_live_schema_agree(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    migrate(test.url()).await;
    let before = snapshot(test.db()).await.unwrap();

    let (code, stdout) = run_check(test.url()).await;
    assert_eq!(code, 0, "{stdout}");
    let engine = engine(backend);
    assert_eq!(
        stdout,
        format!(
            "up to date: no pending migrations\n\
             migrations and entities agree on {engine} (7 tables)\n\
             live schema matches the migrations (7 tables)\n"
        )
    );
    // The scratch databases were built elsewhere: the target is exactly as it was.
    assert_eq!(snapshot(test.db()).await.unwrap(), before);
}

async fn check_names_hand_made_changes_by_table_and_column(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    migrate(test.url()).await;
    let mut script = vec![
        "ALTER TABLE orders ADD COLUMN note text".to_owned(),
        "DROP INDEX sessions_expires_at_idx".to_owned(),
        "CREATE INDEX orders_currency_idx ON orders (currency)".to_owned(),
    ];
    if backend == Backend::Postgres {
        script.push("ALTER TABLE users ALTER COLUMN display_name DROP NOT NULL".to_owned());
        script.push("ALTER TABLE order_items DROP CONSTRAINT order_items_order_id_fkey".to_owned());
    }
    execute_script(test.db(), &script).await.unwrap();

    let (code, stdout) = run_check(test.url()).await;
    assert_eq!(code, 1, "{stdout}");
    let mut wanted = vec![
        "  orders.currency: index: migrations absent, live (currency)",
        "  orders.note: column: migrations absent, live text NULL",
        "  sessions.expires_at: index: migrations (expires_at), live absent",
    ];
    if backend == Backend::Postgres {
        wanted.insert(
            0,
            "  order_items.order_id: foreign key: migrations references orders(id) \
             ON DELETE CASCADE ON UPDATE NO ACTION, live absent",
        );
        wanted.push("  users.display_name: nullability: migrations NOT NULL, live NULL");
    }
    let reported: Vec<&str> = stdout.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(reported, wanted, "{stdout}");
    assert!(stdout.contains(&format!(
        "schema drift in {}: changes no migration explains ({} difference(s)):",
        test.url(),
        wanted.len()
    )));
    // The entities still agree with the migrations: only the live database drifted.
    assert!(stdout.contains("migrations and entities agree"), "{stdout}");
}

async fn check_reports_pending_migrations_and_creates_nothing(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    let (code, stdout) = run_check(test.url()).await;
    assert_eq!(code, 1, "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "4 pending migration(s):");
    assert!(lines.contains(&"pending  m20261125_000001_users_create_users"));
    let agree = format!(
        "migrations and entities agree on {} (7 tables)",
        engine(backend)
    );
    assert!(lines.contains(&agree.as_str()), "{stdout}");
    assert_eq!(
        lines.last(),
        Some(&"live schema not compared while migrations are pending")
    );
    assert!(snapshot(test.db()).await.unwrap().tables.is_empty());

    // A SQLite file that does not exist is not created either.
    if backend == Backend::Sqlite {
        let dir = tempfile_dir();
        let path = dir.join("missing.db");
        let (code, stdout) = run_check(&format!("sqlite://{}", path.display())).await;
        assert_eq!(code, 1, "{stdout}");
        assert!(stdout.ends_with("does not exist yet\n"), "{stdout}");
        assert!(!path.exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// A fresh empty directory under the system's temp dir.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-check-{}", persistence::new_id().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every context's declared schema, in the order `migrate check` builds it.
fn declared(backend: Backend) -> Vec<String> {
    [
        users::declared_schema(backend),
        orders::declared_schema(backend),
        identity::declared_schema(backend),
    ]
    .concat()
}

async fn entities_declare_the_schema_the_migrations_build(backend: Backend) {
    let (Some(migrated), Some(entities)) = (
        TestDatabase::create(backend).await,
        TestDatabase::create(backend).await,
    ) else {
        return;
    };
    migrate(migrated.url()).await;
    let statements = declared(backend);
    // UUIDs are blobs on SQLite, as the migrations declare them (see the README).
    assert!(statements.iter().all(|s| !s.contains("uuid_text")));
    execute_script(entities.db(), &statements).await.unwrap();

    let expected = snapshot(migrated.db()).await.unwrap();
    let declared = snapshot(entities.db()).await.unwrap();
    assert_eq!(declared.tables.len(), 7);
    assert_eq!(compare(&expected, &declared, Scope::Declarable), []);
    // What entities cannot declare (CHECKs, the lower(email) and composite indexes) is out of
    // this comparison's scope, not accidentally equal.
    assert!(!compare(&expected, &declared, Scope::Everything).is_empty());

    // As if an entity gained a field and lost an `indexed` without a migration.
    execute_script(
        entities.db(),
        &[
            "ALTER TABLE orders ADD COLUMN note text".to_owned(),
            "DROP INDEX \"idx-sessions-expires_at\"".to_owned(),
        ],
    )
    .await
    .unwrap();
    let declared = snapshot(entities.db()).await.unwrap();
    let lines: Vec<String> = compare(&expected, &declared, Scope::Declarable)
        .iter()
        .map(|d| d.describe("migrations", "entities"))
        .collect();
    assert_eq!(
        lines,
        [
            "orders.note: column: migrations absent, entities text NULL",
            "sessions.expires_at: index: migrations (expires_at), entities absent",
        ]
    );
}
