//! The metrics listener (`metrics.listen_addr`, default `127.0.0.1:9090`): `GET /metrics`
//! without a token, apart from the public listener, so that the figures (routes, volumes,
//! failure rates, queue depths) are not answered to anyone who reaches the app. The main
//! listener serves them only with `metrics.token` ([`super::metrics`]).

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;
use crate::error::AppError;

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(open_metrics))
        .fallback(|| async { AppError::UnknownRoute })
        .with_state(state)
}

async fn open_metrics(State(state): State<AppState>) -> Response {
    exposition(&state)
}

/// The Prometheus text exposition of the app's metrics.
pub fn exposition(state: &AppState) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(imgcap_common::prometheus::TEXT_FORMAT),
        )],
        state.engine.metrics().render(),
    )
        .into_response()
}
