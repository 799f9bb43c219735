//! Roles: set by operators, read with every request, looked up for lists in one go.

use identity::{AccountId, IdentityError, Role};
use persistence::Backend;

use crate::common::setup;

persistence::both_backends!(
    a_role_change_shows_in_the_next_authenticate,
    set_role_on_an_account_without_credential_is_not_found,
    roles_of_many_accounts,
);

async fn a_role_change_shows_in_the_next_authenticate(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let account = ctx.enroll(Role::Customer).await;
    let session = ctx.sign_in("ada@example.com", account).await;
    let token = session.token.as_str();
    assert_eq!(
        ctx.identity.authenticate(token).await.unwrap().role,
        Role::Customer
    );

    ctx.identity.set_role(account, Role::Admin).await.unwrap();
    assert_eq!(
        ctx.identity.authenticate(token).await.unwrap().role,
        Role::Admin
    );
    assert_eq!(
        ctx.identity.role_of(account).await.unwrap(),
        Some(Role::Admin)
    );
    // Setting the role it already has is fine.
    ctx.identity.set_role(account, Role::Admin).await.unwrap();

    // Revoking takes effect at once, on the same token.
    ctx.identity
        .set_role(account, Role::Customer)
        .await
        .unwrap();
    assert_eq!(
        ctx.identity.authenticate(token).await.unwrap().role,
        Role::Customer
    );
    // A new sign-in reports the current role.
    ctx.identity.set_role(account, Role::Admin).await.unwrap();
    assert_eq!(
        ctx.sign_in("ada@example.com", account).await.role,
        Role::Admin
    );
}

async fn set_role_on_an_account_without_credential_is_not_found(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let known = ctx.enroll(Role::Customer).await;
    let unknown = AccountId::from_uuid(persistence::new_id());
    match ctx.identity.set_role(unknown, Role::Admin).await {
        Err(IdentityError::NotFound(id)) => assert_eq!(id, unknown),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(ctx.identity.role_of(unknown).await.unwrap(), None);
    assert_eq!(
        ctx.identity.role_of(known).await.unwrap(),
        Some(Role::Customer)
    );
}

async fn roles_of_many_accounts(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let customer = ctx.enroll(Role::Customer).await;
    let admin = ctx.enroll(Role::Admin).await;
    let promoted = ctx.enroll(Role::Customer).await;
    ctx.identity.set_role(promoted, Role::Admin).await.unwrap();
    let unknown = AccountId::from_uuid(persistence::new_id());

    let roles = ctx
        .identity
        .roles_of(&[customer, admin, promoted, unknown, customer])
        .await
        .unwrap();
    assert_eq!(roles.len(), 3);
    assert_eq!(roles[&customer], Role::Customer);
    assert_eq!(roles[&admin], Role::Admin);
    assert_eq!(roles[&promoted], Role::Admin);
    assert!(!roles.contains_key(&unknown));
    assert!(ctx.identity.roles_of(&[]).await.unwrap().is_empty());
}
