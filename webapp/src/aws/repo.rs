//! [`CaptionRepo`] on the DynamoDB single table (`infra/README_infra.md`).
//!
//! - A record is `pk = <user>`, `sk = <image ULID>`, so `Query pk = <user>` newest first is the
//!   history. The engine's signed cursor carries the last id, so a page starts strictly below
//!   it in the caller's own partition: another user's records cannot be reached.
//! - One record per user and content: the record and a `sha256#<user>` / `<digest>` item are
//!   written in one transaction, each on condition that it does not exist yet.
//! - `job_state` (the sparse GSI) follows `status`: `pending` and `failed` while the job is
//!   open or failed, removed when the record is `done`.
//! - `expires_at` is the table's TTL attribute: DynamoDB deletes expired records (and the S3
//!   lifecycle their blobs), so there is nothing for the app to sweep in AWS mode.
//! - Admin figures are counters updated after each upload and caption (a failed counter update
//!   is logged and never fails the upload or the job).

use std::collections::BTreeMap;

use anyhow::{anyhow, Context};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, Select, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use super::table::{
    applied, delete_keys, get_n, get_opt_n, get_opt_s, get_s, key, key_of, n, parse_s,
    query_partition, s, sha256_pk, Item, DELETIONS_PK, FIGURES_PK,
};
use crate::domain::{
    image_content_type, now_ms, CaptionEdits, CaptionResult, ImageId, ImageRecord, ImageStatus,
    ScoredCaption, Sha256, UserId,
};
use crate::ports::{BoxFuture, CaptionRepo, DayCount, Inserted, PortResult, RecordStats};

/// Latency samples kept per provider and day (an item stays far below DynamoDB's 400 KB).
const LATENCY_SAMPLES_PER_DAY: usize = 10_000;
/// Figures outlive the 30-day window of the admin page by a few days.
const FIGURES_TTL_SECS: i64 = 35 * 86_400;
/// A deletion marker outlives any plausible resumption.
const DELETION_MARKER_TTL_SECS: i64 = 30 * 86_400;

pub struct DynamoRepo {
    client: Client,
    table: String,
    jobs_index: String,
}

impl DynamoRepo {
    pub fn new(client: Client, table: String, jobs_index: String) -> Self {
        Self {
            client,
            table,
            jobs_index,
        }
    }

