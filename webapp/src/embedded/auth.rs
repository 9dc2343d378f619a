//! Personal API tokens: `imgcap_<43 base64url characters>` (32 random bytes). Only the SHA-256
//! of a token is stored, so the database never holds a usable credential. This is the test
//! identity provider until sign-in (issue 5) arrives.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use rusqlite::{params, OptionalExtension};

use super::db::Db;
use crate::domain::{now_ms, Principal, Sha256, UserId};
use crate::ports::{Authenticator, BoxFuture, PortResult};

const PREFIX: &str = "imgcap_";

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

impl Authenticator for TokenAuthenticator {
    fn authenticate<'a>(&'a self, token: &'a str) -> BoxFuture<'a, PortResult<Option<Principal>>> {
        let well_formed = token.len() == PREFIX.len() + 43 && token.starts_with(PREFIX);
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
