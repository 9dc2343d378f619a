//! [`RateLimiter`] on SQLite: one token bucket per user and bucket name, refilled continuously
//! (`capacity` tokens per hour), read and updated in one transaction.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::db::Db;
use crate::domain::{now_ms, UserId};
use crate::ports::{BoxFuture, PortResult, RateDecision, RateLimiter};
use crate::token_bucket::take;

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
