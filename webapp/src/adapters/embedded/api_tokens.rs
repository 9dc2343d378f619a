//! [`TokenStore`] on SQLite: personal API tokens by the SHA-256 of the token.

use rusqlite::{params, OptionalExtension};

use super::db::Db;
use crate::core::domain::{Principal, UserId};
use crate::core::ports::{BoxFuture, PortResult, TokenRecord, TokenStore};

pub struct SqliteTokens {
    db: Db,
}

impl SqliteTokens {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

type Row = (String, bool, i64, Option<i64>);

fn record((user, admin, created_ms, expires_ms): Row) -> anyhow::Result<TokenRecord> {
    Ok(TokenRecord {
        principal: Principal {
            user: user.parse().map_err(anyhow::Error::msg)?,
            admin,
        },
        created_ms,
        expires_ms,
    })
}

impl TokenStore for SqliteTokens {
    fn insert<'a>(
        &'a self,
        token_sha256: &'a str,
        token: &'a TokenRecord,
    ) -> BoxFuture<'a, PortResult<()>> {
        let (hash, token) = (token_sha256.to_owned(), token.clone());
        Box::pin(self.db.call(move |conn| {
            conn.execute(
                "INSERT INTO api_tokens (token_sha256, user_id, admin, created_ms, expires_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    hash,
                    token.principal.user.as_str(),
                    token.principal.admin,
                    token.created_ms,
                    token.expires_ms
                ],
            )
            .map(drop)
        }))
    }

    fn find<'a>(&'a self, token_sha256: &'a str) -> BoxFuture<'a, PortResult<Option<TokenRecord>>> {
        let hash = token_sha256.to_owned();
        Box::pin(async move {
            let row = self
                .db
                .call(move |conn| {
                    conn.query_row(
                        "SELECT user_id, admin, created_ms, expires_ms FROM api_tokens \
                         WHERE token_sha256 = ?1",
                        params![hash],
                        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                    )
                    .optional()
                })
                .await?;
            row.map(record).transpose()
        })
    }

    fn list<'a>(
        &'a self,
        user: &'a UserId,
    ) -> BoxFuture<'a, PortResult<Vec<(String, TokenRecord)>>> {
        let user = user.as_str().to_owned();
        Box::pin(async move {
            let rows: Vec<(String, Row)> = self
                .db
                .call(move |conn| {
                    let mut stmt = conn.prepare_cached(
                        "SELECT token_sha256, user_id, admin, created_ms, expires_ms \
                         FROM api_tokens WHERE user_id = ?1",
                    )?;
                    let rows = stmt.query_map(params![user], |row| {
                        Ok((
                            row.get(0)?,
                            (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?),
                        ))
                    })?;
                    rows.collect()
                })
                .await?;
            rows.into_iter()
                .map(|(hash, row)| Ok((hash, record(row)?)))
                .collect()
        })
    }

    fn remove<'a>(
        &'a self,
        user: &'a UserId,
        token_sha256: &'a str,
    ) -> BoxFuture<'a, PortResult<bool>> {
        let (user, hash) = (user.as_str().to_owned(), token_sha256.to_owned());
        Box::pin(async move {
            let removed = self
                .db
                .call(move |conn| {
                    conn.execute(
                        "DELETE FROM api_tokens WHERE user_id = ?1 AND token_sha256 = ?2",
                        params![user, hash],
                    )
                })
                .await?;
            Ok(removed > 0)
        })
    }
}
