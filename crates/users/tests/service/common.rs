//! Shared set-up: a migrated database per test and a few small builders.

use persistence::testing::TestDatabase;
use persistence::{Backend, Db};
use persistence_orm::Orm;
use sea_orm::{ConnectionTrait, Statement};
use users::{DisplayName, Email, NewUser, User, Users};

/// A fresh database with every migration applied, and a service over it; `None` when the
/// backend is unavailable (only with `SKIP_POSTGRES_TESTS=1`).
pub async fn setup(backend: Backend) -> Option<(TestDatabase, Users)> {
    let test = TestDatabase::create(backend).await?;
    let runner = migration::Runner::lock(test.url()).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
    let users = Users::new(test.db().clone(), persistence::testing::outbox());
    Some((test, users))
}

/// A valid registration request.
pub fn new_user(email: &str, name: &str) -> NewUser {
    NewUser {
        email: Email::parse(email).unwrap(),
        display_name: DisplayName::parse(name).unwrap(),
    }
}

/// Registers `n` users one after another (so in a known order) and returns them.
pub async fn register_many(users: &Users, n: usize) -> Vec<User> {
    let mut registered = Vec::with_capacity(n);
    for i in 0..n {
        let user = users
            .register(new_user(
                &format!("user{i}@example.com"),
                &format!("User {i}"),
            ))
            .await
            .unwrap();
        registered.push(user);
    }
    registered
}

/// How many rows the `users` table holds, counted behind the service's back.
pub async fn row_count(db: &Db) -> i64 {
    let stmt = Statement::from_string(
        db.orm().get_database_backend(),
        "SELECT COUNT(*) AS n FROM users",
    );
    let row = db.orm().query_one_raw(stmt).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Deletes a row behind the service's back (there is no delete operation).
pub async fn delete_row(db: &Db, id: users::UserId) {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let backend = db.orm().get_database_backend();
    let delete = Query::delete()
        .from_table("users")
        .and_where(Expr::col("id").eq(id.as_uuid()))
        .to_owned();
    let result = db.orm_write().execute(&delete).await.unwrap();
    assert_eq!(result.rows_affected(), 1, "deleted on {backend:?}");
}
