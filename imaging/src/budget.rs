//! A process-wide memory budget for image work. Every decode reserves, before it starts, the
//! bytes its header says it will hold at its peak ([`crate::ImageHeader::memory_needed`]); the
//! reservation is released when the work is done. When the budget is spent a decode waits a
//! bounded time and is then refused with [`BudgetError::Busy`], so a burst of images that decode
//! to hundreds of MB each queues or is turned away instead of ending the process.
//!
//! One budget is made at start-up and shared (cloned) by everything in the process that
//! decodes: the web app's upload pipeline and caption worker, the inference server's handlers.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Permits are KiB, so that budgets up to 4 TiB fit the semaphore's `u32` count.
const PERMIT_BYTES: u64 = 1024;
const MIB: u64 = 1 << 20;

/// Why a reservation was not made.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// Other images hold the budget and none finished within the wait: a 503 with
    /// `Retry-After`; trying again shortly will likely succeed.
    #[error("The server is busy processing other images; please try again in a few seconds.")]
    Busy { retry_after: Duration },
    /// This image alone needs more than the whole budget: it can never be processed here.
    #[error(
        "the image would need about {needed_mib} MiB of memory to process; the server \
         processes at most {budget_mib} MiB of images at once"
    )]
    TooLarge { needed_mib: u64, budget_mib: u64 },
}

/// The shared budget: a semaphore weighted in KiB. Cloning shares it.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total_kib: u32,
    wait: Duration,
}

/// Bytes held against the budget; dropping it gives them back.
#[derive(Debug)]
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
}

impl MemoryBudget {
    /// A budget of `total_bytes` (rounded down to whole KiB, at least 1 KiB); a reservation
    /// that cannot be made at once waits up to `wait`.
    pub fn new(total_bytes: u64, wait: Duration) -> Self {
        let total_kib = u32::try_from(total_bytes / PERMIT_BYTES)
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            permits: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            wait,
        }
    }

    /// The budget in bytes.
    pub fn total_bytes(&self) -> u64 {
        u64::from(self.total_kib) * PERMIT_BYTES
    }

    /// Reserves `bytes`, waiting up to the configured time for other work to give some back.
    /// Waiters are served in order, so a large image is not starved by a stream of small ones.
    pub async fn reserve(&self, bytes: u64) -> Result<Reservation, BudgetError> {
        let kib = bytes.div_ceil(PERMIT_BYTES);
        let Some(kib) = u32::try_from(kib).ok().filter(|&kib| kib <= self.total_kib) else {
            return Err(BudgetError::TooLarge {
                needed_mib: bytes.div_ceil(MIB),
                budget_mib: self.total_bytes() / MIB,
            });
        };
        let acquire = self.permits.clone().acquire_many_owned(kib);
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => Ok(Reservation { _permit: permit }),
            // The semaphore is never closed; a timeout is the only real outcome here.
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(
                    needed_bytes = bytes,
                    available_bytes = self.available_bytes(),
                    budget_bytes = self.total_bytes(),
                    "image memory budget exhausted: refusing an image"
                );
                Err(BudgetError::Busy {
                    retry_after: self.wait.max(Duration::from_secs(1)),
                })
            }
        }
    }

    /// [`Self::reserve`] for code already on a blocking thread of the Tokio runtime (inside
    /// `spawn_blocking`); it must not be called from async code.
    pub fn reserve_blocking(&self, bytes: u64) -> Result<Reservation, BudgetError> {
        tokio::runtime::Handle::current().block_on(self.reserve(bytes))
    }

    /// Bytes not reserved now.
    pub fn available_bytes(&self) -> u64 {
        self.permits.available_permits() as u64 * PERMIT_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_for_room_and_are_refused_when_none_comes() {
        let budget = MemoryBudget::new(10 * MIB, Duration::from_millis(50));
        let first = budget.reserve(6 * MIB).await.unwrap();
        assert_eq!(budget.available_bytes(), 4 * MIB);
        // No room within the wait: busy, with a Retry-After of at least a second.
        match budget.reserve(6 * MIB).await {
            Err(BudgetError::Busy { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(1))
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        // Room given back during the wait: served.
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(6 * MIB).await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(first);
        waiter.await.unwrap().unwrap();
        assert_eq!(budget.available_bytes(), 10 * MIB);
        // More than the whole budget never waits.
        assert!(matches!(
            budget.reserve(11 * MIB).await,
            Err(BudgetError::TooLarge {
                needed_mib: 11,
                budget_mib: 10
            })
        ));
    }

    #[test]
    fn blocking_reservations_work_on_blocking_threads() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let budget = MemoryBudget::new(MIB, Duration::ZERO);
        runtime.block_on(async {
            let held = budget.reserve(MIB).await.unwrap();
            let busy = tokio::task::spawn_blocking({
                let budget = budget.clone();
                move || budget.reserve_blocking(1).map(drop)
            });
            assert!(matches!(busy.await.unwrap(), Err(BudgetError::Busy { .. })));
            drop(held);
        });
    }
}
