//! Prometheus metrics of the web app (`GET /metrics`), prefixed `imgcap_web_`, unit last; and,
//! when configured, the caption figures as CloudWatch metrics ([`emf`]).
//!
//! Each [`Application`](crate::Application) owns its recorder rather than installing a global
//! one, so several apps in one process (the tests) keep separate figures. No label ever holds a
//! user, an image id or a raw path: routes are the router's templates.

pub mod emf;
pub mod text_log;

use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{PrometheusHandle, PrometheusRecorder};

use crate::core::ports::QueueDepth;
use crate::error::AppError;
use emf::{Emf, Metric};

pub const HTTP_REQUESTS: &str = "imgcap_web_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "imgcap_web_http_request_duration_seconds";
pub const UPLOADS: &str = "imgcap_web_uploads_total";
pub const CAPTION_JOBS: &str = "imgcap_web_caption_jobs_total";
pub const CAPTION_LATENCY: &str = "imgcap_web_caption_latency_seconds";
pub const QUEUE_JOBS: &str = "imgcap_web_caption_queue_jobs";
pub const CIRCUIT_OPEN: &str = "imgcap_web_captioner_circuit_open";
pub const FAILOVERS: &str = "imgcap_web_captioner_failovers_total";
pub const ORPHAN_BLOBS_REMOVED: &str = "imgcap_web_orphan_blobs_removed_total";
pub const SIGN_INS: &str = "imgcap_web_sign_ins_total";
pub const OPEN_CONNECTIONS: &str = "imgcap_web_open_connections";
pub const REFUSED_CONNECTIONS: &str = "imgcap_web_refused_connections_total";
pub const CONNECTION_TIMEOUTS: &str = "imgcap_web_connection_timeouts_total";

/// The route label of a request no route matched (unknown paths are not labels).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// How an upload ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOutcome {
    Accepted,
    /// The user's earlier upload of the same bytes was returned.
    Duplicate,
    TooLarge,
    UnsupportedType,
    InvalidImage,
    RateLimited,
    /// The image memory budget stayed spent (503 with `Retry-After`).
    Busy,
    /// A malformed request: unreadable body or form, no `file` field.
    InvalidRequest,
    /// Our side failed (5xx).
    Error,
}

impl UploadOutcome {
    pub fn of_error(error: &AppError) -> Self {
        match error {
            AppError::PayloadTooLarge { .. } => Self::TooLarge,
            AppError::UnsupportedMediaType(_)
            | AppError::InvalidImage(imgcap_imaging::ImageError::UnsupportedFormat) => {
                Self::UnsupportedType
            }
            AppError::InvalidImage(_) => Self::InvalidImage,
            AppError::RateLimited { .. } => Self::RateLimited,
            AppError::ImageMemory(imgcap_imaging::budget::BudgetError::Busy { .. }) => Self::Busy,
            AppError::ImageMemory(_) => Self::InvalidImage,
            error if error.status().is_client_error() => Self::InvalidRequest,
            _ => Self::Error,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::TooLarge => "too_large",
            Self::UnsupportedType => "unsupported_type",
            Self::InvalidImage => "invalid_image",
            Self::RateLimited => "rate_limited",
            Self::Busy => "busy",
            Self::InvalidRequest => "invalid_request",
            Self::Error => "error",
        }
    }
}

/// How one local-account sign-in attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInOutcome {
    SignedIn,
    /// The user name and password did not match an account.
    Refused,
    /// Too many failures for the user name or the client address: refused unchecked.
    Throttled,
}

impl SignInOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::SignedIn => "signed_in",
            Self::Refused => "refused",
            Self::Throttled => "throttled",
        }
    }
}

/// How one delivery of a caption job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    /// Attempts spent: the image is `failed`, the job dead-lettered.
    Failed,
    /// The captioners failed on the image; the job comes back after a backoff.
    Retried,
    /// No captioner was available; the job waits for one without spending an attempt.
    WaitingForCaptioner,
}

impl JobOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Retried => "retried",
            Self::WaitingForCaptioner => "waiting_for_captioner",
        }
    }
}

/// Why the server closed a connection (or cut a request) for slowness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionTimeout {
    /// No complete request head within the header-read timeout.
    HeaderRead,
    /// Idle between requests for the keep-alive timeout.
    KeepAlive,
    /// A request body below the minimum transfer rate (answered 408).
    RequestBody,
}

impl ConnectionTimeout {
    fn label(self) -> &'static str {
        match self {
            Self::HeaderRead => "header_read",
            Self::KeepAlive => "keep_alive",
            Self::RequestBody => "request_body",
        }
    }
}

pub struct WebMetrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The CloudWatch records, when configured.
    cloudwatch: Option<Emf>,
}

