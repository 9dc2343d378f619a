//! `[worker]`: caption jobs: concurrency, attempts, back-off, waiting for a captioner.

use serde::Deserialize;

use super::env::EnvKind;
use super::positive;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Caption jobs run at once; 0 runs no worker (an API-only instance).
    pub concurrency: u32,
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How long a job waits when no captioner is available and no circuit is cooling down
    /// (the embedded model loading, providers failing below their threshold); with an open
    /// circuit it waits for the shortest remaining cool-down instead.
    pub captioner_wait_ms: u64,
    pub visibility_timeout_secs: u64,
    pub poll_interval_ms: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 2,
            max_attempts: 5,
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            captioner_wait_ms: 5000,
            visibility_timeout_secs: 300,
            poll_interval_ms: 500,
        }
    }
}

impl WorkerConfig {
    pub(super) fn validate(&self) -> Result<(), String> {
        positive("worker.max_attempts", self.max_attempts.into())?;
        positive("worker.retry_base_ms", self.retry_base_ms)?;
        positive("worker.captioner_wait_ms", self.captioner_wait_ms)?;
        if self.retry_max_ms < self.retry_base_ms {
            return Err("`worker.retry_max_ms` must be at least `worker.retry_base_ms`".into());
        }
        positive(
            "worker.visibility_timeout_secs",
            self.visibility_timeout_secs,
        )?;
        positive("worker.poll_interval_ms", self.poll_interval_ms)
    }
}

pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("worker.concurrency", EnvKind::Int),
    ("worker.max_attempts", EnvKind::Int),
    ("worker.retry_base_ms", EnvKind::Int),
    ("worker.retry_max_ms", EnvKind::Int),
    ("worker.captioner_wait_ms", EnvKind::Int),
    ("worker.visibility_timeout_secs", EnvKind::Int),
    ("worker.poll_interval_ms", EnvKind::Int),
];
