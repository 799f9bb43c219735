//! The black-box API tests: the real service on a random port, over HTTP, one module per area.
//! One binary, so the shared helpers and the service are compiled and linked once. The tests
//! that install a process-wide subscriber or recorder are binaries of their own beside it.

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod catalog;
mod contract;
mod events;
mod orders;
mod outage;
mod relay;
mod service;
mod stock_faults;
mod stock_races;
mod stored_rows;
mod users;
