//! The `Identity` service as its callers see it, on both engines: every test gets its own
//! freshly migrated database (`persistence::both_backends!` turns each into a `::sqlite` and a
//! `::postgres` test). Nothing here sleeps: expiry is tested with a negative time to live.

// `allow-unwrap-in-tests` covers `#[test]` functions only; these helpers and the async bodies
// that `both_backends!` wraps are test code too, where a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;
mod passwords;
mod roles;
mod round_trips;
mod sessions;
mod sign_in;
mod throttling;
