//! The domain: uploads, caption jobs, history, exports, deletion, retention and admin figures,
//! written against the ports only. HTTP handlers and workers call [`Engine`]; nothing here knows which
//! adapters run underneath. One file per concern, each an `impl Engine` block.

mod admin;
mod cursors;
mod deletion;
mod export;
mod jobs;
mod library;
mod search;
mod upkeep;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use imgcap_imaging::budget::MemoryBudget;
use tokio::sync::Notify;

use crate::adapters::providers::ProviderChain;
use crate::auth::signing::Signer;
use crate::config::{RateLimitConfig, WorkerConfig};
use crate::core::pipeline::PipelineSettings;
use crate::core::ports::{BlobStore, CaptionRepo, JobQueue, Labeler, RateLimiter};
pub use crate::core::readiness::Readiness;
use crate::telemetry::WebMetrics;

pub use admin::{AdminStats, DayFigures, ProviderLatency, QueueFigures};
pub use export::{coco_captions, CaptionedOriginal, CocoCaptions, DatasetOptions, DatasetRow};
pub use library::CaptionChange;
pub use upload::Uploaded;

pub struct Ports {
    pub blobs: Arc<dyn BlobStore>,
    pub repo: Arc<dyn CaptionRepo>,
    pub queue: Arc<dyn JobQueue>,
    pub limiter: Arc<dyn RateLimiter>,
    pub chain: ProviderChain,
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
}
