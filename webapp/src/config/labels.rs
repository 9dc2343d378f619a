//! `[labels]`: Rekognition labels found before captioning.

use serde::Deserialize;

use super::env::EnvKind;
use super::positive;

/// Labels found before captioning (stored with the captions, and given to `bedrock`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelsConfig {
    /// Rekognition `DetectLabels` on every image; off by default (it is billed per image).
    pub rekognition: bool,
    pub max_labels: u32,
    /// Percent, 0 to 100.
    pub min_confidence: u32,
    /// Labels are skipped (the captions still run) when they take longer than this.
    pub timeout_ms: u64,
}

impl Default for LabelsConfig {
    fn default() -> Self {
        Self {
            rekognition: false,
            max_labels: 10,
            min_confidence: 70,
            timeout_ms: 5_000,
        }
    }
}

impl LabelsConfig {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.rekognition {
            positive("labels.max_labels", self.max_labels.into())?;
            positive("labels.timeout_ms", self.timeout_ms)?;
            if self.min_confidence > 100 {
                return Err("`labels.min_confidence` is a percentage: 0 to 100".into());
            }
        }
        Ok(())
    }
}

pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("labels.rekognition", EnvKind::Bool),
    ("labels.max_labels", EnvKind::Int),
    ("labels.min_confidence", EnvKind::Int),
    ("labels.timeout_ms", EnvKind::Int),
];
