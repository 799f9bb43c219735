//! The identity bounded context: who may sign in, with what role, and who is calling.
//!
//! An account is identified by the same UUID as its user, but this crate knows nothing of users:
//! it keeps a credential (an argon2id password hash and a role) per account, opaque bearer
//! sessions (stored only as SHA-256 digests of their tokens), and failed sign-ins per login
//! (stored only as a SHA-256 of the address) for throttling. Everything outside this crate
//! works through [`Identity`] and the plain types below; the tables are private (`mod entity`),
//! and no SeaORM type appears in the API. No secret (password, hash, token) is ever shown by
//! `Debug`, `Display`, an error or a log line.

#![warn(missing_docs)]

mod digest;
mod domain;
mod entity;
mod error;
mod hashing;
mod schema;
mod service;

pub use domain::{AccountId, IssuedSession, Password, PasswordHash, Principal, Role, SessionToken};
pub use error::IdentityError;
pub use schema::declared_schema;
pub use service::{Identity, IdentityConfig, Purged, purge_expired};
