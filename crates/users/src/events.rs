//! The users context's integration events: what happened to a user, as plain data. How an
//! event is encoded for other services is the app's business (see `persistence::outbox`).

use chrono::{DateTime, Utc};
use persistence::DomainEvent;

use crate::User;

/// A committed change to a user, carrying the user as it was after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserEvent {
    /// `user.registered`: a new account.
    Registered(User),
    /// `user.deactivated`: the account can no longer sign in or order.
    Deactivated(User),
}

impl UserEvent {
    /// The user after the change.
    pub fn user(&self) -> &User {
        match self {
            Self::Registered(user) | Self::Deactivated(user) => user,
        }
    }
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Registered(_) => "user.registered",
            Self::Deactivated(_) => "user.deactivated",
        }
    }

    fn subject(&self) -> String {
        self.user().id.as_uuid().to_string()
    }

    fn time(&self) -> DateTime<Utc> {
        self.user().updated_at
    }
}
