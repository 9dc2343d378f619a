//! Prometheus metrics (`GET /metrics`) and logging setup.
//!
//! Names say what they measure, with the `imgcap_inference_` prefix and the unit last. Durations
//! are histograms in seconds, the batch size a histogram of images per batch.

use std::time::Duration;

use imgcap_common::server;
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusHandle};
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::EnvFilter;

use crate::config::{LogArgs, LogFormat};

pub const REQUESTS: &str = "imgcap_inference_requests_total";
pub const REQUEST_SUCCESS: &str = "imgcap_inference_request_success_total";
pub const REQUEST_FAILURE: &str = "imgcap_inference_request_failure_total";
pub const REQUEST_DURATION: &str = "imgcap_inference_request_duration_seconds";
pub const PREPROCESS_DURATION: &str = "imgcap_inference_preprocess_duration_seconds";
pub const QUEUE_DURATION: &str = "imgcap_inference_queue_duration_seconds";
pub const INFERENCE_DURATION: &str = "imgcap_inference_inference_duration_seconds";
pub const BATCH_SIZE: &str = "imgcap_inference_batch_size";
pub const QUEUE_SIZE: &str = "imgcap_inference_queue_size";
pub const ABANDONED: &str = "imgcap_inference_abandoned_requests_total";
pub const GENERATED_TOKENS: &str = "imgcap_inference_generated_tokens_total";
pub const MODEL_LOAD_DURATION: &str = "imgcap_inference_model_load_duration_seconds";
pub const OPEN_CONNECTIONS: &str = "imgcap_inference_open_connections";
pub const REFUSED_CONNECTIONS: &str = "imgcap_inference_refused_connections_total";
pub const CONNECTION_TIMEOUTS: &str = "imgcap_inference_connection_timeouts_total";
pub const GPU_MEMORY_USED: &str = "imgcap_inference_gpu_memory_used_bytes";
pub const GPU_MEMORY_TOTAL: &str = "imgcap_inference_gpu_memory_total_bytes";

const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Installs the global recorder; the handle renders `/metrics`.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    let handle = imgcap_common::prometheus::builder()
        .set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), BATCH_BUCKETS)?
        .install_recorder()?;
    describe_counter!(
        REQUESTS,
        "POST /invocations requests answered, by HTTP status"
    );
    describe_counter!(
        REQUEST_SUCCESS,
        "POST /invocations requests answered with 200"
    );
    describe_counter!(
        REQUEST_FAILURE,
        "POST /invocations requests that failed, by error_type"
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "POST /invocations from arrival to answer"
    );
    describe_histogram!(
        PREPROCESS_DURATION,
        Unit::Seconds,
        "Body parsing, image decoding, resizing and normalisation per request"
    );
    describe_histogram!(
        QUEUE_DURATION,
        Unit::Seconds,
        "Time a preprocessed request waited for its batch to start"
    );
    describe_histogram!(
        INFERENCE_DURATION,
        Unit::Seconds,
        "Time the model spent on one batch"
    );
    describe_histogram!(BATCH_SIZE, Unit::Count, "Images per batch run on the model");
    describe_gauge!(
        QUEUE_SIZE,
        Unit::Count,
        "Preprocessed requests waiting for a batch"
    );
    describe_counter!(
        ABANDONED,
        "Requests whose client had gone (disconnected or timed out) before their answer, by \
         stage: `queued` (dropped before their batch, never computed) or `running` (their batch \
         stops at the next decoding step once all its requests have gone)"
    );
    describe_counter!(
        GENERATED_TOKENS,
        "Tokens generated, end tokens included, by caption kind"
    );
    describe_gauge!(
        MODEL_LOAD_DURATION,
        Unit::Seconds,
        "Time to load and warm up the model"
    );
    describe_gauge!(
        OPEN_CONNECTIONS,
        Unit::Count,
        "Client connections being served"
    );
    describe_counter!(
        REFUSED_CONNECTIONS,
        "Connections answered 429 and closed because the connection cap was reached"
    );
    describe_counter!(
        CONNECTION_TIMEOUTS,
        "Connections closed by the server for a timeout: `header_read` (no complete request \
         head in time) or `keep_alive` (idle between requests)"
    );
    describe_gauge!(
        GPU_MEMORY_USED,
        Unit::Bytes,
        "Memory in use on the model's GPU (every process, and the pool the model keeps), \
         sampled when scraped; absent on the CPU"
    );
    describe_gauge!(
        GPU_MEMORY_TOTAL,
        Unit::Bytes,
        "Memory of the model's GPU; absent on the CPU"
    );
    Ok(handle)
}

