//! Background loops: caption workers and the retention sweep. Each stops at the next
//! opportunity once the shutdown flag is set; an interrupted job becomes visible again after
//! its visibility timeout.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::service::Engine;

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
                if let Err(err) = engine.process_job(&lease).await {
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

/// Removes expired images every `interval`.
pub async fn sweep_retention(
    engine: Arc<Engine>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        match engine.sweep_retention().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "retention sweep removed expired images"),
            Err(err) => tracing::error!(error = ?err, "retention sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => {}
        }
    }
}
