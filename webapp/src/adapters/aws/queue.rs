//! [`JobQueue`] on SQS with a dead-letter queue, plus the `job_state` of the image record in
//! DynamoDB for what SQS cannot do.
//!
//! - A message per job (JSON `user_id`, `image_id`, `request_id`); a lease is one receive:
//!   its receipt handle, and `ApproximateReceiveCount` as the attempt number.
//! - Dead-lettering is the queue's redrive policy (the task role may read the DLQ's depth but
//!   not send to it): [`JobQueue::dead_letter`] makes the message visible again, and SQS moves
//!   it to the DLQ at its next receive because its receive count has reached `maxReceiveCount`.
//!   That is why [`SqsQueue::connect`] requires `worker.max_attempts` = `maxReceiveCount`.
//! - SQS cannot remove a given message or list the messages in flight. A job is live while its
//!   record's `job_state` is `pending`; `remove`, `delete_user` and `flush` clear that, and a
//!   message whose job is not live is deleted when it is received instead of being delivered.
//!   So `depth` still counts such messages until a worker receives them, and dead-lettered
//!   messages of deleted images stay in the DLQ until its retention ends (they hold ids only).
//! - `enqueue` sets `job_state = pending` (no message for a record that is gone or done) and
//!   `dead_letter` sets `failed`, as `infra/README_infra.md` describes the sparse index.
//!   Queueing a job the image already has sends a second message; the engine treats the
//!   second delivery as a repeat (the record is no longer pending).
//! - SQS counts every receive, and its redrive moves a message after `maxReceiveCount` of them,
//!   so a job waiting out a captioner outage could not stay on one message. [`JobQueue::defer`]
//!   therefore sends a fresh copy of the message, delayed (at most SQS's 900 s; the engine
//!   defers again if the wait is longer), carrying in its body the deliveries that counted so
//!   far (`counted`), and then deletes the received one. A lease's attempts are
//!   `counted + ApproximateReceiveCount`. A copy that carries counted deliveries reaches
//!   `maxReceiveCount` receives later than its job runs out of attempts, so
//!   [`JobQueue::dead_letter`] cannot rely on the next receive moving it: a message of a
//!   dead-lettered job (`job_state = failed`) is made visible again at each receive until SQS
//!   moves it to the DLQ. The deferred copies are the queue's delayed messages, which is what
//!   `depth` reports as waiting for a captioner.

use std::time::Duration;

use anyhow::{anyhow, Context};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde::{Deserialize, Serialize};

use super::table::{applied, get_opt_s, key, parse_s, s};
use crate::core::domain::{ImageId, ImageStatus, UserId};
use crate::core::ports::{BoxFuture, CaptionJob, JobQueue, Lease, PortResult, QueueDepth};

/// SQS's longest visibility timeout (12 hours).
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// Messages of removed jobs (dropped) or dead-lettered ones (released for the redrive) passed
/// over in one `receive` before it answers "nothing now".
const DROPS_PER_RECEIVE: usize = 10;
/// SQS's longest message delay (15 minutes).
const MAX_DELAY_SECS: u64 = 900;

pub struct SqsQueue {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    dlq_url: String,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    jobs_index: String,
    /// Long-poll wait of a receive (0 to 20 s).
    receive_wait: Duration,
}

/// Where the queue lives and how it is read.
pub struct SqsQueueSettings {
    pub queue_url: String,
    pub dlq_url: String,
    pub table: String,
    pub jobs_index: String,
    pub receive_wait: Duration,
}

