//! `[rate_limit]`: uploads, sign-ins, sign-ups and regenerations per user or address.

use serde::Deserialize;

use super::env::EnvKind;
use super::positive;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub uploads_per_hour: u32,
    /// Failed local-account sign-ins per user name in a window; more attempts are refused (429)
    /// until it ends.
    pub sign_in_failures_per_account: u32,
    /// The same per client address; 0 turns it off (behind a reverse proxy, where every client
    /// has the proxy's address).
    pub sign_in_failures_per_ip: u32,
    /// The window, from the first failure.
    pub sign_in_window_secs: u64,
    /// Local accounts created per client address and hour (a token bucket); 0 turns the limit
    /// off (behind a reverse proxy, where every client has the proxy's address).
    pub sign_ups_per_ip_per_hour: u32,
    /// Regenerations per user and hour: each one is a captioner call.
    pub regenerations_per_hour: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            uploads_per_hour: 60,
            sign_in_failures_per_account: 5,
            sign_in_failures_per_ip: 20,
            sign_in_window_secs: 15 * 60,
            sign_ups_per_ip_per_hour: 3,
            regenerations_per_hour: 20,
        }
    }
}

impl RateLimitConfig {
    pub(super) fn validate(&self) -> Result<(), String> {
        positive("rate_limit.uploads_per_hour", self.uploads_per_hour.into())?;
        positive(
            "rate_limit.sign_in_failures_per_account",
            self.sign_in_failures_per_account.into(),
        )?;
        positive("rate_limit.sign_in_window_secs", self.sign_in_window_secs)?;
        positive(
            "rate_limit.regenerations_per_hour",
            self.regenerations_per_hour.into(),
        )
    }
}

pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("rate_limit.uploads_per_hour", EnvKind::Int),
    ("rate_limit.sign_in_failures_per_account", EnvKind::Int),
    ("rate_limit.sign_in_failures_per_ip", EnvKind::Int),
    ("rate_limit.sign_in_window_secs", EnvKind::Int),
    ("rate_limit.sign_ups_per_ip_per_hour", EnvKind::Int),
    ("rate_limit.regenerations_per_hour", EnvKind::Int),
];
