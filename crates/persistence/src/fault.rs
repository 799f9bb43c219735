//! Armable fault points, for proving that a failure between two writes leaves nothing behind.
//!
//! Services call [`Faults::check`] at the seams where a crash would hurt most. Without the
//! `fault-injection` feature `Faults` is an empty type and `check` compiles to nothing; with it,
//! a test arms a point on *its own* service instance, so parallel tests never trip each other.

use crate::StoreError;

/// The name of a place where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultPoint(&'static str);

impl FaultPoint {
    /// Names a fault point; declare these as constants next to the code that checks them.
    pub const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// The point's name.
    pub fn name(&self) -> &'static str {
        self.0
    }
}

/// The set of armed fault points of one service instance.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    #[cfg(feature = "fault-injection")]
    armed: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<FaultPoint>>>,
}

impl Faults {
    /// Fails with an injected [`StoreError`] when `point` is armed; otherwise does nothing.
    #[inline]
    pub fn check(&self, point: FaultPoint) -> Result<(), StoreError> {
        #[cfg(feature = "fault-injection")]
        if self
            .armed
            .lock()
            .map(|armed| armed.contains(&point))
            .unwrap_or(false)
        {
            return Err(StoreError::injected(point.name()));
        }
        let _ = point;
        Ok(())
    }

    /// Arms `point`: every later `check` of it fails until [`Faults::disarm`].
    #[cfg(feature = "fault-injection")]
    pub fn arm(&self, point: FaultPoint) {
        if let Ok(mut armed) = self.armed.lock() {
            armed.insert(point);
        }
    }

    /// Disarms `point`.
    #[cfg(feature = "fault-injection")]
    pub fn disarm(&self, point: FaultPoint) {
        if let Ok(mut armed) = self.armed.lock() {
            armed.remove(&point);
        }
    }
}
