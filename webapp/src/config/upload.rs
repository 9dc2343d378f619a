//! `[upload]`: what an upload may be, its thumbnail, and the image memory budget.

use serde::Deserialize;

use super::env::EnvKind;
use super::positive;

/// Limits on an uploaded image and the thumbnail made from it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    pub max_bytes: u64,
    pub max_side: u32,
    pub max_pixels: u64,
    pub min_side: u32,
    /// Longest side of the thumbnail.
    pub thumbnail_side: u32,
    pub thumbnail_quality: u8,
    /// Memory all image decoding in the process (uploads and the embedded captioner) may hold
    /// at once, in MiB; each image reserves what its header says it needs. The default suits a
    /// 1 GB container.
    pub image_memory_budget_mb: u64,
    /// How long an image waits for room in that budget before it is answered 503.
    pub image_memory_wait_ms: u64,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            max_side: 16384,
            max_pixels: 40_000_000,
            min_side: 16,
            thumbnail_side: 300,
            thumbnail_quality: 85,
            image_memory_budget_mb: 512,
            image_memory_wait_ms: 2000,
        }
    }
}

impl UploadConfig {
    pub(super) fn validate(&self) -> Result<(), String> {
        positive("upload.max_bytes", self.max_bytes)?;
        positive("upload.max_side", self.max_side.into())?;
        positive("upload.max_pixels", self.max_pixels)?;
        if self.min_side > self.max_side {
            return Err("`upload.min_side` must not exceed `upload.max_side`".into());
        }
        if !(16..=4096).contains(&self.thumbnail_side) {
            return Err("`upload.thumbnail_side` must be between 16 and 4096".into());
        }
        if !(1..=100).contains(&self.thumbnail_quality) {
            return Err("`upload.thumbnail_quality` must be between 1 and 100".into());
        }
        if !(16..=1 << 20).contains(&self.image_memory_budget_mb) {
            return Err(
                "`upload.image_memory_budget_mb` must be between 16 and 1048576 (MiB)".into(),
            );
        }
        if self.image_memory_wait_ms > 60_000 {
            return Err("`upload.image_memory_wait_ms` must be at most 60000".into());
        }
        Ok(())
    }
}

pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("upload.max_bytes", EnvKind::Int),
    ("upload.max_side", EnvKind::Int),
    ("upload.max_pixels", EnvKind::Int),
    ("upload.min_side", EnvKind::Int),
    ("upload.thumbnail_side", EnvKind::Int),
    ("upload.thumbnail_quality", EnvKind::Int),
    ("upload.image_memory_budget_mb", EnvKind::Int),
    ("upload.image_memory_wait_ms", EnvKind::Int),
];
