//! The model behind the server: loaded once (with its queue) into a [`BackendSlot`], which
//! `/ping` and `/health` read without waiting on anything, never from behind the queue.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use image::RgbImage;
use imgcap_common::{GpuInfo, LoadedModel, ModelDescription, ServerStatus};
use imgcap_models::source::ModelSource;
use imgcap_models::{CaptionOptions, Captioner, LoadOptions};

use crate::health::Health;
use crate::queue::{BatchConfig, Queue};
use crate::telemetry;

/// Both captions with their default strategies (beam search, sampling), two tokens each: every
/// code path of a real request, at a fraction of its cost.
fn warm_up_options() -> CaptionOptions {
    let mut options = CaptionOptions::default();
    for generation in [&mut options.concise, &mut options.creative] {
        generation.max_new_tokens = 2;
        generation.min_new_tokens = 0;
    }
    options
}

/// The loaded model and the queue in front of it.
pub struct Backend {
    pub captioner: Arc<Captioner>,
    pub queue: Queue,
    pub description: ModelDescription,
    pub loaded: LoadedModel,
}

impl Backend {
    /// The model's GPU and its memory now; none on the CPU, or when the driver cannot say
    /// (logged: `/info` and `/metrics` still answer).
    pub fn gpu(&self) -> Option<GpuInfo> {
        imgcap_models::gpu::gpu_info(self.captioner.model().device())
            .inspect_err(|err| tracing::warn!(error = %err, "cannot query the GPU"))
            .ok()
            .flatten()
    }
}

/// Where the [`Backend`] goes once the model is loaded and warmed up, with the server's
/// [`Health`]; shared by every handler.
pub struct BackendSlot {
    pub health: Arc<Health>,
    backend: OnceLock<Backend>,
}

impl BackendSlot {
    pub fn new() -> Self {
        Self {
            health: Arc::new(Health::default()),
            backend: OnceLock::new(),
        }
    }

    /// The backend once loaded, warmed up and healthy.
    pub fn ready(&self) -> Option<&Backend> {
        match self.health.status() {
            ServerStatus::Ready => self.backend.get(),
            _ => None,
        }
    }

    /// The backend once loaded, whatever its health (for `/info`).
    pub fn loaded(&self) -> Option<&Backend> {
        self.backend.get()
    }

    /// Loads `source`, starts the queue, captions one dummy image (first-touch allocations,
    /// thread pools, kernels), then marks the server ready.
    pub async fn load(
        &self,
        source: &ModelSource,
        options: &LoadOptions,
        batching: BatchConfig,
        queue_capacity: usize,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        tracing::info!(?source, "loading the model");
        let captioner = Arc::new(Captioner::load(source, options).await?);
        let info = captioner.info().clone();
        tracing::info!(
            model_id = %info.model_id,
            revision = info.revision.as_deref().unwrap_or("-"),
            dtype = %info.dtype,
            device = %info.device,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "model loaded; warming up"
        );
        let queue = Queue::start(
            captioner.clone(),
            batching,
            queue_capacity,
            self.health.clone(),
        )?;
        let processor = captioner.processor();
        let blank = RgbImage::from_pixel(processor.width, processor.height, image::Rgb([127; 3]));
        let pixels = processor.pixel_values(&blank);
        queue
            .caption(pixels, warm_up_options())
            .await
            .map_err(|e| anyhow::anyhow!("the warm-up caption failed: {e}"))?;
        let backend = Backend {
            description: ModelDescription {
                model_id: info.model_id.clone(),
                revision: info.revision.clone(),
                dtype: info.dtype.clone(),
                device: info.device.clone(),
            },
            loaded: LoadedModel {
                model_id: info.model_id,
                revision: info.revision,
                dtype: info.dtype,
                device: info.device,
                image_size: info.image_size as u32,
            },
            captioner,
            queue,
        };
        if self.backend.set(backend).is_err() {
            anyhow::bail!("the model was loaded twice");
        }
        self.health.mark_ready();
        let elapsed = started.elapsed();
        telemetry::model_loaded(elapsed);
        Ok(elapsed)
    }
}
