//! Round trips on the hot paths, counted on the service's own pool: authenticating a request is
//! one statement, the roles of a list page are one statement whatever its size, and a sign-in
//! after no failure is three.

use identity::{AccountId, IdentityConfig, Role};
use persistence::Backend;

use crate::common::{PASSWORD, setup};

persistence::both_backends!(
    authenticate_is_one_statement,
    roles_of_is_one_statement_whatever_the_page_size,
    sign_in_is_three_statements_and_four_after_failures,
);

async fn authenticate_is_one_statement(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let account = ctx.enroll(Role::Admin).await;
    let session = ctx.sign_in("ada@example.com", account).await;
    let expired = ctx
        .service(IdentityConfig {
            session_ttl: chrono::Duration::seconds(-1),
            ..IdentityConfig::default()
        })
        .sign_in("ada@example.com", Some(account), PASSWORD)
        .await
        .unwrap();

    ctx.statements.take();
    ctx.identity
        .authenticate(session.token.as_str())
        .await
        .unwrap();
    assert_eq!(ctx.statements.take(), 1, "valid token");
    ctx.identity
        .authenticate(expired.token.as_str())
        .await
        .unwrap_err();
    assert_eq!(ctx.statements.take(), 1, "expired token");
    ctx.identity
        .authenticate(&"A".repeat(43))
        .await
        .unwrap_err();
    assert_eq!(ctx.statements.take(), 1, "unknown token");
    ctx.identity.authenticate("garbage").await.unwrap_err();
    assert_eq!(
        ctx.statements.take(),
        0,
        "a malformed token never reaches the database"
    );
}

async fn roles_of_is_one_statement_whatever_the_page_size(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    // Credentials inserted directly would skip hashing, but enrolment is the real path; a few
    // accounts enrolled plus many without a credential make a page of any size.
    let mut accounts = Vec::new();
    for role in [Role::Customer, Role::Admin, Role::Customer] {
        accounts.push(ctx.enroll(role).await);
    }
    accounts.extend((0..97).map(|_| AccountId::from_uuid(persistence::new_id())));
    for size in [1, 3, 20, 100] {
        ctx.statements.take();
        let roles = ctx.identity.roles_of(&accounts[..size]).await.unwrap();
        assert_eq!(roles.len(), size.min(3));
        assert_eq!(ctx.statements.take(), 1, "page of {size}");
    }
    ctx.identity.roles_of(&[]).await.unwrap();
    assert_eq!(ctx.statements.take(), 0, "an empty page needs no query");
}

async fn sign_in_is_three_statements_and_four_after_failures(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let account = ctx.enroll(Role::Customer).await;

    ctx.statements.take();
    ctx.sign_in("ada@example.com", account).await;
    assert_eq!(
        ctx.statements.take(),
        3,
        "throttle check, credential, session insert"
    );

    ctx.identity
        .sign_in("ada@example.com", Some(account), "wrong password!")
        .await
        .unwrap_err();
    ctx.statements.take();
    ctx.sign_in("ada@example.com", account).await;
    assert_eq!(
        ctx.statements.take(),
        4,
        "after a failure, the session insert also clears the failures"
    );
    assert_eq!(
        ctx.rows("sign_in_failures").await,
        0,
        "the failure is cleared"
    );

    ctx.statements.take();
    ctx.sign_in("ada@example.com", account).await;
    assert_eq!(ctx.statements.take(), 3, "no failure left to clear");
}
