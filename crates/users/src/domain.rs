use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::UsersError;

/// A user's id (UUID v7: creation-ordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Uuid);

impl UserId {
    /// Wraps an id that came from outside (a URL, another context).
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// The raw UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A normalised e-mail address: trimmed, lower-cased, syntactically plausible.
///
/// Normalising here, once, is what lets the database enforce "one account per address"
/// with a plain unique index.
///
/// ```
/// use users::Email;
/// let email = Email::parse("  Ada@Example.COM ").unwrap();
/// assert_eq!(email.as_str(), "ada@example.com");
/// assert!(Email::parse("not an email").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// The longest address SMTP can carry.
    pub const MAX_LEN: usize = 254;

    /// Validates and normalises an address.
    pub fn parse(raw: &str) -> Result<Self, UsersError> {
        let invalid = |reason| UsersError::Invalid {
            field: "email",
            reason,
        };
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if email.len() > Self::MAX_LEN {
            return Err(invalid("must be at most 254 characters"));
        }
        let (local, domain) = email.split_once('@').ok_or(invalid("must contain one @"))?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(invalid("must be of the form name@domain"));
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !local_ok {
            return Err(invalid("has characters not allowed before the @"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        // The top-level domain is a name, never a number: `ada@10.0.0.1` is no address.
        let tld_ok = labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
        if !domain_ok || !tld_ok {
            return Err(invalid("must have a valid domain, like example.com"));
        }
        Ok(Self(email))
    }

    /// An address read back from the table, trusted as stored: it passed the rules of the
    /// day it was written, and a rule tightened since must not make it unreadable.
    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: trimmed, 1 to 100 characters, at least one of them visible, none of them a
/// control or format character (no bidi override can make it render as something else, no
/// zero-width character can make two equal-looking names differ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// The longest accepted name, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Validates a display name.
    pub fn parse(raw: &str) -> Result<Self, UsersError> {
        let invalid = |reason| UsersError::Invalid {
            field: "display_name",
            reason,
        };
        let name = raw.trim();
        if name.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(invalid("must be at most 100 characters"));
        }
        if persistence::text::first_hidden(name).is_some() {
            return Err(invalid(
                "must not contain control or invisible formatting characters",
            ));
        }
        if !persistence::text::has_visible(name) {
            return Err(invalid("must contain a visible character"));
        }
        Ok(Self(name.to_owned()))
    }

    /// A name read back from the table, trusted as stored (see [`Email::from_stored`]).
    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a user is in its lifecycle. Deactivation is one-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Can place orders.
    Active,
    /// Can no longer place orders; kept for history.
    Deactivated,
}

impl UserStatus {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
        }
    }

    pub(crate) fn from_stored(raw: &str) -> Result<Self, UsersError> {
        match raw {
            "active" => Ok(Self::Active),
            "deactivated" => Ok(Self::Deactivated),
            other => {
                Err(persistence::StoreError::other(format!("unknown user status {other:?}")).into())
            }
        }
    }
}

/// What it takes to register a user; both fields are already validated.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The sign-in identity; unique across users.
    pub email: Email,
    /// How the user is shown.
    pub display_name: DisplayName,
}

/// A user as other contexts and the HTTP layer see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable identity.
    pub id: UserId,
    /// Normalised address.
    pub email: Email,
    /// Shown name.
    pub display_name: DisplayName,
    /// Lifecycle state.
    pub status: UserStatus,
    /// Incremented by every change; the optimistic-locking token (HTTP `ETag`).
    pub version: i64,
    /// When the user registered (UTC).
    pub created_at: DateTime<Utc>,
    /// When the user last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Grace.Hopper+navy@Example.ORG\t").unwrap();
        assert_eq!(email.as_str(), "grace.hopper+navy@example.org");
    }

    #[test]
    fn differently_cased_emails_are_equal_after_parsing() {
        assert_eq!(
            Email::parse("ADA@example.com").unwrap(),
            Email::parse("ada@EXAMPLE.com").unwrap()
        );
    }

    #[test]
    fn malformed_emails_are_rejected_with_field_name() {
        for raw in [
            "",
            "   ",
            "plain",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@@example.com",
            "a b@example.com",
            "ada@exa mple.com",
            ".ada@example.com",
            "ada..lovelace@example.com",
            "ada@-example.com",
            "ada@example..com",
            "ada@10.0.0.1",
            "ada\u{200B}@example.com",
            "ada@exa\u{202E}mple.com",
            "\u{FEFF}ada@example.com",
            "ada@example.com\u{2066}",
            "ada\n@example.com",
        ] {
            match Email::parse(raw) {
                Err(UsersError::Invalid { field, .. }) => assert_eq!(field, "email", "{raw:?}"),
                other => panic!("{raw:?} should be invalid, got {other:?}"),
            }
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
        let long = format!("a@{}.com", "b".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn display_names_with_hidden_or_no_visible_characters_are_rejected() {
        for (raw, reason) in [
            (
                "Ada\u{202E}ecalevol",
                "must not contain control or invisible formatting characters",
            ),
            (
                "\u{2066}Ada\u{2069}",
                "must not contain control or invisible formatting characters",
            ),
            (
                "A\u{200B}da",
                "must not contain control or invisible formatting characters",
            ),
            (
                "Ada\u{200D}",
                "must not contain control or invisible formatting characters",
            ),
            (
                "\u{FEFF}Ada",
                "must not contain control or invisible formatting characters",
            ),
            (
                "Ada\u{2028}Admin",
                "must not contain control or invisible formatting characters",
            ),
            (
                "Ada\u{1b}[2J",
                "must not contain control or invisible formatting characters",
            ),
            ("\u{3164}", "must contain a visible character"),
            ("\u{2800}\u{2800}", "must contain a visible character"),
            ("\u{0301}", "must contain a visible character"),
        ] {
            match DisplayName::parse(raw) {
                Err(UsersError::Invalid { field, reason: got }) => {
                    assert_eq!((field, got), ("display_name", reason), "{raw:?}");
                }
                other => panic!("{raw:?} should be invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn display_name_rules() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("").is_err());
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
        assert_eq!(
            DisplayName::parse("Zoë 李 🙂").unwrap().as_str(),
            "Zoë 李 🙂"
        );
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(101)).is_err());
    }
}
