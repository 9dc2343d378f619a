//! The HTTP surface: [`app`] builds the router from [`AppState`]; request ids (the middleware is
//! `imgcap_common::server`'s), JSON errors for unknown routes and methods, liveness, readiness
//! and metrics.

pub mod api;
pub mod auth;
pub mod device;
pub mod export;
pub mod metrics_listener;
pub mod openapi;
pub mod pages;
pub mod provenance_view;
pub mod server;
pub mod session;
pub mod upload;

pub use imgcap_common::server::RequestId;
use imgcap_common::server::{no_fallback, request_context, RequestLog};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use sha2::Digest;

use self::auth::bearer_token;
use self::pages::CognitoSignIn;
use self::session::Sessions;
use crate::auth::api_tokens::TokenAuthenticator;
use crate::auth::local_accounts::LocalAccounts;
use crate::auth::sign_in_throttle::SignInThrottle;
use crate::auth::sign_up::SignUp;
use crate::config::SignUpPolicy;
use crate::core::engine::{Engine, Readiness};
use crate::core::ports::Authenticator;
use crate::error::{ApiErrorBody, AppError};
use crate::telemetry::UNMATCHED_ROUTE;

/// Everything a handler needs, built once by `startup::Application`.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// Bearer tokens of the REST API.
    pub auth: Arc<dyn Authenticator>,
    /// Browser sessions of the pages, whoever signed the user in.
    pub sessions: Arc<Sessions>,
    /// Local accounts (sign-up and sign-in forms); not offered when `oidc` is set.
    pub accounts: Arc<LocalAccounts>,
    /// Counts failed local-account sign-ins and refuses attempts once too many failed.
    pub sign_in_throttle: Arc<SignInThrottle>,
    /// Marks browsers that signed in as trusted devices of the account, for the throttle.
    pub device_cookies: Arc<device::DeviceCookies>,
    /// Who may create a local account, and how often from one address.
    pub sign_up: Arc<SignUp>,
    /// Sign-in with the identity provider (Cognito hosted UI) when `[oidc]` is configured.
    pub oidc: Option<Arc<CognitoSignIn>>,
    /// Personal API tokens a signed-in user manages on the Account page.
    pub api_tokens: Arc<TokenAuthenticator>,
    /// The `Content-Security-Policy` of every answer.
    pub content_security_policy: HeaderValue,
    /// Served over HTTPS: answers carry `Strict-Transport-Security`.
    pub https: bool,
    pub max_upload_bytes: u64,
    /// The bearer token `GET /metrics` requires; `None` leaves it open.
    pub metrics_token: Option<String>,
    /// Routes the adapters serve themselves (embedded mode: signed blob downloads).
    pub adapter_routes: Router,
}

impl AppState {
    /// Whether `/sign-up` leads anywhere: the local form unless sign-up is closed, or the
    /// identity provider's page (which applies its own sign-up setting).
    pub fn offers_sign_up(&self) -> bool {
        self.oidc.is_some() || self.sign_up.policy() != SignUpPolicy::Closed
    }
}

pub fn app(state: AppState) -> Router {
    let adapter_routes = state.adapter_routes.clone();
    Router::new()
        .nest("/api/v1", api::routes())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(pages::routes(state.clone()))
        .merge(pages::static_routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(|| async { AppError::MethodNotAllowed })
        .with_state(state.clone())
        .merge(adapter_routes)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_request_metrics,
        ))
        .layer(middleware::from_fn_with_state(state, security_headers))
        .layer(middleware::from_fn_with_state(REQUEST_LOG, request_context))
        .layer(middleware::from_fn(nosniff))
}

/// JSON for API paths, the HTML 404 page for everything else.
async fn unknown_route(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        AppError::UnknownRoute.into_response()
    } else {
        pages::not_found().await.into_response()
    }
}

