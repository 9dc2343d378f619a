//! How far a model load has got: the download from the hub (bytes, percent, rate) and the phase
//! after it. A [`LoadProgress`] is shared between the load and whoever shows it (a readiness
//! endpoint, a page banner); the load logs it too, at a steady pace: every
//! [`LOG_INTERVAL`] or every [`LOG_PERCENT_STEP`] percent, never per chunk.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The longest time between two progress lines in the log while downloading.
pub const LOG_INTERVAL: Duration = Duration::from_secs(2);
/// A progress line is logged whenever the percent crosses a multiple of this.
pub const LOG_PERCENT_STEP: f64 = 5.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadPhase {
    /// Fetching files from the hub (files already in the cache are not fetched).
    Downloading,
    /// Reading the weights into memory.
    LoadingWeights,
    Ready,
    Failed,
}

impl LoadPhase {
    /// As people read it in logs and pages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Downloading => "downloading",
            Self::LoadingWeights => "loading weights",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
}

/// One reading of a [`LoadProgress`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoadStatus {
    pub phase: LoadPhase,
    pub downloaded_bytes: u64,
    /// The sizes of the files whose download has started, summed: it grows as downloads start
    /// (the weights, which dominate, are fetched after the small files).
    pub total_bytes: u64,
    /// `downloaded_bytes` over `total_bytes`; `None` before any download started.
    pub percent: Option<f64>,
    /// The mean download rate since the first byte was asked for.
    pub bytes_per_second: f64,
    /// Why the load failed (phase `failed`).
    pub error: Option<String>,
}

#[derive(Debug)]
struct State {
    phase: LoadPhase,
    downloaded: u64,
    total: u64,
    /// When the first download started.
    started: Option<Instant>,
    last_logged: Option<Instant>,
    /// The multiple of [`LOG_PERCENT_STEP`] last logged.
    last_logged_step: u64,
    file: String,
    error: Option<String>,
}

/// Shared, cheap to clone; starts in phase `downloading` with nothing known.
#[derive(Debug, Clone)]
pub struct LoadProgress {
    state: Arc<Mutex<State>>,
}

impl Default for LoadProgress {
    fn default() -> Self {
        Self {
            state: Arc::new(Mutex::new(State::fresh())),
        }
    }
}

fn megabytes(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1_000_000.0)
}

impl State {
    fn fresh() -> Self {
        Self {
            phase: LoadPhase::Downloading,
            downloaded: 0,
            total: 0,
            started: None,
            last_logged: None,
            last_logged_step: 0,
            file: String::new(),
            error: None,
        }
    }

    fn percent(&self) -> Option<f64> {
        (self.total > 0).then(|| (self.downloaded as f64 / self.total as f64 * 100.0).min(100.0))
    }

    fn rate(&self) -> f64 {
        match self.started {
            Some(started) => {
                let secs = started.elapsed().as_secs_f64();
                if secs > 0.0 {
                    self.downloaded as f64 / secs
                } else {
                    0.0
                }
            }
            None => 0.0,
        }
    }

    /// Logs the download when [`LOG_INTERVAL`] has passed or a [`LOG_PERCENT_STEP`] is crossed.
    fn maybe_log(&mut self) {
        let percent = self.percent().unwrap_or(0.0);
        let step = (percent / LOG_PERCENT_STEP) as u64;
        let due = self
            .last_logged
            .is_none_or(|at| at.elapsed() >= LOG_INTERVAL);
        if !due && step == self.last_logged_step {
            return;
        }
        self.last_logged = Some(Instant::now());
        self.last_logged_step = step;
        let rate = self.rate();
        tracing::info!(
            downloaded_bytes = self.downloaded,
            total_bytes = self.total,
            percent = (percent * 10.0).round() / 10.0,
            bytes_per_second = rate.round() as u64,
            file = %self.file,
            "downloading the model: {} of {} ({percent:.1} %) at {}/s",
            megabytes(self.downloaded as f64),
            megabytes(self.total as f64),
            megabytes(rate),
        );
    }
}

impl LoadProgress {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn status(&self) -> LoadStatus {
        let state = self.lock();
        LoadStatus {
            phase: state.phase,
            downloaded_bytes: state.downloaded,
            total_bytes: state.total,
            percent: state.percent(),
            bytes_per_second: state.rate(),
            error: state.error.clone(),
        }
    }

    /// Starts (or restarts, after a failure) a load: phase `downloading`, nothing counted yet.
    pub fn restart(&self) {
        *self.lock() = State::fresh();
    }

    pub(crate) fn set_phase(&self, phase: LoadPhase) {
        let mut state = self.lock();
        state.phase = phase;
        if phase != LoadPhase::Failed {
            state.error = None;
        }
    }

    /// The load failed with `error` (phase `failed`).
    pub fn fail(&self, error: impl Into<String>) {
        let mut state = self.lock();
        state.phase = LoadPhase::Failed;
        state.error = Some(error.into());
    }

    /// A file of `size` bytes starts downloading.
    pub(crate) fn file_started(&self, size: u64, file: &str) {
        let mut state = self.lock();
        state.phase = LoadPhase::Downloading;
        state.started.get_or_insert_with(Instant::now);
        state.total += size;
        state.file = file.to_owned();
    }

    /// `bytes` more arrived.
    pub(crate) fn advanced(&self, bytes: u64) {
        let mut state = self.lock();
        state.downloaded += bytes;
        state.maybe_log();
    }
}

/// hf-hub's download callback, feeding a [`LoadProgress`]. hf-hub clones it per chunk, so the
/// clones share one state.
#[derive(Clone)]
pub(crate) struct HubProgress(pub LoadProgress);

impl hf_hub::api::tokio::Progress for HubProgress {
    async fn init(&mut self, size: usize, filename: &str) {
        self.0.file_started(size as u64, filename);
    }

    async fn update(&mut self, size: usize) {
        self.0.advanced(size as u64);
    }

    async fn finish(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_over_the_files_started_so_far() {
        let progress = LoadProgress::default();
        assert_eq!(progress.status().percent, None);
        progress.file_started(100, "config.json");
        progress.advanced(100);
        assert_eq!(progress.status().percent, Some(100.0));
        progress.file_started(300, "model.safetensors");
        progress.advanced(100);
        let status = progress.status();
        assert_eq!(
            (status.downloaded_bytes, status.total_bytes, status.percent),
            (200, 400, Some(50.0))
        );
        assert_eq!(status.phase, LoadPhase::Downloading);
        progress.fail("no network");
        assert_eq!(progress.status().error.as_deref(), Some("no network"));
        progress.restart();
        let status = progress.status();
        assert_eq!(
            (status.phase, status.downloaded_bytes, status.error),
            (LoadPhase::Downloading, 0, None)
        );
    }
}
