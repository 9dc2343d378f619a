//! The web app's accept loop. `axum::serve` has no timeouts and no connection cap, so
//! connections are served here with hyper's HTTP/1.1 server (the approach of the inference
//! server's `connections.rs`):
//!
//! - a header-read timeout: a request head (request line and headers) must arrive in full
//!   within it, so slow or stalled heads (slowloris) cannot hold connections;
//! - a minimum transfer rate for request bodies ([`min_rate`]) instead of a fixed
//!   whole-request timeout, which would cut off a large upload over a slow but honest link:
//!   a stalled body is answered 408 and its connection closed;
//! - an idle keep-alive timeout;
//! - a cap on open connections, over which a connection is answered 503 with `Retry-After`
//!   and closed at once, not queued: a queue would hold the sockets the cap is there to bound,
//!   and a client (or load balancer) retrying elsewhere is served sooner.
//!
//! On shutdown the listener closes, each connection finishes the request it is serving, and
//! [`serve`] returns once all have closed.

pub mod min_rate;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::extract::connect_info::ConnectInfo;
use axum::http::Request;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{service_fn, Service as _};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use self::min_rate::{MinRate, MinRateBody};
use crate::config::{Config, ServerConfig};
use crate::error::AppError;
use crate::service::Engine;
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

/// How long a refused connection may take to receive its 503 and close.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

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
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let (closing, closing_seen) = watch::channel(());
    let mut stop = pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.as_mut() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) if is_connection_error(&err) => continue,
                Err(err) => {
                    // Out of file descriptors or memory: wait for connections to close rather
                    // than spin.
                    tracing::warn!(%err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                tokio::spawn(serve_connection(
                    Connection {
                        stream,
                        peer,
                        _slot: slot,
                    },
                    router.clone(),
                    limits,
                    engine.clone(),
                    closing_seen.clone(),
                ));
            }
            Err(_) => {
                engine.metrics().connection_refused();
                tokio::spawn(refuse(stream, limits.max_connections));
            }
        }
    }
    drop(listener);
    closing.send_replace(());
    // Each connection holds its slot until it has closed.
    let _ = slots.acquire_many(limits.max_connections).await;
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// An accepted connection, holding its slot under the cap until it is dropped.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
}

/// Whether a connection has a request in progress, and since when it has had none.
#[derive(Default)]
struct Activity(Mutex<ActivityState>);

#[derive(Default)]
struct ActivityState {
    in_progress: usize,
    /// When the last request was answered; `None` before the first.
    idle_since: Option<Instant>,
}

impl Activity {
    fn begin(self: &Arc<Self>) -> InProgress {
        self.state().in_progress += 1;
        InProgress(self.clone())
    }

    /// Time since the last answer, while no request is in progress.
    fn idle_for(&self) -> Option<Duration> {
        let state = self.state();
        match state.in_progress {
            0 => state.idle_since.map(|since| since.elapsed()),
            _ => None,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A request being served; the connection is idle again once it is dropped.
struct InProgress(Arc<Activity>);

impl Drop for InProgress {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.in_progress -= 1;
        state.idle_since = Some(Instant::now());
    }
}

async fn serve_connection(
    connection: Connection,
    router: Router,
    limits: ServerLimits,
    engine: Arc<Engine>,
    mut closing: watch::Receiver<()>,
) {
    let metrics = || engine.metrics();
    metrics().connection_opened();
    let activity = Arc::new(Activity::default());
    let app = TowerToHyperService::new(router);
    let tracked = activity.clone();
    let (peer, timeouts) = (connection.peer, engine.clone());
    let service = service_fn(move |request: Request<Incoming>| {
        let in_progress = tracked.begin();
        let (parts, incoming) = request.into_parts();
        let body = MinRateBody::new(incoming, limits.body_min_rate);
        let too_slow = body.too_slow();
        let mut request = Request::from_parts(parts, body);
        request.extensions_mut().insert(ConnectInfo(peer));
        let answer = app.call(request);
        let timeouts = timeouts.clone();
        async move {
            let mut response = answer.await?;
            if too_slow.is_set() {
                // Whatever the handler made of the failed body, the client is told why, and
                // the rest of the body is not waited for.
                timeouts
                    .metrics()
                    .connection_timeout(ConnectionTimeout::RequestBody);
                response = AppError::RequestTimeout.into_response();
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            drop(in_progress);
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut served = pin!(builder.serve_connection(TokioIo::new(connection.stream), service));
    let keep_alive = limits.keep_alive_timeout;
    let mut check_at = Instant::now() + keep_alive;
    let mut shutting_down = false;
    // When the connection was told to close for idleness.
    let mut sent_away = false;
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(err) = result {
                    if err.is_timeout() {
                        metrics().connection_timeout(ConnectionTimeout::HeaderRead);
                    }
                    tracing::debug!(%err, "connection closed on an error");
                }
                break;
            }
            _ = closing.changed(), if !shutting_down => {
                shutting_down = true;
                served.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(check_at) => {
                if sent_away {
                    // Still writing an answer its client does not read.
                    break;
                }
                match activity.idle_for() {
                    Some(idle) if idle >= keep_alive => {
                        metrics().connection_timeout(ConnectionTimeout::KeepAlive);
                        served.as_mut().graceful_shutdown();
                        sent_away = true;
                        check_at = Instant::now() + keep_alive;
                    }
                    Some(idle) => check_at = Instant::now() + (keep_alive - idle),
                    None => check_at = Instant::now() + keep_alive,
                }
            }
        }
    }
    metrics().connection_closed();
}

/// Answers a connection over the cap with 503 and closes it. What the client sent is read
/// (a little, briefly) after the answer, so that closing does not reset the connection under
/// the answer before the client has read it.
async fn refuse(mut stream: TcpStream, limit: u32) {
    let err = AppError::TooManyConnections { limit };
    let body = serde_json::to_vec(&err.body()).unwrap_or_default();
    let status = err.status();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: {REFUSAL_RETRY_AFTER_SECS}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        body.len(),
    );
    let answer = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => left = left.saturating_sub(n),
            }
        }
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, answer).await;
}
