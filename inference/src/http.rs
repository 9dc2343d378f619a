//! The HTTP surface: SageMaker's `/ping` and `/invocations`, plus `/health`, `/info`,
//! `/metrics` and `/openapi.json`. The route table here is the one the OpenAPI document is
//! checked against.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::handler::Handler;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use base64::Engine;
use http_body_util::BodyExt;
use imgcap_common::{
    CaptionMode, CaptionParameters, CaptionRequest, CaptionResponse, Captions, GeneratedCaption,
    HealthResponse, InfoResponse, ServerLimits, ServerStatus, Timings,
};
use imgcap_imaging::budget::MemoryBudget;
use imgcap_imaging::{decode_image_with_header, read_header, ImageLimits};
use imgcap_models::Caption;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Semaphore;

use imgcap_common::server::{request_context, RequestId, RequestLog};

use crate::error::ApiError;
use crate::state::{Backend, Model};
use crate::telemetry;

pub const CUSTOM_ATTRIBUTES: HeaderName =
    HeaderName::from_static("x-amzn-sagemaker-custom-attributes");
const TOTAL_TIME: HeaderName = HeaderName::from_static("x-total-time");
const QUEUE_TIME: HeaderName = HeaderName::from_static("x-queue-time");
const PREPROCESS_TIME: HeaderName = HeaderName::from_static("x-preprocess-time");
const INFERENCE_TIME: HeaderName = HeaderName::from_static("x-inference-time");
const BATCH_SIZE: HeaderName = HeaderName::from_static("x-batch-size");

/// Settings the handlers need, fixed at start-up.
pub struct Settings {
    pub limits: ServerLimits,
    pub image_limits: ImageLimits,
    /// `--image-memory-budget-mb`: what decoding may hold at once.
    pub image_budget: MemoryBudget,
    pub request_timeout: Duration,
    /// `--max-request-work`: the most beams × new tokens one request may ask for.
    pub max_request_work: u64,
}

pub struct AppState {
    pub model: Arc<Model>,
    pub settings: Settings,
    /// `--max-concurrent-requests` permits; none left means 429.
    pub limiter: Arc<Semaphore>,
    /// `--preprocess-workers` permits: decoding waits for one rather than crowding the model.
    pub preprocess_slots: Semaphore,
    pub metrics: PrometheusHandle,
}

type SharedState = Arc<AppState>;

/// The methods the server's routes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
}

impl Verb {
    pub fn name(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Post => MethodFilter::POST,
        }
    }
}

/// One route: what the router serves and the OpenAPI document must describe.
pub struct Route {
    pub verb: Verb,
    pub path: &'static str,
    handler: MethodRouter<SharedState>,
}

fn route<H, T>(verb: Verb, path: &'static str, handler: H) -> Route
where
    H: Handler<T, SharedState>,
    T: 'static,
{
    Route {
        verb,
        path,
        handler: on(verb.filter(), handler),
    }
}

pub fn routes() -> Vec<Route> {
    vec![
        route(Verb::Get, "/ping", ping),
        route(Verb::Post, "/invocations", invocations),
        route(Verb::Get, "/health", health),
        route(Verb::Get, "/info", info),
        route(Verb::Get, "/metrics", metrics),
        route(Verb::Get, "/openapi.json", openapi),
    ]
}

pub fn router(state: SharedState) -> Router {
    let mut router = Router::new();
    let mut served = Vec::new();
    for route in routes() {
        served.push(format!("{} {}", route.verb.name(), route.path));
        router = router.route(route.path, route.handler);
    }
    tracing::debug!(routes = served.join(", "), "serving");
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(REQUEST_LOG, request_context))
        .with_state(state)
}

/// Request ids (`x-request-id`, echoed back): the client's when
/// [`imgcap_common::accepted_request_id`] accepts it, from `x-request-id` or else from
/// `request_id=...` in the SageMaker custom attributes (the only header InvokeEndpoint passes
/// through to the container); otherwise a ULID. Every log line of a request carries it.
const REQUEST_LOG: RequestLog = RequestLog {
    fallback: sagemaker_request_id,
    span: request_span,
    answered,
};

fn sagemaker_request_id(headers: &HeaderMap) -> Option<String> {
    custom_attribute(headers, "request_id")
}

fn request_span(id: &str, method: &Method, path: &str) -> tracing::Span {
    tracing::info_span!("request", request_id = %id, %method, %path)
}

