//! The HTTP surface: [`app`] builds the router from [`AppState`]; request ids, JSON errors for
//! unknown routes and methods, liveness and readiness.

pub mod api;
pub mod auth;
pub mod openapi;
pub mod upload;

use imgcap_common::{accepted_request_id, REQUEST_ID_HEADER};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tracing::Instrument;

use crate::error::AppError;
use crate::ports::Authenticator;
use crate::service::{Engine, Readiness};

/// Everything a handler needs, built once by `startup::Application`.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub auth: Arc<dyn Authenticator>,
    pub max_upload_bytes: u64,
    /// Routes the adapters serve themselves (embedded mode: signed blob downloads).
    pub adapter_routes: Router,
}

/// The request's id: the caller's `x-request-id` when it is sane, else a new ULID.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(|| RequestId(ulid::Ulid::new().to_string())))
    }
}

pub fn app(state: AppState) -> Router {
    let adapter_routes = state.adapter_routes.clone();
    Router::new()
        .nest("/api/v1", api::routes())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(|| async { AppError::UnknownRoute })
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .with_state(state)
        .merge(adapter_routes)
        .layer(middleware::from_fn(request_context))
}

/// Request id in and out, one span per request (path only: query strings can hold
/// signatures), and `nosniff` on every answer.
async fn request_context(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(accepted_request_id)
        .map(str::to_owned)
        .unwrap_or_else(|| ulid::Ulid::new().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request finished"
        )
    });
    let headers = response.headers_mut();
    headers.insert(
        REQUEST_ID_HEADER,
        HeaderValue::from_str(&id).expect("checked to be visible ASCII"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive")))]
pub async fn healthz() -> StatusCode {
    StatusCode::OK
}

/// Readiness: database, blob store and at least one captioner usable.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready", body = Readiness),
    (status = 503, description = "A dependency is unusable", body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.engine.readiness().await;
    let status = if readiness.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}
