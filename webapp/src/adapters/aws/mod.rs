//! AWS mode: one SDK configuration shared by every AWS adapter and provider.
//!
//! Region and credentials come from the standard AWS chain (`AWS_REGION`, the ECS task role,
//! web identity, profiles) unless the configuration overrides them; `endpoint_url` points every
//! client at an AWS-protocol emulator for tests and `docker compose`. The HTTP client is the
//! servers' shared one ([`imgcap_common::server::aws_https_client`]).

pub mod api_tokens;
pub mod blobs;
pub mod queue;
pub mod rate_limits;
pub mod rekognition;
pub mod repo;
pub mod secrets;
pub mod sessions;
pub mod table;

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::{AwsConfig, Config};
use crate::core::ports::SIGNING_KEY_SECRET;

/// Builds the SDK configuration every AWS client of the app is made from.
pub async fn sdk_config(settings: &AwsConfig) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(imgcap_common::server::aws_https_client());
    if let Some(region) = &settings.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(credentials) = &settings.credentials {
        loader = loader.credentials_provider(credentials.clone());
    }
    loader.load().await
}

/// The AWS adapters of every port, built from one SDK configuration.
pub struct AwsAdapters {
    pub blobs: Arc<blobs::S3Blobs>,
    pub repo: Arc<repo::DynamoRepo>,
    pub queue: Arc<queue::SqsQueue>,
    pub limiter: Arc<rate_limits::DynamoRateLimiter>,
    pub sessions: Arc<sessions::DynamoSessions>,
    pub tokens: Arc<api_tokens::DynamoTokens>,
    pub secrets: secrets::SecretsManagerSecrets,
    /// The image bucket (Rekognition reads originals from it).
    pub bucket: String,
}

impl AwsAdapters {
    /// Connects to the resources the configuration names; fails when the queue's redrive
    /// policy does not match the worker settings.
    pub async fn connect(config: &Config, sdk: &SdkConfig) -> anyhow::Result<Self> {
        let resources = config.aws.resources().map_err(anyhow::Error::msg)?;
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let queue = queue::SqsQueue::connect(
            aws_sdk_sqs::Client::new(sdk),
            dynamodb.clone(),
            queue::SqsQueueSettings {
                queue_url: resources.sqs_queue_url,
                dlq_url: resources.sqs_dlq_url,
                table: resources.dynamodb_table.clone(),
                jobs_index: resources.dynamodb_jobs_index.clone(),
                // Whole seconds: below one second the worker loop's own pause paces polling.
                receive_wait: Duration::from_secs(config.worker.poll_interval_ms / 1000),
            },
            config.worker.max_attempts,
        )
        .await?;
        Ok(Self {
            blobs: Arc::new(blobs::S3Blobs::new(
                sdk,
                resources.s3_bucket.clone(),
                resources.s3_kms_key_arn,
            )),
            bucket: resources.s3_bucket,
            repo: Arc::new(repo::DynamoRepo::new(
                dynamodb.clone(),
                resources.dynamodb_table.clone(),
                resources.dynamodb_jobs_index,
            )),
            queue: Arc::new(queue),
            limiter: Arc::new(rate_limits::DynamoRateLimiter::new(
                dynamodb.clone(),
                resources.dynamodb_table.clone(),
            )),
            tokens: Arc::new(api_tokens::DynamoTokens::new(
                dynamodb.clone(),
                resources.dynamodb_table.clone(),
            )),
            sessions: Arc::new(sessions::DynamoSessions::new(
                dynamodb,
                resources.dynamodb_table,
                Duration::from_secs(config.session.absolute_timeout_secs),
            )),
            secrets: secrets::SecretsManagerSecrets::new(
                aws_sdk_secretsmanager::Client::new(sdk),
                vec![(
                    SIGNING_KEY_SECRET.to_owned(),
                    resources.session_key_secret_arn,
                )],
            ),
        })
    }
}
