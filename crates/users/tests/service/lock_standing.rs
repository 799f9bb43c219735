//! `lock_standing`: the answer, and that it stays true until the caller's transaction ends.

use std::time::Duration;

use persistence::Backend;
use users::{UserId, UserStatus};

use crate::common::{new_user, setup};

persistence::both_backends!(
    lock_standing_reports_active_deactivated_or_none,
    lock_standing_holds_off_a_concurrent_deactivation_until_commit,
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
