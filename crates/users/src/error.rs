use persistence::StoreError;

use crate::UserId;

/// Everything that can go wrong in the users context, as the app's one error mapping sees it.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// Input failed validation; `field` names the offending field for clients.
    #[error("{field}: {reason}")]
    Invalid {
        /// The input field at fault.
        field: &'static str,
        /// What is wrong with it, in words fit for a client.
        reason: &'static str,
    },
    /// Another user already has this e-mail address (compared case-insensitively).
    #[error("a user with this email already exists")]
    EmailTaken,
    /// No user has this id.
    #[error("user {0} does not exist")]
    NotFound(UserId),
    /// The caller edited a stale copy: somebody else changed the user first.
    #[error("user was changed concurrently: expected version {expected}, current is {current}")]
    VersionConflict {
        /// The version the caller based its change on.
        expected: i64,
        /// The version stored now.
        current: i64,
    },
    /// The storage layer failed; details are for logs only.
    #[error(transparent)]
    Store(#[from] StoreError),
}
