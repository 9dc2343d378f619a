//! [`JobQueue`] on SQLite: at-least-once delivery with a visibility timeout, delivery counts and
//! a dead-letter state, like SQS with a redrive policy. Jobs are rows, so they survive restarts.
//! A deferred job (no captioner available) gives back the delivery it used (`attempts - 1`) and
//! is marked `waiting` until it is retried, dead-lettered or finished.

use std::time::Duration;

use rusqlite::params;

use super::db::Db;
use crate::core::domain::{now_ms, ImageId, UserId};
use crate::core::ports::{BoxFuture, CaptionJob, JobQueue, Lease, PortResult, QueueDepth};

pub struct SqliteQueue {
    db: Db,
}

impl SqliteQueue {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn job_error(index: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, message.into())
}

fn job_from_row(row: &rusqlite::Row) -> rusqlite::Result<CaptionJob> {
    Ok(CaptionJob {
        user: row
            .get::<_, String>(0)?
            .parse()
            .map_err(|e| job_error(0, e))?,
        image: row
            .get::<_, String>(1)?
            .parse()
            .map_err(|e| job_error(1, e))?,
        request_id: row.get(2)?,
        traceparent: row.get("traceparent")?,
    })
}

impl JobQueue for SqliteQueue {
    fn enqueue<'a>(&'a self, job: &'a CaptionJob) -> BoxFuture<'a, PortResult<()>> {
        let job = job.clone();
        Box::pin(self.db.call(move |conn| {
            let now = now_ms();
            conn.execute(
                "INSERT INTO jobs (user_id, image_id, request_id, job_state, attempts, \
                 visible_at_ms, created_ms, traceparent) \
                 VALUES (?1, ?2, ?3, 'queued', 0, ?4, ?4, ?5) \
                 ON CONFLICT (user_id, image_id) DO UPDATE SET job_state = 'queued', \
                 attempts = 0, visible_at_ms = ?4, receipt = NULL, request_id = ?3, waiting = 0, \
                 traceparent = ?5",
                params![
                    job.user.as_str(),
                    job.image.to_string(),
                    job.request_id,
                    now,
                    job.traceparent
                ],
            )
            .map(drop)
        }))
    }

    fn receive(&self, visibility: Duration) -> BoxFuture<'_, PortResult<Option<Lease>>> {
        Box::pin(self.db.call(move |conn| {
            let now = now_ms();
            let receipt = ulid::Ulid::new().to_string();
            let mut stmt = conn.prepare_cached(
                "UPDATE jobs SET attempts = attempts + 1, visible_at_ms = ?2, receipt = ?3 \
                 WHERE rowid = (SELECT rowid FROM jobs WHERE job_state = 'queued' \
                   AND visible_at_ms <= ?1 ORDER BY visible_at_ms LIMIT 1) \
                 RETURNING user_id, image_id, request_id, attempts, traceparent",
            )?;
            let mut rows =
                stmt.query(params![now, now + visibility.as_millis() as i64, receipt])?;
            let Some(row) = rows.next()? else {
                return Ok(None);
            };
            Ok(Some(Lease {
                job: job_from_row(row)?,
                attempts: row.get(3)?,
                receipt,
            }))
        }))
    }

    fn ack<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, PortResult<()>> {
        let receipt = lease.receipt.clone();
        Box::pin(self.db.call(move |conn| {
            conn.execute("DELETE FROM jobs WHERE receipt = ?1", params![receipt])
                .map(drop)
        }))
    }

    fn retry_later<'a>(
        &'a self,
        lease: &'a Lease,
        delay: Duration,
    ) -> BoxFuture<'a, PortResult<()>> {
        let receipt = lease.receipt.clone();
        Box::pin(self.db.call(move |conn| {
            conn.execute(
                "UPDATE jobs SET visible_at_ms = ?2, receipt = NULL, waiting = 0 \
                 WHERE receipt = ?1",
                params![receipt, now_ms() + delay.as_millis() as i64],
            )
            .map(drop)
        }))
    }

    fn defer<'a>(&'a self, lease: &'a Lease, delay: Duration) -> BoxFuture<'a, PortResult<()>> {
        let receipt = lease.receipt.clone();
        Box::pin(self.db.call(move |conn| {
            conn.execute(
                "UPDATE jobs SET attempts = MAX(attempts - 1, 0), visible_at_ms = ?2, \
                 receipt = NULL, waiting = 1 WHERE receipt = ?1",
                params![receipt, now_ms() + delay.as_millis() as i64],
            )
            .map(drop)
        }))
    }

    fn dead_letter<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, PortResult<()>> {
        let receipt = lease.receipt.clone();
        Box::pin(self.db.call(move |conn| {
            conn.execute(
                "UPDATE jobs SET job_state = 'dead', receipt = NULL, waiting = 0 \
                 WHERE receipt = ?1",
                params![receipt],
            )
            .map(drop)
        }))
    }

    fn flush(&self) -> BoxFuture<'_, PortResult<Vec<(UserId, ImageId)>>> {
        Box::pin(self.db.call(|conn| {
            let mut stmt = conn.prepare(
                "DELETE FROM jobs WHERE job_state = 'queued' \
                 RETURNING user_id, image_id, request_id, traceparent",
            )?;
            let rows = stmt.query_map([], job_from_row)?;
            rows.map(|job| job.map(|job| (job.user, job.image)))
                .collect()
        }))
    }

    fn remove<'a>(&'a self, user: &'a UserId, image: ImageId) -> BoxFuture<'a, PortResult<()>> {
        let user = user.as_str().to_owned();
        Box::pin(self.db.call(move |conn| {
            conn.execute(
                "DELETE FROM jobs WHERE user_id = ?1 AND image_id = ?2",
                params![user, image.to_string()],
            )
            .map(drop)
        }))
    }

    fn delete_user<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>> {
        let user = user.as_str().to_owned();
        Box::pin(self.db.call(move |conn| {
            conn.execute("DELETE FROM jobs WHERE user_id = ?1", params![user])
                .map(drop)
        }))
    }

    fn depth(&self) -> BoxFuture<'_, PortResult<QueueDepth>> {
        Box::pin(self.db.call(|conn| {
            conn.query_row(
                "SELECT \
                   COUNT(*) FILTER (WHERE job_state = 'queued' AND visible_at_ms <= ?1), \
                   COUNT(*) FILTER (WHERE job_state = 'queued' AND visible_at_ms > ?1), \
                   COUNT(*) FILTER (WHERE job_state = 'dead'), \
                   COUNT(*) FILTER (WHERE job_state = 'queued' AND waiting = 1) \
                 FROM jobs",
                params![now_ms()],
                |row| {
                    Ok(QueueDepth {
                        ready: row.get::<_, i64>(0)? as u64,
                        in_flight: row.get::<_, i64>(1)? as u64,
                        dead: row.get::<_, i64>(2)? as u64,
                        waiting_for_captioner: row.get::<_, i64>(3)? as u64,
                    })
                },
            )
        }))
    }
}
