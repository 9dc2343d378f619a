//! Deleting one image, or everything a user has (resumed after a restart).

use super::Engine;
use crate::core::domain::{BlobKey, ImageId, UserId};
use crate::error::{AppError, AppResult};

impl Engine {
    /// Deletes one image: record first (so it never points at a missing blob), then its job
    /// and blobs.
    pub async fn delete_image(&self, user: &UserId, id: ImageId) -> AppResult<()> {
        if !self.ports.repo.delete(user, id).await? {
            return Err(AppError::NotFound("no such image"));
        }
        self.ports.queue.remove(user, id).await?;
        self.ports
            .blobs
            .delete(&BlobKey::original(user, id))
            .await?;
        self.ports
            .blobs
            .delete(&BlobKey::thumbnail(user, id))
            .await?;
        Ok(())
    }

    /// Deletes every job, record and blob of the user. The rate-limit buckets stay: they say
    /// what the user spent, not what the user stored, and clearing them would refill the hourly
    /// limits at will. A marker written first and cleared last lets a crashed deletion finish
    /// at the next call or start-up; every step is idempotent.
    pub async fn delete_user(&self, user: &UserId) -> AppResult<()> {
        self.ports.repo.begin_user_deletion(user).await?;
        self.ports.queue.delete_user(user).await?;
        let records = self.ports.repo.delete_user(user).await?;
        self.ports.blobs.delete_user(user).await?;
        self.ports.repo.end_user_deletion(user).await?;
        tracing::info!(%user, records, "deleted all data of a user");
        Ok(())
    }

    /// Finishes deletions a crash interrupted.
    pub async fn resume_user_deletions(&self) -> anyhow::Result<()> {
        for user in self.ports.repo.unfinished_user_deletions().await? {
            tracing::info!(%user, "resuming an interrupted data deletion");
            self.delete_user(&user).await.map_err(anyhow::Error::from)?;
        }
        Ok(())
    }
}