#[derive(Serialize, Deserialize)]
struct JobMessage {
    user_id: String,
    image_id: String,
    request_id: String,
    /// The trace the job continues ([`CaptionJob::traceparent`]); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traceparent: Option<String>,
    /// Deliveries of earlier copies of this message that counted against the job
    /// ([`JobQueue::defer`] sends copies); absent in a first message.
    #[serde(default, skip_serializing_if = "is_zero")]
    counted: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl JobMessage {
    fn new(job: &CaptionJob, counted: u32) -> Self {
        Self {
            user_id: job.user.to_string(),
            image_id: job.image.to_string(),
            request_id: job.request_id.clone(),
            traceparent: job.traceparent.clone(),
            counted,
        }
    }
}

fn visibility_secs(duration: Duration) -> i32 {
    (duration.as_millis().div_ceil(1000) as u64).min(MAX_VISIBILITY_SECS) as i32
}

impl SqsQueue {
    /// Reads the queue's redrive policy and checks it against the app's attempts: the DLQ
    /// must be `settings.dlq_url` and `maxReceiveCount` must equal `max_attempts`.
    pub async fn connect(
        sqs: aws_sdk_sqs::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        settings: SqsQueueSettings,
        max_attempts: u32,
    ) -> anyhow::Result<Self> {
        let attributes = |url: &str| {
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::RedrivePolicy)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
        };
        let queue = attributes(&settings.queue_url)
            .await
            .with_context(|| format!("cannot read the queue {}", settings.queue_url))?;
        let dlq = attributes(&settings.dlq_url)
            .await
            .with_context(|| format!("cannot read the dead-letter queue {}", settings.dlq_url))?;
        let redrive = queue
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
            .ok_or_else(|| {
                anyhow!(
                    "the queue {} has no redrive policy (`aws.sqs_queue_url`)",
                    settings.queue_url
                )
            })?;
        let redrive: serde_json::Value =
            serde_json::from_str(redrive).context("the queue's redrive policy is not JSON")?;
        let target = redrive["deadLetterTargetArn"].as_str();
        let dlq_arn = dlq
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .map(String::as_str);
        anyhow::ensure!(
            target.is_some() && target == dlq_arn,
            "the queue's dead-letter target {target:?} is not `aws.sqs_dlq_url` ({dlq_arn:?})"
        );
        // Terraform writes the number, the console a string.
        let max_receive_count = redrive["maxReceiveCount"]
            .as_u64()
            .or_else(|| redrive["maxReceiveCount"].as_str()?.parse().ok())
            .ok_or_else(|| anyhow!("the queue's redrive policy has no maxReceiveCount"))?
            as u32;
        anyhow::ensure!(
            max_receive_count == max_attempts,
            "`worker.max_attempts` ({max_attempts}) must equal the queue's maxReceiveCount \
             ({max_receive_count}): SQS moves a job to the dead-letter queue after that many \
             receives"
        );
        Ok(Self {
            sqs,
            queue_url: settings.queue_url,
            dlq_url: settings.dlq_url,
            dynamodb,
            table: settings.table,
            jobs_index: settings.jobs_index,
            receive_wait: settings.receive_wait.min(Duration::from_secs(20)),
        })
    }

    /// The job's state in its record: `pending` while it waits for the job, `failed` once
    /// dead-lettered, `None` when the job was removed or the record is gone.
    async fn job_state(&self, user: &str, image: &str) -> anyhow::Result<Option<String>> {
        let item = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(user, image)))
            .projection_expression("job_state")
            .consistent_read(true)
            .send()
            .await
            .context("cannot read a job's state")?
            .item;
        Ok(item
            .as_ref()
            .and_then(|item| get_opt_s(item, "job_state"))
            .map(str::to_owned))
    }

    /// Ends the job in the record: `remove`, `delete_user` and `flush` share this.
    /// `Ok(false)` when there was no open job (no record, or not pending).
    async fn close_job(&self, user: &str, image: &str) -> anyhow::Result<bool> {
        let outcome = self
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user, image)))
            .update_expression("REMOVE job_state")
            .condition_expression("job_state = :pending")
            .expression_attribute_values(":pending", s(ImageStatus::Pending.as_str()))
            .send()
            .await;
        applied(outcome).context("cannot close a job")
    }

    async fn delete_message(&self, receipt: &str) -> anyhow::Result<()> {
        match self
            .sqs
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            // An expired lease: the message is someone else's now.
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_receipt_handle_is_invalid()) =>
            {
                tracing::debug!("a stale receipt was not acknowledged");
                Ok(())
            }
            other => other.map(drop).context("cannot delete a job message"),
        }
    }

    async fn set_visibility(&self, receipt: &str, secs: i32) -> anyhow::Result<()> {
        self.sqs
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(secs)
            .send()
            .await
            .context("cannot change a job's visibility")?;
        Ok(())
    }

    /// The named counters of a queue, in order.
    async fn counters(&self, url: &str, names: &[QueueAttributeName]) -> anyhow::Result<Vec<u64>> {
        let output = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .with_context(|| format!("cannot read the depth of {url}"))?;
        let attributes = output.attributes();
        names
            .iter()
            .map(|name| {
                attributes
                    .and_then(|a| a.get(name))
                    .map_or(Ok(0), |v| v.parse::<u64>())
                    .with_context(|| format!("queue attribute {name} is not a number"))
            })
            .collect()
    }
}

