//! The accept loop. `axum::serve` has no timeouts and no connection cap, so connections are
//! served here with hyper's HTTP/1.1 server: a header-read timeout (slow or stalled request
//! heads), an idle keep-alive timeout, and a cap on open connections, over which a connection is
//! answered 429 and closed. On shutdown the listener closes, each connection finishes the
//! request it is serving, and [`serve`] returns once all have closed.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
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

use crate::error::ApiError;
use crate::telemetry;

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: u32,
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
}

/// How long a refused connection may take to receive its 429 and close.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `stop` completes, then drains the open connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let (closing, closing_seen) = watch::channel(());
    let mut stop = pin!(stop);
    loop {
        let stream = tokio::select! {
            () = stop.as_mut() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
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
                    stream,
                    router.clone(),
                    limits,
                    closing_seen.clone(),
                    slot,
                ));
            }
            Err(_) => {
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
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    mut closing: watch::Receiver<()>,
    _slot: OwnedSemaphorePermit,
) {
    telemetry::connection_opened();
    let activity = Arc::new(Activity::default());
    let app = TowerToHyperService::new(router);
    let tracked = activity.clone();
    let service = service_fn(move |request: Request<Incoming>| {
        let in_progress = tracked.begin();
        let answer = app.call(request);
        async move {
            let response = answer.await;
            drop(in_progress);
            response
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let keep_alive = limits.keep_alive_timeout;
    let mut check_at = Instant::now() + keep_alive;
    let mut shutting_down = false;
    // When the connection was told to close for idleness.
    let mut sent_away = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    if err.is_timeout() {
                        telemetry::connection_timeout("header_read");
                    }
                    tracing::debug!(%err, "connection closed on an error");
                }
                break;
            }
            _ = closing.changed(), if !shutting_down => {
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(check_at) => {
                if sent_away {
                    // Still writing an answer its client does not read.
                    break;
                }
                match activity.idle_for() {
                    Some(idle) if idle >= keep_alive => {
                        telemetry::connection_timeout("keep_alive");
                        connection.as_mut().graceful_shutdown();
                        sent_away = true;
                        check_at = Instant::now() + keep_alive;
                    }
                    Some(idle) => check_at = Instant::now() + (keep_alive - idle),
                    None => check_at = Instant::now() + keep_alive,
                }
            }
        }
    }
    telemetry::connection_closed();
}

/// Answers a connection over the cap with 429 and closes it. What the client sent is read
/// (a little, briefly) after the answer, so that closing does not reset the connection under
/// the answer before the client has read it.
async fn refuse(mut stream: TcpStream, limit: u32) {
    telemetry::connection_refused();
    let err = ApiError::TooManyConnections { limit };
    let body = serde_json::to_vec(&err.body()).unwrap_or_default();
    let status = err.status();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        body.len()
    );
    if let Some(seconds) = err.retry_after_seconds() {
        head.push_str(&format!("retry-after: {seconds}\r\n"));
    }
    head.push_str("\r\n");
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
