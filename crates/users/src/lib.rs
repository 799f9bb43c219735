//! The users bounded context.
//!
//! A user is an e-mail identity with a display name and a lifecycle (`active` → `deactivated`).
//! Everything outside this crate works through [`Users`] and the plain types below; the tables
//! behind them are private (`mod entity`), so no other crate can read or write them directly.

#![warn(missing_docs)]

mod domain;
mod entity;
mod error;
mod events;
mod schema;
mod service;

#[cfg(test)]
mod query_plan_tests;

pub use domain::{DisplayName, Email, NewUser, User, UserId, UserStatus};
pub use error::UsersError;
pub use events::UserEvent;
pub use schema::declared_schema;
pub use service::Users;
