//! The schema history of every bounded context, in one order, and the runner that applies it.
//!
//! Migrations are the only way the schema changes: the service never auto-syncs tables. File
//! names carry the owning context (`m<timestamp>_<context>_<what>.rs`); `cargo xtask migrate
//! generate NAME --context users|orders|identity|catalog|inventory` creates one from a template and registers it
//! below.

mod columns;
pub mod drift;
mod runner;

pub use runner::{MigrateError, MigrationState, Runner, fresh_is_safe, pending};

use sea_orm_migration::prelude::*;

mod m20261125_000001_users_create_users;
mod m20261125_000002_orders_create_orders;
mod m20261125_000003_orders_create_idempotency_keys;
mod m20261125_000004_identity_create_identity_tables;
mod m20261126_000005_persistence_create_outbox;
mod m20261202_000006_persistence_text_event_subjects;
mod m20261202_000007_catalog_create_products;
mod m20261202_000008_inventory_create_stock;
mod m20261205_000009_persistence_feed_order_without_lock;
// @generated-mods: `cargo xtask migrate generate` inserts new modules above this line.

/// The ordered migration list that SeaORM's migrator walks.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_users_create_users::Migration),
            Box::new(m20261125_000002_orders_create_orders::Migration),
            Box::new(m20261125_000003_orders_create_idempotency_keys::Migration),
            Box::new(m20261125_000004_identity_create_identity_tables::Migration),
            Box::new(m20261126_000005_persistence_create_outbox::Migration),
            Box::new(m20261202_000006_persistence_text_event_subjects::Migration),
            Box::new(m20261202_000007_catalog_create_products::Migration),
            Box::new(m20261202_000008_inventory_create_stock::Migration),
            Box::new(m20261205_000009_persistence_feed_order_without_lock::Migration),
            // @generated-list: `cargo xtask migrate generate` inserts new entries above this line.
        ]
    }
}
