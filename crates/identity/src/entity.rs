//! The tables of the identity context. Private to this crate: their shape is an implementation
//! detail, matching migration `m20261125_000004` column for column.

pub mod credentials;
pub mod sessions;
pub mod sign_in_failures;