impl JobQueue for SqsQueue {
    fn enqueue<'a>(&'a self, job: &'a CaptionJob) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            // (Re)opens the job in the record: a job queued again after its dead-lettering,
            // removal or flush is live again.
            let reopened = self
                .dynamodb
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(job.user.as_str(), job.image.to_string())))
                .update_expression("SET job_state = :pending")
                .condition_expression("attribute_exists(pk) AND #status <> :done")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":pending", s(ImageStatus::Pending.as_str()))
                .expression_attribute_values(":done", s(ImageStatus::Done.as_str()))
                .send()
                .await;
            if !applied(reopened).context("cannot open a job")? {
                tracing::debug!(image = %job.image, "not queueing the job of a record that is gone or done");
                return Ok(());
            }
            let body = serde_json::to_string(&JobMessage::new(job, 0))?;
            self.sqs
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(body)
                .send()
                .await
                .with_context(|| format!("cannot queue the job of image {}", job.image))?;
            Ok(())
        })
    }

    fn receive(&self, visibility: Duration) -> BoxFuture<'_, PortResult<Option<Lease>>> {
        Box::pin(async move {
            for _ in 0..DROPS_PER_RECEIVE {
                let output = self
                    .sqs
                    .receive_message()
                    .queue_url(&self.queue_url)
                    .max_number_of_messages(1)
                    .wait_time_seconds(self.receive_wait.as_secs() as i32)
                    .visibility_timeout(visibility_secs(visibility))
                    .message_system_attribute_names(
                        MessageSystemAttributeName::ApproximateReceiveCount,
                    )
                    .send()
                    .await
                    .context("cannot receive from the job queue")?;
                let Some(message) = output.messages.and_then(|m| m.into_iter().next()) else {
                    return Ok(None);
                };
                let receipt = message
                    .receipt_handle
                    .clone()
                    .ok_or_else(|| anyhow!("a received message has no receipt handle"))?;
                let parsed = message
                    .body()
                    .and_then(|body| serde_json::from_str::<JobMessage>(body).ok())
                    .and_then(|m| {
                        let job = CaptionJob {
                            user: m.user_id.parse().ok()?,
                            image: m.image_id.parse().ok()?,
                            request_id: m.request_id,
                            traceparent: m.traceparent,
                        };
                        Some((job, m.counted))
                    });
                let Some((job, counted)) = parsed else {
                    // Left alone, it reaches the dead-letter queue after maxReceiveCount
                    // receives, where someone can look at it.
                    tracing::error!(message_id = ?message.message_id, "a job message is malformed");
                    continue;
                };
                let state = self
                    .job_state(job.user.as_str(), &job.image.to_string())
                    .await?;
                match state.as_deref() {
                    Some(state) if state == ImageStatus::Pending.as_str() => {}
                    Some(state) if state == ImageStatus::Failed.as_str() => {
                        tracing::debug!(image = %job.image, "releasing the message of a dead-lettered job for the redrive");
                        self.set_visibility(&receipt, 0).await?;
                        continue;
                    }
                    _ => {
                        tracing::debug!(image = %job.image, "dropping the message of a removed job");
                        self.delete_message(&receipt).await?;
                        continue;
                    }
                }
                let receives: u32 = message
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|count| count.parse().ok())
                    .ok_or_else(|| anyhow!("a received message has no receive count"))?;
                return Ok(Some(Lease {
                    job,
                    attempts: counted + receives,
                    receipt,
                }));
            }
            Ok(None)
        })
    }

    fn ack<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(self.delete_message(&lease.receipt))
    }

    fn retry_later<'a>(
        &'a self,
        lease: &'a Lease,
        delay: Duration,
    ) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(self.set_visibility(&lease.receipt, visibility_secs(delay)))
    }

    fn defer<'a>(&'a self, lease: &'a Lease, delay: Duration) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            let counted = lease.attempts.saturating_sub(1);
            let body = serde_json::to_string(&JobMessage::new(&lease.job, counted))?;
            let delay_secs = (delay.as_millis().div_ceil(1000) as u64).min(MAX_DELAY_SECS);
            self.sqs
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(body)
                .delay_seconds(delay_secs as i32)
                .send()
                .await
                .with_context(|| format!("cannot put back the job of image {}", lease.job.image))?;
            // Should this fail, the old message comes back after its visibility timeout and
            // the job runs twice: the second run finds the record no longer pending.
            self.delete_message(&lease.receipt).await
        })
    }

    fn dead_letter<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            let outcome = self
                .dynamodb
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(
                    lease.job.user.as_str(),
                    lease.job.image.to_string(),
                )))
                .update_expression("SET job_state = :failed")
                .condition_expression("job_state = :pending")
                .expression_attribute_values(":pending", s(ImageStatus::Pending.as_str()))
                .expression_attribute_values(":failed", s(ImageStatus::Failed.as_str()))
                .send()
                .await;
            // Not applied when already failed (the engine marks the record first) or gone.
            applied(outcome).context("cannot mark a job dead")?;
            self.set_visibility(&lease.receipt, 0).await
        })
    }

    fn flush(&self) -> BoxFuture<'_, PortResult<Vec<(UserId, ImageId)>>> {
        Box::pin(async move {
            let open: Vec<_> = self
                .dynamodb
                .query()
                .table_name(&self.table)
                .index_name(&self.jobs_index)
                .key_condition_expression("job_state = :pending")
                .expression_attribute_values(":pending", s(ImageStatus::Pending.as_str()))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .context("cannot list the open jobs")?;
            let mut flushed = Vec::new();
            for item in &open {
                let (user, image): (UserId, ImageId) = (parse_s(item, "pk")?, parse_s(item, "sk")?);
                if self.close_job(user.as_str(), &image.to_string()).await? {
                    flushed.push((user, image));
                }
            }
            Ok(flushed)
        })
    }

    fn remove<'a>(&'a self, user: &'a UserId, image: ImageId) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            self.close_job(user.as_str(), &image.to_string()).await?;
            Ok(())
        })
    }

    fn delete_user<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>> {
        Box::pin(async move {
            let open: Vec<_> = self
                .dynamodb
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .filter_expression("job_state = :pending")
                .expression_attribute_values(":pk", s(user.as_str()))
                .expression_attribute_values(":pending", s(ImageStatus::Pending.as_str()))
                .projection_expression("sk")
                .consistent_read(true)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .context("cannot list the user's open jobs")?;
            for item in &open {
                let image: ImageId = parse_s(item, "sk")?;
                self.close_job(user.as_str(), &image.to_string()).await?;
            }
            Ok(())
        })
    }

    fn depth(&self) -> BoxFuture<'_, PortResult<QueueDepth>> {
        Box::pin(async move {
            use QueueAttributeName as A;
            let queue = self
                .counters(
                    &self.queue_url,
                    &[
                        A::ApproximateNumberOfMessages,
                        A::ApproximateNumberOfMessagesNotVisible,
                        A::ApproximateNumberOfMessagesDelayed,
                    ],
                )
                .await?;
            let dlq = self
                .counters(&self.dlq_url, &[A::ApproximateNumberOfMessages])
                .await?;
            Ok(QueueDepth {
                ready: queue[0],
                in_flight: queue[1] + queue[2],
                dead: dlq[0],
                // Only deferred jobs are sent delayed.
                waiting_for_captioner: queue[2],
            })
        })
    }
}
