//! Enrolment and sign-in: the happy path, the one failure answer, and what is stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use identity::{AccountId, IdentityError, Principal, Role};
use persistence::{Backend, now_utc};
use sha2::{Digest as _, Sha256};

use crate::common::{PASSWORD, setup};

persistence::both_backends!(
    sign_in_issues_a_token_that_authenticates,
    wrong_password_unknown_and_unenrolled_accounts_are_one_error,
    only_digests_are_stored,
    enroll_in_a_rolled_back_transaction_leaves_no_credential,
    enrolling_an_account_twice_fails,
);

async fn sign_in_issues_a_token_that_authenticates(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let account = ctx.enroll(Role::Customer).await;
    let before = now_utc();
    let session = ctx
        .identity
        .sign_in("  Ada@Example.com ", Some(account), PASSWORD)
        .await
        .unwrap();
    let after = now_utc();
    assert_eq!(session.token.as_str().len(), 43);
    assert!(
        session
            .token
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(session.account, account);
    assert_eq!(session.role, Role::Customer);
    let ttl = chrono::Duration::hours(24);
    assert!(session.expires_at >= before + ttl && session.expires_at <= after + ttl);
    assert_eq!(
        session.expires_at.timestamp_subsec_nanos() % 1_000,
        0,
        "microsecond precision, like every stored timestamp"
    );

    let principal = ctx
        .identity
        .authenticate(session.token.as_str())
        .await
        .unwrap();
    assert_eq!(
        principal,
        Principal {
            account,
            role: Role::Customer
        }
    );

    // Each sign-in is its own session; both work.
    let second = ctx.sign_in("ada@example.com", account).await;
    assert_ne!(second.token.as_str(), session.token.as_str());
    assert_eq!(
        ctx.identity
            .authenticate(second.token.as_str())
            .await
            .unwrap()
            .account,
        account
    );
    assert_eq!(ctx.rows("sessions").await, 2);
}

async fn wrong_password_unknown_and_unenrolled_accounts_are_one_error(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let account = ctx.enroll(Role::Customer).await;
    let unenrolled = AccountId::from_uuid(persistence::new_id());
    let attempts = [
        ("ada@example.com", Some(account), "not the password"),
        ("ada@example.com", Some(account), ""),
        ("nobody@example.com", None, PASSWORD),
        ("deactivated@example.com", None, PASSWORD),
        ("never-enrolled@example.com", Some(unenrolled), PASSWORD),
    ];
    for (login, account, password) in attempts {
        match ctx.identity.sign_in(login, account, password).await {
            Err(IdentityError::InvalidCredentials) => {}
            other => panic!("{login}: expected InvalidCredentials, got {other:?}"),
        }
    }
    assert_eq!(ctx.rows("sessions").await, 0);
    assert_eq!(ctx.rows("sign_in_failures").await, attempts.len() as i64);
    // The right password still works.
    ctx.sign_in("ada@example.com", account).await;
}

async fn only_digests_are_stored(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let account = ctx.enroll(Role::Customer).await;
    let login = "Grace@Example.com";
    ctx.identity
        .sign_in(login, Some(account), "a wrong password")
        .await
        .unwrap_err();
    let session = ctx.sign_in(login, account).await;
    // The success cleared the failure; fail once more to have a row to look at.
    ctx.identity
        .sign_in(login, Some(account), "a wrong password")
        .await
        .unwrap_err();

    let token = session.token.as_str();
    let raw = URL_SAFE_NO_PAD.decode(token).unwrap();
    let digests = ctx.bytes_of("sessions", "token_digest").await;
    assert_eq!(digests.len(), 1);
    let stored = &digests[0];
    assert_eq!(stored.len(), 32);
    assert_eq!(stored.as_slice(), &Sha256::digest(&raw)[..]);
    assert_ne!(stored, &raw, "not the token's bytes");
    assert!(!contains(stored, token.as_bytes()));

    // Neither the token text nor the address appears anywhere in the identity tables.
    let everything = dump(&ctx).await;
    assert!(!contains(&everything, token.as_bytes()));
    assert!(!contains(&everything, &raw));
    assert!(!contains(&everything, b"grace@example.com"));
    assert!(!contains(&everything, login.as_bytes()));
    assert!(!contains(&everything, PASSWORD.as_bytes()));
    let failures = ctx.bytes_of("sign_in_failures", "login_digest").await;
    assert_eq!(
        failures,
        [Sha256::digest(b"grace@example.com").to_vec()],
        "the throttling key is the SHA-256 of the normalised address"
    );
}

/// Every value of the identity tables as text and bytes, concatenated.
async fn dump(ctx: &crate::common::Ctx) -> Vec<u8> {
    let mut all = Vec::new();
    for (table, column) in [
        ("sessions", "token_digest"),
        ("sign_in_failures", "login_digest"),
    ] {
        for value in ctx.bytes_of(table, column).await {
            all.extend(value);
        }
    }
    for (table, column) in [("credentials", "password_hash"), ("credentials", "role")] {
        for value in ctx.texts_of(table, column).await {
            all.extend(value.into_bytes());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn enroll_in_a_rolled_back_transaction_leaves_no_credential(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let account = AccountId::from_uuid(persistence::new_id());
    let hash = ctx
        .identity
        .hash_password(identity::Password::parse(PASSWORD).unwrap())
        .await
        .unwrap();
    {
        let tx = ctx.db.begin().await.unwrap();
        ctx.identity
            .enroll(&tx, account, &hash, Role::Customer)
            .await
            .unwrap();
        // Dropped without commit.
    }
    assert_eq!(ctx.identity.role_of(account).await.unwrap(), None);
    assert!(matches!(
        ctx.identity
            .sign_in("a@example.com", Some(account), PASSWORD)
            .await,
        Err(IdentityError::InvalidCredentials)
    ));
    let tx = ctx.db.begin().await.unwrap();
    ctx.identity
        .enroll(&tx, account, &hash, Role::Customer)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    ctx.sign_in("a@example.com", account).await;
}

async fn enrolling_an_account_twice_fails(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let account = ctx.enroll(Role::Customer).await;
    let hash = ctx
        .identity
        .hash_password(identity::Password::parse("another password").unwrap())
        .await
        .unwrap();
    let tx = ctx.db.begin().await.unwrap();
    match ctx.identity.enroll(&tx, account, &hash, Role::Admin).await {
        Err(IdentityError::Store(err)) => assert!(err.is_unique_violation()),
        other => panic!("expected a unique violation, got {other:?}"),
    }
    drop(tx);
    // The first credential is untouched.
    assert_eq!(
        ctx.identity.role_of(account).await.unwrap(),
        Some(Role::Customer)
    );
    ctx.sign_in("a@example.com", account).await;
}
