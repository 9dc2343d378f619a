//! [`RateLimiter`] on SQLite: one token bucket per user and bucket name, refilled continuously
//! (`capacity` tokens per hour), read and updated in one transaction.

use std::time::Duration;

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::db::Db;
use crate::domain::{now_ms, UserId};
use crate::ports::{BoxFuture, PortResult, RateDecision, RateLimiter};

pub struct SqliteRateLimiter {
    db: Db,
    capacity: f64,
}

impl SqliteRateLimiter {
    /// `per_hour` tokens per hour, and at most that many at once.
    pub fn new(db: Db, per_hour: u32) -> Self {
        Self {
            db,
            capacity: f64::from(per_hour),
        }
    }
}

/// Refills `tokens` for `elapsed_ms` and takes one if it can. Returns the new level and the
/// decision.
fn take(tokens: f64, elapsed_ms: i64, capacity: f64) -> (f64, RateDecision) {
    let per_ms = capacity / 3_600_000.0;
    let level = (tokens + elapsed_ms.max(0) as f64 * per_ms).min(capacity);
    if level >= 1.0 {
        (level - 1.0, RateDecision::Allowed)
    } else {
        let wait_ms = ((1.0 - level) / per_ms).ceil() as u64;
        (
            level,
            RateDecision::Limited {
                retry_after: Duration::from_millis(wait_ms),
            },
        )
    }
}

impl RateLimiter for SqliteRateLimiter {
    fn acquire<'a>(
        &'a self,
        user: &'a UserId,
        bucket: &'a str,
    ) -> BoxFuture<'a, PortResult<RateDecision>> {
        let user = user.as_str().to_owned();
        let bucket = bucket.to_owned();
        let capacity = self.capacity;
        Box::pin(self.db.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_ms();
            let (tokens, updated) = tx
                .query_row(
                    "SELECT tokens, updated_ms FROM rate_limits WHERE user_id = ?1 AND bucket = ?2",
                    params![user, bucket],
                    |row| Ok((row.get::<_, f64>(0)?, row.get::<_, i64>(1)?)),
                )
                .optional()?
                .unwrap_or((capacity, now));
            let (level, decision) = take(tokens, now - updated, capacity);
            tx.execute(
                "INSERT INTO rate_limits (user_id, bucket, tokens, updated_ms) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, bucket) \
                 DO UPDATE SET tokens = ?3, updated_ms = ?4",
                params![user, bucket, level, now],
            )?;
            tx.commit()?;
            Ok(decision)
        }))
    }

    fn delete_user<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>> {
        let user = user.as_str().to_owned();
        Box::pin(self.db.call(move |conn| {
            conn.execute("DELETE FROM rate_limits WHERE user_id = ?1", params![user])
                .map(drop)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_over_time_and_says_how_long_to_wait() {
        let (level, decision) = take(60.0, 0, 60.0);
        assert_eq!(decision, RateDecision::Allowed);
        assert_eq!(level, 59.0);
        let (_, decision) = take(0.0, 0, 60.0);
        assert_eq!(
            decision,
            RateDecision::Limited {
                retry_after: Duration::from_secs(60)
            }
        );
        // One token comes back per minute at 60 an hour.
        assert_eq!(take(0.0, 60_000, 60.0).1, RateDecision::Allowed);
        // Never more than the capacity.
        assert_eq!(take(59.0, 10 * 3_600_000, 60.0).0, 59.0);
    }
}
