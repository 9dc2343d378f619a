//! The domain: uploads, caption jobs, history, deletion, retention and admin figures, written
//! against the ports only. HTTP handlers and workers call [`Engine`]; nothing here knows which
//! adapters run underneath.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use imgcap_imaging::budget::MemoryBudget;
use serde::Serialize;
use tokio::sync::Notify;
use utoipa::ToSchema;

use crate::captioner::CaptionerChain;
use crate::config::{RateLimitConfig, WorkerConfig};
use crate::domain::{
    now_ms, BlobKey, CaptionEdits, ImageId, ImageLabel, ImageRecord, ImageStatus, Sha256,
    UploadBytes, UserId,
};
use crate::error::{AppError, AppResult};
use crate::pipeline::{self, PipelineSettings};
use crate::ports::{
    BlobStore, CaptionJob, CaptionRepo, Inserted, JobQueue, Labeler, Lease, RateDecision,
    RateLimiter, SignedUrl,
};
pub use crate::readiness::Readiness;
use crate::readiness::{self, CaptionerReadiness, CaptionerState};
use crate::signing::Signer;
use crate::telemetry::{JobOutcome, WebMetrics};

pub struct Ports {
    pub blobs: Arc<dyn BlobStore>,
    pub repo: Arc<dyn CaptionRepo>,
    pub queue: Arc<dyn JobQueue>,
    pub limiter: Arc<dyn RateLimiter>,
    pub chain: CaptionerChain,
    /// Labels before captioning; `None` when they are off.
    pub labeler: Option<Arc<dyn Labeler>>,
}

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub pipeline: PipelineSettings,
    /// The process's image memory budget, shared with the embedded captioner.
    pub image_budget: MemoryBudget,
    pub url_ttl: Duration,
    pub retention_days: u32,
    pub worker: WorkerConfig,
    /// Uploads and regenerations per user and hour.
    pub rate_limit: RateLimitConfig,
    /// Labels taking longer are skipped.
    pub labels_timeout: Duration,
}

pub struct Engine {
    ports: Ports,
    cursor_signer: Signer,
    settings: EngineSettings,
    /// Wakes idle workers when a job is queued.
    job_queued: Notify,
    metrics: WebMetrics,
}

