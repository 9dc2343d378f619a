//! The web app's settings for the shared accept loop ([`imgcap_common::server`]: a
//! header-read timeout, an idle keep-alive timeout, a connection cap, graceful shutdown), and
//! what it adds per request:
//!
//! - a minimum transfer rate for request bodies ([`min_rate`]) instead of a fixed
//!   whole-request timeout, which would cut off a large upload over a slow but honest link:
//!   a stalled body is answered 408 and its connection closed;
//! - each connection's peer, for handlers, as `ConnectInfo<SocketAddr>`;
//! - over the cap, a connection is answered 503 (`too_many_connections`) with `Retry-After`
//!   and closed at once, not queued: a queue would hold the sockets the cap is there to bound,
//!   and a client (or load balancer) retrying elsewhere is served sooner.

pub mod min_rate;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response};
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::Incoming;
use hyper::service::{service_fn, Service as _};
use hyper_util::service::TowerToHyperService;
use imgcap_common::server::{self, ConnectionEvents, ConnectionLimits, Refusal, Timeout};
use tokio::net::TcpListener;

use self::min_rate::{MinRate, MinRateBody};
use crate::config::{Config, ServerConfig};
use crate::core::engine::Engine;
use crate::error::AppError;
use crate::telemetry::ConnectionTimeout;

#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    pub max_connections: u32,
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub body_min_rate: MinRate,
}

impl ServerLimits {
    pub fn new(config: &ServerConfig) -> Self {
        Self {
            max_connections: config.max_connections,
            header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
            keep_alive_timeout: Duration::from_millis(config.keep_alive_timeout_ms),
            body_min_rate: MinRate {
                bytes_per_sec: config.body_min_bytes_per_sec,
                grace: Duration::from_millis(config.body_grace_ms),
            },
        }
    }
}

/// The app's listener and the metrics listener.
pub struct Listeners {
    pub app: TcpListener,
    pub metrics: TcpListener,
}

impl Listeners {
    /// Binds `listen_addr` and `metrics.listen_addr`.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let bind = |addr: SocketAddr, key: &'static str| async move {
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} ({key})"))
        };
        Ok(Self {
            app: bind(config.listen_addr, "`listen_addr`, IMGCAP_LISTEN_ADDR").await?,
            metrics: bind(
                config.metrics.listen_addr,
                "`metrics.listen_addr`, IMGCAP_METRICS_LISTEN_ADDR",
            )
            .await?,
        })
    }
}

/// The `Retry-After` of a refused connection: connections come and go within seconds.
const REFUSAL_RETRY_AFTER_SECS: u64 = 1;

/// Serves `router` on `listener` until `stop` completes, then drains the open connections.
/// Handlers see each connection's peer as `ConnectInfo<SocketAddr>`; the connection figures
/// go to `engine`'s metrics.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    engine: Arc<Engine>,
    stop: impl Future<Output = ()>,
) {
    let connection_limits = ConnectionLimits {
        max_connections: limits.max_connections,
        header_read_timeout: limits.header_read_timeout,
        keep_alive_timeout: limits.keep_alive_timeout,
    };
    let events = Arc::new(EngineEvents(engine.clone()));
    let make_service = move |peer: SocketAddr| {
        let app = TowerToHyperService::new(router.clone());
        let engine = engine.clone();
        service_fn(move |request: Request<Incoming>| {
            let (parts, incoming) = request.into_parts();
            let body = MinRateBody::new(incoming, limits.body_min_rate);
            let too_slow = body.too_slow();
            let mut request = Request::from_parts(parts, body);
            request.extensions_mut().insert(ConnectInfo(peer));
            let answer = app.call(request);
            let engine = engine.clone();
            async move {
                let mut response = answer.await?;
                if too_slow.is_set() {
                    // Whatever the handler made of the failed body, the client is told why,
                    // and the rest of the body is not waited for.
                    engine
                        .metrics()
                        .connection_timeout(ConnectionTimeout::RequestBody);
                    response = AppError::RequestTimeout.into_response();
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let refusal = refusal(limits.max_connections);
    server::serve(
        listener,
        make_service,
        connection_limits,
        events,
        refusal,
        stop,
    )
    .await;
}

/// The accept loop's figures, into the engine's metrics.
struct EngineEvents(Arc<Engine>);

impl ConnectionEvents for EngineEvents {
    fn opened(&self) {
        self.0.metrics().connection_opened();
    }

    fn closed(&self) {
        self.0.metrics().connection_closed();
    }

    fn refused(&self) {
        self.0.metrics().connection_refused();
    }

    fn timed_out(&self, timeout: Timeout) {
        let timeout = match timeout {
            Timeout::HeaderRead => ConnectionTimeout::HeaderRead,
            Timeout::KeepAlive => ConnectionTimeout::KeepAlive,
        };
        self.0.metrics().connection_timeout(timeout);
    }
}

/// The answer to a connection over the cap: 503 `too_many_connections`, with `Retry-After`.
fn refusal(limit: u32) -> Refusal {
    let err = AppError::TooManyConnections { limit };
    let body = serde_json::to_vec(&err.body()).unwrap_or_default();
    let answer = Response::builder()
        .status(err.status())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::RETRY_AFTER, REFUSAL_RETRY_AFTER_SECS)
        .body(body);
    Refusal::new(answer.unwrap_or_default())
}