/// The metrics exporter keeps raw histogram samples until they are rendered or upkeep runs;
/// without a scraper they would accumulate.
pub fn spawn_upkeep(handle: PrometheusHandle) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    });
}

pub fn request_finished(status: u16, error_type: Option<&'static str>, duration: Duration) {
    counter!(REQUESTS, "status" => status.to_string()).increment(1);
    match error_type {
        None => counter!(REQUEST_SUCCESS).increment(1),
        Some(error_type) => counter!(REQUEST_FAILURE, "error_type" => error_type).increment(1),
    }
    histogram!(REQUEST_DURATION).record(duration.as_secs_f64());
}

pub fn preprocess_duration(duration: Duration) {
    histogram!(PREPROCESS_DURATION).record(duration.as_secs_f64());
}

pub fn queue_duration(duration: Duration) {
    histogram!(QUEUE_DURATION).record(duration.as_secs_f64());
}

pub fn inference_duration(duration: Duration) {
    histogram!(INFERENCE_DURATION).record(duration.as_secs_f64());
}

pub fn batch_size(size: usize) {
    histogram!(BATCH_SIZE).record(size as f64);
}

pub fn queue_size(size: u64) {
    gauge!(QUEUE_SIZE).set(size as f64);
}

/// `stage`: `queued` or `running`.
pub fn abandoned(stage: &'static str, count: usize) {
    counter!(ABANDONED, "stage" => stage).increment(count as u64);
}

pub fn generated_tokens(caption: &'static str, tokens: usize) {
    counter!(GENERATED_TOKENS, "caption" => caption).increment(tokens as u64);
}

pub fn model_loaded(duration: Duration) {
    gauge!(MODEL_LOAD_DURATION).set(duration.as_secs_f64());
}

pub fn gpu_memory(gpu: &imgcap_common::GpuInfo) {
    gauge!(GPU_MEMORY_USED).set(gpu.memory_used_bytes as f64);
    gauge!(GPU_MEMORY_TOTAL).set(gpu.memory_total_bytes as f64);
}

pub fn connection_opened() {
    gauge!(OPEN_CONNECTIONS).increment(1.0);
}

pub fn connection_closed() {
    gauge!(OPEN_CONNECTIONS).decrement(1.0);
}

pub fn connection_refused() {
    counter!(REFUSED_CONNECTIONS).increment(1);
}

/// `timeout`: `header_read` or `keep_alive`.
pub fn connection_timeout(timeout: &'static str) {
    counter!(CONNECTION_TIMEOUTS, "timeout" => timeout).increment(1);
}

/// To standard error: JSON lines by default (containers), the event's fields at the top level
/// and the current span only; text without colours for people. The filter in `tracing` syntax.
/// Spans are exported too when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
pub fn init_logging(args: &LogArgs) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&args.log_level)
        .map_err(|e| anyhow::anyhow!("--log-level {:?}: {e}", args.log_level))?;
    server::init_logging(server::Logging {
        format: match args.log_format {
            LogFormat::Json => server::LogFormat::Json,
            LogFormat::Text => server::LogFormat::Text,
        },
        filter,
        stream: server::LogStream::Stderr,
        json: server::JsonLayout {
            flatten_event: true,
            span_list: false,
        },
        text_colours: false,
        text_fields: DefaultFields::new(),
        service: "imgcap-inference",
    })
    .map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}
