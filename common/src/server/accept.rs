//! The HTTP/1.1 accept loop. `axum::serve` has no timeouts and no connection cap, so
//! connections are served here with hyper's HTTP/1.1 server:
//!
//! - a header-read timeout: a request head (request line and headers) must arrive in full
//!   within it, so slow or stalled heads (slowloris) cannot hold connections;
//! - an idle keep-alive timeout;
//! - a cap on open connections, over which a connection is answered with a prepared
//!   [`Refusal`] and closed at once, not queued: a queue would hold the sockets the cap is there
//!   to bound, and a client (or load balancer) retrying elsewhere is served sooner.
//!
//! On shutdown the listener closes, each connection finishes the request it is serving, and
//! [`serve`] returns once all have closed. What each server makes of a request (its router, a
//! body wrapper, the peer's address) is its per-connection service; what it records (open,
//! refused, timed-out connections) goes through [`ConnectionEvents`] into its own metrics.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::{service_fn, Service};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::refusal::{refuse, Refusal};

type BoxError = Box<dyn StdError + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once; more are refused.
    pub max_connections: u32,
    /// Time a request head has to arrive in full.
    pub header_read_timeout: Duration,
    /// Time a connection may stay open with no request in progress.
    pub keep_alive_timeout: Duration,
}

/// Why the accept loop closed a connection for slowness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timeout {
    /// The request head did not arrive in full within the header-read timeout.
    HeaderRead,
    /// The connection stayed idle past the keep-alive timeout.
    KeepAlive,
}

impl Timeout {
    /// The metric label: `header_read` or `keep_alive`.
    pub fn label(self) -> &'static str {
        match self {
            Self::HeaderRead => "header_read",
            Self::KeepAlive => "keep_alive",
        }
    }
}

/// What the accept loop reports, for each server to record in its own metrics.
pub trait ConnectionEvents: Send + Sync + 'static {
    /// A connection within the cap is being served.
    fn opened(&self) {}
    /// A served connection has closed.
    fn closed(&self) {}
    /// A connection over the cap was refused (recorded before its answer is sent).
    fn refused(&self) {}
    /// A served connection was closed for slowness.
    fn timed_out(&self, _timeout: Timeout) {}
}

