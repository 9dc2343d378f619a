//! The adapters of the configured mode: AWS services, or SQLite and files on this machine.

use std::sync::Arc;

use anyhow::Context;
use imgcap_imaging::budget::MemoryBudget;

use super::providers::{load_labeler, load_providers};
use crate::adapters::aws::AwsAdapters;
use crate::adapters::embedded::api_tokens::SqliteTokens;
use crate::adapters::embedded::blobs::{self, FileBlobs};
use crate::adapters::embedded::db::Db;
use crate::adapters::embedded::queue::SqliteQueue;
use crate::adapters::embedded::rate_limits::SqliteRateLimiter;
use crate::adapters::embedded::repo::SqliteRepo;
use crate::adapters::embedded::secrets::EnvFileSecrets;
use crate::adapters::embedded::sessions::SqliteSessions;
use crate::auth::signing::Signer;
use crate::config::Config;
use crate::core::engine::Ports;
use crate::core::ports::{Secrets, SessionStore, TokenStore, SIGNING_KEY_SECRET};

/// Where the sessions and personal API tokens of users live: shared by every instance in AWS
/// mode.
pub(super) struct UserStores {
    pub sessions: Arc<dyn SessionStore>,
    pub tokens: Arc<dyn TokenStore>,
}

/// What the mode provides: the engine's ports, the user stores, the signing key, routes the
/// adapters serve themselves (signed blob URLs in embedded mode) and the origin images are
/// served from (for the content security policy).
pub(super) struct ModeAdapters {
    pub ports: Ports,
    pub stores: UserStores,
    pub signing_key: Vec<u8>,
    pub routes: axum::Router,
    pub image_origin: String,
}

impl ModeAdapters {
    pub async fn aws(
        config: &Config,
        sdk: &aws_config::SdkConfig,
        local_secrets: &EnvFileSecrets,
        image_budget: &MemoryBudget,
    ) -> anyhow::Result<Self> {
        let aws = AwsAdapters::connect(config, sdk).await?;
        let signing_key = aws
            .secrets
            .get(SIGNING_KEY_SECRET)
            .await
            .context("cannot read the signing key (`aws.session_key_secret_arn`)")?;
        let image_origin = aws.blobs.url_origin();
        let ports = Ports {
            blobs: aws.blobs,
            repo: aws.repo,
            queue: aws.queue,
            limiter: aws.limiter,
            chain: load_providers(config, Some(sdk), local_secrets, image_budget).await?,
            labeler: load_labeler(config, Some(sdk), Some(aws.bucket))?,
        };
        let stores = UserStores {
            sessions: aws.sessions,
            tokens: aws.tokens,
        };
        // S3 serves the presigned URLs itself.
        Ok(Self {
            ports,
            stores,
            signing_key,
            routes: axum::Router::new(),
            image_origin,
        })
    }

    pub async fn embedded(
        config: &Config,
        db: &Db,
        sdk: Option<&aws_config::SdkConfig>,
        local_secrets: &EnvFileSecrets,
        image_budget: &MemoryBudget,
    ) -> anyhow::Result<Self> {
        let signing_key = local_secrets
            .get(SIGNING_KEY_SECRET)
            .await
            .context("cannot read the signing key")?;
        let file_blobs = Arc::new(FileBlobs::new(
            config.blob_dir(),
            config.public_base_url.clone(),
            Signer::derive(&signing_key, "blob-url"),
        ));
        let ports = Ports {
            blobs: file_blobs.clone(),
            repo: Arc::new(SqliteRepo::new(db.clone())),
            queue: Arc::new(SqliteQueue::new(db.clone())),
            limiter: Arc::new(SqliteRateLimiter::new(db.clone())),
            chain: load_providers(config, sdk, local_secrets, image_budget).await?,
            labeler: load_labeler(config, sdk, None)?,
        };
        let stores = UserStores {
            sessions: Arc::new(SqliteSessions::new(db.clone())),
            tokens: Arc::new(SqliteTokens::new(db.clone())),
        };
        // Signed blob URLs point at the app itself.
        let origin = config.public_base_url.clone();
        let routes = blobs::routes(file_blobs);
        Ok(Self {
            ports,
            stores,
            signing_key,
            routes,
            image_origin: origin,
        })
    }
}
