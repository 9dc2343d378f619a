//! Dynamic batching. Handlers send preprocessed images to one batching task over a channel; it
//! gathers up to `max_batch_size` of them whose decoding work (beams × new tokens, see
//! [`crate::params::request_work`]) sums to at most `max_batch_work`, waiting at most
//! `max_batch_wait` after the first one arrived; a request that would go over the work budget
//! starts the next batch. It drops those whose client has gone, and hands the batch to the
//! model thread, which
//! runs one batched vision pass and batched decodes and answers each request over its oneshot.
//! While a batch runs, the next one gathers in the channel.
//!
//! A request's client has gone when its handler was dropped: the client disconnected or the
//! request timed out. Such requests are dropped before their batch starts; in a running batch,
//! the image of a request that has gone leaves the decoding at its next step (the others go on),
//! and the batch ends once all have gone.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use candle_core::Tensor;
use imgcap_models::generate::stop_early_when;
use imgcap_models::{CaptionOptions, Captioner, ImageCaptions, ModelError};
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;
use crate::health::Health;
use crate::telemetry;

/// One request waiting for a batch.
pub struct Entry {
    /// `[3, h, w]` channel-first model input.
    pub pixels: Vec<f32>,
    pub options: CaptionOptions,
    /// [`crate::params::request_work`] of `options`.
    pub work: u64,
    pub enqueued: Instant,
    pub reply: oneshot::Sender<Result<Captioned, ApiError>>,
    /// Alive while the request's handler waits for the answer.
    pub client: Weak<()>,
    /// The request's span, so model-side logs carry its request id.
    pub span: tracing::Span,
}

impl Entry {
    /// The handler has gone: its client disconnected or the request timed out.
    fn client_gone(&self) -> bool {
        self.client.strong_count() == 0
    }
}

/// What a request gets back from its batch.
#[derive(Debug)]
pub struct Captioned {
    pub captions: ImageCaptions,
    pub queue_time: Duration,
    pub inference_time: Duration,
    pub batch_size: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    pub max_batch_size: usize,
    /// Most decoding work (beams × new tokens, summed) in one batch: what bounds the decoder's
    /// activations and key/value caches, hence the device memory a batch takes.
    pub max_batch_work: u64,
    pub max_batch_wait: Duration,
}

/// A batch being gathered: at most `max_batch_size` requests whose work sums to at most
/// `max_batch_work`. Its first request always fits, whatever its work, so every request runs.
struct Gathering {
    entries: Vec<Entry>,
    work: u64,
    config: BatchConfig,
}

impl Gathering {
    fn new(first: Entry, config: BatchConfig) -> Self {
        Self {
            work: first.work,
            entries: vec![first],
            config,
        }
    }

    fn is_full(&self) -> bool {
        self.entries.len() >= self.config.max_batch_size || self.work >= self.config.max_batch_work
    }

    /// Takes `entry` into the batch (None), or gives it back when its work would go over the
    /// budget (it then starts the next batch, keeping its place in line).
    fn offer(&mut self, entry: Entry) -> Option<Entry> {
        if self.is_full() || self.work + entry.work > self.config.max_batch_work {
            return Some(entry);
        }
        self.work += entry.work;
        self.entries.push(entry);
        None
    }
}

/// The handlers' side of the queue.
#[derive(Clone)]
pub struct Queue {
    sender: mpsc::Sender<Entry>,
    size: Arc<AtomicU64>,
}

impl Queue {
    /// Starts the batching task and the model thread.
    pub fn start(
        captioner: Arc<Captioner>,
        config: BatchConfig,
        capacity: usize,
        health: Arc<Health>,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let size = Arc::new(AtomicU64::new(0));
        let model = ModelThread::spawn(captioner, health)?;
        tokio::spawn(batching_task(receiver, model, config, size.clone()));
        Ok(Self { sender, size })
    }

