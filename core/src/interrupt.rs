//! Cooperative cancellation of long kernels (map rendering, summaries, filtered scans): the
//! server cancels a request's work when its client has gone or its deadline has passed, and the
//! kernel stops at its next check instead of running on for nobody.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Why a kernel stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Interrupted {
    #[error("the request was cancelled (its client went away)")]
    Cancelled,
    #[error("the request's deadline passed")]
    DeadlinePassed,
}

/// A cancellation flag shared between the one who may cancel and the kernel that checks it,
/// with an optional deadline. Cloning shares the flag.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl Interrupt {
    /// One that never fires (benches, tests, offline tools).
    pub fn never() -> Self {
        Self::default()
    }

    pub fn with_deadline(deadline: Instant) -> Self {
        Self {
            flag: Arc::default(),
            deadline: Some(deadline),
        }
    }

    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// `Err` once cancelled or past the deadline. Cheap (an atomic load and a clock read):
    /// call it every few dozen features, not per vertex.
    pub fn check(&self) -> Result<(), Interrupted> {
        if self.is_cancelled() {
            return Err(Interrupted::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Interrupted::DeadlinePassed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_reaches_every_clone_and_deadlines_fire() {
        let a = Interrupt::never();
        let b = a.clone();
        assert_eq!(b.check(), Ok(()));
        a.cancel();
        assert_eq!(b.check(), Err(Interrupted::Cancelled));
        let past = Interrupt::with_deadline(Instant::now());
        assert_eq!(past.check(), Err(Interrupted::DeadlinePassed));
        let future = Interrupt::with_deadline(Instant::now() + std::time::Duration::from_secs(60));
        assert_eq!(future.check(), Ok(()));
    }
}
