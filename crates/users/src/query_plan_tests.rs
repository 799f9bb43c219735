//! The statement behind `Users::list` is served by the primary-key index on both engines: no
//! sort step, whatever the page. A unit test, because the statement is private to the crate.

#![allow(clippy::unwrap_used)]

use persistence::testing::{TestDatabase, query_plan};
use persistence::{Backend, Cursor, Limit, PageRequest};
use persistence_orm::{ConnectionTrait, Orm};
use sea_orm::QueryTrait;

use crate::service::list_query;
use crate::{DisplayName, Email, NewUser, Users};

persistence::both_backends!(list_query_walks_the_primary_key_index);

async fn list_query_walks_the_primary_key_index(backend: Backend) {
    let Some(test) = TestDatabase::create(backend).await else {
        return;
    };
    let runner = migration::Runner::lock(test.url()).await.unwrap();
    runner.up(None).await.unwrap();
    runner.release().await.unwrap();
    let users = Users::new(test.db().clone(), persistence::testing::outbox());
    let mut registered = Vec::new();
    for i in 0..50 {
        let new = NewUser {
            email: Email::parse(&format!("user{i}@example.com")).unwrap(),
            display_name: DisplayName::parse(&format!("User {i}")).unwrap(),
        };
        registered.push(users.register(new).await.unwrap());
    }
    let limit = Limit::new(10).unwrap();
    let requests = [
        (PageRequest { limit, after: None }, &registered[..10]),
        (
            PageRequest {
                limit,
                after: Some(Cursor::after_key(registered[20].id.as_uuid())),
            },
            &registered[21..31],
        ),
    ];
    for (page, expected) in requests {
        assert_eq!(users.list(page).await.unwrap().items, expected);
        let statement = list_query(page).build(test.db().orm().get_database_backend());
        let plan = query_plan(test.db(), statement).await;
        let shown = plan.join("\n");
        match backend {
            Backend::Sqlite => {
                assert!(
                    plan.iter().any(|line| {
                        (line.contains("SEARCH") || line.contains("SCAN"))
                            && (line.contains("sqlite_autoindex_users_1")
                                || line.contains("PRIMARY KEY"))
                    }),
                    "SQLite does not use the primary-key index for {page:?}:\n{shown}"
                );
                assert!(
                    !shown.contains("TEMP B-TREE"),
                    "SQLite sorts for {page:?}:\n{shown}"
                );
            }
            Backend::Postgres => {
                assert!(
                    plan.iter().any(|line| {
                        (line.contains("Index Scan") || line.contains("Index Only Scan"))
                            && line.contains("users_pkey")
                    }),
                    "PostgreSQL does not use users_pkey for {page:?}:\n{shown}"
                );
                assert!(
                    !shown.contains("Sort"),
                    "PostgreSQL sorts for {page:?}:\n{shown}"
                );
            }
        }
    }
}
