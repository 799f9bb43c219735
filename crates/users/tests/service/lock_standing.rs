//! `lock_standing`: the answer, and that it stays true until the caller's transaction ends.

use std::time::Duration;

use persistence::Backend;
use users::{UserId, UserStatus};

use crate::common::{new_user, setup};

persistence::both_backends!(
    lock_standing_reports_active_deactivated_or_none,
    lock_standing_holds_off_a_concurrent_deactivation_until_commit,
    lock_standings_answers_for_many_users_in_one_statement,
    lock_standings_holds_off_a_concurrent_deactivation_until_commit,
);

/// Long enough that a deactivation which was not blocked would have finished; short enough
/// to keep the test quick. Blocking is asserted, never speed.
const BLOCKED_FOR: Duration = Duration::from_millis(300);
/// Generous bound for "it did finish once unblocked".
const UNBLOCKED_WITHIN: Duration = Duration::from_secs(10);

async fn lock_standing_reports_active_deactivated_or_none(backend: Backend) {
    let Some((test, users)) = setup(backend).await else {
        return;
    };
    let active = users
        .register(new_user("active@example.com", "Active"))
        .await
        .unwrap();
    let gone = users
        .register(new_user("gone@example.com", "Gone"))
        .await
        .unwrap();
    let tx = test.db().begin().await.unwrap();
    users.deactivate(&tx, gone.id).await.unwrap();
    tx.commit().await.unwrap();

    let tx = test.db().begin().await.unwrap();
    assert_eq!(
        users.lock_standing(&tx, active.id).await.unwrap(),
        Some(UserStatus::Active)
    );
    assert_eq!(
        users.lock_standing(&tx, gone.id).await.unwrap(),
        Some(UserStatus::Deactivated)
    );
    let unknown = UserId::from_uuid(uuid::Uuid::now_v7());
    assert_eq!(users.lock_standing(&tx, unknown).await.unwrap(), None);
    // The transaction sees its own writes.
    users.deactivate(&tx, active.id).await.unwrap();
    assert_eq!(
        users.lock_standing(&tx, active.id).await.unwrap(),
        Some(UserStatus::Deactivated)
    );
    tx.rollback().await.unwrap();
    assert_eq!(
        users.get(active.id).await.unwrap().status,
        UserStatus::Active
    );
}

/// PostgreSQL: the shared row lock makes a concurrent deactivation (an `UPDATE` of that row)
/// wait. SQLite: there are no row locks, but every write transaction is `BEGIN IMMEDIATE`, so
/// the second writer cannot even begin until the first ends. Either way, the standing read in
/// tx A stays true until A commits.
async fn lock_standing_holds_off_a_concurrent_deactivation_until_commit(backend: Backend) {
    let Some((test, users)) = setup(backend).await else {
        return;
    };
    let user = users
        .register(new_user("customer@example.com", "Customer"))
        .await
        .unwrap();
    let id = user.id;

    let tx_a = test.db().begin().await.unwrap();
    assert_eq!(
        users.lock_standing(&tx_a, id).await.unwrap(),
        Some(UserStatus::Active)
    );

    let mut deactivation = match backend {
        Backend::Postgres => {
            // Tx B is open before the race starts: what blocks is the UPDATE on the locked row.
            let tx_b = test.db().begin().await.unwrap();
            let users = users.clone();
            tokio::spawn(async move {
                let result = users.deactivate(&tx_b, id).await;
                tx_b.commit().await.unwrap();
                result
            })
        }
        Backend::Sqlite => {
            let db = test.db().clone();
            let users = users.clone();
            tokio::spawn(async move {
                let tx_b = db.begin().await.unwrap();
                let result = users.deactivate(&tx_b, id).await;
                tx_b.commit().await.unwrap();
                result
            })
        }
    };

    assert!(
        tokio::time::timeout(BLOCKED_FOR, &mut deactivation)
            .await
            .is_err(),
        "the deactivation finished while tx A still held the user's standing"
    );
    // Plain readers are not held up by the lock, and still see an active user.
    let seen = tokio::time::timeout(UNBLOCKED_WITHIN, users.get(id))
        .await
        .expect("a plain read does not wait for the standing lock")
        .unwrap();
    assert_eq!(seen.status, UserStatus::Active);
    // Within A the answer is unchanged.
    assert_eq!(
        users.lock_standing(&tx_a, id).await.unwrap(),
        Some(UserStatus::Active)
    );

    tx_a.commit().await.unwrap();
    let deactivated = tokio::time::timeout(UNBLOCKED_WITHIN, deactivation)
        .await
        .expect("the deactivation proceeds once tx A commits")
        .unwrap()
        .unwrap();
    assert_eq!(deactivated.status, UserStatus::Deactivated);
    assert_eq!(deactivated.version, 2);
    assert_eq!(users.get(id).await.unwrap(), deactivated);
}

