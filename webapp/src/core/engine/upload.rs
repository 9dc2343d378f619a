//! Uploads: the rate check, then validate, strip, thumbnail, store, record and queue, undoing
//! what was written when a step fails.

use anyhow::Context;

use crate::core::domain::{
    now_ms, BlobKey, ImageId, ImageRecord, ImageStatus, Sha256, UploadBytes, UserId,
};
use crate::core::pipeline::{self};
use crate::core::ports::{CaptionJob, Inserted, RateDecision};
use crate::error::{AppError, AppResult};

use super::Engine;

/// A new upload (202) or the user's earlier upload of the same bytes (200).
pub enum Uploaded {
    Created(ImageRecord),
    Existing(ImageRecord),
}

impl Engine {
    /// Takes one upload token; 429 with the wait when the bucket is empty.
    pub async fn check_upload_rate(&self, user: &UserId) -> AppResult<()> {
        let per_hour = self.settings.rate_limit.uploads_per_hour;
        match self.ports.limiter.acquire(user, "upload", per_hour).await? {
            RateDecision::Allowed => Ok(()),
            RateDecision::Limited { retry_after } => Err(AppError::RateLimited { retry_after }),
        }
    }

    /// Validates, strips, thumbnails and stores an upload, writes its record and queues its
    /// caption job. On any failure, whatever was already written is removed again.
    #[tracing::instrument(name = "upload", skip_all)]
    pub async fn upload(
        &self,
        user: &UserId,
        upload: UploadBytes,
        request_id: &str,
    ) -> AppResult<Uploaded> {
        let (sha256, upload) =
            tokio::task::spawn_blocking(move || (Sha256::of(upload.as_slice()), upload))
                .await
                .context("hashing was interrupted")?;
        if let Some(existing) = self.ports.repo.find_by_sha256(user, sha256).await? {
            return Ok(Uploaded::Existing(existing));
        }
        let prepared =
            pipeline::prepare_within(&self.settings.image_budget, upload, self.settings.pipeline)
                .await?;

        let now = now_ms();
        let record = ImageRecord {
            user: user.clone(),
            id: ImageId::generate(),
            sha256,
            status: ImageStatus::Pending,
            content_type: prepared.format.mime_type(),
            size_bytes: prepared.original.len() as u64,
            width: prepared.width,
            height: prepared.height,
            orientation: prepared.orientation,
            created_ms: now,
            updated_ms: now,
            expires_at: now / 1000 + i64::from(self.settings.retention_days) * 86_400,
            result: None,
            edits: None,
            failure_reason: None,
            provenance: Default::default(),
        };
        let original = record.original_key();
        let thumbnail = record.thumbnail_key();
        self.ports
            .blobs
            .put(&original, prepared.original, record.content_type)
            .await?;
        if let Err(err) = self
            .ports
            .blobs
            .put(&thumbnail, prepared.thumbnail, "image/jpeg")
            .await
        {
            self.discard_blobs(&[&original]).await;
            return Err(err.into());
        }
        match self.ports.repo.insert_pending(&record).await {
            Ok(Inserted::New) => {}
            Ok(Inserted::Duplicate(existing)) => {
                // A concurrent upload of the same bytes won the race.
                self.discard_blobs(&[&original, &thumbnail]).await;
                return Ok(Uploaded::Existing(*existing));
            }
            Err(err) => {
                self.discard_blobs(&[&original, &thumbnail]).await;
                return Err(err.into());
            }
        }
        let job = CaptionJob::new(user.clone(), record.id, request_id);
        if let Err(err) = self.ports.queue.enqueue(&job).await {
            // Record first, then blobs: a record never points at a missing blob.
            if let Err(cleanup) = self.ports.repo.delete(user, record.id).await {
                tracing::error!(error = ?cleanup, image = %record.id, "cannot remove the record of a failed upload");
            } else {
                self.discard_blobs(&[&original, &thumbnail]).await;
            }
            return Err(err.into());
        }
        self.job_queued.notify_one();
        Ok(Uploaded::Created(record))
    }

    async fn discard_blobs(&self, keys: &[&BlobKey]) {
        for key in keys {
            if let Err(err) = self.ports.blobs.delete(key).await {
                tracing::error!(error = ?err, %key, "cannot remove a blob of a failed upload");
            }
        }
    }
}
