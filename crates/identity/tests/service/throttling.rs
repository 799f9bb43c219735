//! Throttling: after too many failures for one login, even the right password is refused
//! (without hashing) until the oldest counted failure leaves the window.

use std::time::Duration;

use identity::{IdentityConfig, IdentityError, Role};
use persistence::{Backend, now_utc};

use crate::common::{PASSWORD, setup};

persistence::both_backends!(
    the_eleventh_attempt_after_ten_failures_is_throttled,
    a_success_clears_the_logins_failures,
    failures_outside_the_window_do_not_count,
    purge_removes_failures_older_than_the_window,
);

async fn fail(identity: &identity::Identity, login: &str, account: identity::AccountId) {
    match identity
        .sign_in(login, Some(account), "wrong password!")
        .await
    {
        Err(IdentityError::InvalidCredentials) => {}
        other => panic!("expected InvalidCredentials, got {other:?}"),
    }
}

async fn the_eleventh_attempt_after_ten_failures_is_throttled(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let ada = ctx.enroll(Role::Customer).await;
    let grace = ctx.enroll(Role::Customer).await;
    for _ in 0..10 {
        fail(&ctx.identity, "ada@example.com", ada).await;
    }
    assert_eq!(ctx.rows("sign_in_failures").await, 10);

    // The right password, the same login typed differently: refused, and not counted.
    for login in ["ada@example.com", " ADA@example.com"] {
        match ctx.identity.sign_in(login, Some(ada), PASSWORD).await {
            Err(IdentityError::TooManyAttempts { retry_after }) => {
                assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}");
                assert!(
                    retry_after <= Duration::from_secs(15 * 60),
                    "{retry_after:?}"
                );
                // The window is 15 minutes and the failures are seconds old.
                assert!(
                    retry_after > Duration::from_secs(14 * 60),
                    "{retry_after:?}"
                );
            }
            other => panic!("{login}: expected TooManyAttempts, got {other:?}"),
        }
    }
    // An unknown address is throttled the same way once it has failed as often.
    for _ in 0..10 {
        match ctx
            .identity
            .sign_in("nobody@example.com", None, PASSWORD)
            .await
        {
            Err(IdentityError::InvalidCredentials) => {}
            other => panic!("expected InvalidCredentials, got {other:?}"),
        }
    }
    assert!(matches!(
        ctx.identity
            .sign_in("nobody@example.com", None, PASSWORD)
            .await,
        Err(IdentityError::TooManyAttempts { .. })
    ));
    assert_eq!(ctx.rows("sign_in_failures").await, 20);

    // Another login is unaffected.
    ctx.sign_in("grace@example.com", grace).await;
    assert_eq!(ctx.rows("sessions").await, 1);
}

async fn a_success_clears_the_logins_failures(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let identity = ctx.service(IdentityConfig {
        max_failed_sign_ins: 3,
        ..IdentityConfig::default()
    });
    let ada = ctx.enroll(Role::Customer).await;
    let grace = ctx.enroll(Role::Customer).await;
    fail(&identity, "grace@example.com", grace).await;
    for _ in 0..2 {
        fail(&identity, "ada@example.com", ada).await;
    }
    identity
        .sign_in("Ada@example.com", Some(ada), PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        ctx.rows("sign_in_failures").await,
        1,
        "only grace's failure is left"
    );
    // The count starts again: three more failures are answered normally...
    for _ in 0..3 {
        fail(&identity, "ada@example.com", ada).await;
    }
    // ...and only then is the login throttled.
    assert!(matches!(
        identity
            .sign_in("ada@example.com", Some(ada), PASSWORD)
            .await,
        Err(IdentityError::TooManyAttempts { .. })
    ));
}

async fn failures_outside_the_window_do_not_count(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    // A zero-length window: every recorded failure is already outside it.
    let identity = ctx.service(IdentityConfig {
        max_failed_sign_ins: 2,
        failure_window: chrono::Duration::zero(),
        ..IdentityConfig::default()
    });
    let ada = ctx.enroll(Role::Customer).await;
    for _ in 0..4 {
        fail(&identity, "ada@example.com", ada).await;
    }
    identity
        .sign_in("ada@example.com", Some(ada), PASSWORD)
        .await
        .unwrap();
}

async fn purge_removes_failures_older_than_the_window(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let ada = ctx.enroll(Role::Customer).await;
    for _ in 0..3 {
        fail(&ctx.identity, "ada@example.com", ada).await;
    }
    // Within the default window: kept.
    let purged = ctx.identity.purge_expired(now_utc()).await.unwrap();
    assert_eq!(purged.failures, 0);
    assert_eq!(ctx.rows("sign_in_failures").await, 3);
    // Seen from 15 minutes later, they are old (the free function uses the default window).
    let later = now_utc() + chrono::Duration::minutes(15);
    let purged = identity::purge_expired(&ctx.db, later).await.unwrap();
    assert_eq!(purged.failures, 3);
    assert_eq!(ctx.rows("sign_in_failures").await, 0);
}
