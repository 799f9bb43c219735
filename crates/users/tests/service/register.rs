//! Registration and lookup: what a new user looks like, and that one address means one account.

use futures::future::join_all;
use persistence::{Backend, now_utc};
use users::{UserId, UserStatus, UsersError};

use crate::common::{new_user, row_count, setup};

persistence::both_backends!(
    register_returns_an_active_user_at_version_one,
    get_returns_the_registered_user_unchanged,
    get_of_an_unknown_id_is_not_found,
    same_email_in_another_letter_case_is_taken,
    concurrent_registrations_of_one_address_yield_exactly_one_user,
    find_by_email_matches_the_normalised_address,
    register_in_a_rolled_back_transaction_leaves_no_user,
);

async fn find_by_email_matches_the_normalised_address(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    let ada = users
        .register(new_user("Ada@Example.com", "Ada"))
        .await
        .unwrap();
    let typed = users::Email::parse("  ADA@example.COM ").unwrap();
    assert_eq!(users.find_by_email(&typed).await.unwrap(), Some(ada));
    let other = users::Email::parse("grace@example.com").unwrap();
    assert_eq!(users.find_by_email(&other).await.unwrap(), None);
}

async fn register_in_a_rolled_back_transaction_leaves_no_user(backend: Backend) {
    let Some((test, users)) = setup(backend).await else {
        return;
    };
    let tx = test.db().begin().await.unwrap();
    let user = users
        .register_in(&tx, new_user("ada@example.com", "Ada"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(row_count(test.db()).await, 0);
    assert!(matches!(
        users.get(user.id).await,
        Err(UsersError::NotFound(_))
    ));
}

async fn register_returns_an_active_user_at_version_one(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    let before = now_utc();
    let user = users
        .register(new_user("  Ada.Lovelace@Example.COM ", "  Ada Lovelace "))
        .await
        .unwrap();
    let after = chrono::Utc::now();

    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(user.version, 1);
    assert_eq!(user.id.as_uuid().get_version_num(), 7, "ids are UUID v7");
    assert_eq!(user.email.as_str(), "ada.lovelace@example.com");
    assert_eq!(user.display_name.as_str(), "Ada Lovelace");
    assert_eq!(user.created_at, user.updated_at);
    assert!(
        before <= user.created_at && user.created_at <= after,
        "created_at {} is not between {before} and {after}",
        user.created_at
    );
}

async fn get_returns_the_registered_user_unchanged(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    let registered = users
        .register(new_user("Grace@Example.org", "Grace Hopper"))
        .await
        .unwrap();
    let fetched = users.get(registered.id).await.unwrap();
    // Whole-value equality: the timestamps survive the round trip through either engine.
    assert_eq!(fetched, registered);
    assert_eq!(fetched.email.as_str(), "grace@example.org");
    assert!(users.exists(registered.id).await.unwrap());
}

async fn get_of_an_unknown_id_is_not_found(backend: Backend) {
    let Some((_test, users)) = setup(backend).await else {
        return;
    };
    users
        .register(new_user("someone@example.com", "Someone"))
        .await
        .unwrap();
    let unknown = UserId::from_uuid(uuid::Uuid::now_v7());
    match users.get(unknown).await {
        Err(UsersError::NotFound(id)) => assert_eq!(id, unknown),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(!users.exists(unknown).await.unwrap());
}

async fn same_email_in_another_letter_case_is_taken(backend: Backend) {
    let Some((test, users)) = setup(backend).await else {
        return;
    };
    let first = users
        .register(new_user("ada@example.com", "Ada"))
        .await
        .unwrap();
    match users
        .register(new_user("ADA@Example.Com", "Impostor"))
        .await
    {
        Err(UsersError::EmailTaken) => {}
        other => panic!("expected EmailTaken, got {other:?}"),
    }
    assert_eq!(row_count(test.db()).await, 1);
    assert_eq!(users.get(first.id).await.unwrap(), first);
}

async fn concurrent_registrations_of_one_address_yield_exactly_one_user(backend: Backend) {
    let Some((test, users)) = setup(backend).await else {
        return;
    };
    let spellings = [
        "race@example.com",
        "RACE@example.com",
        "Race@Example.com",
        "race@EXAMPLE.COM",
        " race@example.com ",
    ];
    let attempts = (0..10).map(|i| {
        let users = users.clone();
        let email = spellings[i % spellings.len()];
        tokio::spawn(async move { users.register(new_user(email, &format!("Racer {i}"))).await })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();

    let mut winners = Vec::new();
    let mut taken = 0;
    for result in results {
        match result {
            Ok(user) => winners.push(user),
            Err(UsersError::EmailTaken) => taken += 1,
            Err(UsersError::Store(err)) => panic!("a racer hit a storage error: {}", err.detail()),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one registration wins");
    assert_eq!(taken, 9, "every other registration is EmailTaken");
    assert_eq!(row_count(test.db()).await, 1);
    let winner = &winners[0];
    assert_eq!(winner.email.as_str(), "race@example.com");
    assert_eq!(users.get(winner.id).await.unwrap(), *winner);
}
