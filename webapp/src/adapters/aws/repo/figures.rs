//! The admin figures: per-day counters and caption latency samples in the figures partition.

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::adapters::aws::table::{applied, key, n, s, Item, FIGURES_PK};
use crate::core::domain::CaptionResult;

use super::DynamoRepo;

/// Latency samples kept per provider and day (an item stays far below DynamoDB's 400 KB).
const LATENCY_SAMPLES_PER_DAY: usize = 10_000;
/// Figures outlive the 30-day window of the admin page by a few days.
const FIGURES_TTL_SECS: i64 = 35 * 86_400;

impl DynamoRepo {
    /// Adds to a day's counters; failures are logged, never returned.
    pub(super) async fn count(&self, day_ms: i64, counter: &str) {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(FIGURES_PK, format!("day#{}", day_of(day_ms)))))
            .update_expression("ADD #c :one SET expires_at = :exp")
            .expression_attribute_names("#c", counter)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":exp", n(day_ms / 1000 + FIGURES_TTL_SECS))
            .send()
            .await;
        if let Err(err) = result {
            tracing::warn!(error = ?err, counter, "cannot update the admin figures");
        }
    }

    /// Appends a caption latency to the provider's samples of the day, up to the cap.
    pub(super) async fn sample_latency(&self, day_ms: i64, result: &CaptionResult) {
        let sk = format!("latency#{}#{}", day_of(day_ms), result.provider);
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(FIGURES_PK, sk)))
            .update_expression(
                "SET latencies = list_append(if_not_exists(latencies, :empty), :sample), \
                 expires_at = :exp",
            )
            .condition_expression("attribute_not_exists(latencies) OR size(latencies) < :cap")
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(":sample", AttributeValue::L(vec![n(result.latency_ms)]))
            .expression_attribute_values(":cap", n(LATENCY_SAMPLES_PER_DAY))
            .expression_attribute_values(":exp", n(day_ms / 1000 + FIGURES_TTL_SECS))
            .send()
            .await;
        // Not applied once the day's samples are full.
        if let Err(err) = applied(outcome) {
            tracing::warn!(error = ?err, "cannot record a caption latency");
        }
    }

    /// Items of the figures partition whose `sk` starts with `prefix` and is at least
    /// `prefix` + `from`.
    pub(super) async fn figures(&self, prefix: &str, from: &str) -> anyhow::Result<Vec<Item>> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(FIGURES_PK))
            .expression_attribute_values(":from", s(format!("{prefix}{from}")))
            // `~` sorts after every character of a day and a provider name.
            .expression_attribute_values(":to", s(format!("{prefix}~")))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .context("cannot read the admin figures")
    }
}

/// The UTC day of a time, `YYYY-MM-DD`.
pub(super) fn day_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}