    /// Requests preprocessed and waiting for a batch.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    /// Queues one image and waits for its captions.
    pub async fn caption(
        &self,
        pixels: Vec<f32>,
        options: CaptionOptions,
    ) -> Result<Captioned, ApiError> {
        let (reply, answer) = oneshot::channel();
        let work = crate::params::request_work(&options);
        // Dropped with this future when the client disconnects or the request times out.
        let waiting = Arc::new(());
        let entry = Entry {
            pixels,
            options,
            work,
            enqueued: Instant::now(),
            reply,
            client: Arc::downgrade(&waiting),
            span: tracing::Span::current(),
        };
        self.size.fetch_add(1, Ordering::Relaxed);
        telemetry::queue_size(self.size());
        if self.sender.send(entry).await.is_err() {
            self.size.fetch_sub(1, Ordering::Relaxed);
            return Err(ApiError::Internal {
                cause: "the batching task has stopped".into(),
            });
        }
        let answer = answer.await.map_err(|_| ApiError::Internal {
            cause: "the model thread dropped the request".into(),
        })?;
        drop(waiting);
        answer
    }
}

async fn batching_task(
    mut receiver: mpsc::Receiver<Entry>,
    model: ModelThread,
    config: BatchConfig,
    size: Arc<AtomicU64>,
) {
    // A request that did not fit the previous batch's work budget; it starts the next one.
    let mut held: Option<Entry> = None;
    loop {
        let first = match held.take() {
            Some(entry) => entry,
            None => match receiver.recv().await {
                Some(entry) => entry,
                None => return,
            },
        };
        let deadline = tokio::time::Instant::from_std(first.enqueued + config.max_batch_wait);
        let mut gathering = Gathering::new(first, config);
        while !gathering.is_full() {
            // `timeout_at` polls the channel before looking at the clock, so entries already
            // queued join even when the deadline passed while the previous batch ran.
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(entry)) => {
                    if let Some(entry) = gathering.offer(entry) {
                        held = Some(entry);
                        break;
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        let mut batch = gathering.entries;
        size.fetch_sub(batch.len() as u64, Ordering::Relaxed);
        telemetry::queue_size(size.load(Ordering::Relaxed));
        let gathered = batch.len();
        batch.retain(|entry| !entry.client_gone());
        if batch.len() < gathered {
            telemetry::abandoned("queued", gathered - batch.len());
            tracing::debug!(
                dropped = gathered - batch.len(),
                "dropped requests whose client has gone"
            );
        }
        if batch.is_empty() {
            continue;
        }
        if model.run(batch).await.is_err() {
            tracing::error!("the model thread has stopped; no more batches will run");
            return;
        }
    }
}

/// A batch for the model thread, and how it says it is done.
struct Job {
    entries: Vec<Entry>,
    done: oneshot::Sender<()>,
}

/// The one OS thread that runs the model, so inference never blocks the async runtime.
struct ModelThread {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl ModelThread {
    fn spawn(captioner: Arc<Captioner>, health: Arc<Health>) -> std::io::Result<Self> {
        let (jobs, receiver) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("imgcap-model".into())
            .spawn(move || {
                for job in receiver {
                    run_job(&captioner, &health, job);
                }
            })?;
        Ok(Self { jobs })
    }

    /// Runs `entries` as one batch; returns when every entry has its answer.
    async fn run(&self, entries: Vec<Entry>) -> Result<(), ()> {
        let (done, finished) = oneshot::channel();
        self.jobs.send(Job { entries, done }).map_err(drop)?;
        finished.await.map_err(drop)
    }
}

fn run_job(captioner: &Captioner, health: &Health, job: Job) {
    let started = Instant::now();
    let n = job.entries.len();
    // A batch serves several requests, each in its own trace: its span is a child of the first
    // request's span and linked to the others' (the gap before it is the request's wait).
    let batch = tracing::info_span!(parent: &job.entries[0].span, "batch", batch_size = n);
    for entry in &job.entries[1..] {
        batch.follows_from(&entry.span);
    }
    let _batch = batch.enter();
    telemetry::batch_size(n);
    let outcome = catch_unwind(AssertUnwindSafe(|| caption_batch(captioner, &job.entries)));
    let inference_time = started.elapsed();
    telemetry::inference_duration(inference_time);
    let gone = job.entries.iter().filter(|e| e.client_gone()).count();
    if gone > 0 {
        telemetry::abandoned("running", gone);
        tracing::debug!(
            gone,
            batch_size = n,
            "requests whose client has gone left a running batch"
        );
    }
    let results = match outcome {
        Ok(Ok(captions)) if captions.len() == n => Ok(captions),
        Ok(Ok(captions)) => Err(Failure::Internal(format!(
            "the model returned {} results for {n} images",
            captions.len()
        ))),
        Ok(Err(err)) => {
            if is_device_failure(&err) {
                tracing::error!(error = %err, "device failure: marking the backend unhealthy");
                health.mark_unhealthy();
            }
            Err(Failure::Backend(err.to_string()))
        }
        Err(panic) => {
            let cause = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(%cause, "the model panicked: marking the backend unhealthy");
            health.mark_unhealthy();
            Err(Failure::Internal(cause))
        }
    };
    match results {
        Ok(captions) => {
            for (entry, captions) in job.entries.into_iter().zip(captions) {
                let _guard = entry.span.enter();
                let queue_time = started.saturating_duration_since(entry.enqueued);
                telemetry::queue_duration(queue_time);
                for (kind, caption) in [
                    ("concise", &captions.concise),
                    ("creative", &captions.creative),
                ] {
                    if let Some(caption) = caption {
                        telemetry::generated_tokens(kind, caption.tokens);
                    }
                }
                tracing::debug!(batch_size = n, ?queue_time, ?inference_time, "captioned");
                let _ = entry.reply.send(Ok(Captioned {
                    captions,
                    queue_time,
                    inference_time,
                    batch_size: n,
                }));
            }
        }
        Err(failure) => {
            for entry in job.entries {
                let _ = entry.reply.send(Err(failure.to_error()));
            }
        }
    }
    let _ = job.done.send(());
}

/// Why a whole batch failed; every request of the batch gets the same error.
enum Failure {
    Backend(String),
    Internal(String),
}

impl Failure {
    fn to_error(&self) -> ApiError {
        match self {
            Self::Backend(cause) => ApiError::Backend {
                cause: cause.clone(),
            },
            Self::Internal(cause) => ApiError::Internal {
                cause: cause.clone(),
            },
        }
    }
}

/// Stacks the batch's images into one `[n, 3, h, w]` tensor on the model's device and captions
/// them, each with its own options. An image whose request has gone leaves the generation at
/// its next step: its (partial) captions are for nobody.
fn caption_batch(
    captioner: &Captioner,
    entries: &[Entry],
) -> Result<Vec<ImageCaptions>, ModelError> {
    let processor = captioner.processor();
    let (h, w) = (processor.height as usize, processor.width as usize);
    let mut data = Vec::with_capacity(entries.len() * 3 * h * w);
    for entry in entries {
        data.extend_from_slice(&entry.pixels);
    }
    let pixels = Tensor::from_vec(data, (entries.len(), 3, h, w), captioner.model().device())?;
    let options: Vec<CaptionOptions> = entries.iter().map(|e| e.options.clone()).collect();
    let clients: Vec<Weak<()>> = entries.iter().map(|e| e.client.clone()).collect();
    stop_early_when(
        move |i| clients[i].strong_count() == 0,
        || captioner.caption_pixels(&pixels, &options),
    )
}

/// A GPU error leaves the device in an unknown state (CUDA errors are sticky): the server
/// must stop taking work. CPU-side errors concern one batch only.
pub fn is_device_failure(err: &ModelError) -> bool {
    let ModelError::Backend(err) = err else {
        return false;
    };
    let mut err = err;
    loop {
        match err {
            candle_core::Error::Cuda(_) | candle_core::Error::Metal(_) => return true,
            candle_core::Error::WithBacktrace { inner, .. }
            | candle_core::Error::Context { inner, .. }
            | candle_core::Error::WithPath { inner, .. } => err = inner,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use candle_core::Device;
    use imgcap_common::CaptionMode;
    use imgcap_models::source::ModelSource;
    use imgcap_models::LoadOptions;

    use super::*;

    async fn tiny_captioner() -> Captioner {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/tiny-blip");
        Captioner::load(&ModelSource::Dir(dir), &LoadOptions::default())
            .await
            .unwrap()
    }

    async fn tiny_queue(max_batch_wait: Duration) -> Queue {
        let config = BatchConfig {
            max_batch_size: 8,
            max_batch_work: 8 * 100,
            max_batch_wait,
        };
        let captioner = Arc::new(tiny_captioner().await);
        Queue::start(captioner, config, 8, Arc::new(Health::default())).unwrap()
    }

    fn spawn_caption(
        queue: &Queue,
        mode: CaptionMode,
    ) -> tokio::task::JoinHandle<Result<Captioned, ApiError>> {
        let queue = queue.clone();
        let options = CaptionOptions {
            mode,
            ..CaptionOptions::default()
        };
        tokio::spawn(async move { queue.caption(vec![0.5; 3 * 64 * 64], options).await })
    }

    async fn until_queued(queue: &Queue, n: u64) {
        while queue.size() < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn one_batch_serves_requests_with_different_options() {
        let queue = tiny_queue(Duration::from_millis(500)).await;
        let concise = spawn_caption(&queue, CaptionMode::Concise);
        let creative = spawn_caption(&queue, CaptionMode::Creative);
        let concise = concise.await.unwrap().unwrap();
        let creative = creative.await.unwrap().unwrap();
        assert_eq!((concise.batch_size, creative.batch_size), (2, 2));
        assert!(concise.captions.concise.is_some() && concise.captions.creative.is_none());
        assert!(creative.captions.creative.is_some() && creative.captions.concise.is_none());
        assert_eq!(queue.size(), 0);
    }

    #[tokio::test]
    async fn requests_whose_client_has_gone_leave_the_batch() {
        let queue = tiny_queue(Duration::from_millis(500)).await;
        let kept = spawn_caption(&queue, CaptionMode::Both);
        let gone = spawn_caption(&queue, CaptionMode::Both);
        // Both wait in the batch being gathered; then one client goes away.
        until_queued(&queue, 2).await;
        gone.abort();
        let kept = kept.await.unwrap().unwrap();
        assert_eq!(kept.batch_size, 1, "the abandoned request was not run");
        assert!(kept.captions.concise.is_some() && kept.captions.creative.is_some());
        assert_eq!(queue.size(), 0);
    }

    /// Both captions forced to 20 tokens each, so a full run is easy to tell from a stopped one.
    fn entry(client: Weak<()>) -> Entry {
        let mut options = CaptionOptions::default();
        for generation in [&mut options.concise, &mut options.creative] {
            generation.max_new_tokens = 20;
            generation.min_new_tokens = 20;
        }
        Entry {
            pixels: vec![0.5; 3 * 64 * 64],
            work: crate::params::request_work(&options),
            options,
            enqueued: Instant::now(),
            reply: oneshot::channel().0,
            client,
            span: tracing::Span::none(),
        }
    }

    fn tokens(captions: &[ImageCaptions]) -> Vec<usize> {
        captions
            .iter()
            .flat_map(|c| [&c.concise, &c.creative])
            .map(|caption| caption.as_ref().unwrap().tokens)
            .collect()
    }

    #[tokio::test]
    async fn a_running_batch_stops_once_all_its_clients_have_gone() {
        let captioner = tiny_captioner().await;
        let waiting = Arc::new(());
        let alive = || entry(Arc::downgrade(&waiting));
        let gone = || entry(Weak::new());
        let full = caption_batch(&captioner, &[alive()]).unwrap();
        assert_eq!(tokens(&full), [20, 20]);
        let stopped = caption_batch(&captioner, &[gone(), gone()]).unwrap();
        assert_eq!(tokens(&stopped), [0, 0, 0, 0], "no decoding step ran");
        // One client of two is still waiting: its image runs to the end, with the beam-search
        // caption it gets alone (the sample's seed depends on the position in the batch); the
        // other leaves the batch after the first step (one token each).
        let mixed = caption_batch(&captioner, &[gone(), alive()]).unwrap();
        assert_eq!(tokens(&mixed), [1, 1, 20, 20]);
        assert_eq!(mixed[1].concise, full[0].concise);
    }

    /// The check runs once per decoding step, and the searches end right after it says stop.
    #[tokio::test]
    async fn generation_stops_at_the_step_after_the_check_says_so() {
        let captioner = tiny_captioner().await;
        let pixels =
            Tensor::from_vec(vec![0.5f32; 3 * 64 * 64], (1, 3, 64, 64), &Device::Cpu).unwrap();
        let options = [entry(Weak::new()).options];
        let checks = std::rc::Rc::new(std::cell::Cell::new(0));
        let counted = checks.clone();
        let captions = stop_early_when(
            move |image| {
                assert_eq!(image, 0, "one image");
                counted.set(counted.get() + 1);
                counted.get() > 8
            },
            || captioner.caption_pixels(&pixels, &options),
        )
        .unwrap();
        let (checked, made) = (checks.get(), tokens(&captions));
        assert!(checked > 8, "{checked} checks");
        assert!(
            made.iter().all(|&n| n > 0 && n < 20),
            "stopped part-way: {made:?}"
        );
        // Outside `stop_early_when`, nothing is checked.
        let full = captioner.caption_pixels(&pixels, &options).unwrap();
        assert_eq!(tokens(&full), [20, 20]);
    }

    fn entry_of_work(work: u64) -> Entry {
        Entry {
            work,
            ..entry(Weak::new())
        }
    }

    /// What a batch gathers from `works` arriving in order: its requests' work, and the first
    /// one given back for the next batch.
    fn gather(config: BatchConfig, works: &[u64]) -> (Vec<u64>, Option<u64>) {
        let mut offered = works.iter().map(|&w| entry_of_work(w));
        let mut gathering = Gathering::new(offered.next().unwrap(), config);
        let mut held = None;
        for entry in offered {
            if gathering.is_full() {
                break;
            }
            if let Some(entry) = gathering.offer(entry) {
                held = Some(entry.work);
                break;
            }
        }
        (gathering.entries.iter().map(|e| e.work).collect(), held)
    }

    #[test]
    fn a_batch_stops_at_its_size_or_its_work_budget_whichever_comes_first() {
        let config = BatchConfig {
            max_batch_size: 4,
            max_batch_work: 300,
            max_batch_wait: Duration::ZERO,
        };
        // Default requests (work 100): the work budget stops the batch at three (full: the
        // fourth stays in the channel).
        assert_eq!(gather(config, &[100; 6]), (vec![100; 3], None));
        assert_eq!(
            gather(config, &[100, 100, 150]),
            (vec![100, 100], Some(150))
        );
        // Light requests: the size does.
        assert_eq!(gather(config, &[20; 6]), (vec![20; 4], None));
        // A request over what is left starts the next batch, even when a lighter one follows.
        assert_eq!(gather(config, &[200, 150, 50]), (vec![200], Some(150)));
        // The first request always runs, even over the whole budget, and runs alone.
        assert_eq!(gather(config, &[2176, 10]), (vec![2176], None));
        assert_eq!(gather(config, &[300, 10]), (vec![300], None));
    }

    #[tokio::test]
    async fn a_request_over_the_batch_work_budget_runs_in_the_next_batch() {
        let config = BatchConfig {
            max_batch_size: 8,
            // One default request (work 100) fits; a concise-only one (work 60) after it not.
            max_batch_work: 150,
            max_batch_wait: Duration::from_millis(500),
        };
        let captioner = Arc::new(tiny_captioner().await);
        let queue = Queue::start(captioner, config, 8, Arc::new(Health::default())).unwrap();
        let both = spawn_caption(&queue, CaptionMode::Both);
        until_queued(&queue, 1).await;
        // The test's runtime has one thread: the two requests queue in the order spawned.
        let concise = spawn_caption(&queue, CaptionMode::Concise);
        let creative = spawn_caption(&queue, CaptionMode::Creative);
        let sizes = [
            both.await.unwrap().unwrap().batch_size,
            concise.await.unwrap().unwrap().batch_size,
            creative.await.unwrap().unwrap().batch_size,
        ];
        // concise (60) + creative (40) fit together in the second batch.
        assert_eq!(sizes, [1, 2, 2]);
        assert_eq!(queue.size(), 0);
    }

    #[test]
    fn only_gpu_errors_count_as_device_failures() {
        let cuda = candle_core::Error::Cuda("CUDA_ERROR_ILLEGAL_ADDRESS".into());
        assert!(is_device_failure(&ModelError::Backend(
            cuda.context("in the vision encoder")
        )));
        let shape = candle_core::Error::Msg("shape mismatch".into());
        assert!(!is_device_failure(&ModelError::Backend(shape)));
        assert!(!is_device_failure(&ModelError::InvalidOptions(
            "num_beams".into()
        )));
    }
}
