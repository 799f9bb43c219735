use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::IdentityError;

/// What [`fmt::Debug`] prints instead of a secret.
const REDACTED: &str = "<redacted>";

/// An account's id: the same UUID as the user it belongs to.
///
/// The app maps `users::UserId` to and from `AccountId`; identity never depends on the users
/// context, so the id is the only thing the two share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(Uuid);

impl AccountId {
    /// Wraps an id that came from outside (a user's id, a URL).
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The raw UUID, to map the account back to its user.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What an account may do: every account is a customer; admins may also act on other users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Acts on its own user and orders only.
    Customer,
    /// May also read and change other users.
    Admin,
}

impl Role {
    /// The role's stable name (`customer` / `admin`): what is stored and shown to clients.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Admin => "admin",
        }
    }

    /// Reads a stored role; anything else means the table was edited behind our back.
    pub(crate) fn from_stored(raw: &str) -> Result<Self, IdentityError> {
        match raw {
            "customer" => Ok(Self::Customer),
            "admin" => Ok(Self::Admin),
            other => {
                Err(persistence::StoreError::other(format!("unknown stored role {other:?}")).into())
            }
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A new password, validated: 12 to 128 characters (Unicode scalar values), no composition
/// rules (NIST SP 800-63B: length is what makes a password strong; rules make it predictable).
///
/// Only new passwords are parsed; a sign-in checks whatever the client typed. Its `Debug`
/// never shows the password, so it cannot leak into a log line by accident.
///
/// ```
/// use identity::Password;
/// assert!(Password::parse("correct horse battery").is_ok());
/// assert!(Password::parse("too short").is_err());
/// assert_eq!(format!("{:?}", Password::parse("correct horse battery").unwrap()),
///            "Password(<redacted>)");
/// ```
pub struct Password(String);

impl Password {
    /// The fewest characters a new password may have.
    pub const MIN_CHARS: usize = 12;
    /// The most characters a new password may have (bounds the work a hash does).
    pub const MAX_CHARS: usize = 128;

    /// Validates a new password's length, counted in characters, not bytes.
    pub fn parse(raw: &str) -> Result<Self, IdentityError> {
        let chars = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(IdentityError::Invalid {
                field: "password",
                reason: "must be 12 to 128 characters",
            });
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password itself, for the hasher only.
    pub(crate) fn into_secret(self) -> String {
        self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Password")
            .field(&format_args!("{REDACTED}"))
            .finish()
    }
}

/// An argon2id hash of a password, as a PHC string (`$argon2id$v=19$m=7168,t=5,p=1$…`).
///
/// Only [`crate::Identity::hash_password`] makes one, so every new credential gets the current
/// parameters; one stored under earlier parameters keeps them and still verifies. Its `Debug` is redacted: a hash is an offline-guessing target.
pub struct PasswordHash(String);

impl PasswordHash {
    pub(crate) fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    pub(crate) fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PasswordHash")
            .field(&format_args!("{REDACTED}"))
            .finish()
    }
}

/// An opaque bearer token: 32 bytes from the OS random source, base64url without padding
/// (43 characters).
///
/// The client gets it once, at sign-in; the database keeps only its SHA-256 digest, so a
/// leaked database holds no usable token. Its `Debug` is redacted.
#[derive(Clone)]
pub struct SessionToken(String);

impl SessionToken {
    /// Length of a token's text: 32 bytes in unpadded base64.
    pub(crate) const LEN: usize = 43;

    pub(crate) fn from_encoded(encoded: String) -> Self {
        Self(encoded)
    }

    /// The token text, to send to the client once (sign-in's response body).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SessionToken")
            .field(&format_args!("{REDACTED}"))
            .finish()
    }
}

/// A session that sign-in just opened: the token for the client and what it stands for.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    /// The bearer token; shown to the client once, never stored (its `Debug` is redacted).
    pub token: SessionToken,
    /// Whose session it is.
    pub account: AccountId,
    /// The account's role at sign-in (later requests read it afresh).
    pub role: Role,
    /// When the token stops working (UTC, microsecond precision).
    pub expires_at: DateTime<Utc>,
}

/// Who is calling: the account behind a valid bearer token, with its current role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The caller's account.
    pub account: AccountId,
    /// The caller's role, read with the token, so a role change takes effect at once.
    pub role: Role,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_length_is_counted_in_characters() {
        assert!(Password::parse(&"a".repeat(11)).is_err());
        assert!(Password::parse(&"a".repeat(12)).is_ok());
        assert!(Password::parse(&"a".repeat(128)).is_ok());
        assert!(Password::parse(&"a".repeat(129)).is_err());
        // 12 characters, 24 bytes: fine; 11 characters, 33 bytes: too short.
        assert!(Password::parse(&"é".repeat(12)).is_ok());
        assert!(Password::parse(&"界".repeat(11)).is_err());
        assert!(Password::parse("").is_err());
        match Password::parse("short") {
            Err(IdentityError::Invalid { field, reason }) => {
                assert_eq!(field, "password");
                assert_eq!(reason, "must be 12 to 128 characters");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let password = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
        let hash = PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        assert_eq!(format!("{hash:?}"), "PasswordHash(<redacted>)");
        let token = SessionToken::from_encoded("t".repeat(43));
        assert_eq!(format!("{token:?}"), "SessionToken(<redacted>)");
        assert_eq!(format!("{token:#?}"), "SessionToken(\n    <redacted>,\n)");
    }

    #[test]
    fn roles_round_trip_through_their_stored_names() {
        for role in [Role::Customer, Role::Admin] {
            assert_eq!(Role::from_stored(role.as_str()).unwrap(), role);
            assert_eq!(role.to_string(), role.as_str());
        }
        assert!(Role::from_stored("root").is_err());
    }
}
