//! Renaming with optimistic locking: the version is the caller's proof of a current copy.

use futures::future::join_all;
use persistence::Backend;
use users::{DisplayName, UserId, UsersError};

use crate::common::{new_user, setup};

persistence::both_backends!(
    rename_with_the_current_version_bumps_it,
    rename_with_a_stale_version_conflicts_and_changes_nothing,
    rename_of_an_unknown_id_is_not_found,
    of_two_concurrent_renames_from_one_version_exactly_one_wins,
);

fn name(raw: &str) -> DisplayName {
    DisplayName::parse(raw).unwrap()
}

async fn rename_with_the_current_version_bumps_it(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    let before = users
        .register(new_user("ada@example.com", "Ada"))
        .await
        .unwrap();
    let renamed = users
        .rename(before.id, before.version, name("Ada Lovelace"))
        .await
        .unwrap();

    assert_eq!(renamed.version, 2);
    assert_eq!(renamed.display_name.as_str(), "Ada Lovelace");
    assert!(renamed.updated_at >= before.updated_at);
    assert_eq!(renamed.created_at, before.created_at);
    assert_eq!(renamed.id, before.id);
    assert_eq!(renamed.email, before.email);
    assert_eq!(renamed.status, before.status);
    assert_eq!(users.get(before.id).await.unwrap(), renamed);

    // And again from the new version.
    let again = users.rename(before.id, 2, name("Countess")).await.unwrap();
    assert_eq!(again.version, 3);
    assert_eq!(users.get(before.id).await.unwrap(), again);
}

async fn rename_with_a_stale_version_conflicts_and_changes_nothing(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    let original = users
        .register(new_user("ada@example.com", "Ada"))
        .await
        .unwrap();
    let current = users
        .rename(original.id, 1, name("First Edit"))
        .await
        .unwrap();

    for stale in [1, 0, 3, 99] {
        match users.rename(original.id, stale, name("Lost Edit")).await {
            Err(UsersError::VersionConflict { expected, current }) => {
                assert_eq!((expected, current), (stale, 2));
            }
            other => panic!("expected VersionConflict for version {stale}, got {other:?}"),
        }
    }
    assert_eq!(users.get(original.id).await.unwrap(), current);
}

async fn rename_of_an_unknown_id_is_not_found(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    users
        .register(new_user("ada@example.com", "Ada"))
        .await
        .unwrap();
    let unknown = UserId::from_uuid(uuid::Uuid::now_v7());
    match users.rename(unknown, 1, name("Nobody")).await {
        Err(UsersError::NotFound(id)) => assert_eq!(id, unknown),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

async fn of_two_concurrent_renames_from_one_version_exactly_one_wins(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    let original = users
        .register(new_user("ada@example.com", "Ada"))
        .await
        .unwrap();
    let edits = ["Left Edit", "Right Edit"].map(|new_name| {
        let users = users.clone();
        tokio::spawn(async move { users.rename(original.id, 1, name(new_name)).await })
    });
    let results: Vec<_> = join_all(edits)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();

    let mut winners = Vec::new();
    let mut conflicts = 0;
    for result in results {
        match result {
            Ok(user) => winners.push(user),
            Err(UsersError::VersionConflict { expected, current }) => {
                assert_eq!((expected, current), (1, 2));
                conflicts += 1;
            }
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rename wins");
    assert_eq!(conflicts, 1, "the other one conflicts");
    let winner = &winners[0];
    assert_eq!(winner.version, 2);
    assert_eq!(users.get(original.id).await.unwrap(), *winner);
}
