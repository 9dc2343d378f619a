//! Personal API tokens: `imgcap_<43 base64url characters>` (32 random bytes). Only the SHA-256
//! of a token is stored (a [`TokenStore`]: SQLite, or DynamoDB so every instance knows every
//! token), so storage never holds a usable credential. A signed-in user creates and revokes
//! them on the Account page; `imgcap-webapp create-token` makes one too.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use crate::domain::{now_ms, Principal, Sha256, UserId};
use crate::ports::{Authenticator, BoxFuture, PortResult, TokenRecord, TokenStore};

const PREFIX: &str = "imgcap_";

/// Whether `token` has the shape of a personal API token (rather than, say, a JWT).
pub fn is_personal_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

pub struct TokenAuthenticator {
    store: Arc<dyn TokenStore>,
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
    pub fn new(store: Arc<dyn TokenStore>) -> Self {
        Self { store }
    }

    /// Creates a token for `user` and returns it; it cannot be shown again.
    pub async fn create_token(&self, user: &UserId, admin: bool) -> anyhow::Result<String> {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret));
        let record = TokenRecord {
            principal: Principal {
                user: user.clone(),
                admin,
            },
            created_ms: now_ms(),
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
            })
            .collect();
        tokens.sort_by_key(|token| std::cmp::Reverse(token.created_ms));
        Ok(tokens)
    }

    /// Revokes one of the user's tokens; `false` when the user has no such token.
    pub async fn revoke_token(&self, user: &UserId, id: &str) -> anyhow::Result<bool> {
        self.store.remove(user, id).await
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
            Ok(self.store.find(&hash).await?.map(|record| record.principal))
        })
    }
}
