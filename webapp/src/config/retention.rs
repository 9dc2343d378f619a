//! `[retention]`: how long images and their captions are kept.

use serde::Deserialize;

use super::env::EnvKind;
use super::positive;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    pub days: u32,
    pub sweep_interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            days: 90,
            sweep_interval_secs: 3600,
        }
    }
}

impl RetentionConfig {
    pub(super) fn validate(&self) -> Result<(), String> {
        positive("retention.days", self.days.into())?;
        positive("retention.sweep_interval_secs", self.sweep_interval_secs)
    }
}

pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("retention.days", EnvKind::Int),
    ("retention.sweep_interval_secs", EnvKind::Int),
];
