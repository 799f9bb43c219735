use std::time::Duration;

use persistence::StoreError;

use crate::AccountId;

/// Everything that can go wrong in the identity context, as the app's one error mapping sees
/// it. No variant carries a secret (password, token, hash), so `Display` and `Debug` are safe
/// to log.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Client input failed validation; `field` names the offending field for clients.
    #[error("{field}: {reason}")]
    Invalid {
        /// The input field at fault.
        field: &'static str,
        /// What is wrong with it, in words fit for a client.
        reason: &'static str,
    },
    /// Sign-in failed. Unknown login, wrong password and deactivated account are this one
    /// error on purpose, so a client cannot tell which addresses have accounts.
    #[error("the login or the password is wrong")]
    InvalidCredentials,
    /// Too many failed sign-ins for this login recently; nothing was checked.
    #[error("too many failed sign-in attempts; retry in {} s", retry_after.as_secs().max(1))]
    TooManyAttempts {
        /// How long until an attempt may succeed again (at least one second).
        retry_after: Duration,
    },
    /// The bearer token is missing, malformed, expired or revoked.
    #[error("no valid session token")]
    Unauthenticated,
    /// The account has no credential (it never signed up with a password).
    #[error("account {0} has no credential")]
    NotFound(AccountId),
    /// Password hashing (argon2, the worker running it) or the OS random source failed.
    /// Deliberately without detail: the detail is logged where it happens.
    #[error("password hashing failed")]
    Hashing,
    /// The storage layer failed; details are for logs only.
    #[error(transparent)]
    Store(#[from] StoreError),
}
