//! The routes that answer from cached state: `/ping`, `/health`, `/info`, `/metrics` and
//! `/openapi.json`.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use imgcap_common::{HealthResponse, InfoResponse, ServerStatus};

use super::{AppState, SharedState};
use crate::error::ApiError;
use crate::telemetry;

pub(super) fn not_serving(status: ServerStatus) -> ApiError {
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
pub async fn ping(State(state): State<SharedState>) -> Result<Json<HealthResponse>, ApiError> {
    match state.backend.health.status() {
        ServerStatus::Ready => Ok(Json(health_body(&state, ServerStatus::Ready))),
        other => Err(not_serving(other)),
    }
}

fn health_body(state: &AppState, status: ServerStatus) -> HealthResponse {
    let limit = state.settings.limits.max_concurrent_requests as usize;
    HealthResponse {
        status,
        queue_size: state.backend.loaded().map_or(0, |b| b.queue.size()),
        in_flight_requests: limit.saturating_sub(state.request_slots.available_permits()) as u64,
    }
}

/// The server's state and load, from cached state.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthResponse),
        (status = 503, description = "Loading or unhealthy", body = HealthResponse),
    ))]
pub async fn health(State(state): State<SharedState>) -> (StatusCode, Json<HealthResponse>) {
    let status = state.backend.health.status();
    let code = match status {
        ServerStatus::Ready => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (code, Json(health_body(&state, status)))
}

/// The model and the server's limits.
#[utoipa::path(get, path = "/info", tag = "operations",
    responses((status = 200, description = "Model, limits and version", body = InfoResponse)))]
pub async fn info(State(state): State<SharedState>) -> Json<InfoResponse> {
    Json(InfoResponse {
        version: env!("CARGO_PKG_VERSION").to_string(),
        status: state.backend.health.status(),
        model: state.backend.loaded().map(|b| b.loaded.clone()),
        limits: state.settings.limits.clone(),
        gpu: state.backend.loaded().and_then(|b| b.gpu()),
    })
}

/// Prometheus metrics in the text exposition format. The GPU memory gauges are sampled here,
/// when scraped.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String,
        content_type = "text/plain; version=0.0.4")))]
pub async fn metrics(State(state): State<SharedState>) -> impl IntoResponse {
    if let Some(gpu) = state.backend.loaded().and_then(|b| b.gpu()) {
        telemetry::gpu_memory(&gpu);
    }
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
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}
