//! [`RateLimiter`] on DynamoDB: one item per user and bucket (`ratelimit#<user>` / bucket),
//! read, refilled and written back on condition that nobody wrote it in between. A lost race
//! reads again, so app instances sharing the table never hand out more tokens than the bucket
//! holds. The items are outside the user's partition, so deleting the user's data leaves them;
//! TTL removes a bucket a day after its last use (it is full again after an hour anyway).

use std::time::Duration;

use anyhow::{anyhow, Context};
use aws_sdk_dynamodb::Client;

use super::table::{applied, get_n, key, n, rate_limit_pk};
use crate::adapters::token_bucket::take;
use crate::core::domain::{now_ms, UserId};
use crate::core::ports::{BoxFuture, PortResult, RateDecision, RateLimiter};

/// Conditional-write rounds before giving up on a bucket under heavy contention.
const ROUNDS: u32 = 20;
/// A bucket untouched for a day is full again anyway; TTL removes it.
const BUCKET_TTL_SECS: i64 = 86_400;

pub struct DynamoRateLimiter {
    client: Client,
    table: String,
}

impl DynamoRateLimiter {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }
}

impl RateLimiter for DynamoRateLimiter {
    fn acquire<'a>(
        &'a self,
        user: &'a UserId,
        bucket: &'a str,
        per_hour: u32,
    ) -> BoxFuture<'a, PortResult<RateDecision>> {
        let capacity = f64::from(per_hour);
        Box::pin(async move {
            let item_key = key(rate_limit_pk(user), bucket);
            for round in 0..ROUNDS {
                let stored = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(item_key.clone()))
                    .consistent_read(true)
                    .send()
                    .await
                    .context("cannot read a rate-limit bucket")?
                    .item;
                let now = now_ms();
                let previous = stored
                    .as_ref()
                    .map(|item| {
                        anyhow::Ok((
                            item.get("tokens")
                                .cloned()
                                .ok_or_else(|| anyhow!("no tokens"))?,
                            get_n::<f64>(item, "tokens")?,
                            get_n::<i64>(item, "updated_ms")?,
                        ))
                    })
                    .transpose()?;
                let (tokens, updated_ms) = previous
                    .as_ref()
                    .map_or((capacity, now), |(_, tokens, updated)| (*tokens, *updated));
                let (level, decision) = take(tokens, now - updated_ms, capacity);
                if decision != RateDecision::Allowed {
                    // Nothing taken, nothing to write: refill is a function of time.
                    return Ok(decision);
                }
                // Clocks of instances differ a little; time never runs backwards in a bucket.
                let stamp = now.max(updated_ms);
                let mut write = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(item_key.clone()))
                    .update_expression("SET tokens = :level, updated_ms = :now, expires_at = :exp")
                    .expression_attribute_values(":level", n(level))
                    .expression_attribute_values(":now", n(stamp))
                    .expression_attribute_values(":exp", n(stamp / 1000 + BUCKET_TTL_SECS));
                write = match previous {
                    // The stored number itself, so the comparison is exact.
                    Some((stored_tokens, _, stored_updated)) => write
                        .condition_expression("tokens = :tokens AND updated_ms = :updated")
                        .expression_attribute_values(":tokens", stored_tokens)
                        .expression_attribute_values(":updated", n(stored_updated)),
                    None => write.condition_expression("attribute_not_exists(pk)"),
                };
                if applied(write.send().await).context("cannot update a rate-limit bucket")? {
                    return Ok(RateDecision::Allowed);
                }
                // Another request took a token first: read again after a short, spread-out
                // pause.
                let jitter = u64::from(rand::random::<u8>() % 8);
                tokio::time::sleep(Duration::from_millis((2 << round.min(5)) as u64 + jitter))
                    .await;
            }
            Err(anyhow!(
                "the rate-limit bucket `{bucket}` stayed contended for {ROUNDS} rounds"
            ))
        })
    }
}
