//! `POST /invocations`: the request read and checked, the image decoded and preprocessed on a
//! worker, captioned in a batch, and the answer with its timing headers.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use imgcap_common::server::RequestId;
use imgcap_common::{
    CaptionMode, CaptionParameters, CaptionRequest, CaptionResponse, Captions, GeneratedCaption,
    Timings,
};
use imgcap_imaging::{decode_image_with_header, read_header};
use imgcap_models::Caption;

use super::fault::Fault;
use super::operations::not_serving;
use super::request_body::{
    accept_json, body_kind, custom_attributes_mode, decode_base64, parse_json, read_body, BodyKind,
    CUSTOM_ATTRIBUTES,
};
use super::{AppState, SharedState};
use crate::backend::Backend;
use crate::error::ApiError;
use crate::telemetry;

const TOTAL_TIME: HeaderName = HeaderName::from_static("x-total-time");
const QUEUE_TIME: HeaderName = HeaderName::from_static("x-queue-time");
const PREPROCESS_TIME: HeaderName = HeaderName::from_static("x-preprocess-time");
const INFERENCE_TIME: HeaderName = HeaderName::from_static("x-inference-time");
const BATCH_SIZE: HeaderName = HeaderName::from_static("x-batch-size");

/// Captions one image.
///
/// Send the raw bytes (`image/jpeg`, `image/png`, `application/x-image`,
/// `application/octet-stream`; the format is always sniffed from the bytes) or JSON with the
/// image in base64 and options. `X-Amzn-SageMaker-Custom-Attributes: mode=concise|creative|both`
/// sets the mode when the body does not, and is echoed back. On a server started with
/// `--fault-injection` (never for production traffic), `imgcap-fault=5xx` answers 500 and
/// `imgcap-fault=slow:<ms>` (at most 60000) delays the answer.
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
        ("X-Amzn-SageMaker-Custom-Attributes" = Option<String>, Header, description = "`mode=concise|creative|both` (pairs separated by `;` or `,`); echoed back. With `--fault-injection` only: `imgcap-fault=5xx` or `imgcap-fault=slow:<ms>`"),
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
        (status = 500, description = "Server bug, or a fault injected with `imgcap-fault=5xx` (`internal`)", body = imgcap_common::ErrorBody),
        (status = 503, description = "Model loading (`not_ready`, with `Retry-After`), failed (`unhealthy`), or the image memory budget spent (`busy`, with `Retry-After`)", body = imgcap_common::ErrorBody),
        (status = 504, description = "No answer within the request timeout (`timeout`)", body = imgcap_common::ErrorBody),
    ))]
pub async fn invocations(
    State(state): State<SharedState>,
    RequestId(id): RequestId,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let outcome = match state.request_slots.clone().try_acquire_owned() {
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
struct CaptionedRequest {
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

fn success_response(done: CaptionedRequest, request_id: String, total: Duration) -> Response {
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

async fn caption(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<CaptionedRequest, ApiError> {
    // The body is read before anything can fail, so that an error answer leaves the connection
    // reusable (hyper closes connections whose request body was left unread).
    let bytes = read_body(body, headers, state.settings.limits.max_body_bytes).await?;
    accept_json(headers)?;
    if state.settings.fault_injection {
        match Fault::requested(headers)? {
            Some(Fault::ServerError) => return Err(ApiError::InjectedFault),
            Some(Fault::Slow(delay)) => {
                tracing::warn!(
                    injected = true,
                    delay_ms = delay.as_millis() as u64,
                    "injected fault: delaying the answer"
                );
                tokio::time::sleep(delay).await;
            }
            None => {}
        }
    }
    let backend: &Backend = state
        .backend
        .ready()
        .ok_or_else(|| not_serving(state.backend.health.status()))?;
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
        let _preprocess = tracing::info_span!("preprocess").entered();
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
    Ok(CaptionedRequest {
        mode,
        captions: captioned.captions,
        description: backend.description.clone(),
        preprocess,
        queue: captioned.queue_time,
        inference: captioned.inference_time,
        batch_size: captioned.batch_size,
    })
}