impl Default for WebMetrics {
    fn default() -> Self {
        Self::new(None)
    }
}

impl WebMetrics {
    pub fn new(cloudwatch: Option<Emf>) -> Self {
        let recorder = imgcap_common::prometheus::builder().build_recorder();
        let handle = recorder.handle();
        let metrics = Self {
            recorder,
            handle,
            cloudwatch,
        };
        metrics.record(|| {
            describe_counter!(
                HTTP_REQUESTS,
                "HTTP requests answered, by method, route template and status"
            );
            describe_histogram!(
                HTTP_REQUEST_DURATION,
                Unit::Seconds,
                "HTTP requests from arrival to answer, by method and route template"
            );
            describe_counter!(
                UPLOADS,
                "Uploads by outcome: accepted, duplicate, or the reason of the refusal"
            );
            describe_counter!(
                CAPTION_JOBS,
                "Caption job deliveries by outcome (done, failed, retried) and answering provider"
            );
            describe_histogram!(
                CAPTION_LATENCY,
                Unit::Seconds,
                "Time the answering captioner took, by provider"
            );
            describe_gauge!(
                QUEUE_JOBS,
                Unit::Count,
                "Caption jobs by queue state (ready, in_flight, dead), refreshed periodically"
            );
            describe_gauge!(
                CIRCUIT_OPEN,
                "1 while the provider's circuit breaker is open (cooling down), else 0"
            );
            describe_counter!(
                FAILOVERS,
                "Caption calls passed over a provider (error, timeout, open circuit) to the next \
                 in the chain, by the provider passed over"
            );
            describe_counter!(
                ORPHAN_BLOBS_REMOVED,
                "Blobs removed because no record pointed at them (interrupted uploads)"
            );
            describe_counter!(
                SIGN_INS,
                "Local-account sign-in attempts by outcome (signed_in, refused, throttled)"
            );
            describe_gauge!(
                OPEN_CONNECTIONS,
                Unit::Count,
                "Client connections being served"
            );
            describe_counter!(
                REFUSED_CONNECTIONS,
                "Connections answered 503 and closed because the connection cap was reached"
            );
            describe_counter!(
                CONNECTION_TIMEOUTS,
                "Connections closed, or requests cut off, for slowness: `header_read` (no \
                 complete request head in time), `keep_alive` (idle between requests), \
                 `request_body` (a body below the minimum transfer rate, answered 408)"
            );
        });
        metrics
    }

    fn record(&self, f: impl FnOnce()) {
        metrics::with_local_recorder(&self.recorder, f);
    }

    fn cloudwatch(&self, values: &[(Metric, u64)]) {
        if let Some(emf) = &self.cloudwatch {
            emf.emit(values);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Drains raw histogram samples, which would otherwise pile up between scrapes.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16, duration: Duration) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.record(|| {
            counter!(HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(),
                "status" => status.to_string())
            .increment(1);
            histogram!(HTTP_REQUEST_DURATION, "method" => method, "route" => route)
                .record(duration.as_secs_f64());
        });
    }

    pub fn upload(&self, outcome: UploadOutcome) {
        self.record(|| counter!(UPLOADS, "outcome" => outcome.label()).increment(1));
    }

    /// `provider` is the captioner that answered; `none` when none did. A job failed for good
    /// is also a CloudWatch `CaptionFailed`.
    pub fn caption_job(&self, outcome: JobOutcome, provider: &str) {
        let provider = provider.to_owned();
        self.record(|| {
            counter!(CAPTION_JOBS, "outcome" => outcome.label(), "provider" => provider)
                .increment(1)
        });
        if outcome == JobOutcome::Failed {
            self.cloudwatch(&[(Metric::CaptionFailed, 1)]);
        }
    }

    /// A job captioned by `provider`, which took `latency`.
    pub fn caption_done(&self, provider: &str, latency: Duration) {
        self.caption_job(JobOutcome::Done, provider);
        let label = provider.to_owned();
        self.record(|| {
            histogram!(CAPTION_LATENCY, "provider" => label).record(latency.as_secs_f64())
        });
        self.cloudwatch(&[
            (Metric::CaptionSucceeded, 1),
            (Metric::CaptionLatency, latency.as_millis() as u64),
        ]);
    }

    /// The chain passed over `provider` to the next one.
    pub fn captioner_failover(&self, provider: &'static str) {
        self.record(|| counter!(FAILOVERS, "provider" => provider).increment(1));
        self.cloudwatch(&[(Metric::CaptionerFailover, 1)]);
    }

    pub fn queue_depth(&self, depth: QueueDepth) {
        self.record(|| {
            for (state, jobs) in [
                ("ready", depth.ready),
                ("in_flight", depth.in_flight),
                ("dead", depth.dead),
                ("waiting_for_captioner", depth.waiting_for_captioner),
            ] {
                gauge!(QUEUE_JOBS, "state" => state).set(jobs as f64);
            }
        });
    }

