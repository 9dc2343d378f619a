//! Caption jobs: one delivery (captions, labels, retry or wait for a captioner), the workers'
//! queue access, and what the pages and `/readyz` say about captioning.

use std::time::Duration;

use crate::core::domain::{now_ms, ImageLabel, ImageRecord, ImageStatus};
use crate::core::ports::Lease;
use crate::core::readiness::{self, CaptionerState, Readiness};
use crate::telemetry::JobOutcome;

use super::Engine;

/// The provider label of a caption job no captioner answered.
const NO_PROVIDER: &str = "none";

impl Engine {
    /// Runs one delivery of a caption job. Safe to repeat: a job whose record is gone or no
    /// longer pending is simply acknowledged.
    pub async fn process_job(&self, lease: &Lease) -> anyhow::Result<()> {
        let job = &lease.job;
        let Some(record) = self.ports.repo.get(&job.user, job.image).await? else {
            return self.ports.queue.ack(lease).await;
        };
        if record.status != ImageStatus::Pending {
            return self.ports.queue.ack(lease).await;
        }
        let Some(bytes) = self.ports.blobs.get(&record.original_key()).await? else {
            self.ports
                .repo
                .fail(&job.user, job.image, "the stored image is missing")
                .await?;
            return self.ports.queue.ack(lease).await;
        };
        let labels = self.detect_labels(&record, &bytes).await;
        match self
            .ports
            .chain
            .caption(&bytes, &job.request_id, &labels, |provider| {
                self.metrics.captioner_failover(provider)
            })
            .await
        {
            Ok(result) => {
                // Nothing else changes a pending record (edits and regeneration wait for
                // `done`), so the provenance read with it is current.
                let provenance =
                    record
                        .provenance
                        .after_captioning(record.edits.as_ref(), &result, now_ms());
                self.ports
                    .repo
                    .complete(&job.user, job.image, &result, &provenance)
                    .await?;
                tracing::info!(image = %job.image, provider = %result.provider, latency_ms = result.latency_ms, "captioned");
                self.metrics
                    .caption_done(&result.provider, Duration::from_millis(result.latency_ms));
                self.ports.queue.ack(lease).await
            }
            Err(err) if !err.rejected => {
                // Nothing is wrong with the image: it waits for a captioner, however long that
                // takes, without spending an attempt. It comes back when the first open circuit
                // admits a call again, or after a short wait when none is cooling down.
                let delay = err.retry_after.unwrap_or(Duration::from_millis(
                    self.settings.worker.captioner_wait_ms,
                ));
                tracing::info!(image = %job.image, error = %err, delay_ms = delay.as_millis() as u64, "no captioner available; the job waits for one");
                self.metrics
                    .caption_job(JobOutcome::WaitingForCaptioner, NO_PROVIDER);
                self.ports.queue.defer(lease, delay).await
            }
            Err(err) if lease.attempts >= self.settings.worker.max_attempts => {
                tracing::warn!(image = %job.image, error = %err, attempts = lease.attempts, "caption job failed for good");
                let reason = format!(
                    "captioning failed after {} attempts: the captioning service could not describe this image",
                    lease.attempts
                );
                self.ports.repo.fail(&job.user, job.image, &reason).await?;
                self.metrics.caption_job(JobOutcome::Failed, NO_PROVIDER);
                self.ports.queue.dead_letter(lease).await
            }
            Err(err) => {
                let delay = self.backoff(lease.attempts);
                tracing::info!(image = %job.image, error = %err, attempts = lease.attempts, delay_ms = delay.as_millis() as u64, "caption job will be retried");
                self.metrics.caption_job(JobOutcome::Retried, NO_PROVIDER);
                self.ports.queue.retry_later(lease, delay).await
            }
        }
    }

    /// The image's labels, or none when labels are off or fail: they are optional, so a
    /// failure never holds back the captions (it is logged).
    async fn detect_labels(&self, record: &ImageRecord, image: &[u8]) -> Vec<ImageLabel> {
        let Some(labeler) = &self.ports.labeler else {
            return Vec::new();
        };
        let key = record.original_key();
        let timeout = self.settings.labels_timeout;
        match tokio::time::timeout(timeout, labeler.detect(image, &key)).await {
            Ok(Ok(labels)) => labels,
            Ok(Err(err)) => {
                tracing::warn!(image = %record.id, error = format!("{err:#}"), "labels failed; captioning without them");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!(image = %record.id, timeout_ms = timeout.as_millis() as u64, "labels took too long; captioning without them");
                Vec::new()
            }
        }
    }

    /// `retry_base_ms × 2^(attempts-1)`, at most `retry_max_ms`.
    fn backoff(&self, attempts: u32) -> Duration {
        let worker = &self.settings.worker;
        let factor = 1u64 << attempts.saturating_sub(1).min(30);
        Duration::from_millis(
            worker
                .retry_base_ms
                .saturating_mul(factor)
                .min(worker.retry_max_ms),
        )
    }

    pub async fn next_job(&self) -> anyhow::Result<Option<Lease>> {
        let visibility = Duration::from_secs(self.settings.worker.visibility_timeout_secs);
        self.ports.queue.receive(visibility).await
    }

    /// Resolves when a job is queued by this process (workers also poll, for other processes
    /// and retries coming due).
    pub async fn job_queued(&self) {
        self.job_queued.notified().await
    }

    /// Whether at least one captioner is ready and its circuit closed (pages tell people when
    /// none is).
    pub fn captioning_available(&self) -> bool {
        self.ports
            .chain
            .readiness()
            .iter()
            .any(|c| c.state == CaptionerState::Ready)
    }

    /// The pages' banner while the captioning model loads or after it failed to load.
    pub fn captioning_notice(&self) -> Option<String> {
        readiness::captioning_notice(&self.ports.chain.readiness())
    }

    pub async fn readiness(&self) -> Readiness {
        let captioners = self.ports.chain.readiness();
        let waiting = match self.ports.queue.depth().await {
            Ok(depth) => depth.waiting_for_captioner,
            Err(err) => {
                tracing::warn!(error = ?err, "cannot read the queue depth for /readyz");
                0
            }
        };
        Readiness {
            database: self.ports.repo.check().await.is_ok(),
            blob_store: self.ports.blobs.check().await.is_ok(),
            captioner: captioners.iter().any(|c| c.state == CaptionerState::Ready),
            captioners,
            jobs_waiting_for_captioner: waiting,
        }
    }
}
