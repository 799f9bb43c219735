//! Deactivation as one step of the caller's transaction.

use persistence::Backend;
use users::{UserId, UserStatus, UsersError};

use crate::common::{new_user, setup};

persistence::both_backends!(
    deactivate_then_commit_deactivates,
    deactivate_without_commit_rolls_back,
    deactivating_twice_is_idempotent,
    deactivate_of_an_unknown_id_is_not_found,
);

async fn deactivate_then_commit_deactivates(backend: Backend) {
    let Some((test, users)) = setup(backend).await else {
        return;
    };
    let before = users
        .register(new_user("ada@example.com", "Ada"))
        .await
        .unwrap();
    let tx = test.db().begin().await.unwrap();
    let deactivated = users.deactivate(&tx, before.id).await.unwrap();
    tx.commit().await.unwrap();

    assert_eq!(deactivated.status, UserStatus::Deactivated);
    assert_eq!(deactivated.version, before.version + 1);
    assert!(deactivated.updated_at >= before.updated_at);
    assert_eq!(deactivated.created_at, before.created_at);
    assert_eq!(deactivated.display_name, before.display_name);
    assert_eq!(users.get(before.id).await.unwrap(), deactivated);
}

async fn deactivate_without_commit_rolls_back(backend: Backend) {
    let Some((test, users)) = setup(backend).await else {
        return;
    };
    let before = users
        .register(new_user("ada@example.com", "Ada"))
        .await
        .unwrap();
    {
        let tx = test.db().begin().await.unwrap();
        let inside = users.deactivate(&tx, before.id).await.unwrap();
        assert_eq!(inside.status, UserStatus::Deactivated);
        // Dropped here without commit.
    }
    assert_eq!(users.get(before.id).await.unwrap(), before);

    // An explicit rollback does the same, and the user can still be deactivated afterwards.
    let tx = test.db().begin().await.unwrap();
    users.deactivate(&tx, before.id).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(users.get(before.id).await.unwrap(), before);
    let tx = test.db().begin().await.unwrap();
    let deactivated = users.deactivate(&tx, before.id).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(deactivated.version, 2);
}

async fn deactivating_twice_is_idempotent(backend: Backend) {
    let Some((test, users)) = setup(backend).await else {
        return;
    };
    let user = users
        .register(new_user("ada@example.com", "Ada"))
        .await
        .unwrap();
    let tx = test.db().begin().await.unwrap();
    let first = users.deactivate(&tx, user.id).await.unwrap();
    tx.commit().await.unwrap();

    let tx = test.db().begin().await.unwrap();
    let second = users.deactivate(&tx, user.id).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(second, first, "no version bump, no new updated_at");
    assert_eq!(second.version, 2);

    // Twice within one transaction: same answer.
    let other = users
        .register(new_user("grace@example.com", "Grace"))
        .await
        .unwrap();
    let tx = test.db().begin().await.unwrap();
    let once = users.deactivate(&tx, other.id).await.unwrap();
    let twice = users.deactivate(&tx, other.id).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(once, twice);
    assert_eq!(users.get(other.id).await.unwrap().version, 2);
}

async fn deactivate_of_an_unknown_id_is_not_found(backend: Backend) {
    let Some((test, users)) = setup(backend).await else {
        return;
    };
    let known = users
        .register(new_user("ada@example.com", "Ada"))
        .await
        .unwrap();
    let unknown = UserId::from_uuid(uuid::Uuid::now_v7());
    let tx = test.db().begin().await.unwrap();
    match users.deactivate(&tx, unknown).await {
        Err(UsersError::NotFound(id)) => assert_eq!(id, unknown),
        other => panic!("expected NotFound, got {other:?}"),
    }
    // The transaction is still usable after the NotFound.
    users.deactivate(&tx, known.id).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        users.get(known.id).await.unwrap().status,
        UserStatus::Deactivated
    );
}