/// Serves `listener` until `stop` completes, then drains the open connections. Each connection
/// within the cap is served by `make_service(peer)`; one over it is answered `refusal`.
pub async fn serve<M, S, B, E>(
    listener: TcpListener,
    make_service: M,
    limits: ConnectionLimits,
    events: Arc<E>,
    refusal: Refusal,
    stop: impl Future<Output = ()>,
) where
    M: Fn(SocketAddr) -> S,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    E: ConnectionEvents,
{
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
                    stream,
                    make_service(peer),
                    limits,
                    events.clone(),
                    closing_seen.clone(),
                    slot,
                ));
            }
            Err(_) => {
                events.refused();
                tokio::spawn(refuse(stream, refusal.clone()));
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

async fn serve_connection<S, B, E>(
    stream: TcpStream,
    service: S,
    limits: ConnectionLimits,
    events: Arc<E>,
    mut closing: watch::Receiver<()>,
    _slot: OwnedSemaphorePermit,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    E: ConnectionEvents,
{
    events.opened();
    let activity = Arc::new(Activity::default());
    let tracked = activity.clone();
    let service = service_fn(move |request: Request<Incoming>| {
        let in_progress = tracked.begin();
        let answer = service.call(request);
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
                        events.timed_out(Timeout::HeaderRead);
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
                        events.timed_out(Timeout::KeepAlive);
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
    events.closed();
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::oneshot;

    use super::super::refusal::tests::refusal;
    use super::*;

    #[derive(Default)]
    struct Counts {
        opened: AtomicUsize,
        closed: AtomicUsize,
        refused: AtomicUsize,
        header_read: AtomicUsize,
        keep_alive: AtomicUsize,
    }

    impl ConnectionEvents for Counts {
        fn opened(&self) {
            self.opened.fetch_add(1, Ordering::SeqCst);
        }
        fn closed(&self) {
            self.closed.fetch_add(1, Ordering::SeqCst);
        }
        fn refused(&self) {
            self.refused.fetch_add(1, Ordering::SeqCst);
        }
        fn timed_out(&self, timeout: Timeout) {
            match timeout {
                Timeout::HeaderRead => &self.header_read,
                Timeout::KeepAlive => &self.keep_alive,
            }
            .fetch_add(1, Ordering::SeqCst);
        }
    }

    struct Server {
        addr: SocketAddr,
        counts: Arc<Counts>,
        stop: oneshot::Sender<()>,
        done: tokio::task::JoinHandle<()>,
    }

    /// A server whose requests are answered `peer` after `delay`.
    async fn start(max_connections: u32, delay: Duration) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let limits = ConnectionLimits {
            max_connections,
            // Apart, so that which one closes an idle connection does not depend on the
            // machine's load: hyper's header-read timer also runs while a connection idles.
            header_read_timeout: Duration::from_millis(900),
            keep_alive_timeout: Duration::from_millis(200),
        };
        let make_service = move |peer: SocketAddr| {
            service_fn(move |_request: Request<Incoming>| async move {
                tokio::time::sleep(delay).await;
                Ok::<_, Infallible>(Response::new(peer.ip().to_string()))
            })
        };
        let done = tokio::spawn(serve(
            listener,
            make_service,
            limits,
            counts.clone(),
            refusal(),
            async {
                let _ = stopped.await;
            },
        ));
        Server {
            addr,
            counts,
            stop,
            done,
        }
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: test\r\n\r\n";

    /// Everything the server sends until it closes the connection.
    async fn read_to_close(stream: &mut TcpStream) -> String {
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw))
            .await
            .expect("the server closes the connection")
            .unwrap();
        String::from_utf8(raw).unwrap()
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_refused_and_the_others_served() {
        let server = start(1, Duration::ZERO).await;
        let mut first = TcpStream::connect(server.addr).await.unwrap();
        // The first connection takes the only slot once the server has accepted it.
        while server.counts.opened.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut second = TcpStream::connect(server.addr).await.unwrap();
        second.write_all(GET).await.unwrap();
        assert_eq!(
            read_to_close(&mut second).await,
            String::from_utf8(refusal().as_bytes().to_vec()).unwrap()
        );
        assert_eq!(server.counts.refused.load(Ordering::SeqCst), 1);

        first
            .write_all(b"GET / HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = read_to_close(&mut first).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("127.0.0.1"), "{answer}");
    }

    #[tokio::test]
    async fn stalled_heads_and_idle_connections_are_closed() {
        let server = start(4, Duration::ZERO).await;
        let mut stalled = TcpStream::connect(server.addr).await.unwrap();
        stalled.write_all(b"GET / HTTP/1.1\r\nhost").await.unwrap();
        let mut idle = TcpStream::connect(server.addr).await.unwrap();
        idle.write_all(GET).await.unwrap();

        let answer = read_to_close(&mut idle).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        read_to_close(&mut stalled).await;
        // Counted once each, and each connection closed once.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let counts = &server.counts;
        assert_eq!(counts.header_read.load(Ordering::SeqCst), 1);
        assert_eq!(counts.keep_alive.load(Ordering::SeqCst), 1);
        assert_eq!(counts.opened.load(Ordering::SeqCst), 2);
        assert_eq!(counts.closed.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_request_in_progress_is_neither_idle_nor_cut_off_by_shutdown() {
        // Slower than the keep-alive timeout: a request in progress is not idleness.
        let server = start(4, Duration::from_millis(500)).await;
        let mut busy = TcpStream::connect(server.addr).await.unwrap();
        busy.write_all(GET).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.stop.send(()).unwrap();

        let answer = read_to_close(&mut busy).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        tokio::time::timeout(Duration::from_secs(5), server.done)
            .await
            .expect("serve returns once the connections have closed")
            .unwrap();
        assert!(TcpStream::connect(server.addr).await.is_err());
        assert_eq!(server.counts.keep_alive.load(Ordering::SeqCst), 0);
        assert_eq!(server.counts.closed.load(Ordering::SeqCst), 1);
    }
}