    pub fn circuit_open(&self, provider: &'static str, open: bool) {
        self.record(|| {
            gauge!(CIRCUIT_OPEN, "provider" => provider).set(if open { 1.0 } else { 0.0 })
        });
    }

    pub fn orphan_blobs_removed(&self, count: usize) {
        self.record(|| counter!(ORPHAN_BLOBS_REMOVED).increment(count as u64));
    }

    pub fn sign_in(&self, outcome: SignInOutcome) {
        self.record(|| counter!(SIGN_INS, "outcome" => outcome.label()).increment(1));
    }

    pub fn connection_opened(&self) {
        self.record(|| gauge!(OPEN_CONNECTIONS).increment(1.0));
    }

    pub fn connection_closed(&self) {
        self.record(|| gauge!(OPEN_CONNECTIONS).decrement(1.0));
    }

    pub fn connection_refused(&self) {
        self.record(|| counter!(REFUSED_CONNECTIONS).increment(1));
    }

    pub fn connection_timeout(&self, timeout: ConnectionTimeout) {
        self.record(|| counter!(CONNECTION_TIMEOUTS, "timeout" => timeout.label()).increment(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_app_keeps_its_own_figures() {
        let (first, second) = (WebMetrics::default(), WebMetrics::default());
        first.upload(UploadOutcome::Accepted);
        first.http_request("GET", "/api/v1/images/{id}", 200, Duration::from_millis(3));
        let text = first.render();
        assert!(
            text.contains("imgcap_web_uploads_total{outcome=\"accepted\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "imgcap_web_http_requests_total{method=\"GET\",route=\"/api/v1/images/{id}\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("imgcap_web_http_request_duration_seconds_bucket"),
            "durations are histograms: {text}"
        );
        assert!(!second.render().contains("imgcap_web_uploads_total{"));
    }

    #[test]
    fn caption_figures_are_also_cloudwatch_records_when_configured() {
        use std::sync::{Arc, Mutex};
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let output = emf::EmfOutput::new(buffer.clone());
        let metrics = WebMetrics::new(Some(Emf::new("imgcap", "dev", output)));
        metrics.caption_job(JobOutcome::Retried, "none");
        metrics.caption_done("embedded", Duration::from_millis(1234));
        metrics.caption_job(JobOutcome::Failed, "none");
        metrics.captioner_failover("sagemaker");
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let metric_names = |record: &serde_json::Value| -> Vec<String> {
            record["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["Name"].as_str().unwrap().to_owned())
                .collect()
        };
        let names: Vec<_> = records.iter().map(metric_names).collect();
        assert_eq!(
            names,
            [
                vec!["CaptionSucceeded", "CaptionLatency"],
                vec!["CaptionFailed"],
                vec!["CaptionerFailover"],
            ],
            "a retry is no record: {text}"
        );
        assert_eq!(records[0]["CaptionLatency"], 1234);
        let rendered = metrics.render();
        assert!(
            rendered.contains("imgcap_web_captioner_failovers_total{provider=\"sagemaker\"} 1"),
            "{rendered}"
        );
        assert!(
            rendered.contains("imgcap_web_caption_latency_seconds_count{provider=\"embedded\"} 1"),
            "{rendered}"
        );
    }

    #[test]
    fn upload_refusals_are_labelled_by_reason() {
        use imgcap_imaging::budget::BudgetError;
        use imgcap_imaging::ImageError;
        let cases = [
            (AppError::PayloadTooLarge { limit: 1 }, "too_large"),
            (
                AppError::UnsupportedMediaType("text/plain".into()),
                "unsupported_type",
            ),
            (
                AppError::InvalidImage(ImageError::UnsupportedFormat),
                "unsupported_type",
            ),
            (AppError::InvalidImage(ImageError::Empty), "invalid_image"),
            (
                AppError::RateLimited {
                    retry_after: Duration::from_secs(1),
                },
                "rate_limited",
            ),
            (
                AppError::ImageMemory(BudgetError::Busy {
                    retry_after: Duration::from_secs(2),
                }),
                "busy",
            ),
            (
                AppError::ImageMemory(BudgetError::TooLarge {
                    needed_mib: 600,
                    budget_mib: 512,
                }),
                "invalid_image",
            ),
            (
                AppError::bad_request("missing_file_field", "no file"),
                "invalid_request",
            ),
            (AppError::Internal(anyhow::anyhow!("disk full")), "error"),
        ];
        for (error, label) in cases {
            assert_eq!(UploadOutcome::of_error(&error).label(), label, "{error:?}");
        }
    }
}
