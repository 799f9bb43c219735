//! The identity context's tables enforce their own invariants on both engines, and its
//! migration reverts and reapplies on its own without touching the other contexts' tables.

#![allow(clippy::unwrap_used)]

use migration::Runner;
use persistence::testing::TestDatabase;
use persistence::{Backend, Db, new_id, now_utc};
use persistence_orm::Orm;
use sea_orm_migration::sea_orm::prelude::Uuid;
use sea_orm_migration::sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr, ExecResult, Statement};

persistence::both_backends!(
    identity_tables_enforce_their_invariants,
    identity_migration_reverts_alone
);

async fn migrated(backend: Backend) -> Option<TestDatabase> {
    let test = TestDatabase::create(backend).await?;
    let runner = Runner::lock(test.url()).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
    Some(test)
}

async fn insert(
    db: &Db,
    table: &str,
    columns: &[&str],
    values: Vec<SimpleExpr>,
) -> Result<ExecResult, DbErr> {
    let stmt = Query::insert()
        .into_table(table.to_owned())
        .columns(columns.iter().map(|c| (*c).to_owned()))
        .values(values)
        .unwrap()
        .to_owned();
    db.orm_write().execute(&stmt).await
}

async fn credential(db: &Db, account: Uuid, role: &str) -> Result<ExecResult, DbErr> {
    let now = now_utc();
    insert(
        db,
        "credentials",
        &[
            "account_id",
            "password_hash",
            "role",
            "created_at",
            "updated_at",
        ],
        vec![
            account.into(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
            role.into(),
            now.into(),
            now.into(),
        ],
    )
    .await
}

async fn session(db: &Db, digest: Vec<u8>, account: Uuid) -> Result<ExecResult, DbErr> {
    let now = now_utc();
    insert(
        db,
        "sessions",
        &["token_digest", "account_id", "created_at", "expires_at"],
        vec![digest.into(), account.into(), now.into(), now.into()],
    )
    .await
}

async fn count(db: &Db, table: &str) -> i64 {
    let stmt = Statement::from_string(
        db.orm().get_database_backend(),
        format!("SELECT COUNT(*) AS n FROM {table}"),
    );
    let row = db.orm().query_one_raw(stmt).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn identity_tables_enforce_their_invariants(backend: Backend) {
    let Some(test) = migrated(backend).await else {
        return;
    };
    let db = test.db();
    let account = new_id();
    credential(db, account, "customer").await.unwrap();
    credential(db, new_id(), "admin").await.unwrap();
    assert!(
        credential(db, new_id(), "root").await.is_err(),
        "role check"
    );
    assert!(
        credential(db, account, "admin").await.is_err(),
        "one per account"
    );

    session(db, vec![7; 32], account).await.unwrap();
    session(db, vec![8; 32], account).await.unwrap();
    assert!(
        session(db, vec![9; 31], account).await.is_err(),
        "digest length"
    );
    assert!(
        session(db, vec![9; 33], account).await.is_err(),
        "digest length"
    );
    assert!(
        session(db, vec![7; 32], account).await.is_err(),
        "digest is the key"
    );
    assert!(
        session(db, vec![9; 32], new_id()).await.is_err(),
        "a session needs a credential"
    );

    let failure = |digest: Vec<u8>| {
        insert(
            db,
            "sign_in_failures",
            &["id", "login_digest", "attempted_at"],
            vec![new_id().into(), digest.into(), now_utc().into()],
        )
    };
    failure(vec![1; 32]).await.unwrap();
    failure(vec![1; 32]).await.unwrap();
    assert!(failure(vec![1; 16]).await.is_err(), "digest length");
    assert_eq!(count(db, "sign_in_failures").await, 2);

    // Deleting a credential takes its sessions with it.
    assert_eq!(count(db, "sessions").await, 2);
    let delete = Query::delete()
        .from_table("credentials".to_owned())
        .and_where(Expr::col("account_id".to_owned()).eq(account))
        .to_owned();
    db.orm_write().execute(&delete).await.unwrap();
    assert_eq!(count(db, "sessions").await, 0);
}

async fn identity_migration_reverts_alone(backend: Backend) {
    let Some(test) = migrated(backend).await else {
        return;
    };
    let runner = Runner::lock(test.url()).await.unwrap();
    // Everything that came after identity goes first, identity last.
    let names: Vec<String> = runner
        .status()
        .await
        .unwrap()
        .into_iter()
        .map(|state| state.name)
        .collect();
    let identity = "m20261125_000004_identity_create_identity_tables";
    let from = names.iter().position(|name| name == identity).unwrap();
    let steps = u32::try_from(names.len() - from).unwrap();
    let reverted = runner.down(steps).await.unwrap();
    assert_eq!(reverted.last().map(String::as_str), Some(identity));
    assert_eq!(reverted.len(), names.len() - from);
    for table in ["credentials", "sessions", "sign_in_failures"] {
        let stmt = Statement::from_string(
            test.db().orm().get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        );
        assert!(
            test.db().orm().query_one_raw(stmt).await.is_err(),
            "{table} is gone"
        );
    }
    assert_eq!(
        count(test.db(), "users").await,
        0,
        "other contexts untouched"
    );
    assert_eq!(runner.up(None).await.unwrap().len(), reverted.len());
    runner.release().await.unwrap();
    credential(test.db(), new_id(), "customer").await.unwrap();
}