fn answered(method: &Method, status: StatusCode, elapsed_ms: f64) {
    let status = status.as_u16();
    // Health checks and scrapes arrive every few seconds; keep them out of the info log.
    if method == Method::POST {
        tracing::info!(status, elapsed_ms, "answered");
    } else {
        tracing::debug!(status, elapsed_ms, "answered");
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(uri.path().to_string())
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

fn not_serving(status: ServerStatus) -> ApiError {
    match status {
        ServerStatus::Unhealthy => ApiError::Unhealthy,
        _ => ApiError::NotReady,
    }
}

/// SageMaker's health check: 200 once the model is loaded and warmed up, 503 before that and
/// after a device failure.
#[utoipa::path(get, path = "/ping", tag = "sagemaker",
    responses(
        (status = 200, description = "The model is loaded and warmed up", body = HealthResponse),
        (status = 503, description = "Loading (`not_ready`, with `Retry-After`) or failed (`unhealthy`)", body = imgcap_common::ErrorBody),
    ))]
async fn ping(State(state): State<SharedState>) -> Result<Json<HealthResponse>, ApiError> {
    match state.model.health.status() {
        ServerStatus::Ready => Ok(Json(health_body(&state, ServerStatus::Ready))),
        other => Err(not_serving(other)),
    }
}

fn health_body(state: &AppState, status: ServerStatus) -> HealthResponse {
    let limit = state.settings.limits.max_concurrent_requests as usize;
    HealthResponse {
        status,
        queue_size: state.model.loaded().map_or(0, |b| b.queue.size()),
        in_flight_requests: limit.saturating_sub(state.limiter.available_permits()) as u64,
    }
}

/// The server's state and load, from cached state.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthResponse),
        (status = 503, description = "Loading or unhealthy", body = HealthResponse),
    ))]
async fn health(State(state): State<SharedState>) -> (StatusCode, Json<HealthResponse>) {
    let status = state.model.health.status();
    let code = match status {
        ServerStatus::Ready => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, Json(health_body(&state, status)))
}

/// The model and the server's limits.
#[utoipa::path(get, path = "/info", tag = "operations",
    responses((status = 200, description = "Model, limits and version", body = InfoResponse)))]
async fn info(State(state): State<SharedState>) -> Json<InfoResponse> {
    Json(InfoResponse {
        version: env!("CARGO_PKG_VERSION").to_string(),
        status: state.model.health.status(),
        model: state.model.loaded().map(|b| b.loaded.clone()),
        limits: state.settings.limits.clone(),
    })
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String,
        content_type = "text/plain; version=0.0.4")))]
async fn metrics(State(state): State<SharedState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(imgcap_common::prometheus::TEXT_FORMAT),
        )],
        state.metrics.render(),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this server", body = Object)))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

/// Captions one image.
///
/// Send the raw bytes (`image/jpeg`, `image/png`, `application/x-image`,
/// `application/octet-stream`; the format is always sniffed from the bytes) or JSON with the
/// image in base64 and options. `X-Amzn-SageMaker-Custom-Attributes: mode=concise|creative|both`
/// sets the mode when the body does not, and is echoed back.
#[utoipa::path(post, path = "/invocations", tag = "sagemaker",
    request_body(description = "An image, raw or in a JSON request", content(
        (CaptionRequest = "application/json"),
        ("image/jpeg"),
        ("image/png"),
        ("application/x-image"),
        ("application/octet-stream"),
    )),
    params(
        ("x-request-id" = Option<String>, Header, description = "Request id to log and echo; a ULID is generated when absent"),
        ("X-Amzn-SageMaker-Custom-Attributes" = Option<String>, Header, description = "`mode=concise|creative|both` (pairs separated by `;` or `,`); echoed back"),
        ("Accept" = Option<String>, Header, description = "Must allow application/json"),
    ),
    responses(
        (status = 200, description = "The captions", body = CaptionResponse, headers(
            ("x-request-id" = String, description = "The request id"),
            ("x-total-time" = String, description = "Milliseconds from arrival to answer"),
            ("x-preprocess-time" = String, description = "Milliseconds parsing, decoding and resizing"),
            ("x-queue-time" = String, description = "Milliseconds waiting for the batch"),
            ("x-inference-time" = String, description = "Milliseconds the batch ran on the model"),
            ("x-batch-size" = String, description = "Images in the batch this request ran in"),
        )),
        (status = 400, description = "Malformed JSON (`invalid_json`), base64 (`invalid_base64`) or body (`invalid_body`)", body = imgcap_common::ErrorBody),
        (status = 406, description = "`Accept` excludes application/json (`not_acceptable`)", body = imgcap_common::ErrorBody),
        (status = 413, description = "Body over the size limit (`payload_too_large`)", body = imgcap_common::ErrorBody),
        (status = 415, description = "Unsupported `Content-Type`, or bytes that are not JPEG/PNG (`unsupported_media_type`)", body = imgcap_common::ErrorBody),
        (status = 422, description = "Undecodable or out-of-limits image (`invalid_image`), invalid fields or parameters, or beams × max_new_tokens over the server's work budget (`invalid_parameters`)", body = imgcap_common::ErrorBody),
        (status = 424, description = "The model failed on the batch (`backend`)", body = imgcap_common::ErrorBody),
        (status = 429, description = "Too many concurrent requests (`overloaded`), with `Retry-After`", body = imgcap_common::ErrorBody),
        (status = 500, description = "Server bug (`internal`)", body = imgcap_common::ErrorBody),
        (status = 503, description = "Model loading (`not_ready`, with `Retry-After`), failed (`unhealthy`), or the image memory budget spent (`busy`, with `Retry-After`)", body = imgcap_common::ErrorBody),
        (status = 504, description = "No answer within the request timeout (`timeout`)", body = imgcap_common::ErrorBody),
    ))]
