//! The HTTP service: composes the bounded contexts behind the order-management API, and the
//! operator verbs its binary runs ([`ops`]).
//!
//! Handlers stay thin (parse, call one service, map the result); business rules live in the
//! context crates. This crate is the only place that knows about HTTP, and [`error`] is the
//! only place where a context's error becomes a status code.

pub mod auth;
pub mod config;
pub mod customers;
mod error;
pub mod events;
mod extract;
mod headers;
pub mod metrics;
mod middleware;
pub mod openapi;
pub mod ops;
pub mod problems;
pub mod relay;
mod routes;
mod server;
mod startup;
mod state;
pub mod telemetry;
mod wire;
pub mod workflows;

pub use config::{Config, DbTimeouts, LogFormat};
pub use error::AppError;
pub use startup::Application;
