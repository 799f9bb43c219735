//! The fault points of this context's services, armable in tests (feature `fault-injection`
//! of the persistence crate) to prove that a failure between two writes leaves nothing behind.

use persistence::FaultPoint;

/// In [`crate::Orders::place`], after the order row is written and before its items and
/// idempotency key are: a failure here must leave neither an order nor items.
pub const PLACE_AFTER_ORDER_ROW: FaultPoint = FaultPoint::new("orders.place.after_order_row");
