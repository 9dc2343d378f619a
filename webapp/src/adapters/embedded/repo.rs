//! [`CaptionRepo`] on SQLite.

use rusqlite::{params, OptionalExtension, Row};

use super::db::Db;
use crate::core::domain::{
    image_content_type, now_ms, CaptionEdits, CaptionResult, ImageId, ImageRecord, ImageStatus,
    ScoredCaption, Sha256, UserId,
};
use crate::core::ports::{BoxFuture, CaptionRepo, DayCount, Inserted, PortResult, RecordStats};
use crate::core::provenance::Provenance;
use crate::core::search::{SearchAfter, SearchField, SearchHit, SearchQuery};

pub struct SqliteRepo {
    db: Db,
}

impl SqliteRepo {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

const COLUMNS: &str = "user_id, image_id, sha256, status, content_type, size_bytes, width, \
    height, orientation, created_ms, updated_ms, expires_at, concise, concise_confidence, \
    creative, creative_confidence, model, provider, latency_ms, failure_reason, labels, \
    concise_edited, creative_edited, edited_ms, provenance";

fn conversion_error(index: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, message.into())
}

fn parse_col<T: std::str::FromStr<Err = String>>(row: &Row, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    text.parse().map_err(|e| conversion_error(index, e))
}

fn record_from_row(row: &Row) -> rusqlite::Result<ImageRecord> {
    let content_type: String = row.get(4)?;
    let content_type = image_content_type(&content_type)
        .ok_or_else(|| conversion_error(4, format!("unknown content type {content_type}")))?;
    let result = match (
        row.get::<_, Option<String>>(12)?,
        row.get::<_, Option<String>>(14)?,
    ) {
        (Some(concise), Some(creative)) => Some(CaptionResult {
            concise: ScoredCaption {
                text: concise,
                confidence: row.get::<_, Option<f64>>(13)?.map(|c| c as f32),
            },
            creative: ScoredCaption {
                text: creative,
                confidence: row.get::<_, Option<f64>>(15)?.map(|c| c as f32),
            },
            model: row.get(16)?,
            provider: row.get(17)?,
            latency_ms: row.get::<_, i64>(18)?.max(0) as u64,
            labels: match row.get::<_, Option<String>>(20)? {
                Some(json) => serde_json::from_str(&json)
                    .map_err(|e| conversion_error(20, format!("stored labels: {e}")))?,
                None => Vec::new(),
            },
        }),
        _ => None,
    };
    Ok(ImageRecord {
        user: parse_col(row, 0)?,
        id: parse_col(row, 1)?,
        sha256: parse_col(row, 2)?,
        status: parse_col(row, 3)?,
        content_type,
        size_bytes: row.get::<_, i64>(5)? as u64,
        width: row.get(6)?,
        height: row.get(7)?,
        orientation: row.get(8)?,
        created_ms: row.get(9)?,
        updated_ms: row.get(10)?,
        expires_at: row.get(11)?,
        result,
        failure_reason: row.get(19)?,
        edits: row
            .get::<_, Option<i64>>(23)?
            .map(|edited_ms| -> rusqlite::Result<CaptionEdits> {
                Ok(CaptionEdits {
                    concise: row.get(21)?,
                    creative: row.get(22)?,
                    edited_ms,
                })
            })
            .transpose()?,
        provenance: match row.get::<_, Option<String>>(24)? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| conversion_error(24, format!("stored provenance: {e}")))?,
            None => Provenance::default(),
        },
    })
}

