//! The `Orders` service as its callers see it, on both engines: every test gets its own freshly
//! migrated database (`persistence::both_backends!` turns each into a `::sqlite` and a
//! `::postgres` test) and an in-memory fake of the `Customers` port.

// `allow-unwrap-in-tests` covers `#[test]` functions only; these helpers and the async bodies
// that `both_backends!` wraps are test code too, where a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;
mod events;
mod idempotency;
mod lifecycle;
mod listing;
mod placement;
mod round_trips;
