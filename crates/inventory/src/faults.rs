//! The fault points of this context's services, armable in tests (feature `fault-injection`
//! of the persistence crate) to prove that a failure between two writes leaves nothing behind.

use persistence::FaultPoint;

/// In [`crate::Inventory::adjust`], after the stock row changed, before the ledger row.
pub const ADJUST_AFTER_STOCK_WRITE: FaultPoint =
    FaultPoint::new("inventory.adjust.after_stock_write");
/// In [`crate::Inventory::adjust`], after the ledger row, before the event.
pub const ADJUST_AFTER_LEDGER_WRITE: FaultPoint =
    FaultPoint::new("inventory.adjust.after_ledger_write");