/// A new upload (202) or the user's earlier upload of the same bytes (200).
pub enum Uploaded {
    Created(ImageRecord),
    Existing(ImageRecord),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayFigures {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub uploads: u64,
    pub captions: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderLatency {
    pub provider: String,
    pub captions: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueFigures {
    pub ready: u64,
    pub in_flight: u64,
    /// Dead-lettered jobs (attempts spent).
    pub dead: u64,
    /// Jobs put back because no captioner could take them (part of `ready` and `in_flight`).
    pub waiting_for_captioner: u64,
}

/// Admin figures over the last 30 days (records still stored).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminStats {
    pub days: Vec<DayFigures>,
    pub pending: u64,
    pub done: u64,
    pub failed: u64,
    pub latency: Vec<ProviderLatency>,
    pub queue: QueueFigures,
    /// Each captioner of the chain, as `/readyz` shows it.
    pub captioners: Vec<CaptionerReadiness>,
}

/// A user's correction of the captions; `None` leaves a caption unchanged, an empty text
/// removes the correction.
#[derive(Debug, Default, Clone)]
pub struct CaptionChange {
    pub concise: Option<String>,
    pub creative: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum CaptionKind {
    Concise,
    Creative,
}

/// Trims a corrected caption and holds it to the same length rules as the model's.
fn checked_caption(text: String, kind: CaptionKind) -> AppResult<String> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let (words, chars, rule) = match kind {
        CaptionKind::Concise => (10, 200, "the concise caption must be at most 10 words"),
        CaptionKind::Creative => (
            80,
            600,
            "the creative caption must be at most 600 characters (one or two sentences)",
        ),
    };
    if text.split(' ').count() > words || text.chars().count() > chars {
        return Err(AppError::bad_request("invalid_caption", rule));
    }
    Ok(text)
}

const STATS_WINDOW_MS: i64 = 30 * 86_400_000;

/// The provider label of a caption job no captioner answered.
const NO_PROVIDER: &str = "none";

/// Blobs listed per page by the orphan sweep.
const ORPHAN_SWEEP_PAGE: usize = 500;

/// The value at quantile `q` of sorted values (nearest rank).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Engine {
    pub fn new(
        ports: Ports,
        cursor_signer: Signer,
        settings: EngineSettings,
        metrics: WebMetrics,
    ) -> Self {
        Self {
            ports,
            cursor_signer,
            settings,
            job_queued: Notify::new(),
            metrics,
        }
    }

    pub fn metrics(&self) -> &WebMetrics {
        &self.metrics
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

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
        let job = CaptionJob {
            user: user.clone(),
            image: record.id,
            request_id: request_id.to_owned(),
        };
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

    pub async fn get(&self, user: &UserId, id: ImageId) -> AppResult<ImageRecord> {
        self.ports
            .repo
            .get(user, id)
            .await?
            .ok_or(AppError::NotFound("no such image"))
    }

    /// Short-lived URLs of the original and the thumbnail.
    pub async fn urls(&self, record: &ImageRecord) -> AppResult<(SignedUrl, SignedUrl)> {
        let ttl = self.settings.url_ttl;
        let (original, thumbnail) = (record.original_key(), record.thumbnail_key());
        let (original, thumbnail) = tokio::try_join!(
            self.ports.blobs.signed_url(&original, ttl),
            self.ports.blobs.signed_url(&thumbnail, ttl),
        )?;
        Ok((original, thumbnail))
    }

    /// One page of history, newest first, and the cursor of the next page.
    pub async fn list(
        &self,
        user: &UserId,
        cursor: Option<&str>,
        limit: usize,
    ) -> AppResult<(Vec<ImageRecord>, Option<String>)> {
        let before = cursor.map(|c| self.open_cursor(user, c)).transpose()?;
        let mut records = self.ports.repo.list(user, before, limit + 1).await?;
        let next = if records.len() > limit {
            records.truncate(limit);
            records.last().map(|last| self.make_cursor(user, last.id))
        } else {
            None
        };
        Ok((records, next))
    }

    /// `<id>.<signature>`: the signature binds the position to the user.
    fn make_cursor(&self, user: &UserId, last: ImageId) -> String {
        let id = last.to_bytes();
        let sig = self.cursor_signer.sign(&[user.as_str().as_bytes(), &id]);
        format!("{}.{sig}", URL_SAFE_NO_PAD.encode(id))
    }

    fn open_cursor(&self, user: &UserId, cursor: &str) -> AppResult<ImageId> {
        let invalid = || AppError::bad_request("invalid_cursor", "the cursor is not valid");
        let (id, sig) = cursor.split_once('.').ok_or_else(invalid)?;
        let id: [u8; 16] = URL_SAFE_NO_PAD
            .decode(id)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(invalid)?;
        if !self
            .cursor_signer
            .verify(&[user.as_str().as_bytes(), &id], sig)
        {
            return Err(invalid());
        }
        Ok(ImageId::from_bytes(id))
    }

    /// Stores the user's corrections of a captioned image; the model's captions stay beside
    /// them. `None` in `change` leaves that caption as it is, `Some("")` goes back to the
    /// model's text.
    pub async fn edit_captions(
        &self,
        user: &UserId,
        id: ImageId,
        change: CaptionChange,
    ) -> AppResult<ImageRecord> {
        let record = self.get(user, id).await?;
        if record.status != ImageStatus::Done {
            return Err(AppError::Conflict(
                "the captions can be edited once the image is captioned",
            ));
        }
        let previous = record.edits.clone();
        let keep = |new: Option<String>, old: Option<String>| match new {
            None => old,
            Some(text) if text.is_empty() => None,
            Some(text) => Some(text),
        };
        let concise = keep(
            change
                .concise
                .map(|t| checked_caption(t, CaptionKind::Concise))
                .transpose()?,
            previous.as_ref().and_then(|e| e.concise.clone()),
        );
        let creative = keep(
            change
                .creative
                .map(|t| checked_caption(t, CaptionKind::Creative))
                .transpose()?,
            previous.and_then(|e| e.creative),
        );
        let edits = CaptionEdits {
            concise,
            creative,
            edited_ms: now_ms(),
        };
        if !self.ports.repo.set_edits(user, id, &edits).await? {
            return Err(AppError::Conflict(
                "the image changed meanwhile; reload it and try again",
            ));
        }
        self.get(user, id).await
    }

    /// Captions an image again: its captions and corrections are dropped and a new job is
    /// queued. Each regeneration is one more captioner call (billed by Bedrock and Hugging
    /// Face), so it takes a token of the user's regenerate budget; an image already being
    /// captioned or not the user's is refused before the budget is touched.
    pub async fn recaption(
        &self,
        user: &UserId,
        id: ImageId,
        request_id: &str,
    ) -> AppResult<ImageRecord> {
        if self.get(user, id).await?.status == ImageStatus::Pending {
            return Err(AppError::Conflict("the image is already being captioned"));
        }
        let per_hour = self.settings.rate_limit.regenerations_per_hour;
        if let RateDecision::Limited { retry_after } = self
            .ports
            .limiter
            .acquire(user, "regenerate", per_hour)
            .await?
        {
            return Err(AppError::RegenerateLimited { retry_after });
        }
        if !self.ports.repo.reset_for_recaption(user, id).await? {
            self.get(user, id).await?;
            return Err(AppError::Conflict("the image is already being captioned"));
        }
        let job = CaptionJob {
            user: user.clone(),
            image: id,
            request_id: request_id.to_owned(),
        };
        self.ports.queue.enqueue(&job).await?;
        self.job_queued.notify_one();
        self.get(user, id).await
    }

    /// Every record of the user, newest first (for the data export).
    pub async fn all_records(&self, user: &UserId) -> AppResult<Vec<ImageRecord>> {
        const PAGE: usize = 200;
        let mut all: Vec<ImageRecord> = Vec::new();
        loop {
            let before = all.last().map(|r| r.id);
            let page = self.ports.repo.list(user, before, PAGE).await?;
            let done = page.len() < PAGE;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

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
                self.ports
                    .repo
                    .complete(&job.user, job.image, &result)
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

    pub async fn admin_stats(&self) -> AppResult<AdminStats> {
        let stats = self.ports.repo.stats(now_ms() - STATS_WINDOW_MS).await?;
        let depth = self.ports.queue.depth().await?;
        let count = |status| {
            stats
                .by_status
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n)
        };
        Ok(AdminStats {
            days: stats
                .per_day
                .into_iter()
                .map(|d| DayFigures {
                    day: d.day,
                    uploads: d.uploads,
                    captions: d.captions,
                })
                .collect(),
            pending: count(ImageStatus::Pending),
            done: count(ImageStatus::Done),
            failed: count(ImageStatus::Failed),
            latency: stats
                .latencies
                .into_iter()
                .map(|(provider, sorted)| ProviderLatency {
                    provider,
                    captions: sorted.len() as u64,
                    p50_ms: percentile(&sorted, 0.5),
                    p95_ms: percentile(&sorted, 0.95),
                })
                .collect(),
            queue: QueueFigures {
                ready: depth.ready,
                in_flight: depth.in_flight,
                dead: depth.dead,
                waiting_for_captioner: depth.waiting_for_captioner,
            },
            captioners: self.ports.chain.readiness(),
        })
    }

    /// Removes every queued job; their records become `failed` so that "retry failed jobs"
    /// can bring them back.
    pub async fn flush_queue(&self) -> AppResult<u64> {
        let jobs = self.ports.queue.flush().await?;
        for (user, image) in &jobs {
            self.ports
                .repo
                .fail(
                    user,
                    *image,
                    "the job was removed from the queue by an administrator",
                )
                .await?;
        }
        Ok(jobs.len() as u64)
    }

    /// Sets failed records back to pending and queues their jobs again.
    pub async fn retry_failed(&self, request_id: &str) -> AppResult<u64> {
        let mut total = 0;
        loop {
            let batch = self.ports.repo.reset_failed(100).await?;
            for (user, image) in &batch {
                let job = CaptionJob {
                    user: user.clone(),
                    image: *image,
                    request_id: request_id.to_owned(),
                };
                self.ports.queue.enqueue(&job).await?;
                self.job_queued.notify_one();
            }
            total += batch.len() as u64;
            if batch.len() < 100 {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.5), 50);
        assert_eq!(percentile(&values, 0.95), 95);
        assert_eq!(percentile(&[7], 0.95), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
