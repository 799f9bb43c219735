//! The operator verbs through the built binary, as an operator on a production host runs them,
//! against a fresh database on each engine: what each prints, and its exit code (0 done, 1 a
//! refusal or a failed check, 2 a bad setting).

#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use identity::{AccountId, Identity, IdentityConfig, Password, Role};
use persistence::Backend;
use persistence::testing::TestDatabase;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use users::{DisplayName, Email, NewUser, Users};

const BIN: &str = env!("CARGO_BIN_EXE_app");

persistence::both_backends!(every_verb_works_from_the_binary);

/// What one run of the binary did.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// The binary with no inherited settings (the test runner's environment must not leak in),
/// on `url`.
fn app(url: &str) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("DATABASE_URL", url)
        .kill_on_drop(true);
    command
}

async fn run(url: &str, args: &[&str]) -> Ran {
    let output = app(url).args(args).output().await.unwrap();
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Runs `args` and expects exit code `code`; returns what it printed.
async fn expect(url: &str, args: &[&str], code: i32) -> Ran {
    let ran = run(url, args).await;
    assert_eq!(
        ran.code,
        Some(code),
        "{args:?}\nstdout: {}\nstderr: {}",
        ran.stdout,
        ran.stderr
    );
    assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    ran
}

/// A customer who signed up with `email`, through the contexts' public APIs.
async fn sign_up(test: &TestDatabase, email: &str) {
    let db = test.db().clone();
    let identity = Identity::new(db.clone(), IdentityConfig::default());
    let tx = db.begin().await.unwrap();
    let user = Users::new(db.clone(), app::events::user_outbox(Default::default()))
        .register_in(
            &tx,
            NewUser {
                email: Email::parse(email).unwrap(),
                display_name: DisplayName::parse("Operator's customer").unwrap(),
            },
        )
        .await
        .unwrap();
    let hash = identity
        .hash_password(Password::parse("correct horse battery").unwrap())
        .await
        .unwrap();
    identity
        .enroll(
            &tx,
            AccountId::from_uuid(user.id.as_uuid()),
            &hash,
            Role::Customer,
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn every_verb_works_from_the_binary(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    let url = test.url();

    // Help on every verb, and a bad setting stops a verb as it stops the service.
    for verb in [
        "migrate",
        "users",
        "purge-sessions",
        "purge-idempotency-keys",
        "events",
        "backup",
    ] {
        let help = expect(url, &[verb, "--help"], 0).await;
        assert!(help.stdout.contains("Usage:"), "{}", help.stdout);
    }
    let help = expect(url, &["--help"], 0).await;
    assert!(help.stdout.contains("backup"), "{}", help.stdout);
    let bad = expect(url, &["--db-max-connections", "0", "migrate", "status"], 2).await;
    assert!(bad.stderr.contains("DB_MAX_CONNECTIONS"), "{}", bad.stderr);

    // Migrations: pending, refused by the deploy guard, applied, reverted, applied again.
    let status = expect(url, &["migrate", "status"], 0).await;
    assert!(status.stdout.contains("0 applied"), "{}", status.stdout);
    let check = expect(url, &["migrate", "check"], 1).await;
    assert!(
        check.stdout.contains("pending migration(s)"),
        "{}",
        check.stdout
    );
    let up = expect(url, &["migrate"], 0).await;
    assert!(up.stdout.contains("applied m2026"), "{}", up.stdout);
    expect(url, &["migrate", "check"], 0).await;
    let down = expect(url, &["migrate", "down"], 0).await;
    assert!(down.stdout.starts_with("reverted "), "{}", down.stdout);
    expect(url, &["migrate", "check"], 1).await;
    expect(url, &["migrate", "up"], 0).await;
    let status = expect(url, &["migrate", "status"], 0).await;
    assert!(status.stdout.contains(" 0 pending"), "{}", status.stdout);

    // Roles, by e-mail: an unknown one is a refusal.
    let unknown = expect(url, &["users", "grant-admin", "nobody@example.com"], 1).await;
    assert!(
        unknown.stderr.contains("no user has signed up"),
        "{}",
        unknown.stderr
    );
    sign_up(&test, "ops@example.com").await;
    let granted = expect(url, &["users", "grant-admin", "OPS@example.com"], 0).await;
    assert!(
        granted.stdout.contains("is now admin"),
        "{}",
        granted.stdout
    );
    let revoked = expect(url, &["users", "revoke-admin", "ops@example.com"], 0).await;
    assert!(
        revoked.stdout.contains("is now customer"),
        "{}",
        revoked.stdout
    );

    let purged = expect(url, &["purge-sessions"], 0).await;
    assert!(purged.stdout.starts_with("purged "), "{}", purged.stdout);
    let purged = expect(url, &["purge-idempotency-keys"], 0).await;
    assert!(purged.stdout.starts_with("purged 0 "), "{}", purged.stdout);

    // The sign-up's event, from the feed, as the first line of a tail from the start.
    let mut tail = app(url)
        .args(["events", "tail", "--from-start"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the tail prints the event within 30 s")
        .unwrap()
        .expect("a line");
    let event: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(event["type"], "user.registered", "{first}");
    assert_eq!(event["data"]["email"], "ops@example.com", "{first}");
    tail.kill().await.unwrap();

    // Backups: SQLite only, never over an existing file unless --force.
    let dir = std::env::temp_dir().join(format!("verbs-{}", persistence::new_id().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("backup.db");
    let to = copy.to_str().unwrap();
    match backend {
        Backend::Sqlite => {
            let made = expect(url, &["backup", "--to", to], 0).await;
            assert!(made.stdout.starts_with("copied "), "{}", made.stdout);
            let size = std::fs::metadata(&copy).unwrap().len();
            assert!(size > 0);
            let again = expect(url, &["backup", "--to", to], 1).await;
            assert!(again.stderr.contains("--force"), "{}", again.stderr);
            expect(url, &["backup", "--to", to, "--force"], 0).await;
            // The copy is a database the verbs (and the service) open as they open the original.
            let copied = format!("sqlite://{to}");
            expect(&copied, &["migrate", "check"], 0).await;
            let leftovers: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name())
                .filter(|name| name.to_string_lossy().ends_with(".partial"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
        Backend::Postgres => {
            let refused = expect(url, &["backup", "--to", to], 1).await;
            assert!(refused.stderr.contains("pg_dump"), "{}", refused.stderr);
            assert!(!copy.exists());
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
