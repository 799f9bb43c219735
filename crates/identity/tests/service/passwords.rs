//! New passwords: the length rule, the stored hash's format, and secrets kept out of `Debug`
//! and error messages.

use identity::{IdentityError, Password, Role};
use persistence::Backend;

use crate::common::{PASSWORD, setup};

persistence::both_backends!(
    stored_hash_is_an_argon2id_phc_string_with_owasp_parameters,
    debug_output_never_contains_a_secret,
);

#[test]
fn password_length_is_12_to_128_characters() {
    let too_short = Password::parse(&"a".repeat(11));
    match too_short {
        Err(IdentityError::Invalid { field, reason }) => {
            assert_eq!(field, "password");
            assert_eq!(reason, "must be 12 to 128 characters");
        }
        other => panic!("11 characters should be refused, got {other:?}"),
    }
    assert!(Password::parse(&"a".repeat(12)).is_ok());
    assert!(Password::parse(&"a".repeat(128)).is_ok());
    assert!(matches!(
        Password::parse(&"a".repeat(129)),
        Err(IdentityError::Invalid {
            field: "password",
            ..
        })
    ));
    // Counted in characters, not bytes: 12 two-byte characters are enough, 129 are too many.
    assert!(Password::parse(&"é".repeat(12)).is_ok());
    assert!(Password::parse(&"🔑".repeat(128)).is_ok());
    assert!(Password::parse(&"é".repeat(129)).is_err());
    // No composition rules: spaces and a single repeated letter are fine.
    assert!(Password::parse("            ").is_ok());
}

async fn stored_hash_is_an_argon2id_phc_string_with_owasp_parameters(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    ctx.enroll(Role::Customer).await;
    ctx.enroll(Role::Customer).await;
    let stored = ctx.texts_of("credentials", "password_hash").await;
    assert_eq!(stored.len(), 2);
    for phc in &stored {
        assert!(phc.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{phc}");
        assert!(!phc.contains(PASSWORD));
    }
    assert_ne!(stored[0], stored[1], "one password, two salts, two hashes");
}

async fn debug_output_never_contains_a_secret(backend: Backend) {
    let Some(ctx) = setup(backend).await else {
        return;
    };
    let password = Password::parse(PASSWORD).unwrap();
    let shown = format!("{password:?} {password:#?}");
    assert!(!shown.contains("horse"), "{shown}");
    assert!(shown.contains("<redacted>"));

    let hash = ctx.identity.hash_password(password).await.unwrap();
    let shown = format!("{hash:?} {hash:#?}");
    assert!(!shown.contains("argon2"), "{shown}");
    assert!(shown.contains("<redacted>"));

    let account = ctx.enroll(Role::Admin).await;
    let session = ctx.sign_in("ada@example.com", account).await;
    let token = session.token.as_str().to_owned();
    for shown in [
        format!("{:?}", session.token),
        format!("{:#?}", session.token),
        format!("{session:?}"),
        format!("{session:#?}"),
        format!("{:?}", session.token.clone()),
    ] {
        assert!(!shown.contains(&token), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
    // The rest of the session is there to help debugging.
    assert!(format!("{session:?}").contains(&account.to_string()));

    // The service itself does not show its dummy hash, and errors carry nothing secret.
    assert!(!format!("{:?}", ctx.identity).contains("argon2"));
    let wrong = ctx
        .identity
        .sign_in("ada@example.com", Some(account), "hunter2hunter2")
        .await
        .unwrap_err();
    assert!(!format!("{wrong} {wrong:?}").contains("hunter2"));
    assert!(!format!("{wrong} {wrong:?}").contains("ada@example.com"));
}
