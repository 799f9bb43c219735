//! Shared set-up: a migrated database per test, a service over it with a statement counter,
//! and small helpers that look at the tables behind the service's back.
#![allow(
    dead_code,
    reason = "each test module uses a different part of this module"
)]

use identity::{AccountId, Identity, IdentityConfig, IssuedSession, Password, Role};
use persistence::testing::{StatementCounter, TestDatabase};
use persistence::{Backend, Db};
use persistence_orm::Orm;
use sea_orm::{ConnectionTrait, Statement};

/// A password that passes validation.
pub const PASSWORD: &str = "correct horse battery staple";

/// One test's world.
pub struct Ctx {
    /// Keeps the database alive (PostgreSQL: dropped with it).
    pub test: TestDatabase,
    /// Counts the statements of `identity` (and of every service built with [`Ctx::service`]).
    pub statements: StatementCounter,
    /// The counted handle the services use.
    pub db: Db,
    /// A service with the default configuration.
    pub identity: Identity,
}

/// A fresh migrated database and a default service over it; `None` when the backend is
/// unavailable (only with `SKIP_POSTGRES_TESTS=1`).
pub async fn setup(backend: Backend) -> Option<Ctx> {
    let test = TestDatabase::create(backend).await?;
    let runner = migration::Runner::lock(test.url()).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
    let mut db = test.db().clone();
    let statements = db.count_statements();
    let identity = Identity::new(db.clone(), IdentityConfig::default());
    Some(Ctx {
        test,
        statements,
        db,
        identity,
    })
}

impl Ctx {
    /// Another service over the same database, configured differently.
    pub fn service(&self, config: IdentityConfig) -> Identity {
        Identity::new(self.db.clone(), config)
    }

    /// Enrolls a new account with [`PASSWORD`] and `role` (as sign-up does: hash first, then
    /// one transaction), and returns it.
    pub async fn enroll(&self, role: Role) -> AccountId {
        self.enroll_with(role, PASSWORD).await
    }

    /// Enrolls a new account with the given password.
    pub async fn enroll_with(&self, role: Role, password: &str) -> AccountId {
        let account = AccountId::from_uuid(persistence::new_id());
        let hash = self
            .identity
            .hash_password(Password::parse(password).unwrap())
            .await
            .unwrap();
        let tx = self.db.begin().await.unwrap();
        self.identity
            .enroll(&tx, account, &hash, role)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        account
    }

    /// Signs `account` in with the right password under `login`.
    pub async fn sign_in(&self, login: &str, account: AccountId) -> IssuedSession {
        self.identity
            .sign_in(login, Some(account), PASSWORD)
            .await
            .unwrap()
    }

    /// How many rows `table` holds, counted behind the service's back.
    pub async fn rows(&self, table: &str) -> i64 {
        let db = self.test.db();
        let stmt = Statement::from_string(
            db.orm().get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        );
        let row = db.orm().query_one_raw(stmt).await.unwrap().unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }

    /// Every value of a byte column, read behind the service's back.
    pub async fn bytes_of(&self, table: &str, column: &str) -> Vec<Vec<u8>> {
        self.column_of(table, column).await
    }

    /// Every value of a text column, read behind the service's back.
    pub async fn texts_of(&self, table: &str, column: &str) -> Vec<String> {
        self.column_of(table, column).await
    }

    async fn column_of<T: sea_orm::TryGetable>(&self, table: &str, column: &str) -> Vec<T> {
        let db = self.test.db();
        let stmt = Statement::from_string(
            db.orm().get_database_backend(),
            format!("SELECT {column} AS v FROM {table}"),
        );
        let rows = db.orm().query_all_raw(stmt).await.unwrap();
        rows.iter()
            .map(|row| row.try_get::<T>("", "v").unwrap())
            .collect()
    }
}
