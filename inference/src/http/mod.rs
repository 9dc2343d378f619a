//! The HTTP surface: SageMaker's `/ping` and `/invocations`, plus `/health`, `/info`,
//! `/metrics` and `/openapi.json`. The route table here is the one the OpenAPI document is
//! checked against; request ids and the request log line are set up here too (the middleware
//! is `imgcap_common::server`'s).

mod fault;
pub mod invocations;
pub mod operations;
mod request_body;

use std::sync::Arc;
use std::time::Duration;

use axum::handler::Handler;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use imgcap_common::server::{request_context, RequestLog};
use imgcap_common::ServerLimits;
use imgcap_imaging::budget::MemoryBudget;
use imgcap_imaging::ImageLimits;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Semaphore;

use crate::backend::BackendSlot;
use crate::error::ApiError;

use self::invocations::invocations;
use self::operations::{health, info, metrics, openapi, ping};
use self::request_body::custom_attribute;

/// Settings the handlers need, fixed at start-up.
pub struct Settings {
    pub limits: ServerLimits,
    pub image_limits: ImageLimits,
    /// `--image-memory-budget-mb`: what decoding may hold at once.
    pub image_budget: MemoryBudget,
    pub request_timeout: Duration,
    /// `--max-request-work`: the most beams × new tokens one request may ask for.
    pub max_request_work: u64,
    /// `--fault-injection`: honour `imgcap-fault` in the custom attributes.
    pub fault_injection: bool,
}

pub struct AppState {
    pub backend: Arc<BackendSlot>,
    pub settings: Settings,
    /// `--max-concurrent-requests` permits; none left means 429.
    pub request_slots: Arc<Semaphore>,
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
/// through to the container); otherwise a ULID. Every log line of a request carries it. The
/// caller's trace context comes the same way: `traceparent`, else `traceparent=...` in the
/// custom attributes.
const REQUEST_LOG: RequestLog = RequestLog {
    fallback: sagemaker_request_id,
    trace_fallback: sagemaker_traceparent,
    span: request_span,
    answered,
};

fn sagemaker_request_id(headers: &HeaderMap) -> Option<String> {
    custom_attribute(headers, "request_id")
}

fn sagemaker_traceparent(headers: &HeaderMap) -> Option<String> {
    custom_attribute(headers, imgcap_common::server::TRACEPARENT)
}

fn request_span(id: &str, method: &Method, path: &str) -> tracing::Span {
    tracing::info_span!("request", request_id = %id, %method, %path, otel.kind = "server")
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

#[cfg(test)]
mod tests {
    use axum::http::{HeaderName, HeaderValue};
    use imgcap_common::server::RequestId;

    use super::*;

    /// A header map from name/value pairs (the request-body tests use it too).
    pub(super) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
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
