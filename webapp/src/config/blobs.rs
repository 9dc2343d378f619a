//! `[blobs]`: signed blob URLs and the orphan-blob sweep.

use serde::Deserialize;

use super::env::EnvKind;
use super::positive;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobConfig {
    pub url_ttl_secs: u64,
    /// Blobs without a record are removed once this old: an upload in progress writes its
    /// blobs before its record, so this must exceed the longest upload.
    pub orphan_grace_secs: u64,
    /// How often the orphan-blob sweep runs.
    pub orphan_sweep_interval_secs: u64,
}

impl Default for BlobConfig {
    fn default() -> Self {
        Self {
            url_ttl_secs: 300,
            orphan_grace_secs: 3600,
            orphan_sweep_interval_secs: 3600,
        }
    }
}

impl BlobConfig {
    pub(super) fn validate(&self) -> Result<(), String> {
        positive("blobs.url_ttl_secs", self.url_ttl_secs)?;
        positive("blobs.orphan_grace_secs", self.orphan_grace_secs)?;
        positive(
            "blobs.orphan_sweep_interval_secs",
            self.orphan_sweep_interval_secs,
        )
    }
}

pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("blobs.url_ttl_secs", EnvKind::Int),
    ("blobs.orphan_grace_secs", EnvKind::Int),
    ("blobs.orphan_sweep_interval_secs", EnvKind::Int),
];
