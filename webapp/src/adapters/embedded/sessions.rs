//! [`SessionStore`] on SQLite.

use rusqlite::{params, OptionalExtension};

use super::db::Db;
use crate::core::domain::Principal;
use crate::core::ports::{BoxFuture, PortResult, SessionRecord, SessionStore};

/// What each sign-in runs: idle or too old. Both columns are indexed, so SQLite finds the rows
/// through the indexes (a multi-index OR) instead of reading the whole table.
pub const REMOVE_EXPIRED_SESSIONS: &str =
    "DELETE FROM sessions WHERE last_seen_ms < ?1 OR created_ms < ?2";

pub struct SqliteSessions {
    db: Db,
}

impl SqliteSessions {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

impl SessionStore for SqliteSessions {
    fn insert<'a>(
        &'a self,
        id_sha256: &'a str,
        session: &'a SessionRecord,
    ) -> BoxFuture<'a, PortResult<()>> {
        let id = id_sha256.to_owned();
        let session = session.clone();
        Box::pin(self.db.call(move |conn| {
            conn.execute(
                "INSERT INTO sessions (id_sha256, user_id, admin, created_ms, last_seen_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    id,
                    session.principal.user.as_str(),
                    session.principal.admin,
                    session.created_ms,
                    session.last_seen_ms
                ],
            )
            .map(drop)
        }))
    }

    fn find<'a>(&'a self, id_sha256: &'a str) -> BoxFuture<'a, PortResult<Option<SessionRecord>>> {
        let id = id_sha256.to_owned();
        Box::pin(async move {
            let row = self
                .db
                .call(move |conn| {
                    conn.query_row(
                        "SELECT user_id, admin, created_ms, last_seen_ms FROM sessions \
                         WHERE id_sha256 = ?1",
                        params![id],
                        |row| {
                            Ok((
                                row.get::<_, String>(0)?,
                                row.get::<_, bool>(1)?,
                                row.get::<_, i64>(2)?,
                                row.get::<_, i64>(3)?,
                            ))
                        },
                    )
                    .optional()
                })
                .await?;
            row.map(|(user, admin, created_ms, last_seen_ms)| {
                Ok(SessionRecord {
                    principal: Principal {
                        user: user.parse().map_err(anyhow::Error::msg)?,
                        admin,
                    },
                    created_ms,
                    last_seen_ms,
                })
            })
            .transpose()
        })
    }

    fn touch<'a>(&'a self, id_sha256: &'a str, now_ms: i64) -> BoxFuture<'a, PortResult<()>> {
        let id = id_sha256.to_owned();
        Box::pin(self.db.call(move |conn| {
            conn.execute(
                "UPDATE sessions SET last_seen_ms = ?2 WHERE id_sha256 = ?1",
                params![id, now_ms],
            )
            .map(drop)
        }))
    }

    fn remove<'a>(&'a self, id_sha256: &'a str) -> BoxFuture<'a, PortResult<()>> {
        let id = id_sha256.to_owned();
        Box::pin(self.db.call(move |conn| {
            conn.execute("DELETE FROM sessions WHERE id_sha256 = ?1", params![id])
                .map(drop)
        }))
    }

    fn remove_expired(
        &self,
        idle_before_ms: i64,
        created_before_ms: i64,
    ) -> BoxFuture<'_, PortResult<()>> {
        Box::pin(self.db.call(move |conn| {
            conn.execute(
                REMOVE_EXPIRED_SESSIONS,
                params![idle_before_ms, created_before_ms],
            )
            .map(drop)
        }))
    }
}