async fn invocations(
    State(state): State<SharedState>,
    RequestId(id): RequestId,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let outcome = match state.limiter.clone().try_acquire_owned() {
        Err(_) => Err(ApiError::Overloaded {
            limit: state.settings.limits.max_concurrent_requests,
        }),
        Ok(_permit) => {
            let timeout = state.settings.request_timeout;
            match tokio::time::timeout(timeout, caption(&state, &headers, body)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(ApiError::Timeout {
                    timeout_ms: timeout.as_millis() as u64,
                }),
            }
        }
    };
    let total = started.elapsed();
    let mut response = match outcome {
        Ok(done) => {
            telemetry::request_finished(200, None, total);
            success_response(done, id, total)
        }
        Err(err) => {
            telemetry::request_finished(
                err.status().as_u16(),
                Some(err.error_type().as_str()),
                total,
            );
            err.into_response()
        }
    };
    if let Some(attributes) = headers.get(&CUSTOM_ATTRIBUTES) {
        response
            .headers_mut()
            .insert(CUSTOM_ATTRIBUTES, attributes.clone());
    }
    response
}

/// A captioned request, before it becomes a response.
struct Done {
    mode: CaptionMode,
    captions: imgcap_models::ImageCaptions,
    description: imgcap_common::ModelDescription,
    preprocess: Duration,
    queue: Duration,
    inference: Duration,
    batch_size: usize,
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

fn success_response(done: Done, request_id: String, total: Duration) -> Response {
    let timings = Timings {
        preprocess_ms: ms(done.preprocess),
        queue_ms: ms(done.queue),
        inference_ms: ms(done.inference),
        total_ms: ms(total),
    };
    let wire = |caption: Caption| GeneratedCaption {
        text: caption.text,
        confidence: caption.confidence,
        tokens: caption.tokens as u32,
    };
    let body = CaptionResponse {
        request_id,
        mode: done.mode,
        captions: Captions {
            concise: done.captions.concise.map(wire),
            creative: done.captions.creative.map(wire),
        },
        model: done.description,
        timings,
    };
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (TOTAL_TIME, timings.total_ms),
        (PREPROCESS_TIME, timings.preprocess_ms),
        (QUEUE_TIME, timings.queue_ms),
        (INFERENCE_TIME, timings.inference_ms),
    ] {
        if let Ok(value) = HeaderValue::try_from(format!("{value:.3}")) {
            headers.insert(name, value);
        }
    }
    headers.insert(BATCH_SIZE, HeaderValue::from(done.batch_size));
    response
}