/// The bulk form answers exactly what one `lock_standing` per user answers (unknown users are
/// simply absent, duplicates are harmless), in one statement whatever the number of users.
async fn lock_standings_answers_for_many_users_in_one_statement(backend: Backend) {
    let Some((test, _)) = setup(backend).await else {
        return;
    };
    let mut db = test.db().clone();
    let statements = db.count_statements();
    let users = users::Users::new(db.clone(), persistence::testing::outbox());
    let registered = crate::common::register_many(&users, 30).await;
    let tx = test.db().begin().await.unwrap();
    for user in registered.iter().step_by(3) {
        users.deactivate(&tx, user.id).await.unwrap();
    }
    tx.commit().await.unwrap();

    let unknown = UserId::from_uuid(uuid::Uuid::now_v7());
    let mut asked: Vec<UserId> = registered.iter().map(|user| user.id).collect();
    asked.push(unknown);
    asked.push(registered[4].id);
    // Begun on the counted handle: statements in a transaction count on the handle that
    // began it.
    let tx = db.begin().await.unwrap();
    statements.take();
    let standings = users.lock_standings(&tx, &asked).await.unwrap();
    assert_eq!(statements.take(), 1, "one statement for 31 users");
    assert_eq!(
        standings.len(),
        30,
        "every registered user, the unknown one absent"
    );
    for user in &registered {
        assert_eq!(
            standings.get(&user.id).copied(),
            users.lock_standing(&tx, user.id).await.unwrap(),
            "{:?}",
            user.id
        );
    }
    assert_eq!(standings[&registered[0].id], UserStatus::Deactivated);
    assert_eq!(standings[&registered[1].id], UserStatus::Active);
    assert!(!standings.contains_key(&unknown));
    assert!(users.lock_standings(&tx, &[]).await.unwrap().is_empty());
    tx.rollback().await.unwrap();
}

/// The bulk form takes the same lock as `lock_standing`: a deactivation of any of the users
/// waits until the caller's transaction ends.
async fn lock_standings_holds_off_a_concurrent_deactivation_until_commit(backend: Backend) {
    let Some((test, users)) = setup(backend).await else {
        return;
    };
    let registered = crate::common::register_many(&users, 5).await;
    let ids: Vec<UserId> = registered.iter().map(|user| user.id).collect();
    let target = ids[3];

    let tx_a = test.db().begin().await.unwrap();
    let standings = users.lock_standings(&tx_a, &ids).await.unwrap();
    assert!(standings.values().all(|s| *s == UserStatus::Active));

    let mut deactivation = {
        let db = test.db().clone();
        let users = users.clone();
        let tx_b = match backend {
            // Tx B is open before the race starts: what blocks is the UPDATE on the locked row.
            Backend::Postgres => Some(db.begin().await.unwrap()),
            // SQLite: the second writer cannot even begin until the first ends.
            Backend::Sqlite => None,
        };
        tokio::spawn(async move {
            let tx_b = match tx_b {
                Some(tx) => tx,
                None => db.begin().await.unwrap(),
            };
            let result = users.deactivate(&tx_b, target).await;
            tx_b.commit().await.unwrap();
            result
        })
    };
    assert!(
        tokio::time::timeout(BLOCKED_FOR, &mut deactivation)
            .await
            .is_err(),
        "the deactivation finished while tx A still held the users' standings"
    );
    tx_a.commit().await.unwrap();
    let deactivated = tokio::time::timeout(UNBLOCKED_WITHIN, deactivation)
        .await
        .expect("the deactivation proceeds once tx A commits")
        .unwrap()
        .unwrap();
    assert_eq!(deactivated.status, UserStatus::Deactivated);
}
