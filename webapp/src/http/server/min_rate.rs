//! Request bodies held to a minimum transfer rate. A fixed whole-request timeout would have to
//! be long enough for the largest upload over the slowest honest link, and so would let a
//! stalled body hold a connection (and a handler) that long; a rate scales with the size: after
//! a grace period (connection set-up, TCP slow start) the bytes received so far must average at
//! least `bytes_per_sec`. A body that falls behind fails with [`TooSlow`], and the accept loop
//! answers 408.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

#[derive(Debug, Clone, Copy)]
pub struct MinRate {
    pub bytes_per_sec: u64,
    /// Time from the request head during which no rate is asked for.
    pub grace: Duration,
}

impl MinRate {
    /// When the body must have sent more than `received` bytes, counted from `started`.
    fn due(&self, started: Instant, received: u64) -> Instant {
        let allowed = Duration::from_secs_f64(received as f64 / self.bytes_per_sec as f64);
        started + self.grace + allowed
    }
}

/// The error a body that fell behind the rate fails with.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived slower than the server's minimum transfer rate")]
pub struct TooSlow;

/// Set once a body fell behind the rate.
#[derive(Debug, Clone, Default)]
pub struct TooSlowFlag(Arc<AtomicBool>);

impl TooSlowFlag {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A request body under a [`MinRate`], from the moment it is made (the request head's arrival).
pub struct MinRateBody<B> {
    inner: B,
    rate: MinRate,
    started: Instant,
    received: u64,
    deadline: Pin<Box<Sleep>>,
    too_slow: TooSlowFlag,
}

impl<B> MinRateBody<B> {
    /// Made when the request head has arrived: the clock starts then.
    pub fn new(inner: B, rate: MinRate) -> Self {
        let started = Instant::now();
        Self {
            inner,
            rate,
            started,
            received: 0,
            deadline: Box::pin(tokio::time::sleep_until(rate.due(started, 0))),
            too_slow: TooSlowFlag::default(),
        }
    }

    /// Set once this body falls behind.
    pub fn too_slow(&self) -> TooSlowFlag {
        self.too_slow.clone()
    }
}

impl<B> Body for MinRateBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let due = this.rate.due(this.started, this.received);
                    this.deadline.as_mut().reset(due);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.too_slow.set();
                    Poll::Ready(Some(Err(TooSlow.into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_applies_after_the_grace_period() {
        let rate = MinRate {
            bytes_per_sec: 16 * 1024,
            grace: Duration::from_secs(10),
        };
        let start = Instant::now();
        assert_eq!(rate.due(start, 0), start + Duration::from_secs(10));
        // 10 MiB at 16 KiB/s: 640 s after the grace period.
        assert_eq!(
            rate.due(start, 10 << 20),
            start + Duration::from_secs(10 + 640)
        );
    }
}
