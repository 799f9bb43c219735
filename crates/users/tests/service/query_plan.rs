//! The statement behind `Users::list` is served by the primary-key index on both engines:
//! no sort step, whatever the page.

use persistence::{Backend, Cursor, Limit, PageRequest};
use sea_orm::{ConnectionTrait, Statement};
use users::Users;

use crate::common::{register_many, setup};

persistence::both_backends!(list_query_walks_the_primary_key_index);

async fn list_query_walks_the_primary_key_index(backend: Backend) {
    let Some((test, users)) = setup(backend).await else {
        return;
    };
    let registered = register_many(&users, 50).await;
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
        let statement = Users::list_query_statement(backend, page);

        let plan = explain(&test, statement).await;
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

/// The plan of `statement`, one line per row, with the statement's own bind values.
async fn explain(test: &persistence::testing::TestDatabase, statement: Statement) -> Vec<String> {
    let values = statement.values.map(|values| values.0).unwrap_or_default();
    match test.backend() {
        Backend::Sqlite => {
            let explain = Statement::from_sql_and_values(
                statement.db_backend,
                format!("EXPLAIN QUERY PLAN {}", statement.sql),
                values,
            );
            let rows = test.db().orm().query_all_raw(explain).await.unwrap();
            rows.iter()
                .map(|row| row.try_get::<String>("", "detail").unwrap())
                .collect()
        }
        Backend::Postgres => {
            // Real statistics, as autovacuum would gather them: without them the planner guesses
            // at a wide, many-page table and prefers a bitmap scan plus sort.
            test.db()
                .orm()
                .execute_unprepared("ANALYZE users")
                .await
                .unwrap();
            // A 50-row table is cheapest to read whole and sort; with whole-table and bitmap
            // scans off, the plan shows whether the index serves the filter *and* the order.
            let tx = test.db().begin().await.unwrap();
            tx.orm()
                .execute_unprepared("SET LOCAL enable_seqscan = off")
                .await
                .unwrap();
            tx.orm()
                .execute_unprepared("SET LOCAL enable_bitmapscan = off")
                .await
                .unwrap();
            let explain = Statement::from_sql_and_values(
                statement.db_backend,
                format!("EXPLAIN {}", statement.sql),
                values,
            );
            let rows = tx.orm().query_all_raw(explain).await.unwrap();
            tx.rollback().await.unwrap();
            rows.iter()
                .map(|row| row.try_get::<String>("", "QUERY PLAN").unwrap())
                .collect()
        }
    }
}
