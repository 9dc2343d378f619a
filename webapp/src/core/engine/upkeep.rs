//! Background upkeep: the retention sweep, the orphan-blob sweep and the gauges.

use std::time::Duration;

use super::Engine;
use crate::core::domain::BlobKey;
use crate::error::AppError;

/// Blobs listed per page by the orphan sweep.
const ORPHAN_SWEEP_PAGE: usize = 500;

impl Engine {
    /// Deletes the images whose retention has ended; returns how many.
    pub async fn sweep_retention(&self) -> anyhow::Result<usize> {
        let mut removed = 0;
        loop {
            let batch = self
                .ports
                .repo
                .expired(chrono::Utc::now().timestamp(), 100)
                .await?;
            for (user, id) in &batch {
                match self.delete_image(user, *id).await {
                    Ok(()) | Err(AppError::NotFound(_)) => removed += 1,
                    Err(err) => return Err(anyhow::Error::from(err)),
                }
            }
            if batch.len() < 100 {
                return Ok(removed);
            }
        }
    }

    /// Removes blobs written more than `grace` ago that no record points at: what an upload
    /// interrupted between its blobs and its record (a crash) leaves behind. The grace period
    /// keeps uploads in progress safe. Returns how many blobs were removed.
    pub async fn sweep_orphan_blobs(&self, grace: Duration) -> anyhow::Result<usize> {
        let written_before = chrono::Utc::now().timestamp() - grace.as_secs() as i64;
        let mut removed = 0;
        let mut after: Option<BlobKey> = None;
        loop {
            let page = self
                .ports
                .blobs
                .list_written_before(written_before, after.as_ref(), ORPHAN_SWEEP_PAGE)
                .await?;
            for key in &page {
                let (user, image) = key.image();
                if self.ports.repo.get(&user, image).await?.is_none() {
                    self.ports.blobs.delete(key).await?;
                    tracing::info!(%key, "removed a blob no record points at");
                    removed += 1;
                }
            }
            if page.len() < ORPHAN_SWEEP_PAGE {
                self.metrics.orphan_blobs_removed(removed);
                return Ok(removed);
            }
            after = page.last().cloned();
        }
    }

    /// Sets the gauges that are read from elsewhere (queue depth, circuit breakers), so a
    /// scrape never waits on the queue.
    pub async fn refresh_gauges(&self) -> anyhow::Result<()> {
        for (provider, open) in self.ports.chain.open_circuits() {
            self.metrics.circuit_open(provider, open);
        }
        self.metrics.run_upkeep();
        self.metrics.queue_depth(self.ports.queue.depth().await?);
        Ok(())
    }
}
