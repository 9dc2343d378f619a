//! The admin page: figures over the last 30 days, flushing the queue, retrying failed jobs.

use serde::Serialize;
use utoipa::ToSchema;

use crate::core::domain::{now_ms, ImageStatus};
use crate::core::ports::CaptionJob;
use crate::core::readiness::CaptionerReadiness;
use crate::error::AppResult;

use super::Engine;

#[derive(Debug, Serialize, ToSchema)]
pub struct DayFigures {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub uploads: u64,
    pub captions: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderLatency {
    pub provider: String,
    pub captions: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueFigures {
    pub ready: u64,
    pub in_flight: u64,
    /// Dead-lettered jobs (attempts spent).
    pub dead: u64,
    /// Jobs put back because no captioner could take them (part of `ready` and `in_flight`).
    pub waiting_for_captioner: u64,
}

/// Admin figures over the last 30 days (records still stored).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminStats {
    pub days: Vec<DayFigures>,
    pub pending: u64,
    pub done: u64,
    pub failed: u64,
    pub latency: Vec<ProviderLatency>,
    pub queue: QueueFigures,
    /// Each captioner of the chain, as `/readyz` shows it.
    pub captioners: Vec<CaptionerReadiness>,
}

const STATS_WINDOW_MS: i64 = 30 * 86_400_000;

/// The value at quantile `q` of sorted values (nearest rank).
fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Engine {
    pub async fn admin_stats(&self) -> AppResult<AdminStats> {
        let stats = self.ports.repo.stats(now_ms() - STATS_WINDOW_MS).await?;
        let depth = self.ports.queue.depth().await?;
        let count = |status| {
            stats
                .by_status
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n)
        };
        Ok(AdminStats {
            days: stats
                .per_day
                .into_iter()
                .map(|d| DayFigures {
                    day: d.day,
                    uploads: d.uploads,
                    captions: d.captions,
                })
                .collect(),
            pending: count(ImageStatus::Pending),
            done: count(ImageStatus::Done),
            failed: count(ImageStatus::Failed),
            latency: stats
                .latencies
                .into_iter()
                .map(|(provider, sorted)| ProviderLatency {
                    provider,
                    captions: sorted.len() as u64,
                    p50_ms: percentile(&sorted, 0.5),
                    p95_ms: percentile(&sorted, 0.95),
                })
                .collect(),
            queue: QueueFigures {
                ready: depth.ready,
                in_flight: depth.in_flight,
                dead: depth.dead,
                waiting_for_captioner: depth.waiting_for_captioner,
            },
            captioners: self.ports.chain.readiness(),
        })
    }

    /// Removes every queued job; their records become `failed` so that "retry failed jobs"
    /// can bring them back.
    pub async fn flush_queue(&self) -> AppResult<u64> {
        let jobs = self.ports.queue.flush().await?;
        for (user, image) in &jobs {
            self.ports
                .repo
                .fail(
                    user,
                    *image,
                    "the job was removed from the queue by an administrator",
                )
                .await?;
        }
        Ok(jobs.len() as u64)
    }

    /// Sets failed records back to pending and queues their jobs again.
    pub async fn retry_failed(&self, request_id: &str) -> AppResult<u64> {
        let mut total = 0;
        loop {
            let batch = self.ports.repo.reset_failed(100).await?;
            for (user, image) in &batch {
                let job = CaptionJob::new(user.clone(), *image, request_id);
                self.ports.queue.enqueue(&job).await?;
                self.job_queued.notify_one();
            }
            total += batch.len() as u64;
            if batch.len() < 100 {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.5), 50);
        assert_eq!(percentile(&values, 0.95), 95);
        assert_eq!(percentile(&[7], 0.95), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
