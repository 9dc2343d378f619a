//! What both servers' Prometheus exporters share: the duration buckets every `_seconds`
//! histogram gets, and the content type of the text exposition format.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// `Content-Type` of `GET /metrics` (text exposition format 0.0.4).
pub const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// From half a millisecond (a cache hit) to a minute (a slow provider's time-out).
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// An exporter builder whose `_seconds` histograms use [`DURATION_BUCKETS`].
pub fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
        .expect("the duration buckets are not empty")
}
