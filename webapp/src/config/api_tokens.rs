//! `[api_tokens]`: personal API tokens' lifetime.

use std::time::Duration;

use serde::Deserialize;

use super::env::EnvKind;

/// Personal API tokens (the Account page, `imgcap-webapp create-token`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiTokensConfig {
    /// Days a new token works; 0: until revoked. Tokens made earlier keep the expiry (or none)
    /// they were made with.
    pub lifetime_days: u32,
}

impl ApiTokensConfig {
    pub fn lifetime(&self) -> Option<Duration> {
        (self.lifetime_days > 0)
            .then(|| Duration::from_secs(u64::from(self.lifetime_days) * 86_400))
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        if self.lifetime_days > 3650 {
            return Err("`api_tokens.lifetime_days` must be at most 3650 (0: no expiry)".into());
        }
        Ok(())
    }
}

pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[("api_tokens.lifetime_days", EnvKind::Int)];
