//! `[session]`: how long a browser session lasts.

use serde::Deserialize;

use super::env::EnvKind;
use super::positive;

/// Browser sessions of the web pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session unused this long ends.
    pub idle_timeout_secs: u64,
    /// A session ends this long after sign-in, however active.
    pub absolute_timeout_secs: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 2 * 3600,
            absolute_timeout_secs: 7 * 86_400,
        }
    }
}

impl SessionConfig {
    pub(super) fn validate(&self) -> Result<(), String> {
        positive("session.idle_timeout_secs", self.idle_timeout_secs)?;
        if self.absolute_timeout_secs < self.idle_timeout_secs {
            return Err(
                "`session.absolute_timeout_secs` must be at least `session.idle_timeout_secs`"
                    .into(),
            );
        }
        Ok(())
    }
}

pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("session.idle_timeout_secs", EnvKind::Int),
    ("session.absolute_timeout_secs", EnvKind::Int),
];