fn provenance_json(provenance: &Provenance) -> rusqlite::Result<String> {
    serde_json::to_string(provenance)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// The FTS5 query of a search: each word quoted (a `"` doubled, though words hold only letters
/// and digits) and made a prefix, joined by spaces (all must match). Nothing the user typed is
/// read by FTS5 as syntax.
fn fts_query(query: &SearchQuery) -> String {
    query
        .words()
        .iter()
        .map(|word| format!("\"{}\"*", word.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The SELECT of a search: the user's matching records with their rank (bm25 with the fields'
/// weights, negated so that higher is better), ordered and paged by (rank, id). FTS5 finds the
/// matches of all users; the join keeps the caller's.
fn search_sql() -> String {
    let weights = [
        SearchField::Concise,
        SearchField::Creative,
        SearchField::Labels,
    ]
    .map(|field| field.weight().to_string())
    .join(", ");
    let columns = COLUMNS
        .split(", ")
        .map(|column| format!("i.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {columns}, r.rank FROM ( \
             SELECT k.user_id, k.image_id, -bm25(image_search, {weights}) AS rank \
             FROM image_search JOIN image_search_keys k ON k.id = image_search.rowid \
             WHERE image_search MATCH ?1 AND k.user_id = ?2 \
         ) r JOIN images i ON i.user_id = r.user_id AND i.image_id = r.image_id \
         WHERE i.status = 'done' AND (?3 IS NULL OR r.rank < ?3 OR (r.rank = ?3 AND r.image_id < ?4)) \
         ORDER BY r.rank DESC, r.image_id DESC LIMIT ?5"
    )
}

fn keys_from_rows(
    rows: impl Iterator<Item = rusqlite::Result<(String, String)>>,
) -> rusqlite::Result<Vec<(UserId, ImageId)>> {
    rows.map(|row| {
        let (user, image) = row?;
        Ok((
            user.parse().map_err(|e| conversion_error(0, e))?,
            image.parse().map_err(|e| conversion_error(1, e))?,
        ))
    })
    .collect()
}

impl CaptionRepo for SqliteRepo {
    fn insert_pending<'a>(
        &'a self,
        record: &'a ImageRecord,
    ) -> BoxFuture<'a, PortResult<Inserted>> {
        let record = record.clone();
        Box::pin(self.db.call(move |conn| {
            let tx = conn.transaction()?;
            let existing = tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM images WHERE user_id = ?1 AND sha256 = ?2"),
                    params![record.user.as_str(), record.sha256.to_string()],
                    record_from_row,
                )
                .optional()?;
            if let Some(existing) = existing {
                return Ok(Inserted::Duplicate(Box::new(existing)));
            }
            tx.execute(
                "INSERT INTO images (user_id, image_id, sha256, status, content_type, size_bytes, \
                 width, height, orientation, created_ms, updated_ms, expires_at) \
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
                params![
                    record.user.as_str(),
                    record.id.to_string(),
                    record.sha256.to_string(),
                    record.content_type,
                    record.size_bytes as i64,
                    record.width,
                    record.height,
                    record.orientation,
                    record.created_ms,
                    record.expires_at,
                ],
            )?;
            tx.commit()?;
            Ok(Inserted::New)
        }))
    }

    fn find_by_sha256<'a>(
        &'a self,
        user: &'a UserId,
        sha256: Sha256,
    ) -> BoxFuture<'a, PortResult<Option<ImageRecord>>> {
        let user = user.as_str().to_owned();
        Box::pin(self.db.call(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM images WHERE user_id = ?1 AND sha256 = ?2"),
                params![user, sha256.to_string()],
                record_from_row,
            )
            .optional()
        }))
    }

    fn get<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
    ) -> BoxFuture<'a, PortResult<Option<ImageRecord>>> {
        let user = user.as_str().to_owned();
        Box::pin(self.db.call(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM images WHERE user_id = ?1 AND image_id = ?2"),
                params![user, id.to_string()],
                record_from_row,
            )
            .optional()
        }))
    }

    fn list<'a>(
        &'a self,
        user: &'a UserId,
        before: Option<ImageId>,
        limit: usize,
    ) -> BoxFuture<'a, PortResult<Vec<ImageRecord>>> {
        let user = user.as_str().to_owned();
        Box::pin(self.db.call(move |conn| {
            // ULIDs in Crockford base32 sort as text in time order.
            let before = before.map(|id| id.to_string());
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM images WHERE user_id = ?1 \
                 AND (?2 IS NULL OR image_id < ?2) ORDER BY image_id DESC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![user, before, limit as i64], record_from_row)?;
            rows.collect()
        }))
    }

    fn search<'a>(
        &'a self,
        user: &'a UserId,
        query: &'a SearchQuery,
        after: Option<SearchAfter>,
        limit: usize,
    ) -> BoxFuture<'a, PortResult<Vec<SearchHit>>> {
        let user = user.as_str().to_owned();
        let fts = fts_query(query);
        Box::pin(self.db.call(move |conn| {
            if fts.is_empty() {
                return Ok(Vec::new());
            }
            let mut stmt = conn.prepare_cached(&search_sql())?;
            let rank_column = COLUMNS.split(", ").count();
            let rows = stmt.query_map(
                params![
                    fts,
                    user,
                    after.map(|a| a.rank),
                    after.map(|a| a.id.to_string()),
                    limit as i64
                ],
                |row| {
                    Ok(SearchHit {
                        record: record_from_row(row)?,
                        rank: row.get(rank_column)?,
                    })
                },
            )?;
            rows.collect()
        }))
    }

    fn complete<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
        result: &'a CaptionResult,
        provenance: &'a Provenance,
    ) -> BoxFuture<'a, PortResult<bool>> {
        let user = user.as_str().to_owned();
        let result = result.clone();
        let provenance = provenance_json(provenance);
        Box::pin(self.db.call(move |conn| {
            let now = now_ms();
            let labels = serde_json::to_string(&result.labels)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            let provenance = provenance?;
            let changed = conn.execute(
                "UPDATE images SET status = 'done', concise = ?3, concise_confidence = ?4, \
                 creative = ?5, creative_confidence = ?6, model = ?7, provider = ?8, \
                 latency_ms = ?9, labels = ?11, failure_reason = NULL, updated_ms = ?10, \
                 completed_ms = ?10, provenance = ?12 \
                 WHERE user_id = ?1 AND image_id = ?2",
                params![
                    user,
                    id.to_string(),
                    result.concise.text,
                    result.concise.confidence.map(f64::from),
                    result.creative.text,
                    result.creative.confidence.map(f64::from),
                    result.model,
                    result.provider,
                    result.latency_ms as i64,
                    now,
                    labels,
                    provenance,
                ],
            )?;
            Ok(changed > 0)
        }))
    }

    fn fail<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
        reason: &'a str,
    ) -> BoxFuture<'a, PortResult<bool>> {
        let user = user.as_str().to_owned();
        let reason = reason.to_owned();
        Box::pin(self.db.call(move |conn| {
            let changed = conn.execute(
                "UPDATE images SET status = 'failed', failure_reason = ?3, updated_ms = ?4 \
                 WHERE user_id = ?1 AND image_id = ?2 AND status <> 'done'",
                params![user, id.to_string(), reason, now_ms()],
            )?;
            Ok(changed > 0)
        }))
    }

    fn set_edits<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
        edits: Option<&'a CaptionEdits>,
        provenance: &'a Provenance,
        seen_updated_ms: i64,
    ) -> BoxFuture<'a, PortResult<bool>> {
        let user = user.as_str().to_owned();
        let edits = edits.cloned();
        let provenance = provenance_json(provenance);
        Box::pin(self.db.call(move |conn| {
            let edits = edits.as_ref();
            // The update time moves on even within one millisecond, so a second change made
            // from the same read is refused.
            let changed = conn.execute(
                "UPDATE images SET concise_edited = ?3, creative_edited = ?4, edited_ms = ?5, \
                 provenance = ?6, updated_ms = MAX(?7, updated_ms + 1) \
                 WHERE user_id = ?1 AND image_id = ?2 AND status = 'done' AND updated_ms = ?8",
                params![
                    user,
                    id.to_string(),
                    edits.and_then(|e| e.concise.as_deref()),
                    edits.and_then(|e| e.creative.as_deref()),
                    edits.map(|e| e.edited_ms),
                    provenance?,
                    now_ms(),
                    seen_updated_ms,
                ],
            )?;
            Ok(changed > 0)
        }))
    }

    fn reset_for_recaption<'a>(
        &'a self,
        user: &'a UserId,
        id: ImageId,
    ) -> BoxFuture<'a, PortResult<bool>> {
        let user = user.as_str().to_owned();
        Box::pin(self.db.call(move |conn| {
            let changed = conn.execute(
                "UPDATE images SET status = 'pending', concise = NULL, concise_confidence = NULL, \
                 creative = NULL, creative_confidence = NULL, model = NULL, provider = NULL, \
                 latency_ms = NULL, failure_reason = NULL, completed_ms = NULL, updated_ms = ?3 \
                 WHERE user_id = ?1 AND image_id = ?2 AND status <> 'pending'",
                params![user, id.to_string(), now_ms()],
            )?;
            Ok(changed > 0)
        }))
    }

    fn reset_failed(&self, limit: usize) -> BoxFuture<'_, PortResult<Vec<(UserId, ImageId)>>> {
        Box::pin(self.db.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE images SET status = 'pending', failure_reason = NULL, updated_ms = ?1 \
                 WHERE rowid IN (SELECT rowid FROM images WHERE status = 'failed' LIMIT ?2) \
                 RETURNING user_id, image_id",
            )?;
            let rows = stmt.query_map(params![now_ms(), limit as i64], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
            keys_from_rows(rows)
        }))
    }

    fn delete<'a>(&'a self, user: &'a UserId, id: ImageId) -> BoxFuture<'a, PortResult<bool>> {
        let user = user.as_str().to_owned();
        Box::pin(self.db.call(move |conn| {
            let changed = conn.execute(
                "DELETE FROM images WHERE user_id = ?1 AND image_id = ?2",
                params![user, id.to_string()],
            )?;
            Ok(changed > 0)
        }))
    }

    fn delete_user<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<u64>> {
        let user = user.as_str().to_owned();
        Box::pin(self.db.call(move |conn| {
            let changed = conn.execute("DELETE FROM images WHERE user_id = ?1", params![user])?;
            Ok(changed as u64)
        }))
    }

    fn expired(
        &self,
        now_secs: i64,
        limit: usize,
    ) -> BoxFuture<'_, PortResult<Vec<(UserId, ImageId)>>> {
        Box::pin(self.db.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT user_id, image_id FROM images WHERE expires_at < ?1 LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now_secs, limit as i64], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
            keys_from_rows(rows)
        }))
    }

    fn stats(&self, since_ms: i64) -> BoxFuture<'_, PortResult<RecordStats>> {
        Box::pin(self.db.call(move |conn| {
            let mut per_day: std::collections::BTreeMap<String, DayCount> = Default::default();
            let day = "strftime('%Y-%m-%d', {col} / 1000, 'unixepoch')";
            for (column, is_upload) in [("created_ms", true), ("completed_ms", false)] {
                let mut stmt = conn.prepare(&format!(
                    "SELECT {}, COUNT(*) FROM images WHERE {column} >= ?1 GROUP BY 1",
                    day.replace("{col}", column)
                ))?;
                let rows = stmt.query_map(params![since_ms], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })?;
                for row in rows {
                    let (name, count) = row?;
                    let entry = per_day.entry(name.clone()).or_insert(DayCount {
                        day: name,
                        uploads: 0,
                        captions: 0,
                    });
                    if is_upload {
                        entry.uploads = count as u64;
                    } else {
                        entry.captions = count as u64;
                    }
                }
            }
            let mut stmt = conn.prepare("SELECT status, COUNT(*) FROM images GROUP BY status")?;
            let by_status = stmt
                .query_map([], |row| {
                    Ok((parse_col::<ImageStatus>(row, 0)?, row.get::<_, i64>(1)?))
                })?
                .map(|r| r.map(|(s, n)| (s, n as u64)))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut stmt = conn.prepare(
                "SELECT provider, latency_ms FROM images WHERE status = 'done' \
                 AND completed_ms >= ?1 ORDER BY provider, latency_ms",
            )?;
            let mut latencies: Vec<(String, Vec<u64>)> = Vec::new();
            let rows = stmt.query_map(params![since_ms], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?;
            for row in rows {
                let (provider, latency) = row?;
                match latencies.last_mut() {
                    Some((name, values)) if *name == provider => values.push(latency as u64),
                    _ => latencies.push((provider, vec![latency as u64])),
                }
            }
            Ok(RecordStats {
                per_day: per_day.into_values().collect(),
                by_status,
                latencies,
            })
        }))
    }

    fn begin_user_deletion<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>> {
        let user = user.as_str().to_owned();
        Box::pin(self.db.call(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO user_deletions (user_id, started_ms) VALUES (?1, ?2)",
                params![user, now_ms()],
            )
            .map(drop)
        }))
    }

    fn end_user_deletion<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, PortResult<()>> {
        let user = user.as_str().to_owned();
        Box::pin(self.db.call(move |conn| {
            conn.execute(
                "DELETE FROM user_deletions WHERE user_id = ?1",
                params![user],
            )
            .map(drop)
        }))
    }

    fn unfinished_user_deletions(&self) -> BoxFuture<'_, PortResult<Vec<UserId>>> {
        Box::pin(self.db.call(|conn| {
            let mut stmt =
                conn.prepare("SELECT user_id FROM user_deletions ORDER BY started_ms")?;
            let rows = stmt.query_map([], |row| parse_col::<UserId>(row, 0))?;
            rows.collect()
        }))
    }

    fn check(&self) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(
            self.db
                .call(|conn| conn.query_row("SELECT 1", [], |_| Ok(()))),
        )
    }
}