    async fn get_record(&self, user: &UserId, id: ImageId) -> anyhow::Result<Option<ImageRecord>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user.as_str(), id.to_string())))
            .consistent_read(true)
            .send()
            .await
            .with_context(|| format!("cannot read the record of image {id}"))?;
        output.item.as_ref().map(record_from_item).transpose()
    }

    /// The image id the user's `sha256` item points at.
    async fn sha256_owner(&self, user: &UserId, sha256: Sha256) -> anyhow::Result<Option<ImageId>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(sha256_pk(user), sha256.to_string())))
            .consistent_read(true)
            .send()
            .await
            .context("cannot read the content index")?;
        output
            .item
            .as_ref()
            .map(|item| parse_s(item, "image_id"))
            .transpose()
    }

    /// Removes the `sha256` item if it still points at `id` (a newer upload may own it).
    async fn release_sha256(&self, user: &UserId, sha256: &str, id: &str) -> anyhow::Result<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(sha256_pk(user), sha256)))
            .condition_expression("image_id = :id")
            .expression_attribute_values(":id", s(id))
            .send()
            .await;
        applied(result).context("cannot remove the content index entry")?;
        Ok(())
    }

    /// Writes the record and its content-index item, each only if absent. `Ok(false)` when the
    /// content index already has an entry.
    async fn put_new(&self, record: &ImageRecord) -> anyhow::Result<bool> {
        let absent = "attribute_not_exists(pk)";
        let record_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record_item(record)))
            .condition_expression(absent)
            .build()?;
        let mut index_item = key(sha256_pk(&record.user), record.sha256.to_string());
        index_item.insert("image_id".into(), s(record.id.to_string()));
        index_item.insert("expires_at".into(), n(record.expires_at));
        let index_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(index_item))
            .condition_expression(absent)
            .build()?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(record_put).build())
            .transact_items(TransactWriteItem::builder().put(index_put).build())
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(true),
            Err(err) => err,
        };
        let index_taken = matches!(
            err.as_service_error(),
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) if {
                cancelled
                    .cancellation_reasons()
                    .get(1)
                    .and_then(|reason| reason.code())
                    == Some("ConditionalCheckFailed")
            }
        );
        if index_taken {
            Ok(false)
        } else {
            Err(err).context("cannot write the image record")
        }
    }

    /// Adds to a day's counters; failures are logged, never returned.
    async fn count(&self, day_ms: i64, counter: &str) {
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
    async fn sample_latency(&self, day_ms: i64, result: &CaptionResult) {
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
    async fn figures(&self, prefix: &str, from: &str) -> anyhow::Result<Vec<Item>> {
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

    /// How many records the jobs index holds with this `job_state`.
    async fn count_job_state(&self, state: &str) -> anyhow::Result<u64> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(&self.jobs_index)
            .key_condition_expression("job_state = :state")
            .expression_attribute_values(":state", s(state))
            .select(Select::Count)
            .into_paginator()
            .send();
        let mut total = 0;
        while let Some(page) = pages.next().await {
            total += page.context("cannot count jobs")?.count.max(0) as u64;
        }
        Ok(total)
    }
}

fn day_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

fn record_item(record: &ImageRecord) -> Item {
    let mut item = key(record.user.as_str(), record.id.to_string());
    item.extend([
        ("sha256".to_owned(), s(record.sha256.to_string())),
        ("status".to_owned(), s(record.status.as_str())),
        ("content_type".to_owned(), s(record.content_type)),
        ("size_bytes".to_owned(), n(record.size_bytes)),
        ("width".to_owned(), n(record.width)),
        ("height".to_owned(), n(record.height)),
        ("orientation".to_owned(), n(record.orientation)),
        ("created_ms".to_owned(), n(record.created_ms)),
        ("updated_ms".to_owned(), n(record.updated_ms)),
        ("expires_at".to_owned(), n(record.expires_at)),
        ("job_state".to_owned(), s(ImageStatus::Pending.as_str())),
    ]);
    item
}

fn record_from_item(item: &Item) -> anyhow::Result<ImageRecord> {
    let content_type = get_s(item, "content_type")?;
    let content_type = image_content_type(content_type)
        .ok_or_else(|| anyhow!("unknown content type {content_type}"))?;
    let result = match (get_opt_s(item, "concise"), get_opt_s(item, "creative")) {
        (Some(concise), Some(creative)) => Some(CaptionResult {
            concise: ScoredCaption {
                text: concise.to_owned(),
                confidence: get_opt_n(item, "concise_confidence")?,
            },
            creative: ScoredCaption {
                text: creative.to_owned(),
                confidence: get_opt_n(item, "creative_confidence")?,
            },
            model: get_s(item, "model")?.to_owned(),
            provider: get_s(item, "provider")?.to_owned(),
            latency_ms: get_n(item, "latency_ms")?,
            labels: match get_opt_s(item, "labels") {
                Some(json) => serde_json::from_str(json).context("stored labels")?,
                None => Vec::new(),
            },
        }),
        _ => None,
    };
    let edits = get_opt_n(item, "edited_ms")?.map(|edited_ms| CaptionEdits {
        concise: get_opt_s(item, "concise_edited").map(str::to_owned),
        creative: get_opt_s(item, "creative_edited").map(str::to_owned),
        edited_ms,
    });
    Ok(ImageRecord {
        user: parse_s(item, "pk")?,
        id: parse_s(item, "sk")?,
        sha256: parse_s(item, "sha256")?,
        status: parse_s(item, "status")?,
        content_type,
        size_bytes: get_n(item, "size_bytes")?,
        width: get_n(item, "width")?,
        height: get_n(item, "height")?,
        orientation: get_n(item, "orientation")?,
        created_ms: get_n(item, "created_ms")?,
        updated_ms: get_n(item, "updated_ms")?,
        expires_at: get_n(item, "expires_at")?,
        result,
        failure_reason: get_opt_s(item, "failure_reason").map(str::to_owned),
        edits,
    })
}

/// The SET and REMOVE clauses of an `UpdateItem` and the values they bind.
struct Update {
    sets: Vec<String>,
    removes: Vec<&'static str>,
    values: Item,
}

impl Update {
    fn new(sets: &[&str], removes: &[&'static str], values: Item) -> Self {
        Self {
            sets: sets.iter().map(|clause| (*clause).to_owned()).collect(),
            removes: removes.to_vec(),
            values,
        }
    }

    /// `SET name = :name` for a value that is there, `REMOVE name` for one that is not.
    fn set_or_remove(&mut self, name: &'static str, value: Option<AttributeValue>) {
        match value {
            Some(value) => {
                self.sets.push(format!("{name} = :{name}"));
                self.values.insert(format!(":{name}"), value);
            }
            None => self.removes.push(name),
        }
    }

    fn expression(&self) -> String {
        let mut expression = format!("SET {}", self.sets.join(", "));
        if !self.removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", self.removes.join(", ")));
        }
        expression
    }
}

impl CaptionRepo for DynamoRepo {
    fn insert_pending<'a>(
        &'a self,
        record: &'a ImageRecord,
    ) -> BoxFuture<'a, PortResult<Inserted>> {
        Box::pin(async move {
            // Twice at most: the second try follows the removal of an index entry whose record
            // is gone (an image deleted between the two writes of `delete`).
            for _ in 0..2 {
                if self.put_new(record).await? {
                    self.count(record.created_ms, "uploads").await;
                    return Ok(Inserted::New);
                }
                let Some(owner) = self.sha256_owner(&record.user, record.sha256).await? else {
                    continue;
                };
                if let Some(existing) = self.get_record(&record.user, owner).await? {
                    return Ok(Inserted::Duplicate(Box::new(existing)));
                }
                self.release_sha256(&record.user, &record.sha256.to_string(), &owner.to_string())
                    .await?;
            }
            Err(anyhow!(
                "the content index of image {} keeps changing; try again",
                record.id
            ))
        })
    }

    fn find_by_sha256<'a>(
        &'a self,
        user: &'a UserId,
        sha256: Sha256,
    ) -> BoxFuture<'a, PortResult<Option<ImageRecord>>> {
        Box::pin(async move {
            match self.sha256_owner(user, sha256).await? {
                Some(owner) => self.get_record(user, owner).await,
                None => Ok(None),
            }
        })
    }

    fn get<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
    ) -> BoxFuture<'a, PortResult<Option<ImageRecord>>> {
        Box::pin(self.get_record(user, id))
    }

    fn list<'a>(
        &'a self,
        user: &'a UserId,
        before: Option<ImageId>,
        limit: usize,
    ) -> BoxFuture<'a, PortResult<Vec<ImageRecord>>> {
        Box::pin(async move {
            let mut records = Vec::with_capacity(limit);
            let mut start: Option<Item> = None;
            // ULIDs in Crockford base32 sort as strings in time order.
            let condition = if before.is_some() {
                "pk = :pk AND sk < :before"
            } else {
                "pk = :pk"
            };
            while records.len() < limit {
                let mut query = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression(condition)
                    .expression_attribute_values(":pk", s(user.as_str()))
                    .scan_index_forward(false)
                    .consistent_read(true)
                    .limit((limit - records.len()).min(1000) as i32)
                    .set_exclusive_start_key(start.take());
                if let Some(before) = before {
                    query = query.expression_attribute_values(":before", s(before.to_string()));
                }
                let page = query.send().await.context("cannot read the history")?;
                for item in page.items() {
                    records.push(record_from_item(item)?);
                }
                match page.last_evaluated_key {
                    Some(next) => start = Some(next),
                    None => break,
                }
            }
            Ok(records)
        })
    }

    fn complete<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
        result: &'a CaptionResult,
    ) -> BoxFuture<'a, PortResult<bool>> {
        Box::pin(async move {
            let now = now_ms();
            let labels = serde_json::to_string(&result.labels).context("labels as JSON")?;
            let mut update = Update::new(
                &[
                    "#status = :done",
                    "concise = :concise",
                    "creative = :creative",
                    "model = :model",
                    "provider = :provider",
                    "latency_ms = :latency",
                    "labels = :labels",
                    "updated_ms = :now",
                    "completed_ms = :now",
                ],
                &["failure_reason", "job_state"],
                Item::from([
                    (":done".to_owned(), s(ImageStatus::Done.as_str())),
                    (":concise".to_owned(), s(&result.concise.text)),
                    (":creative".to_owned(), s(&result.creative.text)),
                    (":model".to_owned(), s(&result.model)),
                    (":provider".to_owned(), s(&result.provider)),
                    (":latency".to_owned(), n(result.latency_ms)),
                    (":labels".to_owned(), s(labels)),
                    (":now".to_owned(), n(now)),
                ]),
            );
            update.set_or_remove("concise_confidence", result.concise.confidence.map(n));
            update.set_or_remove("creative_confidence", result.creative.confidence.map(n));
            let outcome = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user.as_str(), id.to_string())))
                .update_expression(update.expression())
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#status", "status")
                .set_expression_attribute_values(Some(update.values))
                .send()
                .await;
            let completed =
                applied(outcome).with_context(|| format!("cannot complete image {id}"))?;
            if completed {
                self.count(now, "captions").await;
                self.sample_latency(now, result).await;
            }
            Ok(completed)
        })
    }

    fn fail<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
        reason: &'a str,
    ) -> BoxFuture<'a, PortResult<bool>> {
        Box::pin(async move {
            let failed = s(ImageStatus::Failed.as_str());
            let outcome = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user.as_str(), id.to_string())))
                .update_expression(
                    "SET #status = :failed, job_state = :failed, failure_reason = :reason, \
                     updated_ms = :now",
                )
                .condition_expression("attribute_exists(pk) AND #status <> :done")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":failed", failed)
                .expression_attribute_values(":done", s(ImageStatus::Done.as_str()))
                .expression_attribute_values(":reason", s(reason))
                .expression_attribute_values(":now", n(now_ms()))
                .send()
                .await;
            applied(outcome).with_context(|| format!("cannot mark image {id} failed"))
        })
    }

    fn set_edits<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
        edits: &'a CaptionEdits,
    ) -> BoxFuture<'a, PortResult<bool>> {
        Box::pin(async move {
            let mut update = Update::new(
                &["edited_ms = :edited", "updated_ms = :edited"],
                &[],
                Item::from([
                    (":edited".to_owned(), n(edits.edited_ms)),
                    (":done".to_owned(), s(ImageStatus::Done.as_str())),
                ]),
            );
            update.set_or_remove("concise_edited", edits.concise.clone().map(s));
            update.set_or_remove("creative_edited", edits.creative.clone().map(s));
            let outcome = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user.as_str(), id.to_string())))
                .update_expression(update.expression())
                .condition_expression("#status = :done")
                .expression_attribute_names("#status", "status")
                .set_expression_attribute_values(Some(update.values))
                .send()
                .await;
            applied(outcome).with_context(|| format!("cannot store the edits of image {id}"))
        })
    }

    fn reset_for_recaption<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
    ) -> BoxFuture<'a, PortResult<bool>> {
        Box::pin(async move {
            let pending = s(ImageStatus::Pending.as_str());
            let outcome = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user.as_str(), id.to_string())))
                .update_expression(
                    "SET #status = :pending, job_state = :pending, updated_ms = :now \
                     REMOVE concise, concise_confidence, creative, creative_confidence, model, \
                     provider, latency_ms, labels, failure_reason, concise_edited, \
                     creative_edited, edited_ms, completed_ms",
                )
                .condition_expression("attribute_exists(pk) AND #status <> :pending")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":pending", pending)
                .expression_attribute_values(":now", n(now_ms()))
                .send()
                .await;
            applied(outcome).with_context(|| format!("cannot reset image {id} for captioning"))
        })
    }

    fn reset_failed(&self, limit: usize) -> BoxFuture<'_, PortResult<Vec<(UserId, ImageId)>>> {
        Box::pin(async move {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(&self.jobs_index)
                .key_condition_expression("job_state = :failed")
                .expression_attribute_values(":failed", s(ImageStatus::Failed.as_str()))
                .limit(limit.clamp(1, 1000) as i32)
                .send()
                .await
                .context("cannot list failed jobs")?;
            let mut reset = Vec::new();
            for item in page.items() {
                let (user, id): (UserId, ImageId) = (parse_s(item, "pk")?, parse_s(item, "sk")?);
                let pending = s(ImageStatus::Pending.as_str());
                let outcome = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key_of(item)?))
                    .update_expression(
                        "SET #status = :pending, job_state = :pending, updated_ms = :now \
                         REMOVE failure_reason",
                    )
                    .condition_expression("#status = :failed")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":pending", pending)
                    .expression_attribute_values(":failed", s(ImageStatus::Failed.as_str()))
                    .expression_attribute_values(":now", n(now_ms()))
                    .send()
                    .await;
                // Not applied when deleted or retried by someone else since the index was read.
                if applied(outcome).context("cannot reset a failed job")? {
                    reset.push((user, id));
                }
            }
            Ok(reset)
        })
    }

    fn delete<'a>(&'a self, user: &'a UserId, id: ImageId) -> BoxFuture<'a, PortResult<bool>> {
        Box::pin(async move {
            let output = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(user.as_str(), id.to_string())))
                .return_values(ReturnValue::AllOld)
                .send()
                .await
                .with_context(|| format!("cannot delete the record of image {id}"))?;
            let Some(old) = output.attributes else {
                return Ok(false);
            };
            // A crash here leaves an index entry without a record; `insert_pending` removes
            // such an entry when it meets it.
            self.release_sha256(user, get_s(&old, "sha256")?, &id.to_string())
                .await?;
            Ok(true)
        })
    }

    fn delete_user<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<u64>> {
        Box::pin(async move {
            let records = query_partition(&self.client, &self.table, user.as_str(), &[]).await?;
            let count = records.len() as u64;
            let keys = records.iter().map(key_of).collect::<Result<_, _>>()?;
            delete_keys(&self.client, &self.table, keys).await?;
            let index = query_partition(&self.client, &self.table, &sha256_pk(user), &[]).await?;
            let keys = index.iter().map(key_of).collect::<Result<_, _>>()?;
            delete_keys(&self.client, &self.table, keys).await?;
            Ok(count)
        })
    }

    /// Always empty: the table's TTL on `expires_at` removes expired records, and the bucket's
    /// lifecycle rule their blobs (the task role may not scan the table).
    fn expired(
        &self,
        _now_secs: i64,
        _limit: usize,
    ) -> BoxFuture<'_, PortResult<Vec<(UserId, ImageId)>>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    /// Uploads and captions per day are counted when they happen (images deleted since are
    /// still counted); `pending` and `failed` come from the jobs index, `done` is the number of
    /// captions in the window.
    fn stats(&self, since_ms: i64) -> BoxFuture<'_, PortResult<RecordStats>> {
        Box::pin(async move {
            let since_day = day_of(since_ms);
            let mut per_day = Vec::new();
            for item in self.figures("day#", &since_day).await? {
                let day = get_s(&item, "sk")?.trim_start_matches("day#").to_owned();
                per_day.push(DayCount {
                    day,
                    uploads: get_opt_n(&item, "uploads")?.unwrap_or(0),
                    captions: get_opt_n(&item, "captions")?.unwrap_or(0),
                });
            }
            let mut latencies: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            for item in self.figures("latency#", &since_day).await? {
                let sk = get_s(&item, "sk")?;
                let provider = sk.splitn(3, '#').nth(2).unwrap_or_default().to_owned();
                let samples = match item.get("latencies") {
                    Some(AttributeValue::L(values)) => values,
                    _ => continue,
                };
                let values = latencies.entry(provider).or_default();
                for sample in samples {
                    if let AttributeValue::N(ms) = sample {
                        values.push(ms.parse().context("a latency sample is not a number")?);
                    }
                }
            }
            let latencies = latencies
                .into_iter()
                .map(|(provider, mut values)| {
                    values.sort_unstable();
                    (provider, values)
                })
                .collect();
            let done = per_day.iter().map(|d| d.captions).sum();
            Ok(RecordStats {
                by_status: vec![
                    (
                        ImageStatus::Pending,
                        self.count_job_state(ImageStatus::Pending.as_str()).await?,
                    ),
                    (ImageStatus::Done, done),
                    (
                        ImageStatus::Failed,
                        self.count_job_state(ImageStatus::Failed.as_str()).await?,
                    ),
                ],
                per_day,
                latencies,
            })
        })
    }

    fn begin_user_deletion<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            let now = now_ms();
            let mut item = key(DELETIONS_PK, user.as_str());
            item.insert("started_ms".into(), n(now));
            item.insert(
                "expires_at".into(),
                n(now / 1000 + DELETION_MARKER_TTL_SECS),
            );
            let outcome = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                // An earlier, unfinished deletion keeps its start time.
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            applied(outcome).context("cannot mark the user's deletion")?;
            Ok(())
        })
    }

    fn end_user_deletion<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(DELETIONS_PK, user.as_str())))
                .send()
                .await
                .context("cannot clear the user's deletion marker")?;
            Ok(())
        })
    }

    fn unfinished_user_deletions(&self) -> BoxFuture<'_, PortResult<Vec<UserId>>> {
        Box::pin(async move {
            let items =
                query_partition(&self.client, &self.table, DELETIONS_PK, &["started_ms"]).await?;
            let mut markers = items
                .iter()
                .map(|item| Ok((get_n::<i64>(item, "started_ms")?, parse_s(item, "sk")?)))
                .collect::<anyhow::Result<Vec<(i64, UserId)>>>()?;
            markers.sort();
            Ok(markers.into_iter().map(|(_, user)| user).collect())
        })
    }

    fn check(&self) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(async move {
            self.client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .with_context(|| format!("cannot reach the table {}", self.table))?;
            Ok(())
        })
    }
}
