//! Background loops: caption workers, the retention and orphan-blob sweeps, the metrics'
//! gauges. Each stops at the next
//! opportunity once the shutdown flag is set; an interrupted job becomes visible again after
//! its visibility timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use imgcap_common::server::continue_trace;
use tokio::sync::watch;
use tracing::Instrument;

use crate::core::engine::Engine;

/// One caption worker: take a job, run it, repeat; when the queue is empty, wait for a new job
/// or the poll interval.
pub async fn run(
    worker: u32,
    engine: Arc<Engine>,
    poll_interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        match engine.next_job().await {
            Ok(Some(lease)) => {
                // The job continues the trace of the request that queued it.
                let span = tracing::info_span!(
                    "job",
                    request_id = %lease.job.request_id,
                    image = %lease.job.image,
                    attempt = lease.attempts,
                    otel.kind = "consumer",
                );
                continue_trace(&span, lease.job.traceparent.as_deref());
                if let Err(err) = engine.process_job(&lease).instrument(span).await {
                    tracing::error!(worker, error = ?err, image = %lease.job.image, "caption job could not be recorded; it will be delivered again");
                }
                continue;
            }
            Ok(None) => {}
            Err(err) => tracing::error!(worker, error = ?err, "cannot read the job queue"),
        }
        tokio::select! {
            _ = engine.job_queued() => {}
            _ = tokio::time::sleep(poll_interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Runs `task` now, then every `interval`, until the shutdown flag is set.
async fn periodically<F, Fut>(interval: Duration, mut shutdown: watch::Receiver<bool>, mut task: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    while !*shutdown.borrow() {
        task().await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Removes expired images every `interval`.
pub async fn sweep_retention(
    engine: Arc<Engine>,
    interval: Duration,
    shutdown: watch::Receiver<bool>,
) {
    periodically(interval, shutdown, || async {
        match engine.sweep_retention().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "retention sweep removed expired images"),
            Err(err) => tracing::error!(error = ?err, "retention sweep failed"),
        }
    })
    .await
}

/// Removes blobs older than `grace` that no record points at, every `interval`.
pub async fn sweep_orphan_blobs(
    engine: Arc<Engine>,
    grace: Duration,
    interval: Duration,
    shutdown: watch::Receiver<bool>,
) {
    periodically(interval, shutdown, || async {
        match engine.sweep_orphan_blobs(grace).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "orphan sweep removed blobs without a record"),
            Err(err) => tracing::error!(error = ?err, "orphan sweep failed"),
        }
    })
    .await
}

/// Reads the queue depth and circuit states into the metrics every `interval`.
pub async fn refresh_gauges(
    engine: Arc<Engine>,
    interval: Duration,
    shutdown: watch::Receiver<bool>,
) {
    periodically(interval, shutdown, || async {
        if let Err(err) = engine.refresh_gauges().await {
            tracing::warn!(error = ?err, "cannot read the queue depth for the metrics");
        }
    })
    .await
}
