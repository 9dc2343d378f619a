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
//! - `search_text` and `search_edits` hold each record's searchable words for the caption
//!   search (`search.rs`).
//! - Admin figures are counters updated after each upload and caption (a failed counter update
//!   is logged and never fails the upload or the job).

mod figures;
mod items;
mod queries;
mod search;

use figures::day_of;
use items::{record_from_item, Update};
use search::search_words;

use std::collections::BTreeMap;

use anyhow::{anyhow, Context};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;

use crate::adapters::aws::table::{
    applied, delete_keys, get_n, get_opt_n, get_s, key, key_of, n, parse_s, query_partition, s,
    sha256_pk, Item, DELETIONS_PK,
};
use crate::core::domain::{
    now_ms, CaptionEdits, CaptionResult, ImageId, ImageRecord, ImageStatus, Sha256, UserId,
};
use crate::core::ports::{BoxFuture, CaptionRepo, DayCount, Inserted, PortResult, RecordStats};
use crate::core::provenance::Provenance;
use crate::core::search::{SearchAfter, SearchHit, SearchQuery};

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

    fn search<'a>(
        &'a self,
        user: &'a UserId,
        query: &'a SearchQuery,
        after: Option<SearchAfter>,
        limit: usize,
    ) -> BoxFuture<'a, PortResult<Vec<SearchHit>>> {
        Box::pin(self.search_partition(user, query, after, limit))
    }

    fn complete<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
        result: &'a CaptionResult,
        provenance: &'a Provenance,
    ) -> BoxFuture<'a, PortResult<bool>> {
        Box::pin(async move {
            let now = now_ms();
            let labels = serde_json::to_string(&result.labels).context("labels as JSON")?;
            let provenance = serde_json::to_string(provenance).context("provenance as JSON")?;
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
                    "provenance = :provenance",
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
                    (":provenance".to_owned(), s(provenance)),
                ]),
            );
            update.set_or_remove("concise_confidence", result.concise.confidence.map(n));
            update.set_or_remove("creative_confidence", result.creative.confidence.map(n));
            let labels = result.labels.iter().map(|l| l.name.as_str());
            let texts = [result.concise.text.as_str(), result.creative.text.as_str()];
            update.set_or_remove(
                "search_text",
                search_words(texts.into_iter().chain(labels)).map(s),
            );
            let outcome = self
                .update_record(
                    key(user.as_str(), id.to_string()),
                    update.expression(),
                    "attribute_exists(pk)",
                    update.values,
                )
                .await;
            let completed = outcome.with_context(|| format!("cannot complete image {id}"))?;
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
                .update_record(
                    key(user.as_str(), id.to_string()),
                    "SET #status = :failed, job_state = :failed, failure_reason = :reason, \
                     updated_ms = :now",
                    "attribute_exists(pk) AND #status <> :done",
                    Item::from([
                        (":failed".to_owned(), failed),
                        (":done".to_owned(), s(ImageStatus::Done.as_str())),
                        (":reason".to_owned(), s(reason)),
                        (":now".to_owned(), n(now_ms())),
                    ]),
                )
                .await;
            outcome.with_context(|| format!("cannot mark image {id} failed"))
        })
    }

    fn set_edits<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
        edits: Option<&'a CaptionEdits>,
        provenance: &'a Provenance,
        seen_updated_ms: i64,
    ) -> BoxFuture<'a, PortResult<bool>> {
        Box::pin(async move {
            let provenance = serde_json::to_string(provenance).context("provenance as JSON")?;
            // The update time moves on even within one millisecond, so a second change made
            // from the same read is refused.
            let updated = now_ms().max(seen_updated_ms + 1);
            let mut update = Update::new(
                &["updated_ms = :updated", "provenance = :provenance"],
                &[],
                Item::from([
                    (":updated".to_owned(), n(updated)),
                    (":seen".to_owned(), n(seen_updated_ms)),
                    (":provenance".to_owned(), s(provenance)),
                    (":done".to_owned(), s(ImageStatus::Done.as_str())),
                ]),
            );
            update.set_or_remove("edited_ms", edits.map(|e| n(e.edited_ms)));
            update.set_or_remove(
                "concise_edited",
                edits.and_then(|e| e.concise.clone()).map(s),
            );
            update.set_or_remove(
                "creative_edited",
                edits.and_then(|e| e.creative.clone()).map(s),
            );
            update.set_or_remove(
                "search_edits",
                search_words(
                    edits
                        .into_iter()
                        .flat_map(|e| e.concise.iter().chain(&e.creative))
                        .map(String::as_str),
                )
                .map(s),
            );
            let outcome = self
                .update_record(
                    key(user.as_str(), id.to_string()),
                    update.expression(),
                    "#status = :done AND updated_ms = :seen",
                    update.values,
                )
                .await;
            outcome.with_context(|| format!("cannot store the edits of image {id}"))
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
                .update_record(
                    key(user.as_str(), id.to_string()),
                    "SET #status = :pending, job_state = :pending, updated_ms = :now \
                     REMOVE concise, concise_confidence, creative, creative_confidence, model, \
                     provider, latency_ms, labels, failure_reason, completed_ms, search_text",
                    "attribute_exists(pk) AND #status <> :pending",
                    Item::from([
                        (":pending".to_owned(), pending),
                        (":now".to_owned(), n(now_ms())),
                    ]),
                )
                .await;
            outcome.with_context(|| format!("cannot reset image {id} for captioning"))
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
                let outcome = self
                    .update_record(
                        key_of(item)?,
                        "SET #status = :pending, job_state = :pending, updated_ms = :now \
                         REMOVE failure_reason",
                        "#status = :failed",
                        Item::from([
                            (":pending".to_owned(), s(ImageStatus::Pending.as_str())),
                            (":failed".to_owned(), s(ImageStatus::Failed.as_str())),
                            (":now".to_owned(), n(now_ms())),
                        ]),
                    )
                    .await;
                // Not applied when deleted or retried by someone else since the index was read.
                if outcome.context("cannot reset a failed job")? {
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
