use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use catalog::Catalog;
use identity::Identity;
use inventory::Inventory;
use orders::Orders;
use persistence::{CursorCodec, Db};
use users::Users;

use crate::workflows::Workflows;

/// What every handler can reach: the contexts' services and the cross-context workflows.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) db: Db,
    pub(crate) users: Users,
    pub(crate) orders: Orders,
    pub(crate) identity: Identity,
    pub(crate) catalog: Catalog,
    pub(crate) inventory: Inventory,
    pub(crate) workflows: Workflows,
    /// Seals and opens the `next`/`after` cursors of every list.
    pub(crate) cursors: CursorCodec,
    /// Set once shutdown begins: readiness answers 503 so load balancers stop sending traffic.
    pub(crate) draining: Arc<AtomicBool>,
}
