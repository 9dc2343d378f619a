//! One contract suite per port, run against the embedded adapter (SQLite, files) and the AWS
//! adapter (S3, DynamoDB, SQS, Secrets Manager on moto, through the real SDK clients). Each
//! behaviour is an async fn taking [`Adapters`]; `contract!` makes one `#[tokio::test]` per
//! adapter family of it: `contract::<port>::{embedded,aws}::<behaviour>`.

use std::sync::Arc;

use imgcap_webapp::adapters::aws::api_tokens::DynamoTokens;
use imgcap_webapp::adapters::aws::blobs::S3Blobs;
use imgcap_webapp::adapters::aws::queue::{SqsQueue, SqsQueueSettings};
use imgcap_webapp::adapters::aws::rate_limits::DynamoRateLimiter;
use imgcap_webapp::adapters::aws::repo::DynamoRepo;
use imgcap_webapp::adapters::aws::secrets::SecretsManagerSecrets;
use imgcap_webapp::adapters::aws::sessions::DynamoSessions;
use imgcap_webapp::adapters::embedded::api_tokens::SqliteTokens;
use imgcap_webapp::adapters::embedded::blobs::FileBlobs;
use imgcap_webapp::adapters::embedded::db::Db;
use imgcap_webapp::adapters::embedded::queue::SqliteQueue;
use imgcap_webapp::adapters::embedded::rate_limits::SqliteRateLimiter;
use imgcap_webapp::adapters::embedded::repo::SqliteRepo;
use imgcap_webapp::adapters::embedded::secrets::EnvFileSecrets;
use imgcap_webapp::adapters::embedded::sessions::SqliteSessions;
use imgcap_webapp::auth::signing::Signer;
use imgcap_webapp::core::domain::{now_ms, ImageId, ImageRecord, ImageStatus, Sha256, UserId};
use imgcap_webapp::core::ports::{
    BlobStore, CaptionRepo, JobQueue, RateLimiter, Secrets, SessionStore, TokenStore,
};
use imgcap_webapp::core::provenance::Provenance;

use crate::aws_resources::Resources;
use crate::moto::unique_name;

/// Instantiates each behaviour for both adapter families.
macro_rules! contract {
    ($($behaviour:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(crate::contract::Adapters::embedded().await).await;
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(crate::contract::Adapters::aws().await).await;
                }
            )*
        }
    };
}

mod blobs;
mod queue;
mod ratelimit;
mod repo;
mod search;
mod secrets;
mod sessions;
mod tokens;

/// The queue's dead-letter threshold in the tests' own resources (Terraform's is 5).
const MAX_RECEIVE_COUNT: u32 = 3;

type LimiterFactory = Box<dyn Fn() -> Arc<dyn RateLimiter> + Send + Sync>;

/// One adapter family, over fresh storage (or, for AWS in `env` mode, Terraform's resources
/// with unique user ids).
pub struct Adapters {
    pub blobs: Arc<dyn BlobStore>,
    pub repo: Arc<dyn CaptionRepo>,
    pub queue: Arc<dyn JobQueue>,
    /// A rate limiter, as one app instance has it; all share one storage.
    pub limiter: LimiterFactory,
    pub secrets: Arc<dyn Secrets>,
    pub sessions: Arc<dyn SessionStore>,
    pub tokens: Arc<dyn TokenStore>,
    /// A secret name that has a stored value of at least 32 bytes.
    pub stored_secret: &'static str,
    /// Deliveries after which the queue accepts `dead_letter`.
    pub max_attempts: u32,
    pub family: Family,
    _dir: Option<tempfile::TempDir>,
}

pub enum Family {
    Embedded,
    Aws(Box<Resources>),
}

impl Adapters {
    pub async fn embedded() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("imgcap.sqlite3")).unwrap();
        std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
        std::fs::write(
            dir.path().join("secrets/contract-secret"),
            "a stored secret of more than 32 bytes",
        )
        .unwrap();
        let limiter_db = db.clone();
        Self {
            blobs: Arc::new(FileBlobs::new(
                dir.path().join("blobs"),
                "http://127.0.0.1:9".into(),
                Signer::derive(b"contract tests", "blob-url"),
            )),
            repo: Arc::new(SqliteRepo::new(db.clone())),
            sessions: Arc::new(SqliteSessions::new(db.clone())),
            tokens: Arc::new(SqliteTokens::new(db.clone())),
            queue: Arc::new(SqliteQueue::new(db)),
            limiter: Box::new(move || Arc::new(SqliteRateLimiter::new(limiter_db.clone()))),
            secrets: Arc::new(EnvFileSecrets::new(dir.path().join("secrets"))),
            stored_secret: "contract-secret",
            max_attempts: MAX_RECEIVE_COUNT,
            family: Family::Embedded,
            _dir: Some(dir),
        }
    }

    pub async fn aws() -> Self {
        let resources = Resources::get(MAX_RECEIVE_COUNT).await;
        let sdk = resources.sdk().await;
        let aws = &resources.aws;
        let table = aws.dynamodb_table.clone().unwrap();
        let index = aws.dynamodb_jobs_index.clone().unwrap();
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let queue = SqsQueue::connect(
            aws_sdk_sqs::Client::new(&sdk),
            dynamodb.clone(),
            SqsQueueSettings {
                queue_url: aws.sqs_queue_url.clone().unwrap(),
                dlq_url: aws.sqs_dlq_url.clone().unwrap(),
                table: table.clone(),
                jobs_index: index.clone(),
                receive_wait: std::time::Duration::ZERO,
            },
            resources.max_receive_count,
        )
        .await
        .unwrap();
        let limiter_client = dynamodb.clone();
        let limiter_table = table.clone();
        Self {
            blobs: Arc::new(S3Blobs::new(
                &sdk,
                aws.s3_bucket.clone().unwrap(),
                aws.s3_kms_key_arn.clone(),
            )),
            tokens: Arc::new(DynamoTokens::new(dynamodb.clone(), table.clone())),
            sessions: Arc::new(DynamoSessions::new(
                dynamodb.clone(),
                table.clone(),
                std::time::Duration::from_secs(7 * 86_400),
            )),
            repo: Arc::new(DynamoRepo::new(dynamodb, table, index)),
            queue: Arc::new(queue),
            limiter: Box::new(move || {
                Arc::new(DynamoRateLimiter::new(
                    limiter_client.clone(),
                    limiter_table.clone(),
                ))
            }),
            secrets: Arc::new(SecretsManagerSecrets::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                vec![(
                    "contract-secret".into(),
                    aws.session_key_secret_arn.clone().unwrap(),
                )],
            )),
            stored_secret: "contract-secret",
            max_attempts: resources.max_receive_count,
            family: Family::Aws(Box::new(resources)),
            _dir: None,
        }
    }
}

/// A user no other test uses (the AWS resources may be shared).
pub fn user() -> UserId {
    unique_name("user").parse().unwrap()
}

/// A pending record of `user` with distinct content.
pub fn record(user: &UserId) -> ImageRecord {
    let id = ImageId::generate();
    let now = now_ms();
    ImageRecord {
        user: user.clone(),
        id,
        sha256: Sha256::of(id.to_string().as_bytes()),
        status: ImageStatus::Pending,
        content_type: "image/png",
        size_bytes: 1234,
        width: 64,
        height: 48,
        orientation: 6,
        created_ms: now,
        updated_ms: now,
        expires_at: now / 1000 + 90 * 86_400,
        result: None,
        failure_reason: None,
        edits: None,
        provenance: Provenance::default(),
    }
}