/// The policy for pages that load only their own scripts, styles and images (no inline script
/// or style), plus the origins the blob store's URLs point at. `sign_out_origin` is the identity
/// provider's sign-out page: the sign-out form's answer redirects there, and browsers apply
/// `form-action` to a form's redirects too.
pub fn content_security_policy(
    image_origins: &[&str],
    sign_out_origin: Option<&str>,
) -> HeaderValue {
    let images = std::iter::once("'self' blob:")
        .chain(image_origins.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let forms = std::iter::once("'self'")
        .chain(sign_out_origin)
        .collect::<Vec<_>>()
        .join(" ");
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src {images}; \
         connect-src 'self'; form-action {forms}; frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&policy).expect("origins are visible ASCII")
}

/// Security headers on every answer (`nosniff` is set by [`nosniff`]).
async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        state.content_security_policy.clone(),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    // Pages and API answers are personal (a new API token, captions, the CSRF token of the
    // session), so no cache, shared or the browser's, keeps them; routes that may be cached say
    // so themselves (static assets, signed image URLs).
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// Request ids: the caller's `x-request-id` when it is sane, else a new ULID; one span per
/// request (path only: query strings can hold signatures), joined to the caller's trace when
/// it sends a `traceparent`.
const REQUEST_LOG: RequestLog = RequestLog {
    fallback: no_fallback,
    trace_fallback: no_fallback,
    span: request_span,
    answered: request_finished,
};

fn request_span(id: &str, method: &Method, path: &str) -> tracing::Span {
    tracing::info_span!("request", request_id = %id, method = %method, path = %path, otel.kind = "server")
}

fn request_finished(_: &Method, status: StatusCode, elapsed_ms: f64) {
    tracing::info!(status = status.as_u16(), elapsed_ms, "request finished")
}

/// `nosniff` on every answer.
async fn nosniff(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Counts the request under its route template (`/api/v1/images/{id}`), never the raw path,
/// so no id reaches a label; requests no route matched share one label.
async fn record_request_metrics(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // Extension methods would let any caller mint new series: they share one label.
    let method = match *request.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS => request.method().as_str().to_owned(),
        _ => "other".to_owned(),
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    state.engine.metrics().http_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive")))]
pub async fn healthz() -> StatusCode {
    StatusCode::OK
}

/// Prometheus metrics (`imgcap_web_*`) in the text exposition format, on this listener only
/// when `metrics.token` is set and only to a scraper sending it as a bearer token; otherwise
/// they are served on the metrics listener (`metrics.listen_addr`, loopback by default).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    security(("metrics_token" = [])),
    responses(
        (status = 200, description = "Prometheus text format", body = String,
            content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "`metrics.token` is set and the request lacks it",
            body = ApiErrorBody),
        (status = 404, description = "`metrics.token` is not set: the metrics are served on \
            the metrics listener only", body = ApiErrorBody)))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = &state.metrics_token else {
        return AppError::NotFound(
            "metrics are served on the metrics listener (IMGCAP_METRICS_LISTEN_ADDR); set \
             IMGCAP_METRICS_TOKEN to serve them here too",
        )
        .into_response();
    };
    // Digests compared, not the tokens: the comparison's time says nothing about the token.
    let digest = |token: &str| sha2::Sha256::digest(token.as_bytes());
    let sent = bearer_token(&headers);
    if sent.is_none_or(|sent| digest(sent) != digest(expected)) {
        return AppError::Unauthorized.into_response();
    }
    metrics_listener::exposition(&state)
}

/// Readiness: database, blob store and at least one captioner that can caption now. The body
/// says why not: each captioner's state (`ready`, `loading` with the download's percent,
/// `circuit_open`, `failed` with the reason) and the jobs waiting for a captioner.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready", body = Readiness),
    (status = 503, description = "A dependency is unusable, or no captioner can caption now \
        (the embedded model still loading or failed to load, every circuit open); uploads are \
        still accepted and wait", body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.engine.readiness().await;
    let status = if readiness.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}