async fn caption(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Done, ApiError> {
    // The body is read before anything can fail, so that an error answer leaves the connection
    // reusable (hyper closes connections whose request body was left unread).
    let bytes = read_body(body, headers, state.settings.limits.max_body_bytes).await?;
    accept_json(headers)?;
    let backend: &Backend = state
        .model
        .backend()
        .ok_or_else(|| not_serving(state.model.health.status()))?;
    let kind = body_kind(headers)?;
    let header_mode = custom_attributes_mode(headers)?;

    let captioner = backend.captioner.clone();
    let image_limits = state.settings.image_limits;
    let image_budget = state.settings.image_budget.clone();
    let max_work = state.settings.max_request_work;
    let span = tracing::Span::current();
    let slot = state
        .preprocess_slots
        .acquire()
        .await
        .map_err(|_| ApiError::Internal {
            cause: "the preprocessing slots are closed".into(),
        })?;
    let prepared = tokio::task::spawn_blocking(move || {
        let _guard = span.enter();
        let started = Instant::now();
        let (image, mode, params) = match kind {
            BodyKind::Json => {
                let request = parse_json(&bytes)?;
                let image = decode_base64(&request.image)?;
                (image, request.mode, request.parameters)
            }
            BodyKind::Raw => (bytes, None, CaptionParameters::default()),
        };
        let mode = mode.or(header_mode).unwrap_or_default();
        let options = crate::params::caption_options(mode, &params, &captioner, max_work)?;
        let header = read_header(&image, &image_limits)?;
        let _reservation = image_budget.reserve_blocking(header.memory_needed())?;
        let decoded = decode_image_with_header(&image, &header, &image_limits)?;
        let pixels = captioner.processor().pixel_values(&decoded.image);
        Ok::<_, ApiError>((pixels, options, started.elapsed()))
    })
    .await
    .map_err(|e| ApiError::Internal {
        cause: format!("the preprocessing worker failed: {e}"),
    })?;
    drop(slot);
    let (pixels, options, preprocess) = prepared?;
    telemetry::preprocess_duration(preprocess);
    let mode = options.mode;
    let captioned = backend.queue.caption(pixels, options).await?;
    Ok(Done {
        mode,
        captions: captioned.captions,
        description: backend.description.clone(),
        preprocess,
        queue: captioned.queue_time,
        inference: captioned.inference_time,
        batch_size: captioned.batch_size,
    })
}

/// `Accept` missing, empty, or allowing `application/json` (`*/*`, `application/*`, with any
/// q other than 0).
fn accept_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    if text.trim().is_empty() {
        return Ok(());
    }
    let allows_json = text.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|param| {
            param
                .trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        !refused && matches!(media.as_str(), "*/*" | "application/*" | "application/json")
    });
    if allows_json {
        Ok(())
    } else {
        Err(ApiError::NotAcceptable(text.into_owned()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Raw,
}

const RAW_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "application/x-image",
    "application/octet-stream",
];

/// JSON, or raw image bytes (whose format is sniffed later, whatever the declared type). A
/// missing `Content-Type` means raw bytes.
fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BodyKind::Raw);
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" {
        Ok(BodyKind::Json)
    } else if RAW_TYPES.contains(&essence.as_str()) {
        Ok(BodyKind::Raw)
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {essence:?} is not supported: send application/json or the image as {}",
            RAW_TYPES.join(", ")
        )))
    }
}

/// The value of `key` in `X-Amzn-SageMaker-Custom-Attributes` (`key=value` pairs separated by
/// `;` or `,`; keys compared without case).
fn custom_attribute(headers: &HeaderMap, key: &str) -> Option<String> {
    let text = String::from_utf8_lossy(headers.get(&CUSTOM_ATTRIBUTES)?.as_bytes()).into_owned();
    text.split([';', ',']).find_map(|pair| {
        let (k, value) = pair.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| value.trim().to_string())
    })
}

/// `mode=...` in the custom attributes; other keys are ignored.
fn custom_attributes_mode(headers: &HeaderMap) -> Result<Option<CaptionMode>, ApiError> {
    custom_attribute(headers, "mode")
        .map(|value| {
            value.parse().map_err(|e| {
                ApiError::InvalidParameters(format!("X-Amzn-SageMaker-Custom-Attributes: {e}"))
            })
        })
        .transpose()
}

