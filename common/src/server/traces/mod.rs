//! Distributed traces: the servers' `tracing` spans exported as OpenTelemetry spans over
//! OTLP/HTTP (protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, and nothing at all when it is not. The exporter
//! reads the other standard variables itself (`OTEL_EXPORTER_OTLP_HEADERS`, `..._TIMEOUT`,
//! `OTEL_BSP_SCHEDULE_DELAY`, ...); `OTEL_SERVICE_NAME` names the service, else the server's
//! own name.
//!
//! Toward X-Ray's OTLP endpoint (`https://xray.<region>.amazonaws.com`), or with
//! `IMGCAP_TRACES_SIGV4_REGION` set, every export is signed with SigV4 ([`sigv4`]).
//!
//! A trace crosses a hop as a W3C `traceparent`: the HTTP header, or a string a server carries
//! where headers do not go (a queued job, SageMaker's custom attributes). Trace ids are W3C
//! random ids, which X-Ray accepts as they are.

mod sigv4;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithHttpConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header (and key) a trace context travels in.
pub const TRACEPARENT: &str = "traceparent";

/// The exporter's endpoint settings, the more specific first.
const ENDPOINT_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// OTLP's default export timeout, used by the signed export unless `OTEL_EXPORTER_OTLP_TIMEOUT`
/// (milliseconds) says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Set once the export is on; read by the helpers below, which do nothing without it.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The tracer of the export, when the environment asks for one; `service` is the name used
/// without `OTEL_SERVICE_NAME`.
pub(super) fn tracer_from_env(
    service: &'static str,
) -> Result<Option<opentelemetry_sdk::trace::SdkTracer>, String> {
    let Some(endpoint) = ENDPOINT_VARS
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
    else {
        return Ok(None);
    };
    let explicit_region = std::env::var(sigv4::REGION_VAR).ok();
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http();
    let exporter = match sigv4::signing_region(&endpoint, explicit_region.as_deref())? {
        Some(region) => {
            let timeout = std::env::var("OTEL_EXPORTER_OTLP_TIMEOUT")
                .ok()
                .and_then(|ms| ms.trim().parse().ok())
                .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
            exporter.with_http_client(sigv4::SigV4Client::new(region, timeout)?)
        }
        None => exporter,
    };
    let exporter = exporter
        .build()
        .map_err(|e| format!("cannot set up the OTLP trace exporter: {e}"))?;
    let name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| service.to_owned());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(name).build())
        .build();
    let tracer = provider.tracer(service);
    PROVIDER
        .set(provider)
        .map_err(|_| "the trace export is set up already".to_owned())?;
    Ok(Some(tracer))
}

/// Sends the spans still buffered, waiting at most `timeout`; for the end of `main`.
pub fn flush_traces(timeout: Duration) {
    if let Some(provider) = PROVIDER.get() {
        if let Err(err) = provider.shutdown_with_timeout(timeout) {
            eprintln!("cannot send the last trace spans: {err}");
        }
    }
}

/// Makes `span` a child of the span `traceparent` names (another process's), so both sides
/// share one trace; a missing or malformed `traceparent` leaves `span` a root.
pub fn continue_trace(span: &Span, traceparent: Option<&str>) {
    let (Some(_), Some(traceparent)) = (PROVIDER.get(), traceparent) else {
        return;
    };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    // Fails only for a span already started as a root of its own (none of ours).
    let _ = span.set_parent(parent);
}

/// The `traceparent` of the current span, to hand to the next hop; `None` when traces are
/// off.
pub fn current_traceparent() -> Option<String> {
    PROVIDER.get()?;
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&Span::current().context(), &mut carrier);
    carrier.remove(TRACEPARENT)
}
