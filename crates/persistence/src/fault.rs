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
    #[cfg(feature = "fault-injection")]
    gates: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<FaultPoint, Gate>>>,
}

/// A pausing fault point: every task that reaches it waits there until the test opens it,
/// so a test can hold transactions open at a chosen step and make races really overlap,
/// without sleeping.
#[cfg(feature = "fault-injection")]
#[derive(Debug, Clone)]
pub struct Gate {
    arrived: std::sync::Arc<tokio::sync::Semaphore>,
    open: std::sync::Arc<tokio::sync::Semaphore>,
}

#[cfg(feature = "fault-injection")]
impl Gate {
    /// Waits until `n` more tasks have reached the gate (they wait there).
    pub async fn arrivals(&self, n: u32) {
        if let Ok(permits) = self.arrived.acquire_many(n).await {
            permits.forget();
        }
    }

    /// Lets every waiting task, and every later one, through.
    pub fn open(&self) {
        self.open
            .add_permits(tokio::sync::Semaphore::MAX_PERMITS / 2);
    }
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

    /// Passes `point` where a step may be paused as well as failed: fails like
    /// [`Faults::check`] when armed, and waits while a gate on it is closed (`Faults::gate`,
    /// with the `fault-injection` feature).
    pub async fn pass(&self, point: FaultPoint) -> Result<(), StoreError> {
        self.check(point)?;
        #[cfg(feature = "fault-injection")]
        {
            let gate = self
                .gates
                .lock()
                .ok()
                .and_then(|gates| gates.get(&point).cloned());
            if let Some(gate) = gate {
                gate.arrived.add_permits(1);
                if let Ok(permit) = gate.open.acquire().await {
                    permit.forget();
                }
            }
        }
        Ok(())
    }

    /// A closed gate at `point`: tasks that [`Faults::pass`] it wait until [`Gate::open`].
    #[cfg(feature = "fault-injection")]
    pub fn gate(&self, point: FaultPoint) -> Gate {
        let gate = Gate {
            arrived: std::sync::Arc::new(tokio::sync::Semaphore::new(0)),
            open: std::sync::Arc::new(tokio::sync::Semaphore::new(0)),
        };
        if let Ok(mut gates) = self.gates.lock() {
            gates.insert(point, gate.clone());
        }
        gate
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