/// The whole body, refusing more than `limit` bytes: up front from `Content-Length`, else as
/// soon as the stream passes the limit.
async fn read_body(mut body: Body, headers: &HeaderMap, limit: u64) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        discard(body, limit).await;
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::InvalidBody(format!("the request body could not be read: {e}"))
        })?;
        if let Some(data) = frame.data_ref() {
            if (bytes.len() + data.len()) as u64 > limit {
                discard(body, limit).await;
                return Err(ApiError::PayloadTooLarge { limit });
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(bytes)
}

/// Reads and drops the rest of a refused body (up to a few times the limit, for at most a few
/// seconds), so a client still sending it reads the 413 rather than a connection reset.
async fn discard(mut body: Body, limit: u64) {
    let mut budget = limit.saturating_mul(4);
    let drain = async {
        while let Some(Ok(frame)) = body.frame().await {
            let len = frame.data_ref().map_or(0, |d| d.len() as u64);
            if len > budget {
                return;
            }
            budget -= len;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
}

/// Syntax errors are the client's malformed body (400); well-formed JSON with the wrong fields
/// is an unprocessable request (422), as axum's own `Json` extractor distinguishes them.
fn parse_json(bytes: &[u8]) -> Result<CaptionRequest, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    serde_json::from_value(value)
        .map_err(|e| ApiError::InvalidParameters(format!("invalid request: {e}")))
}

/// Base64 (standard alphabet, padding optional, whitespace ignored) or a base64 `data:` URI.
fn decode_base64(image: &str) -> Result<Vec<u8>, ApiError> {
    let payload = match image.trim_start().strip_prefix("data:") {
        Some(uri) => {
            let (meta, data) = uri.split_once(',').ok_or_else(|| {
                ApiError::InvalidBase64("the data: URI has no ',' before its data".into())
            })?;
            if !meta
                .split(';')
                .any(|p| p.trim().eq_ignore_ascii_case("base64"))
            {
                return Err(ApiError::InvalidBase64(
                    "only base64 data: URIs are accepted (data:image/png;base64,...)".into(),
                ));
            }
            data
        }
        None => image,
    };
    let compact: Vec<u8> = payload
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    BASE64
        .decode(&compact)
        .map_err(|e| ApiError::InvalidBase64(format!("`image` is not valid base64: {e}")))
}

const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn accept_negotiation() {
        for ok in [
            "",
            "*/*",
            "application/json",
            "Application/JSON; charset=utf-8",
            "text/html, application/*;q=0.5",
        ] {
            assert!(accept_json(&headers(&[("accept", ok)])).is_ok(), "{ok}");
        }
        assert!(accept_json(&HeaderMap::new()).is_ok());
        for refused in [
            "text/html",
            "image/png",
            "application/json;q=0",
            "application/xml",
        ] {
            assert!(
                matches!(
                    accept_json(&headers(&[("accept", refused)])),
                    Err(ApiError::NotAcceptable(_))
                ),
                "{refused}"
            );
        }
    }

    #[test]
    fn content_types() {
        let kind = |ct: &str| body_kind(&headers(&[("content-type", ct)]));
        assert_eq!(
            kind("application/json; charset=utf-8").unwrap(),
            BodyKind::Json
        );
        assert_eq!(kind("image/jpeg").unwrap(), BodyKind::Raw);
        assert_eq!(kind("application/x-image").unwrap(), BodyKind::Raw);
        assert_eq!(body_kind(&HeaderMap::new()).unwrap(), BodyKind::Raw);
        assert!(matches!(
            kind("image/gif"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn custom_attributes() {
        let mode = |v: &str| {
            custom_attributes_mode(&headers(&[("x-amzn-sagemaker-custom-attributes", v)]))
        };
        assert_eq!(mode("mode=creative").unwrap(), Some(CaptionMode::Creative));
        assert_eq!(
            mode("trace=abc; Mode = concise").unwrap(),
            Some(CaptionMode::Concise)
        );
        assert_eq!(mode("c000b4f9-df62").unwrap(), None);
        assert!(matches!(
            mode("mode=poem"),
            Err(ApiError::InvalidParameters(_))
        ));
    }

    #[test]
    fn base64_and_data_uris() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVs\nbG8=\n").unwrap(), b"hello");
        assert_eq!(
            decode_base64("data:image/png;base64,aGVsbG8=").unwrap(),
            b"hello"
        );
        for bad in [
            "not base64!",
            "data:image/png,aGVsbG8=",
            "data:image/png;base64",
        ] {
            assert!(
                matches!(decode_base64(bad), Err(ApiError::InvalidBase64(_))),
                "{bad}"
            );
        }
    }

    fn request_id(headers: &HeaderMap) -> String {
        RequestId::from_headers(headers, sagemaker_request_id).0
    }

    #[test]
    fn request_ids_are_kept_when_sane() {
        assert_eq!(
            request_id(&headers(&[("x-request-id", "abc-123")])),
            "abc-123"
        );
        let generated = request_id(&headers(&[("x-request-id", "has space")]));
        assert_eq!(generated.len(), 26, "a ULID: {generated}");
        assert_eq!(request_id(&HeaderMap::new()).len(), 26);
        let attributes = "x-amzn-sagemaker-custom-attributes";
        assert_eq!(
            request_id(&headers(&[(attributes, "mode=both;request_id=web-42")])),
            "web-42"
        );
        assert_eq!(
            request_id(&headers(&[
                ("x-request-id", "from-header"),
                (attributes, "request_id=web-42")
            ])),
            "from-header"
        );
        let refused = request_id(&headers(&[(attributes, "request_id=a b")]));
        assert_eq!(refused.len(), 26, "a ULID: {refused}");
    }
}
