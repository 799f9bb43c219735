//! Sessions: expiry, sign-out, and revocation as one step of the caller's transaction.

use identity::{IdentityConfig, IdentityError, Role};
use persistence::{Backend, now_utc};

use crate::common::{PASSWORD, setup};

persistence::both_backends!(
    expired_sessions_do_not_authenticate_and_are_purged,
    signed_out_tokens_stop_working,
    malformed_tokens_are_unauthenticated,
    revoke_all_follows_the_callers_transaction,
);

fn unauthenticated<T: std::fmt::Debug>(result: Result<T, IdentityError>) {
    match result {
        Err(IdentityError::Unauthenticated) => {}
        other => panic!("expected Unauthenticated, got {other:?}"),
    }
}

async fn expired_sessions_do_not_authenticate_and_are_purged(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let account = ctx.enroll(Role::Customer).await;
    let live = ctx.sign_in("ada@example.com", account).await;
    // A negative time to live issues sessions that expired before they were issued: expiry
    // without waiting. A zero one expires the instant it is issued.
    for ttl in [chrono::Duration::seconds(-1), chrono::Duration::zero()] {
        let short = ctx.service(IdentityConfig {
            session_ttl: ttl,
            ..IdentityConfig::default()
        });
        let session = short
            .sign_in("ada@example.com", Some(account), PASSWORD)
            .await
            .unwrap();
        assert!(session.expires_at <= now_utc());
        unauthenticated(ctx.identity.authenticate(session.token.as_str()).await);
        unauthenticated(short.authenticate(session.token.as_str()).await);
        // Signing out with an expired token is refused like using it.
        assert!(!ctx.identity.sign_out(session.token.as_str()).await.unwrap());
    }
    assert_eq!(ctx.rows("sessions").await, 3);

    let purged = ctx.identity.purge_expired(now_utc()).await.unwrap();
    assert_eq!(purged.sessions, 2);
    assert_eq!(ctx.rows("sessions").await, 1);
    // The live session survives the purge.
    assert_eq!(
        ctx.identity
            .authenticate(live.token.as_str())
            .await
            .unwrap()
            .account,
        account
    );
    // And is purged once it has expired (seen from a day later).
    let tomorrow = now_utc() + chrono::Duration::hours(24);
    assert_eq!(
        identity::purge_expired(&ctx.db, tomorrow)
            .await
            .unwrap()
            .sessions,
        1
    );
    unauthenticated(ctx.identity.authenticate(live.token.as_str()).await);
}

async fn signed_out_tokens_stop_working(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let account = ctx.enroll(Role::Customer).await;
    let phone = ctx.sign_in("ada@example.com", account).await;
    let laptop = ctx.sign_in("ada@example.com", account).await;
    assert!(ctx.identity.sign_out(phone.token.as_str()).await.unwrap());
    unauthenticated(ctx.identity.authenticate(phone.token.as_str()).await);
    assert!(!ctx.identity.sign_out(phone.token.as_str()).await.unwrap());
    // Only that session ended.
    assert_eq!(
        ctx.identity
            .authenticate(laptop.token.as_str())
            .await
            .unwrap()
            .account,
        account
    );
    assert!(!ctx.identity.sign_out("not a token").await.unwrap());
}

async fn malformed_tokens_are_unauthenticated(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let account = ctx.enroll(Role::Customer).await;
    let session = ctx.sign_in("ada@example.com", account).await;
    let token = session.token.as_str();
    let unknown = "A".repeat(43);
    for bad in [
        "",
        " ",
        &token[..42],
        &format!("{token}A"),
        &format!(" {token}"),
        &format!("{}=", &token[..42]),
        &"!".repeat(43),
        &unknown,
    ] {
        unauthenticated(ctx.identity.authenticate(bad).await);
    }
    // The real one still works.
    ctx.identity.authenticate(token).await.unwrap();
}

async fn revoke_all_follows_the_callers_transaction(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let ada = ctx.enroll(Role::Customer).await;
    let grace = ctx.enroll(Role::Customer).await;
    let first = ctx.sign_in("ada@example.com", ada).await;
    let second = ctx.sign_in("ada@example.com", ada).await;
    let other = ctx.sign_in("grace@example.com", grace).await;

    // Dropped without commit: nothing revoked.
    {
        let tx = ctx.db.begin().await.unwrap();
        assert_eq!(ctx.identity.revoke_all(&tx, ada).await.unwrap(), 2);
    }
    // Rolled back explicitly: nothing revoked either.
    let tx = ctx.db.begin().await.unwrap();
    assert_eq!(ctx.identity.revoke_all(&tx, ada).await.unwrap(), 2);
    tx.rollback().await.unwrap();
    for session in [&first, &second, &other] {
        ctx.identity
            .authenticate(session.token.as_str())
            .await
            .unwrap();
    }

    let tx = ctx.db.begin().await.unwrap();
    assert_eq!(ctx.identity.revoke_all(&tx, ada).await.unwrap(), 2);
    tx.commit().await.unwrap();
    unauthenticated(ctx.identity.authenticate(first.token.as_str()).await);
    unauthenticated(ctx.identity.authenticate(second.token.as_str()).await);
    assert_eq!(
        ctx.identity
            .authenticate(other.token.as_str())
            .await
            .unwrap()
            .account,
        grace
    );
    // Nothing left to revoke.
    let tx = ctx.db.begin().await.unwrap();
    assert_eq!(ctx.identity.revoke_all(&tx, ada).await.unwrap(), 0);
    tx.commit().await.unwrap();
}
