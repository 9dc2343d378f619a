//! `[metrics]`: the Prometheus listener and the CloudWatch embedded-metric records.

use std::net::SocketAddr;

use serde::Deserialize;

use super::env::EnvKind;
use super::positive;
use crate::telemetry::emf::EmfOutput;

/// `GET /metrics` (Prometheus).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// The metrics listener: `GET /metrics` without a token, on loopback by default, so only
    /// this machine (or a sidecar in the same network namespace) can scrape it.
    pub listen_addr: SocketAddr,
    /// When set, the main listener serves `GET /metrics` too, to scrapes that send
    /// `Authorization: Bearer <token>`; unset, it serves them only on `listen_addr`.
    pub token: Option<String>,
    /// How often the queue-depth and circuit-breaker gauges are read.
    pub refresh_interval_secs: u64,
    /// AWS deployments: CloudWatch namespace of the caption metrics, written to stdout in the
    /// embedded metric format (`CaptionSucceeded`, `CaptionLatency`, `CaptionFailed`,
    /// `CaptionerFailover`); unset or empty writes none.
    pub cloudwatch_namespace: Option<String>,
    /// Their `Environment` dimension (required with a namespace): the name of the deployment,
    /// as the dashboard and alarms filter on it.
    pub cloudwatch_environment: Option<String>,
    /// Where the records go instead of stdout; set only by code (tests), never read from a
    /// file or the environment.
    #[serde(skip)]
    pub cloudwatch_output: Option<EmfOutput>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            token: None,
            refresh_interval_secs: 15,
            cloudwatch_namespace: None,
            cloudwatch_environment: None,
            cloudwatch_output: None,
        }
    }
}

impl MetricsConfig {
    /// The CloudWatch namespace and `Environment` dimension when the records are on.
    pub fn cloudwatch(&self) -> Option<(&str, &str)> {
        fn set(value: &Option<String>) -> Option<&str> {
            value.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        Some((
            set(&self.cloudwatch_namespace)?,
            set(&self.cloudwatch_environment).unwrap_or_default(),
        ))
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        positive("metrics.refresh_interval_secs", self.refresh_interval_secs)?;
        if self
            .token
            .as_deref()
            .is_some_and(|token| token.trim().len() < 16)
        {
            return Err(
                "`metrics.token` (IMGCAP_METRICS_TOKEN) must be at least 16 characters".into(),
            );
        }
        self.validate_cloudwatch()
    }

    fn validate_cloudwatch(&self) -> Result<(), String> {
        let Some((namespace, environment)) = self.cloudwatch() else {
            return Ok(());
        };
        if namespace.starts_with("AWS/") || namespace.len() > 255 {
            return Err(
                "`metrics.cloudwatch_namespace` (IMGCAP_METRICS_CLOUDWATCH_NAMESPACE) \
                        must be at most 255 characters and not start with AWS/"
                    .into(),
            );
        }
        if environment.is_empty() {
            return Err(
                "`metrics.cloudwatch_environment` (IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT) is \
                 required when `metrics.cloudwatch_namespace` is set"
                    .into(),
            );
        }
        Ok(())
    }
}

pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("metrics.listen_addr", EnvKind::Str),
    ("metrics.token", EnvKind::Str),
    ("metrics.refresh_interval_secs", EnvKind::Int),
    ("metrics.cloudwatch_namespace", EnvKind::Str),
    ("metrics.cloudwatch_environment", EnvKind::Str),
];
