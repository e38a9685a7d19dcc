//! Where expensive work runs: off the async workers, one job per core at a time, and only as
//! long as someone waits for it. `/health`, `/ready`, `/metrics` and cached tiles stay on the
//! async workers and keep answering while every core renders or measures.
//!
//! - [`Work::run`] moves a CPU-bound job onto tokio's blocking pool behind a semaphore sized
//!   to the cores, and hands the job an [`Interrupt`] that fires when the awaiting request is
//!   dropped (its client hung up, or the request timeout cut it off) or its deadline passes.
//! - [`Work::reserve`] takes bytes from the render memory budget before a large buffer is
//!   allocated; a request that cannot get them within a moment gets 503 + Retry-After instead
//!   of an allocation past the budget.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cuulong_core::interrupt::{Interrupt, Interrupted};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a request waits for render memory before it is told to come back.
const MEMORY_WAIT: Duration = Duration::from_secs(2);

/// Why work did not run (or did not finish).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkError {
    #[error("the server's render memory is in use; retry in a second")]
    MemoryBusy,
    #[error(
        "the request needs {needed_mb} MiB to render, more than the server's whole render budget of {budget_mb} MiB; ask for a smaller image"
    )]
    OverBudget { needed_mb: u64, budget_mb: u64 },
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error("the job failed: {0}")]
    Panicked(String),
}

/// The server's compute and render-memory limits.
pub struct Work {
    cpu: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    /// The render budget in KiB (the memory semaphore's unit).
    budget_kib: u32,
    /// The longest a job may run (the request timeout).
    deadline: Duration,
}

/// Cancels the job's interrupt when the awaiting future is dropped or finishes.
struct CancelOnDrop(Interrupt);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Bytes of the render budget held until dropped.
#[derive(Debug)]
pub struct MemoryPermit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

/// The default render budget: an eighth of the machine's memory, between 256 MiB and 2 GiB.
pub fn default_render_memory_mb() -> u32 {
    let total_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(4 * 1024 * 1024);
    u32::try_from((total_kib / 1024 / 8).clamp(256, 2048)).unwrap_or(2048)
}

impl Work {
    /// `jobs` at once (0 = one per core), `render_memory_mb` of render buffers, jobs cut off
    /// after `deadline`.
    pub fn new(jobs: usize, render_memory_mb: u32, deadline: Duration) -> Self {
        let jobs = if jobs == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            jobs
        };
        let budget_kib = render_memory_mb.saturating_mul(1024).max(1024);
        Self {
            cpu: Arc::new(Semaphore::new(jobs)),
            memory: Arc::new(Semaphore::new(budget_kib as usize)),
            budget_kib,
            deadline,
        }
    }

    /// Jobs that may run at once.
    pub fn jobs(&self) -> usize {
        self.cpu.available_permits()
    }

    pub fn render_budget_mb(&self) -> u64 {
        u64::from(self.budget_kib) / 1024
    }

    /// Render memory in use, in bytes (for `/metrics`).
    pub fn render_memory_in_use(&self) -> u64 {
        let free = self.memory.available_permits() as u64;
        (u64::from(self.budget_kib).saturating_sub(free)) * 1024
    }

    /// Runs `job` on the blocking pool once a core is free. Dropping the returned future (the
    /// client left, the timeout fired) fires the job's interrupt; the job stops at its next
    /// check and frees its core.
    pub async fn run<T, E>(
        &self,
        job: impl FnOnce(&Interrupt) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<WorkError> + Send + 'static,
    {
        let interrupt = Interrupt::with_deadline(Instant::now() + self.deadline);
        let _cancel = CancelOnDrop(interrupt.clone());
        let permit = self
            .cpu
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| WorkError::Panicked("the work queue is closed".into()))?;
        // Waiting for a core may have taken the whole deadline.
        interrupt.check().map_err(WorkError::from)?;
        let handle = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job(&interrupt)
        });
        match handle.await {
            Ok(r) => r,
            Err(e) => Err(WorkError::Panicked(e.to_string()).into()),
        }
    }

    /// Takes `bytes` from the render budget, waiting up to a moment for other renders to end.
    pub async fn reserve(&self, bytes: u64) -> Result<MemoryPermit, WorkError> {
        let kib = bytes.div_ceil(1024).max(1);
        if kib > u64::from(self.budget_kib) {
            return Err(WorkError::OverBudget {
                needed_mb: bytes.div_ceil(1024 * 1024),
                budget_mb: self.render_budget_mb(),
            });
        }
        let kib = u32::try_from(kib).unwrap_or(u32::MAX);
        match tokio::time::timeout(MEMORY_WAIT, self.memory.clone().acquire_many_owned(kib)).await {
            Ok(Ok(p)) => Ok(MemoryPermit(Some(p))),
            Ok(Err(_)) | Err(_) => Err(WorkError::MemoryBusy),
        }
    }
}

/// Bytes a `width` × `height` map takes to draw and encode: the RGBA pixmap, the renderer's
/// accumulation buffer, the unpremultiplied copy handed to the encoder and the encoded image (at
/// worst about as large again).
pub fn render_bytes(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height) * 10
        + cuulong_core::render::scratch_bytes(width, height)
        + 1024 * 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dropped_request_interrupts_its_job_and_frees_its_core() {
        let work = Arc::new(Work::new(1, 256, Duration::from_secs(60)));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel();
        let w = work.clone();
        let request = tokio::spawn(async move {
            w.run(move |interrupt| -> Result<(), WorkError> {
                let _ = started_tx.send(());
                while interrupt.check().is_ok() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let _ = stopped_tx.send(interrupt.check());
                Ok(())
            })
            .await
        });
        started_rx.await.unwrap();
        assert_eq!(work.jobs(), 0, "the job holds the only core");
        request.abort();
        assert_eq!(stopped_rx.await.unwrap(), Err(Interrupted::Cancelled));
        // The core comes back once the job has returned.
        let r: Result<u8, WorkError> = work.run(|_| Ok(7)).await;
        assert_eq!(r, Ok(7));
    }

    #[tokio::test]
    async fn memory_is_reserved_within_the_budget_and_released_on_drop() {
        let work = Work::new(2, 1, Duration::from_secs(60));
        assert_eq!(
            work.reserve(2 * 1024 * 1024).await.unwrap_err(),
            WorkError::OverBudget {
                needed_mb: 2,
                budget_mb: 1
            }
        );
        let held = work.reserve(1024 * 1024).await.unwrap();
        assert_eq!(work.render_memory_in_use(), 1024 * 1024);
        assert_eq!(work.reserve(1).await.unwrap_err(), WorkError::MemoryBusy);
        drop(held);
        assert!(work.reserve(1024 * 1024).await.is_ok());
    }

    #[tokio::test]
    async fn a_job_past_its_deadline_is_interrupted() {
        let work = Work::new(1, 256, Duration::from_millis(0));
        let r: Result<(), WorkError> = work.run(|i| i.check().map_err(WorkError::from)).await;
        assert_eq!(r, Err(WorkError::Interrupted(Interrupted::DeadlinePassed)));
    }
}
