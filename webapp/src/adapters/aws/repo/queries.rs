//! The reads and writes the `CaptionRepo` methods share.

use anyhow::Context;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, Select, TransactWriteItem};

use crate::adapters::aws::table::{applied, key, n, parse_s, s, sha256_pk, Item};
use crate::core::domain::{ImageId, ImageRecord, Sha256, UserId};

use super::items::{record_from_item, record_item};
use super::DynamoRepo;

impl DynamoRepo {
    pub(super) async fn get_record(
        &self,
        user: &UserId,
        id: ImageId,
    ) -> anyhow::Result<Option<ImageRecord>> {
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
    pub(super) async fn sha256_owner(
        &self,
        user: &UserId,
        sha256: Sha256,
    ) -> anyhow::Result<Option<ImageId>> {
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
    pub(super) async fn release_sha256(
        &self,
        user: &UserId,
        sha256: &str,
        id: &str,
    ) -> anyhow::Result<()> {
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
    pub(super) async fn put_new(&self, record: &ImageRecord) -> anyhow::Result<bool> {
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

    /// How many records the jobs index holds with this `job_state`.
    pub(super) async fn count_job_state(&self, state: &str) -> anyhow::Result<u64> {
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

    /// One conditional `UpdateItem` of a record (`#status` stands for `status` in `expression`
    /// and `condition`); `Ok(false)` when the condition does not hold.
    pub(super) async fn update_record(
        &self,
        key: Item,
        expression: impl Into<String>,
        condition: &str,
        values: Item,
    ) -> anyhow::Result<bool> {
        let outcome = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        Ok(applied(outcome)?)
    }
}
