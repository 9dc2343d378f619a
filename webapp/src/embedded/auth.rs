//! Personal API tokens: `imgcap_<43 base64url characters>` (32 random bytes). Only the SHA-256
//! of a token is stored, so the database never holds a usable credential. A signed-in user
//! creates and revokes them on the Account page; `imgcap-webapp create-token` makes one too.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use rusqlite::{params, OptionalExtension};

use super::db::Db;
use crate::domain::{now_ms, Principal, Sha256, UserId};
use crate::ports::{Authenticator, BoxFuture, PortResult};

const PREFIX: &str = "imgcap_";

/// Whether `token` has the shape of a personal API token (rather than, say, a JWT).
pub fn is_personal_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

pub struct TokenAuthenticator {
    db: Db,
}

impl TokenAuthenticator {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Creates a token for `user` and returns it; it cannot be shown again.
    pub async fn create_token(&self, user: &UserId, admin: bool) -> anyhow::Result<String> {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
        let hash = Sha256::of(token.as_bytes()).to_string();
        let user = user.as_str().to_owned();
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO api_tokens (token_sha256, user_id, admin, created_ms) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![hash, user, admin, now_ms()],
                )
            })
            .await?;
        Ok(token)
    }
}

/// A token as its owner sees it on the Account page; the token itself is never shown again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token's SHA-256 (hex): names it for revocation without being a credential.
    pub id: String,
    pub admin: bool,
    pub created_ms: i64,
}

impl TokenAuthenticator {
    /// The user's tokens, newest first.
    pub async fn list_tokens(&self, user: &UserId) -> anyhow::Result<Vec<TokenInfo>> {
        let user = user.as_str().to_owned();
        self.db
            .call(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT token_sha256, admin, created_ms FROM api_tokens WHERE user_id = ?1 \
                     ORDER BY created_ms DESC",
                )?;
                let rows = stmt.query_map(params![user], |row| {
                    Ok(TokenInfo {
                        id: row.get(0)?,
                        admin: row.get(1)?,
                        created_ms: row.get(2)?,
                    })
                })?;
                rows.collect()
            })
            .await
    }

    /// Revokes one of the user's tokens; `false` when the user has no such token.
    pub async fn revoke_token(&self, user: &UserId, id: &str) -> anyhow::Result<bool> {
        let (user, id) = (user.as_str().to_owned(), id.to_owned());
        self.db
            .call(move |conn| {
                conn.execute(
                    "DELETE FROM api_tokens WHERE user_id = ?1 AND token_sha256 = ?2",
                    params![user, id],
                )
            })
            .await
            .map(|removed| removed > 0)
    }
}

impl Authenticator for TokenAuthenticator {
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, PortResult<Option<Principal>>> {
        let well_formed = token.len() == PREFIX.len() + 43 && is_personal_token(token);
        // Looking up the hash (not the token) keeps comparisons independent of the secret.
        let hash = Sha256::of(token.as_bytes()).to_string();
        Box::pin(async move {
            if !well_formed {
                return Ok(None);
            }
            let row = self
                .db
                .call(move |conn| {
                    conn.query_row(
                        "SELECT user_id, admin FROM api_tokens WHERE token_sha256 = ?1",
                        params![hash],
                        |row| Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?)),
                    )
                    .optional()
                })
                .await?;
            row.map(|(user, admin)| {
                Ok(Principal {
                    user: user.parse().map_err(anyhow::Error::msg)?,
                    admin,
                })
            })
            .transpose()
        })
    }
}
