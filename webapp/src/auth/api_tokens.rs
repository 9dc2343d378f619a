//! Personal API tokens: `imgcap_<43 base64url characters>` (32 random bytes). Only the SHA-256
//! of a token is stored (a [`TokenStore`]: SQLite, or DynamoDB so every instance knows every
//! token), so storage never holds a usable credential. A signed-in user creates and revokes
//! them on the Account page; `imgcap-webapp create-token` makes one too.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use crate::core::domain::{now_ms, Principal, Sha256, UserId};
use crate::core::ports::{Authenticator, BoxFuture, PortResult, TokenRecord, TokenStore};

const PREFIX: &str = "imgcap_";

/// Whether `token` has the shape of a personal API token (rather than, say, a JWT).
pub fn is_personal_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

pub struct TokenAuthenticator {
    store: Arc<dyn TokenStore>,
    /// How long a new token works (`api_tokens.lifetime_days`); `None`: until revoked.
    lifetime: Option<Duration>,
}

/// A token as its owner sees it on the Account page; the token itself is never shown again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token's SHA-256 (hex): names it for revocation without being a credential.
    pub id: String,
    pub admin: bool,
    pub created_ms: i64,
    /// When it stops working; `None`: never.
    pub expires_ms: Option<i64>,
}

impl TokenAuthenticator {
    /// Tokens that work until revoked.
    pub fn new(store: Arc<dyn TokenStore>) -> Self {
        Self {
            store,
            lifetime: None,
        }
    }

    /// New tokens stop working `lifetime` after they are made (`None`: never).
    pub fn with_lifetime(self, lifetime: Option<Duration>) -> Self {
        Self { lifetime, ..self }
    }

    /// Creates a token for `user` and returns it; it cannot be shown again.
    pub async fn create_token(&self, user: &UserId, admin: bool) -> anyhow::Result<String> {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
        let created_ms = now_ms();
        let record = TokenRecord {
            principal: Principal {
                user: user.clone(),
                admin,
            },
            created_ms,
            expires_ms: self
                .lifetime
                .map(|lifetime| created_ms + lifetime.as_millis() as i64),
        };
        self.store
            .insert(&Sha256::of(token.as_bytes()).to_string(), &record)
            .await?;
        Ok(token)
    }

    /// The user's tokens, newest first.
    pub async fn list_tokens(&self, user: &UserId) -> anyhow::Result<Vec<TokenInfo>> {
        let mut tokens: Vec<TokenInfo> = self
            .store
            .list(user)
            .await?
            .into_iter()
            .map(|(id, record)| TokenInfo {
                id,
                admin: record.principal.admin,
                created_ms: record.created_ms,
                expires_ms: record.expires_ms,
            })
            .collect();
        tokens.sort_by_key(|token| std::cmp::Reverse(token.created_ms));
        Ok(tokens)
    }

    /// Whether `token` is one of ours that has expired: a rejected token is told why.
    pub async fn expired(&self, token: &str) -> anyhow::Result<bool> {
        let hash = Sha256::of(token.as_bytes()).to_string();
        Ok(self
            .store
            .find(&hash)
            .await?
            .is_some_and(|record| is_expired(&record)))
    }

    /// Revokes one of the user's tokens; `false` when the user has no such token.
    pub async fn revoke_token(&self, user: &UserId, id: &str) -> anyhow::Result<bool> {
        self.store.remove(user, id).await
    }
}

fn is_expired(record: &TokenRecord) -> bool {
    record
        .expires_ms
        .is_some_and(|expires_ms| expires_ms <= now_ms())
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
            Ok(self
                .store
                .find(&hash)
                .await?
                .filter(|record| !is_expired(record))
                .map(|record| record.principal))
        })
    }
}
