//! [`RateLimiter`] on SQLite: one token bucket per user and bucket name, refilled continuously
//! (`per_hour` tokens per hour), read and updated in one transaction.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::db::Db;
use crate::adapters::token_bucket::take;
use crate::core::domain::{now_ms, UserId};
use crate::core::ports::{BoxFuture, PortResult, RateDecision, RateLimiter};

pub struct SqliteRateLimiter {
    db: Db,
}

impl SqliteRateLimiter {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// Takes one token from the bucket `(key, bucket)` of `per_hour` tokens an hour. `key` is a
/// user id, or another kind of subject whose text cannot be a user id (a client address for
/// sign-up, `ip:...`).
pub(crate) fn take_token(
    conn: &mut Connection,
    key: &str,
    bucket: &str,
    per_hour: u32,
) -> rusqlite::Result<RateDecision> {
    let capacity = f64::from(per_hour);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = now_ms();
    let (tokens, updated) = tx
        .query_row(
            "SELECT tokens, updated_ms FROM rate_limits WHERE user_id = ?1 AND bucket = ?2",
            params![key, bucket],
            |row| Ok((row.get::<_, f64>(0)?, row.get::<_, i64>(1)?)),
        )
        .optional()?
        .unwrap_or((capacity, now));
    let (level, decision) = take(tokens, now - updated, capacity);
    tx.execute(
        "INSERT INTO rate_limits (user_id, bucket, tokens, updated_ms) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id, bucket) \
         DO UPDATE SET tokens = ?3, updated_ms = ?4",
        params![key, bucket, level, now],
    )?;
    tx.commit()?;
    Ok(decision)
}

impl RateLimiter for SqliteRateLimiter {
    fn acquire<'a>(
        &'a self,
        user: &'a UserId,
        bucket: &'a str,
        per_hour: u32,
    ) -> BoxFuture<'a, PortResult<RateDecision>> {
        let user = user.as_str().to_owned();
        let bucket = bucket.to_owned();
        Box::pin(
            self.db
                .call(move |conn| take_token(conn, &user, &bucket, per_hour)),
        )
    }
}
