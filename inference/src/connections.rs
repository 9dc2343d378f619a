//! The inference server's settings for the shared accept loop ([`imgcap_common::server`]):
//! a connection over the cap is answered 429 (`overloaded`, `Retry-After`), and the connection
//! figures go to [`telemetry`].

use std::future::Future;
use std::sync::Arc;

use axum::http::{header, Response};
use axum::Router;
use hyper_util::service::TowerToHyperService;
use imgcap_common::server::{self, ConnectionEvents, Refusal, Timeout};
use tokio::net::TcpListener;

pub use imgcap_common::server::ConnectionLimits;

use crate::error::ApiError;
use crate::telemetry;

/// Serves `router` on `listener` until `stop` completes, then drains the open connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let make_service = move |_peer| TowerToHyperService::new(router.clone());
    let refusal = refusal(limits.max_connections);
    server::serve(
        listener,
        make_service,
        limits,
        Arc::new(Telemetry),
        refusal,
        stop,
    )
    .await;
}

struct Telemetry;

impl ConnectionEvents for Telemetry {
    fn opened(&self) {
        telemetry::connection_opened();
    }

    fn closed(&self) {
        telemetry::connection_closed();
    }

    fn refused(&self) {
        telemetry::connection_refused();
    }

    fn timed_out(&self, timeout: Timeout) {
        telemetry::connection_timeout(timeout.label());
    }
}

/// The answer to a connection over the cap: 429 `overloaded`, with `Retry-After`.
fn refusal(limit: u32) -> Refusal {
    let err = ApiError::TooManyConnections { limit };
    let body = serde_json::to_vec(&err.body()).unwrap_or_default();
    let mut answer = Response::builder()
        .status(err.status())
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(seconds) = err.retry_after_seconds() {
        answer = answer.header(header::RETRY_AFTER, seconds);
    }
    Refusal::new(answer.body(body).unwrap_or_default())
}
