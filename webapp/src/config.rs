//! The one typed configuration: `imgcap.toml` (optional) overridden by `IMGCAP_*` variables,
//! validated before anything starts. Every error names the key (and the variable) at fault.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::oidc::OidcSettings;
use crate::telemetry::emf::EmfOutput;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Embedded,
    Aws,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Embedded,
    Endpoint,
    Sagemaker,
    Bedrock,
    Hf,
}

impl ProviderKind {
    fn parse(name: &str) -> Result<Self, String> {
        match name.trim() {
            "embedded" => Ok(Self::Embedded),
            "endpoint" => Ok(Self::Endpoint),
            "sagemaker" => Ok(Self::Sagemaker),
            "bedrock" => Ok(Self::Bedrock),
            "hf" => Ok(Self::Hf),
            other => Err(format!(
                "unknown captioner `{other}`: use embedded, endpoint, sagemaker, bedrock or hf"
            )),
        }
    }
}

/// Who may create a local account on the sign-up page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignUpPolicy {
    /// Anyone (each client address at most `rate_limit.sign_ups_per_ip_per_hour` times).
    Open,
    /// Only with a single-use invite code from an administrator.
    Invite,
    /// Nobody; administrators create accounts with `imgcap-webapp create-admin`.
    Closed,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `embedded` (one machine, no cloud account) or `aws`.
    pub mode: Mode,
    pub listen_addr: SocketAddr,
    /// Absolute base of the URLs the app hands out (signed blob URLs), no trailing slash.
    pub public_base_url: String,
    /// Embedded mode: SQLite database, blobs and generated secrets live here.
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub server: ServerConfig,
    /// Unset: `open`, or `closed` when `[oidc]` is set (the identity provider's own sign-up
    /// applies then); see [`Config::sign_up_policy`].
    pub sign_up_policy: Option<SignUpPolicy>,
    pub upload: UploadConfig,
    pub rate_limit: RateLimitConfig,
    pub blobs: BlobConfig,
    pub worker: WorkerConfig,
    pub retention: RetentionConfig,
    pub session: SessionConfig,
    pub api_tokens: ApiTokensConfig,
    pub captioner: CaptionerConfig,
    pub labels: LabelsConfig,
    pub metrics: MetricsConfig,
    pub aws: AwsConfig,
    /// Sign-in with an OpenID provider (Cognito); absent means no OIDC sign-in.
    pub oidc: Option<OidcSettings>,
}

/// The HTTP server's limits on slow clients and open connections (`docs/security.md`, "Web app
/// server limits").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Client connections open at once; one over the cap is answered 503 with `Retry-After`
    /// and closed.
    pub max_connections: u32,
    /// A request head (request line and headers) must arrive in full within this, counted from
    /// the connection's opening or its previous answer; otherwise the connection is closed.
    pub header_read_timeout_ms: u64,
    /// A kept-alive connection idle this long after its last answer is closed. The header-read
    /// timeout also bounds idle time: the shorter of the two applies.
    pub keep_alive_timeout_ms: u64,
    /// After `body_grace_ms`, a request body must have arrived at this average rate at least;
    /// one that falls behind is answered 408 and its connection closed.
    pub body_min_bytes_per_sec: u64,
    pub body_grace_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadConfig {
    pub max_bytes: u64,
    pub max_side: u32,
    pub max_pixels: u64,
    pub min_side: u32,
    /// Longest side of the thumbnail.
    pub thumbnail_side: u32,
    pub thumbnail_quality: u8,
    /// Memory all image decoding in the process (uploads and the embedded captioner) may hold
    /// at once, in MiB; each image reserves what its header says it needs. The default suits a
    /// 1 GB container.
    pub image_memory_budget_mb: u64,
    /// How long an image waits for room in that budget before it is answered 503.
    pub image_memory_wait_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub uploads_per_hour: u32,
    /// Failed local-account sign-ins per user name in a window; more attempts are refused (429)
    /// until it ends.
    pub sign_in_failures_per_account: u32,
    /// The same per client address; 0 turns it off (behind a reverse proxy, where every client
    /// has the proxy's address).
    pub sign_in_failures_per_ip: u32,
    /// The window, from the first failure.
    pub sign_in_window_secs: u64,
    /// Local accounts created per client address and hour (a token bucket); 0 turns the limit
    /// off (behind a reverse proxy, where every client has the proxy's address).
    pub sign_ups_per_ip_per_hour: u32,
    /// Regenerations per user and hour: each one is a captioner call.
    pub regenerations_per_hour: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobConfig {
    pub url_ttl_secs: u64,
    /// Blobs without a record are removed once this old: an upload in progress writes its
    /// blobs before its record, so this must exceed the longest upload.
    pub orphan_grace_secs: u64,
    /// How often the orphan-blob sweep runs.
    pub orphan_sweep_interval_secs: u64,
}

/// `GET /metrics` (Prometheus).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// The metrics listener: `GET /metrics` without a token, on loopback by default, so only
    /// this machine (or a sidecar in the same network namespace) can scrape it.
    pub listen_addr: SocketAddr,
    /// When set, the main listener serves `GET /metrics` too, to scrapes that send
    /// `Authorization: Bearer <token>`; unset, it serves them only on `listen_addr`.
    pub token: Option<String>,
    /// How often the queue-depth and circuit-breaker gauges are read.
    pub refresh_interval_secs: u64,
    /// AWS deployments: CloudWatch namespace of the caption metrics, written to stdout in the
    /// embedded metric format (`CaptionSucceeded`, `CaptionLatency`, `CaptionFailed`,
    /// `CaptionerFailover`); unset or empty writes none.
    pub cloudwatch_namespace: Option<String>,
    /// Their `Environment` dimension (required with a namespace): the name of the deployment,
    /// as the dashboard and alarms filter on it.
    pub cloudwatch_environment: Option<String>,
    /// Where the records go instead of stdout; set only by code (tests), never read from a
    /// file or the environment.
    #[serde(skip)]
    pub cloudwatch_output: Option<EmfOutput>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Caption jobs run at once; 0 runs no worker (an API-only instance).
    pub concurrency: u32,
    pub max_attempts: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How long a job waits when no captioner is available and no circuit is cooling down
    /// (the embedded model loading, providers failing below their threshold); with an open
    /// circuit it waits for the shortest remaining cool-down instead.
    pub captioner_wait_ms: u64,
    pub visibility_timeout_secs: u64,
    pub poll_interval_ms: u64,
}

/// What every AWS client shares (AWS mode, and the AWS captioners in any mode).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Overrides the region of the standard chain (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// Sends every AWS call to this URL instead of AWS: an emulator in tests and compose.
    pub endpoint_url: Option<String>,
    /// Fixed credentials instead of the standard chain; set only by code (tests), never read
    /// from a file or the environment.
    #[serde(skip)]
    pub credentials: Option<aws_credential_types::Credentials>,
    /// AWS mode: the resources Terraform created (`infra/README_infra.md`, "What the web app
    /// must use"); the app never derives these names itself.
    pub s3_bucket: Option<String>,
    /// The bucket's KMS key ARN; when set, uploads ask for SSE-KMS with it explicitly,
    /// otherwise the bucket's default encryption (the same key) applies.
    pub s3_kms_key_arn: Option<String>,
    pub dynamodb_table: Option<String>,
    pub dynamodb_jobs_index: Option<String>,
    pub sqs_queue_url: Option<String>,
    pub sqs_dlq_url: Option<String>,
    /// Secrets Manager secret holding the signing key (history cursors, sessions).
    pub session_key_secret_arn: Option<String>,
}

/// The AWS-mode resource names, all present (checked by [`Config`] validation).
#[derive(Debug, Clone)]
pub struct AwsResources {
    pub s3_bucket: String,
    pub s3_kms_key_arn: Option<String>,
    pub dynamodb_table: String,
    pub dynamodb_jobs_index: String,
    pub sqs_queue_url: String,
    pub sqs_dlq_url: String,
    pub session_key_secret_arn: String,
}

impl AwsConfig {
    /// The resources AWS mode needs; the error names the first missing key and its variable.
    pub fn resources(&self) -> Result<AwsResources, String> {
        fn required(value: &Option<String>, key: &str, var: &str) -> Result<String, String> {
            value
                .clone()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("`aws.{key}` ({var}) is required when `mode` = \"aws\""))
        }
        if let Some(arn) = &self.s3_kms_key_arn {
            // The bucket policy accepts only the key's ARN, not a key id or alias.
            if !arn.starts_with("arn:") || arn.contains(":alias/") {
                return Err(
                    "`aws.s3_kms_key_arn` (IMGCAP_S3_KMS_KEY_ARN) must be the key's ARN".into(),
                );
            }
        }
        Ok(AwsResources {
            s3_bucket: required(&self.s3_bucket, "s3_bucket", "IMGCAP_S3_BUCKET")?,
            s3_kms_key_arn: self.s3_kms_key_arn.clone(),
            dynamodb_table: required(
                &self.dynamodb_table,
                "dynamodb_table",
                "IMGCAP_DYNAMODB_TABLE",
            )?,
            dynamodb_jobs_index: required(
                &self.dynamodb_jobs_index,
                "dynamodb_jobs_index",
                "IMGCAP_DYNAMODB_JOBS_INDEX",
            )?,
            sqs_queue_url: required(&self.sqs_queue_url, "sqs_queue_url", "IMGCAP_SQS_QUEUE_URL")?,
            sqs_dlq_url: required(&self.sqs_dlq_url, "sqs_dlq_url", "IMGCAP_SQS_DLQ_URL")?,
            session_key_secret_arn: required(
                &self.session_key_secret_arn,
                "session_key_secret_arn",
                "IMGCAP_SESSION_KEY_SECRET_ARN",
            )?,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    pub days: u32,
    pub sweep_interval_secs: u64,
}

/// Browser sessions of the web pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session unused this long ends.
    pub idle_timeout_secs: u64,
    /// A session ends this long after sign-in, however active.
    pub absolute_timeout_secs: u64,
}

/// Personal API tokens (the Account page, `imgcap-webapp create-token`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiTokensConfig {
    /// Days a new token works; 0: until revoked. Tokens made earlier keep the expiry (or none)
    /// they were made with.
    pub lifetime_days: u32,
}

impl ApiTokensConfig {
    pub fn lifetime(&self) -> Option<Duration> {
        (self.lifetime_days > 0)
            .then(|| Duration::from_secs(u64::from(self.lifetime_days) * 86_400))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptionerConfig {
    /// Providers in the order they are tried.
    pub chain: Vec<ProviderKind>,
    pub embedded: EmbeddedCaptionerConfig,
    pub endpoint: EndpointCaptionerConfig,
    pub sagemaker: SageMakerCaptionerConfig,
    pub bedrock: BedrockCaptionerConfig,
    pub hf: HfCaptionerConfig,
}

/// Timeout and circuit breaker of one chain entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    pub timeout_ms: u64,
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit waits before one trial call.
    pub cooldown_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedCaptionerConfig {
    /// A local checkpoint directory; when absent, `model_id` is fetched from the hub.
    pub model_dir: Option<PathBuf>,
    pub model_id: String,
    /// `cpu`, `cuda`, `cuda:N`, `metal` or `auto`.
    pub device: String,
    pub timeout_ms: u64,
    pub failure_threshold: u32,
    pub cooldown_ms: u64,
    /// The hub's base URL and its cache directory instead of `HF_ENDPOINT` and `HF_HOME`
    /// (which is how people set them); set only by code (tests), never read from a file or the
    /// environment.
    #[serde(skip)]
    pub hub_endpoint: Option<String>,
    #[serde(skip)]
    pub hub_cache_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointCaptionerConfig {
    /// The full URL of an `/invocations` route, e.g. `http://127.0.0.1:8080/invocations`.
    pub url: Option<String>,
    pub timeout_ms: u64,
    pub failure_threshold: u32,
    pub cooldown_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SageMakerCaptionerConfig {
    /// The endpoint running our inference container (required when the chain has `sagemaker`).
    pub endpoint_name: Option<String>,
    pub timeout_ms: u64,
    pub failure_threshold: u32,
    pub cooldown_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BedrockCaptionerConfig {
    /// The model (or inference profile) given to Converse; it must accept images (required
    /// when the chain has `bedrock`).
    pub model_id: Option<String>,
    /// Sends the Bedrock calls here instead of `aws.endpoint_url` or AWS: emulators without
    /// Converse (moto) need a separate fake.
    pub endpoint_url: Option<String>,
    pub timeout_ms: u64,
    pub failure_threshold: u32,
    pub cooldown_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HfCaptionerConfig {
    /// The Inference API; the model is reached at `{base_url}/models/{model_id}`.
    pub base_url: String,
    /// An image-to-text model.
    pub model_id: String,
    /// Secrets Manager secret holding the API key; when absent the key comes from
    /// `IMGCAP_HF_API_KEY`, `IMGCAP_HF_API_KEY_FILE` or `<data dir>/secrets/hf-api-key`.
    pub api_key_secret_arn: Option<String>,
    pub timeout_ms: u64,
    pub failure_threshold: u32,
    pub cooldown_ms: u64,
}

/// Labels found before captioning (stored with the captions, and given to `bedrock`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelsConfig {
    /// Rekognition `DetectLabels` on every image; off by default (it is billed per image).
    pub rekognition: bool,
    pub max_labels: u32,
    /// Percent, 0 to 100.
    pub min_confidence: u32,
    /// Labels are skipped (the captions still run) when they take longer than this.
    pub timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Embedded,
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_base_url: "http://127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            log_format: LogFormat::Text,
            server: ServerConfig::default(),
            sign_up_policy: None,
            upload: UploadConfig::default(),
            rate_limit: RateLimitConfig::default(),
            blobs: BlobConfig::default(),
            worker: WorkerConfig::default(),
            retention: RetentionConfig::default(),
            session: SessionConfig::default(),
            api_tokens: ApiTokensConfig::default(),
            captioner: CaptionerConfig::default(),
            labels: LabelsConfig::default(),
            metrics: MetricsConfig::default(),
            aws: AwsConfig::default(),
            oidc: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read_timeout_ms: 10_000,
            keep_alive_timeout_ms: 5_000,
            body_min_bytes_per_sec: 16 * 1024,
            body_grace_ms: 10_000,
        }
    }
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            max_side: 16384,
            max_pixels: 40_000_000,
            min_side: 16,
            thumbnail_side: 300,
            thumbnail_quality: 85,
            image_memory_budget_mb: 512,
            image_memory_wait_ms: 2000,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            uploads_per_hour: 60,
            sign_in_failures_per_account: 5,
            sign_in_failures_per_ip: 20,
            sign_in_window_secs: 15 * 60,
            sign_ups_per_ip_per_hour: 3,
            regenerations_per_hour: 20,
        }
    }
}

impl Default for BlobConfig {
    fn default() -> Self {
        Self {
            url_ttl_secs: 300,
            orphan_grace_secs: 3600,
            orphan_sweep_interval_secs: 3600,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            token: None,
            refresh_interval_secs: 15,
            cloudwatch_namespace: None,
            cloudwatch_environment: None,
            cloudwatch_output: None,
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 2,
            max_attempts: 5,
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            captioner_wait_ms: 5000,
            visibility_timeout_secs: 300,
            poll_interval_ms: 500,
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            days: 90,
            sweep_interval_secs: 3600,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 2 * 3600,
            absolute_timeout_secs: 7 * 86_400,
        }
    }
}

impl Default for CaptionerConfig {
    fn default() -> Self {
        Self {
            chain: vec![ProviderKind::Embedded],
            embedded: EmbeddedCaptionerConfig::default(),
            endpoint: EndpointCaptionerConfig::default(),
            sagemaker: SageMakerCaptionerConfig::default(),
            bedrock: BedrockCaptionerConfig::default(),
            hf: HfCaptionerConfig::default(),
        }
    }
}

impl Default for EmbeddedCaptionerConfig {
    fn default() -> Self {
        Self {
            model_dir: None,
            model_id: "Salesforce/blip-image-captioning-base".into(),
            device: "cpu".into(),
            timeout_ms: 60_000,
            failure_threshold: 3,
            cooldown_ms: 30_000,
            hub_endpoint: None,
            hub_cache_dir: None,
        }
    }
}

impl Default for EndpointCaptionerConfig {
    fn default() -> Self {
        Self {
            url: None,
            timeout_ms: 30_000,
            failure_threshold: 3,
            cooldown_ms: 30_000,
        }
    }
}

impl Default for SageMakerCaptionerConfig {
    fn default() -> Self {
        Self {
            endpoint_name: None,
            timeout_ms: 30_000,
            failure_threshold: 3,
            cooldown_ms: 30_000,
        }
    }
}

impl Default for BedrockCaptionerConfig {
    fn default() -> Self {
        Self {
            model_id: None,
            endpoint_url: None,
            timeout_ms: 30_000,
            failure_threshold: 3,
            cooldown_ms: 30_000,
        }
    }
}

impl Default for HfCaptionerConfig {
    fn default() -> Self {
        Self {
            base_url: "https://router.huggingface.co/hf-inference".into(),
            model_id: "Salesforce/blip-image-captioning-large".into(),
            api_key_secret_arn: None,
            timeout_ms: 30_000,
            failure_threshold: 3,
            cooldown_ms: 30_000,
        }
    }
}

impl Default for LabelsConfig {
    fn default() -> Self {
        Self {
            rekognition: false,
            max_labels: 10,
            min_confidence: 70,
            timeout_ms: 5_000,
        }
    }
}

/// Every captioner section carries the same three breaker keys.
macro_rules! breaker_of {
    ($($section:ty),+) => {$(
        impl $section {
            pub fn breaker(&self) -> BreakerConfig {
                BreakerConfig {
                    timeout_ms: self.timeout_ms,
                    failure_threshold: self.failure_threshold,
                    cooldown_ms: self.cooldown_ms,
                }
            }
        }
    )+};
}

breaker_of!(
    EmbeddedCaptionerConfig,
    EndpointCaptionerConfig,
    SageMakerCaptionerConfig,
    BedrockCaptionerConfig,
    HfCaptionerConfig
);

impl BreakerConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
    pub fn cooldown(&self) -> Duration {
        Duration::from_millis(self.cooldown_ms)
    }
}

/// How an environment variable's text becomes a TOML value.
#[derive(Clone, Copy)]
enum EnvKind {
    Str,
    Int,
    List,
    Bool,
}

/// Every environment override: variable, key, kind. `.env.example` documents the same list
/// (a unit test keeps them in step).
const ENV_KEYS: &[(&str, &str, EnvKind)] = &[
    ("IMGCAP_MODE", "mode", EnvKind::Str),
    ("IMGCAP_LISTEN_ADDR", "listen_addr", EnvKind::Str),
    ("IMGCAP_PUBLIC_BASE_URL", "public_base_url", EnvKind::Str),
    ("IMGCAP_DATA_DIR", "data_dir", EnvKind::Str),
    ("IMGCAP_LOG_FORMAT", "log_format", EnvKind::Str),
    ("IMGCAP_SIGN_UP_POLICY", "sign_up_policy", EnvKind::Str),
    (
        "IMGCAP_SERVER_MAX_CONNECTIONS",
        "server.max_connections",
        EnvKind::Int,
    ),
    (
        "IMGCAP_SERVER_HEADER_READ_TIMEOUT_MS",
        "server.header_read_timeout_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_SERVER_KEEP_ALIVE_TIMEOUT_MS",
        "server.keep_alive_timeout_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_SERVER_BODY_MIN_BYTES_PER_SEC",
        "server.body_min_bytes_per_sec",
        EnvKind::Int,
    ),
    (
        "IMGCAP_SERVER_BODY_GRACE_MS",
        "server.body_grace_ms",
        EnvKind::Int,
    ),
    ("IMGCAP_UPLOAD_MAX_BYTES", "upload.max_bytes", EnvKind::Int),
    ("IMGCAP_UPLOAD_MAX_SIDE", "upload.max_side", EnvKind::Int),
    (
        "IMGCAP_UPLOAD_MAX_PIXELS",
        "upload.max_pixels",
        EnvKind::Int,
    ),
    ("IMGCAP_UPLOAD_MIN_SIDE", "upload.min_side", EnvKind::Int),
    (
        "IMGCAP_UPLOAD_THUMBNAIL_SIDE",
        "upload.thumbnail_side",
        EnvKind::Int,
    ),
    (
        "IMGCAP_UPLOAD_THUMBNAIL_QUALITY",
        "upload.thumbnail_quality",
        EnvKind::Int,
    ),
    (
        "IMGCAP_IMAGE_MEMORY_BUDGET_MB",
        "upload.image_memory_budget_mb",
        EnvKind::Int,
    ),
    (
        "IMGCAP_IMAGE_MEMORY_WAIT_MS",
        "upload.image_memory_wait_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_RATE_LIMIT_UPLOADS_PER_HOUR",
        "rate_limit.uploads_per_hour",
        EnvKind::Int,
    ),
    (
        "IMGCAP_RATE_LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT",
        "rate_limit.sign_in_failures_per_account",
        EnvKind::Int,
    ),
    (
        "IMGCAP_RATE_LIMIT_SIGN_IN_FAILURES_PER_IP",
        "rate_limit.sign_in_failures_per_ip",
        EnvKind::Int,
    ),
    (
        "IMGCAP_RATE_LIMIT_SIGN_IN_WINDOW_SECS",
        "rate_limit.sign_in_window_secs",
        EnvKind::Int,
    ),
    (
        "IMGCAP_RATE_LIMIT_SIGN_UPS_PER_IP_PER_HOUR",
        "rate_limit.sign_ups_per_ip_per_hour",
        EnvKind::Int,
    ),
    (
        "IMGCAP_RATE_LIMIT_REGENERATIONS_PER_HOUR",
        "rate_limit.regenerations_per_hour",
        EnvKind::Int,
    ),
    (
        "IMGCAP_BLOBS_URL_TTL_SECS",
        "blobs.url_ttl_secs",
        EnvKind::Int,
    ),
    (
        "IMGCAP_BLOBS_ORPHAN_GRACE_SECS",
        "blobs.orphan_grace_secs",
        EnvKind::Int,
    ),
    (
        "IMGCAP_BLOBS_ORPHAN_SWEEP_INTERVAL_SECS",
        "blobs.orphan_sweep_interval_secs",
        EnvKind::Int,
    ),
    (
        "IMGCAP_METRICS_LISTEN_ADDR",
        "metrics.listen_addr",
        EnvKind::Str,
    ),
    ("IMGCAP_METRICS_TOKEN", "metrics.token", EnvKind::Str),
    (
        "IMGCAP_METRICS_REFRESH_INTERVAL_SECS",
        "metrics.refresh_interval_secs",
        EnvKind::Int,
    ),
    (
        "IMGCAP_METRICS_CLOUDWATCH_NAMESPACE",
        "metrics.cloudwatch_namespace",
        EnvKind::Str,
    ),
    (
        "IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT",
        "metrics.cloudwatch_environment",
        EnvKind::Str,
    ),
    (
        "IMGCAP_WORKER_CONCURRENCY",
        "worker.concurrency",
        EnvKind::Int,
    ),
    (
        "IMGCAP_WORKER_MAX_ATTEMPTS",
        "worker.max_attempts",
        EnvKind::Int,
    ),
    (
        "IMGCAP_WORKER_RETRY_BASE_MS",
        "worker.retry_base_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_WORKER_RETRY_MAX_MS",
        "worker.retry_max_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_WORKER_CAPTIONER_WAIT_MS",
        "worker.captioner_wait_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_WORKER_VISIBILITY_TIMEOUT_SECS",
        "worker.visibility_timeout_secs",
        EnvKind::Int,
    ),
    (
        "IMGCAP_WORKER_POLL_INTERVAL_MS",
        "worker.poll_interval_ms",
        EnvKind::Int,
    ),
    ("IMGCAP_RETENTION_DAYS", "retention.days", EnvKind::Int),
    (
        "IMGCAP_SESSION_IDLE_TIMEOUT_SECS",
        "session.idle_timeout_secs",
        EnvKind::Int,
    ),
    (
        "IMGCAP_SESSION_ABSOLUTE_TIMEOUT_SECS",
        "session.absolute_timeout_secs",
        EnvKind::Int,
    ),
    (
        "IMGCAP_RETENTION_SWEEP_INTERVAL_SECS",
        "retention.sweep_interval_secs",
        EnvKind::Int,
    ),
    (
        "IMGCAP_API_TOKEN_LIFETIME_DAYS",
        "api_tokens.lifetime_days",
        EnvKind::Int,
    ),
    ("IMGCAP_CAPTIONER_CHAIN", "captioner.chain", EnvKind::List),
    ("IMGCAP_AWS_REGION", "aws.region", EnvKind::Str),
    ("IMGCAP_AWS_ENDPOINT_URL", "aws.endpoint_url", EnvKind::Str),
    ("IMGCAP_S3_BUCKET", "aws.s3_bucket", EnvKind::Str),
    ("IMGCAP_S3_KMS_KEY_ARN", "aws.s3_kms_key_arn", EnvKind::Str),
    ("IMGCAP_DYNAMODB_TABLE", "aws.dynamodb_table", EnvKind::Str),
    (
        "IMGCAP_DYNAMODB_JOBS_INDEX",
        "aws.dynamodb_jobs_index",
        EnvKind::Str,
    ),
    ("IMGCAP_SQS_QUEUE_URL", "aws.sqs_queue_url", EnvKind::Str),
    ("IMGCAP_SQS_DLQ_URL", "aws.sqs_dlq_url", EnvKind::Str),
    (
        "IMGCAP_SESSION_KEY_SECRET_ARN",
        "aws.session_key_secret_arn",
        EnvKind::Str,
    ),
    (
        "IMGCAP_CAPTIONER_EMBEDDED_MODEL_DIR",
        "captioner.embedded.model_dir",
        EnvKind::Str,
    ),
    (
        "IMGCAP_CAPTIONER_EMBEDDED_MODEL_ID",
        "captioner.embedded.model_id",
        EnvKind::Str,
    ),
    (
        "IMGCAP_CAPTIONER_EMBEDDED_DEVICE",
        "captioner.embedded.device",
        EnvKind::Str,
    ),
    (
        "IMGCAP_CAPTIONER_EMBEDDED_TIMEOUT_MS",
        "captioner.embedded.timeout_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_CAPTIONER_EMBEDDED_FAILURE_THRESHOLD",
        "captioner.embedded.failure_threshold",
        EnvKind::Int,
    ),
    (
        "IMGCAP_CAPTIONER_EMBEDDED_COOLDOWN_MS",
        "captioner.embedded.cooldown_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_CAPTIONER_ENDPOINT_URL",
        "captioner.endpoint.url",
        EnvKind::Str,
    ),
    (
        "IMGCAP_CAPTIONER_ENDPOINT_TIMEOUT_MS",
        "captioner.endpoint.timeout_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_CAPTIONER_ENDPOINT_FAILURE_THRESHOLD",
        "captioner.endpoint.failure_threshold",
        EnvKind::Int,
    ),
    (
        "IMGCAP_CAPTIONER_ENDPOINT_COOLDOWN_MS",
        "captioner.endpoint.cooldown_ms",
        EnvKind::Int,
    ),
    ("IMGCAP_OIDC_ISSUER", "oidc.issuer", EnvKind::Str),
    ("IMGCAP_OIDC_CLIENT_ID", "oidc.client_id", EnvKind::Str),
    (
        "IMGCAP_OIDC_CLIENT_SECRET",
        "oidc.client_secret",
        EnvKind::Str,
    ),
    (
        "IMGCAP_OIDC_REDIRECT_URL",
        "oidc.redirect_url",
        EnvKind::Str,
    ),
    (
        "IMGCAP_OIDC_METADATA_URL",
        "oidc.metadata_url",
        EnvKind::Str,
    ),
    (
        "IMGCAP_OIDC_AUTHORIZE_URL",
        "oidc.authorize_url",
        EnvKind::Str,
    ),
    ("IMGCAP_OIDC_TOKEN_URL", "oidc.token_url", EnvKind::Str),
    ("IMGCAP_OIDC_JWKS_URL", "oidc.jwks_url", EnvKind::Str),
    ("IMGCAP_OIDC_SCOPES", "oidc.scopes", EnvKind::List),
    ("IMGCAP_OIDC_LOGOUT_URL", "oidc.logout_url", EnvKind::Str),
    (
        "IMGCAP_OIDC_LOGOUT_REDIRECT_URL",
        "oidc.logout_redirect_url",
        EnvKind::Str,
    ),
    ("IMGCAP_OIDC_ADMIN_GROUP", "oidc.admin_group", EnvKind::Str),
    (
        "IMGCAP_OIDC_LOGIN_TIMEOUT_SECS",
        "oidc.login_timeout_secs",
        EnvKind::Int,
    ),
    (
        "IMGCAP_OIDC_JWKS_REFRESH_MIN_INTERVAL_SECS",
        "oidc.jwks_refresh_min_interval_secs",
        EnvKind::Int,
    ),
    (
        "IMGCAP_SAGEMAKER_ENDPOINT",
        "captioner.sagemaker.endpoint_name",
        EnvKind::Str,
    ),
    (
        "IMGCAP_CAPTIONER_SAGEMAKER_TIMEOUT_MS",
        "captioner.sagemaker.timeout_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_CAPTIONER_SAGEMAKER_FAILURE_THRESHOLD",
        "captioner.sagemaker.failure_threshold",
        EnvKind::Int,
    ),
    (
        "IMGCAP_CAPTIONER_SAGEMAKER_COOLDOWN_MS",
        "captioner.sagemaker.cooldown_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_BEDROCK_MODEL_ID",
        "captioner.bedrock.model_id",
        EnvKind::Str,
    ),
    (
        "IMGCAP_CAPTIONER_BEDROCK_ENDPOINT_URL",
        "captioner.bedrock.endpoint_url",
        EnvKind::Str,
    ),
    (
        "IMGCAP_CAPTIONER_BEDROCK_TIMEOUT_MS",
        "captioner.bedrock.timeout_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_CAPTIONER_BEDROCK_FAILURE_THRESHOLD",
        "captioner.bedrock.failure_threshold",
        EnvKind::Int,
    ),
    (
        "IMGCAP_CAPTIONER_BEDROCK_COOLDOWN_MS",
        "captioner.bedrock.cooldown_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_CAPTIONER_HF_BASE_URL",
        "captioner.hf.base_url",
        EnvKind::Str,
    ),
    (
        "IMGCAP_CAPTIONER_HF_MODEL_ID",
        "captioner.hf.model_id",
        EnvKind::Str,
    ),
    (
        "IMGCAP_HF_API_KEY_SECRET_ARN",
        "captioner.hf.api_key_secret_arn",
        EnvKind::Str,
    ),
    (
        "IMGCAP_CAPTIONER_HF_TIMEOUT_MS",
        "captioner.hf.timeout_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_CAPTIONER_HF_FAILURE_THRESHOLD",
        "captioner.hf.failure_threshold",
        EnvKind::Int,
    ),
    (
        "IMGCAP_CAPTIONER_HF_COOLDOWN_MS",
        "captioner.hf.cooldown_ms",
        EnvKind::Int,
    ),
    (
        "IMGCAP_REKOGNITION_LABELS",
        "labels.rekognition",
        EnvKind::Bool,
    ),
    (
        "IMGCAP_LABELS_MAX_LABELS",
        "labels.max_labels",
        EnvKind::Int,
    ),
    (
        "IMGCAP_LABELS_MIN_CONFIDENCE",
        "labels.min_confidence",
        EnvKind::Int,
    ),
    (
        "IMGCAP_LABELS_TIMEOUT_MS",
        "labels.timeout_ms",
        EnvKind::Int,
    ),
];

impl MetricsConfig {
    /// The CloudWatch namespace and `Environment` dimension when the records are on.
    pub fn cloudwatch(&self) -> Option<(&str, &str)> {
        fn set(value: &Option<String>) -> Option<&str> {
            value.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        Some((
            set(&self.cloudwatch_namespace)?,
            set(&self.cloudwatch_environment).unwrap_or_default(),
        ))
    }

    fn validate_cloudwatch(&self) -> Result<(), String> {
        let Some((namespace, environment)) = self.cloudwatch() else {
            return Ok(());
        };
        if namespace.starts_with("AWS/") || namespace.len() > 255 {
            return Err(
                "`metrics.cloudwatch_namespace` (IMGCAP_METRICS_CLOUDWATCH_NAMESPACE) \
                        must be at most 255 characters and not start with AWS/"
                    .into(),
            );
        }
        if environment.is_empty() {
            return Err(
                "`metrics.cloudwatch_environment` (IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT) is \
                 required when `metrics.cloudwatch_namespace` is set"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The variable that names the configuration file (default `imgcap.toml`, optional).
pub const CONFIG_FILE_VAR: &str = "IMGCAP_CONFIG";

/// The variable that names a file of `IMGCAP_*=value` lines (docker's `--env-file` format: no
/// quotes, `#` comments). docker-compose's provision service hands the web app the names of the
/// resources it created this way; every command run in the container (`create-token`, ...) reads
/// the same file, which a shell wrapper around `serve` would not give them.
pub const ENV_FILE_VAR: &str = "IMGCAP_ENV_FILE";

impl Config {
    /// Reads `path` (when it exists), the file `IMGCAP_ENV_FILE` names (when set) and the
    /// process environment, which wins over that file; then validates.
    pub fn load(path: &Path) -> Result<Self, String> {
        Self::load_with_env(path, std::env::vars().collect())
    }

    /// [`Config::load`] with `env` standing for the process environment.
    fn load_with_env(path: &Path, env: Vec<(String, String)>) -> Result<Self, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
        };
        let from_file = match env
            .iter()
            .find(|(name, v)| name == ENV_FILE_VAR && !v.is_empty())
        {
            Some((_, file)) => env_file(Path::new(file))?,
            None => Vec::new(),
        };
        Self::from_sources(&text, from_file.into_iter().chain(env))
    }

    /// The file's text and the environment, as pairs; validated.
    pub fn from_sources(
        toml_text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, String> {
        let mut table: toml::Table =
            toml::from_str(toml_text).map_err(|e| format!("configuration file: {e}"))?;
        for (name, value) in env {
            // An empty variable (as copied from .env.example) means "not set".
            if !name.starts_with("IMGCAP_") || name == CONFIG_FILE_VAR || value.is_empty() {
                continue;
            }
            let Some(&(_, key, kind)) = ENV_KEYS.iter().find(|(var, _, _)| *var == name) else {
                // Secrets (IMGCAP_SIGNING_KEY...) and AWS-mode names are read elsewhere.
                continue;
            };
            let parsed = match kind {
                EnvKind::Str => toml::Value::String(value),
                EnvKind::Int => value
                    .trim()
                    .parse::<i64>()
                    .map(toml::Value::Integer)
                    .map_err(|_| {
                        format!("{name} (`{key}`): expected a whole number, got `{value}`")
                    })?,
                EnvKind::Bool => match value.trim() {
                    "true" => toml::Value::Boolean(true),
                    "false" => toml::Value::Boolean(false),
                    _ => {
                        return Err(format!(
                            "{name} (`{key}`): expected true or false, got `{value}`"
                        ))
                    }
                },
                EnvKind::List => toml::Value::Array(
                    value
                        .split(',')
                        .map(|s| toml::Value::String(s.trim().to_owned()))
                        .collect(),
                ),
            };
            set_key(&mut table, key, parsed);
        }
        check_chain_names(&table)?;
        let config: Config = table
            .try_into()
            .map_err(|e: toml::de::Error| format!("configuration: {}", e.message()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.mode == Mode::Aws {
            self.aws.resources()?;
        }
        let positive = |key: &str, value: u64| {
            if value == 0 {
                Err(format!("`{key}` must be greater than 0"))
            } else {
                Ok(())
            }
        };
        if !(self.public_base_url.starts_with("http://")
            || self.public_base_url.starts_with("https://"))
            || self.public_base_url.ends_with('/')
        {
            return Err("`public_base_url` must be an http(s) URL without a trailing slash".into());
        }
        positive("server.max_connections", self.server.max_connections.into())?;
        positive(
            "server.header_read_timeout_ms",
            self.server.header_read_timeout_ms,
        )?;
        positive(
            "server.keep_alive_timeout_ms",
            self.server.keep_alive_timeout_ms,
        )?;
        positive(
            "server.body_min_bytes_per_sec",
            self.server.body_min_bytes_per_sec,
        )?;
        positive("upload.max_bytes", self.upload.max_bytes)?;
        positive("upload.max_side", self.upload.max_side.into())?;
        positive("upload.max_pixels", self.upload.max_pixels)?;
        if self.upload.min_side > self.upload.max_side {
            return Err("`upload.min_side` must not exceed `upload.max_side`".into());
        }
        if !(16..=4096).contains(&self.upload.thumbnail_side) {
            return Err("`upload.thumbnail_side` must be between 16 and 4096".into());
        }
        if !(1..=100).contains(&self.upload.thumbnail_quality) {
            return Err("`upload.thumbnail_quality` must be between 1 and 100".into());
        }
        if !(16..=1 << 20).contains(&self.upload.image_memory_budget_mb) {
            return Err(
                "`upload.image_memory_budget_mb` must be between 16 and 1048576 (MiB)".into(),
            );
        }
        if self.upload.image_memory_wait_ms > 60_000 {
            return Err("`upload.image_memory_wait_ms` must be at most 60000".into());
        }
        positive(
            "rate_limit.uploads_per_hour",
            self.rate_limit.uploads_per_hour.into(),
        )?;
        positive(
            "rate_limit.sign_in_failures_per_account",
            self.rate_limit.sign_in_failures_per_account.into(),
        )?;
        positive(
            "rate_limit.sign_in_window_secs",
            self.rate_limit.sign_in_window_secs,
        )?;
        positive(
            "rate_limit.regenerations_per_hour",
            self.rate_limit.regenerations_per_hour.into(),
        )?;
        if self.oidc.is_some()
            && self
                .sign_up_policy
                .is_some_and(|p| p != SignUpPolicy::Closed)
        {
            return Err(
                "`sign_up_policy` must be `closed` (or unset) with `[oidc]`: accounts \
                        come from the identity provider then"
                    .into(),
            );
        }
        positive("blobs.url_ttl_secs", self.blobs.url_ttl_secs)?;
        positive("blobs.orphan_grace_secs", self.blobs.orphan_grace_secs)?;
        positive(
            "blobs.orphan_sweep_interval_secs",
            self.blobs.orphan_sweep_interval_secs,
        )?;
        positive(
            "metrics.refresh_interval_secs",
            self.metrics.refresh_interval_secs,
        )?;
        if self
            .metrics
            .token
            .as_deref()
            .is_some_and(|token| token.trim().len() < 16)
        {
            return Err(
                "`metrics.token` (IMGCAP_METRICS_TOKEN) must be at least 16 characters".into(),
            );
        }
        if self.metrics.listen_addr == self.listen_addr && self.listen_addr.port() != 0 {
            return Err(
                "`metrics.listen_addr` (IMGCAP_METRICS_LISTEN_ADDR) must differ from `listen_addr`"
                    .into(),
            );
        }
        self.metrics.validate_cloudwatch()?;
        positive("worker.max_attempts", self.worker.max_attempts.into())?;
        positive("worker.retry_base_ms", self.worker.retry_base_ms)?;
        positive("worker.captioner_wait_ms", self.worker.captioner_wait_ms)?;
        if self.worker.retry_max_ms < self.worker.retry_base_ms {
            return Err("`worker.retry_max_ms` must be at least `worker.retry_base_ms`".into());
        }
        positive(
            "worker.visibility_timeout_secs",
            self.worker.visibility_timeout_secs,
        )?;
        positive("worker.poll_interval_ms", self.worker.poll_interval_ms)?;
        positive("retention.days", self.retention.days.into())?;
        positive(
            "retention.sweep_interval_secs",
            self.retention.sweep_interval_secs,
        )?;
        positive("session.idle_timeout_secs", self.session.idle_timeout_secs)?;
        if self.session.absolute_timeout_secs < self.session.idle_timeout_secs {
            return Err(
                "`session.absolute_timeout_secs` must be at least `session.idle_timeout_secs`"
                    .into(),
            );
        }
        if self.api_tokens.lifetime_days > 3650 {
            return Err("`api_tokens.lifetime_days` must be at most 3650 (0: no expiry)".into());
        }
        if self.captioner.chain.is_empty() {
            return Err("`captioner.chain` must name at least one captioner".into());
        }
        for (i, kind) in self.captioner.chain.iter().enumerate() {
            if self.captioner.chain[..i].contains(kind) {
                return Err(format!("`captioner.chain` names {kind:?} twice"));
            }
        }
        for (section, breaker) in [
            ("captioner.embedded", self.captioner.embedded.breaker()),
            ("captioner.endpoint", self.captioner.endpoint.breaker()),
            ("captioner.sagemaker", self.captioner.sagemaker.breaker()),
            ("captioner.bedrock", self.captioner.bedrock.breaker()),
            ("captioner.hf", self.captioner.hf.breaker()),
        ] {
            positive(&format!("{section}.timeout_ms"), breaker.timeout_ms)?;
            positive(
                &format!("{section}.failure_threshold"),
                breaker.failure_threshold.into(),
            )?;
        }
        if self.captioner.chain.contains(&ProviderKind::Endpoint) {
            match &self.captioner.endpoint.url {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => {}
                Some(_) => return Err("`captioner.endpoint.url` must be an http(s) URL".into()),
                None => {
                    return Err(
                        "`captioner.endpoint.url` is required when the chain has `endpoint`".into(),
                    )
                }
            }
        }
        if let Some(oidc) = &self.oidc {
            oidc.validate()?;
        }
        self.validate_cloud_captioners()?;
        if self.labels.rekognition {
            positive("labels.max_labels", self.labels.max_labels.into())?;
            positive("labels.timeout_ms", self.labels.timeout_ms)?;
            if self.labels.min_confidence > 100 {
                return Err("`labels.min_confidence` is a percentage: 0 to 100".into());
            }
        }
        Ok(())
    }

    /// The settings the `sagemaker`, `bedrock` and `hf` providers need when the chain has them.
    fn validate_cloud_captioners(&self) -> Result<(), String> {
        let chain = &self.captioner.chain;
        let blank = |value: &Option<String>| value.as_deref().is_none_or(|v| v.trim().is_empty());
        let http = |url: &str| url.starts_with("http://") || url.starts_with("https://");
        if chain.contains(&ProviderKind::Sagemaker)
            && blank(&self.captioner.sagemaker.endpoint_name)
        {
            return Err(
                "`captioner.sagemaker.endpoint_name` (IMGCAP_SAGEMAKER_ENDPOINT) is \
                        required when the chain has `sagemaker`"
                    .into(),
            );
        }
        let bedrock = &self.captioner.bedrock;
        if chain.contains(&ProviderKind::Bedrock) && blank(&bedrock.model_id) {
            return Err(
                "`captioner.bedrock.model_id` (IMGCAP_BEDROCK_MODEL_ID) is required \
                        when the chain has `bedrock`"
                    .into(),
            );
        }
        if bedrock
            .endpoint_url
            .as_deref()
            .is_some_and(|url| !http(url))
        {
            return Err("`captioner.bedrock.endpoint_url` must be an http(s) URL".into());
        }
        let hf = &self.captioner.hf;
        if chain.contains(&ProviderKind::Hf) {
            if !http(&hf.base_url) {
                return Err("`captioner.hf.base_url` must be an http(s) URL".into());
            }
            if hf.model_id.trim().is_empty() {
                return Err("`captioner.hf.model_id` must name a model".into());
            }
        }
        Ok(())
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }
    /// Who may create a local account: the setting, else `closed` with an identity provider
    /// and `open` without.
    pub fn sign_up_policy(&self) -> SignUpPolicy {
        self.sign_up_policy.unwrap_or(match self.oidc {
            Some(_) => SignUpPolicy::Closed,
            None => SignUpPolicy::Open,
        })
    }
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("imgcap.sqlite3")
    }
    pub fn secrets_dir(&self) -> PathBuf {
        self.data_dir.join("secrets")
    }
    /// Whether the app is reached over HTTPS (HSTS, `Secure` cookies).
    pub fn https(&self) -> bool {
        self.public_base_url.starts_with("https://")
    }
    /// Cookies are `Secure` except when the app is served over plain HTTP on this machine
    /// (development), where a browser would drop them.
    pub fn secure_cookies(&self) -> bool {
        let Some(rest) = self.public_base_url.strip_prefix("http://") else {
            return true;
        };
        let authority = rest.split('/').next().unwrap_or(rest);
        let host = match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => authority,
        };
        !(host == "localhost" || host == "[::1]" || host.starts_with("127."))
    }
}

fn set_key(table: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().expect("keys are not empty");
    let mut current = table;
    for part in parts {
        let entry = current
            .entry(part)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        current = entry.as_table_mut().expect("just made a table");
    }
    current.insert(last.to_owned(), value);
}

/// The `NAME=value` lines of an env file; blank lines and `#` comments are skipped.
fn env_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{ENV_FILE_VAR}: cannot read {}: {err}", path.display()))?;
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once('=').ok_or_else(|| {
            format!(
                "{}:{}: expected NAME=value, got `{line}`",
                path.display(),
                number + 1
            )
        })?;
        pairs.push((name.trim().to_owned(), value.to_owned()));
    }
    Ok(pairs)
}

/// Names the key for unknown or not-yet-available captioners (serde would only say "unknown
/// variant").
fn check_chain_names(table: &toml::Table) -> Result<(), String> {
    let Some(chain) = table
        .get("captioner")
        .and_then(|c| c.get("chain"))
        .and_then(|c| c.as_array())
    else {
        return Ok(());
    };
    for name in chain.iter().filter_map(|v| v.as_str()) {
        ProviderKind::parse(name).map_err(|e| format!("`captioner.chain`: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_documented() {
        let config = Config::from_sources("", env(&[])).unwrap();
        assert_eq!(config.upload.max_bytes, 10 * 1024 * 1024);
        assert_eq!(config.rate_limit.uploads_per_hour, 60);
        assert_eq!(config.rate_limit.sign_in_failures_per_account, 5);
        assert_eq!(config.rate_limit.sign_in_failures_per_ip, 20);
        assert_eq!(config.rate_limit.sign_in_window_secs, 900);
        assert_eq!(config.retention.days, 90);
        assert_eq!(config.blobs.url_ttl_secs, 300);
        assert_eq!(config.blobs.orphan_grace_secs, 3600);
        assert_eq!(config.upload.image_memory_budget_mb, 512);
        assert_eq!(config.server.max_connections, 1024);
        assert_eq!(config.server.header_read_timeout_ms, 10_000);
        assert_eq!(config.server.keep_alive_timeout_ms, 5_000);
        assert_eq!(config.server.body_min_bytes_per_sec, 16 * 1024);
        assert_eq!(config.server.body_grace_ms, 10_000);
        assert_eq!(config.upload.image_memory_wait_ms, 2000);
        assert_eq!(config.metrics.token, None);
        assert_eq!(config.api_tokens.lifetime(), None, "tokens never expire");
        assert_eq!(config.metrics.listen_addr.to_string(), "127.0.0.1:9090");
        assert_eq!(config.metrics.cloudwatch(), None, "no CloudWatch records");
    }

    #[test]
    fn cloudwatch_metrics_take_a_namespace_and_an_environment() {
        let config = Config::from_sources(
            "",
            env(&[
                ("IMGCAP_METRICS_CLOUDWATCH_NAMESPACE", "imgcap"),
                ("IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT", "prod"),
            ]),
        )
        .unwrap();
        assert_eq!(config.metrics.cloudwatch(), Some(("imgcap", "prod")));
        let blank = Config::from_sources("[metrics]\ncloudwatch_namespace = \" \"\n", env(&[]));
        assert_eq!(blank.unwrap().metrics.cloudwatch(), None, "blank is off");
    }

    #[test]
    fn cookies_are_secure_except_on_plain_http_localhost() {
        for (url, https, secure) in [
            ("https://imgcap.example", true, true),
            ("http://imgcap.example", false, true),
            ("http://127.0.0.1:8080", false, false),
            ("http://localhost:3000", false, false),
            ("http://[::1]:80", false, false),
            ("http://localhost.evil.example", false, true),
        ] {
            let config = Config::from_sources("", env(&[("IMGCAP_PUBLIC_BASE_URL", url)])).unwrap();
            assert_eq!(
                (config.https(), config.secure_cookies()),
                (https, secure),
                "{url}"
            );
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = Config::from_sources(
            "[worker]\nconcurrency = 4\n[rate_limit]\nuploads_per_hour = 5\n",
            env(&[
                ("IMGCAP_WORKER_CONCURRENCY", "7"),
                ("IMGCAP_CAPTIONER_CHAIN", "endpoint, embedded"),
                (
                    "IMGCAP_CAPTIONER_ENDPOINT_URL",
                    "http://127.0.0.1:9/invocations",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(config.worker.concurrency, 7);
        assert_eq!(config.rate_limit.uploads_per_hour, 5);
        assert_eq!(
            config.captioner.chain,
            [ProviderKind::Endpoint, ProviderKind::Embedded]
        );
    }

    #[test]
    fn oidc_section_is_optional_and_read_from_the_environment() {
        assert!(Config::from_sources("", env(&[])).unwrap().oidc.is_none());
        let config = Config::from_sources(
            "[oidc]\nissuer = \"https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_P\"\n",
            env(&[
                ("IMGCAP_OIDC_CLIENT_ID", "client123"),
                (
                    "IMGCAP_OIDC_REDIRECT_URL",
                    "https://imgcap.example/auth/callback",
                ),
                ("IMGCAP_OIDC_SCOPES", "openid, email, profile"),
            ]),
        )
        .unwrap();
        let oidc = config.oidc.unwrap();
        assert_eq!(oidc.client_id, "client123");
        assert_eq!(oidc.scopes, ["openid", "email", "profile"]);
        assert_eq!(oidc.admin_group, "admin");
    }

    #[test]
    fn sign_up_is_open_without_oidc_closed_with_it_and_can_be_set() {
        let oidc = "[oidc]\nissuer = \"https://id.example\"\nclient_id = \"c\"\n\
                    redirect_url = \"https://imgcap.example/auth/callback\"\n";
        let config = Config::from_sources("", env(&[])).unwrap();
        assert_eq!(config.sign_up_policy(), SignUpPolicy::Open);
        assert_eq!(config.rate_limit.sign_ups_per_ip_per_hour, 3);
        assert_eq!(config.rate_limit.regenerations_per_hour, 20);
        let config = Config::from_sources(oidc, env(&[])).unwrap();
        assert_eq!(config.sign_up_policy(), SignUpPolicy::Closed);
        let config = Config::from_sources("", env(&[("IMGCAP_SIGN_UP_POLICY", "invite")])).unwrap();
        assert_eq!(config.sign_up_policy(), SignUpPolicy::Invite);
        let err =
            Config::from_sources(oidc, env(&[("IMGCAP_SIGN_UP_POLICY", "open")])).unwrap_err();
        assert!(err.contains("sign_up_policy"), "{err}");
    }

    #[test]
    fn cloud_captioners_and_labels_take_the_terraform_variables() {
        let config = Config::from_sources(
            "",
            env(&[
                ("IMGCAP_CAPTIONER_CHAIN", "sagemaker, bedrock, hf"),
                ("IMGCAP_SAGEMAKER_ENDPOINT", "imgcap-dev-captioner"),
                (
                    "IMGCAP_BEDROCK_MODEL_ID",
                    "anthropic.claude-3-haiku-20240307-v1:0",
                ),
                ("IMGCAP_HF_API_KEY_SECRET_ARN", "arn:aws:secretsmanager:x"),
                ("IMGCAP_REKOGNITION_LABELS", "true"),
                ("IMGCAP_CAPTIONER_BEDROCK_TIMEOUT_MS", "1234"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.captioner.chain,
            [
                ProviderKind::Sagemaker,
                ProviderKind::Bedrock,
                ProviderKind::Hf
            ]
        );
        assert_eq!(
            config.captioner.sagemaker.endpoint_name.as_deref(),
            Some("imgcap-dev-captioner")
        );
        assert_eq!(config.captioner.bedrock.breaker().timeout_ms, 1234);
        assert_eq!(
            config.captioner.hf.api_key_secret_arn.as_deref(),
            Some("arn:aws:secretsmanager:x")
        );
        assert!(config.labels.rekognition);
        let off = Config::from_sources("", env(&[("IMGCAP_REKOGNITION_LABELS", "false")]));
        assert!(!off.unwrap().labels.rekognition);
    }

    #[test]
    fn errors_name_the_key() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("mode = \"aws\"", &[], "IMGCAP_S3_BUCKET"),
            (
                "mode = \"aws\"",
                &[
                    ("IMGCAP_S3_BUCKET", "b"),
                    ("IMGCAP_DYNAMODB_TABLE", "t"),
                    ("IMGCAP_DYNAMODB_JOBS_INDEX", "i"),
                    ("IMGCAP_SQS_QUEUE_URL", "http://q"),
                    ("IMGCAP_SQS_DLQ_URL", "http://d"),
                ],
                "aws.session_key_secret_arn",
            ),
            (
                "",
                &[
                    ("IMGCAP_MODE", "aws"),
                    ("IMGCAP_S3_KMS_KEY_ARN", "alias/imgcap"),
                ],
                "aws.s3_kms_key_arn",
            ),
            (
                "",
                &[("IMGCAP_WORKER_CONCURRENCY", "many")],
                "IMGCAP_WORKER_CONCURRENCY",
            ),
            (
                "[rate_limit]\nuploads_per_hour = 0",
                &[],
                "rate_limit.uploads_per_hour",
            ),
            (
                "",
                &[("IMGCAP_RATE_LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT", "0")],
                "rate_limit.sign_in_failures_per_account",
            ),
            (
                "",
                &[("IMGCAP_RATE_LIMIT_REGENERATIONS_PER_HOUR", "0")],
                "rate_limit.regenerations_per_hour",
            ),
            ("", &[("IMGCAP_SIGN_UP_POLICY", "invited")], "invited"),
            ("[upload]\nmax_byte = 3", &[], "max_byte"),
            (
                "",
                &[("IMGCAP_SERVER_HEADER_READ_TIMEOUT_MS", "0")],
                "server.header_read_timeout_ms",
            ),
            (
                "[server]\nbody_min_bytes_per_sec = 0",
                &[],
                "server.body_min_bytes_per_sec",
            ),
            (
                "",
                &[("IMGCAP_IMAGE_MEMORY_BUDGET_MB", "8")],
                "upload.image_memory_budget_mb",
            ),
            (
                "",
                &[("IMGCAP_IMAGE_MEMORY_WAIT_MS", "600000")],
                "upload.image_memory_wait_ms",
            ),
            (
                "",
                &[("IMGCAP_CAPTIONER_CHAIN", "embedded, gpt")],
                "captioner.chain",
            ),
            (
                "",
                &[("IMGCAP_CAPTIONER_CHAIN", "bedrock")],
                "captioner.bedrock.model_id",
            ),
            (
                "",
                &[("IMGCAP_CAPTIONER_CHAIN", "sagemaker")],
                "IMGCAP_SAGEMAKER_ENDPOINT",
            ),
            (
                "",
                &[("IMGCAP_REKOGNITION_LABELS", "yes")],
                "IMGCAP_REKOGNITION_LABELS",
            ),
            (
                "[labels]\nrekognition = true\nmin_confidence = 101",
                &[],
                "labels.min_confidence",
            ),
            (
                "",
                &[("IMGCAP_CAPTIONER_CHAIN", "endpoint")],
                "captioner.endpoint.url",
            ),
            (
                "",
                &[("IMGCAP_PUBLIC_BASE_URL", "ftp://x")],
                "public_base_url",
            ),
            ("[oidc]\nclient_id = \"c\"", &[], "oidc.issuer"),
            (
                "",
                &[("IMGCAP_OIDC_LOGIN_TIMEOUT_SECS", "soon")],
                "IMGCAP_OIDC_LOGIN_TIMEOUT_SECS",
            ),
            (
                "",
                &[("IMGCAP_METRICS_CLOUDWATCH_NAMESPACE", "imgcap")],
                "IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT",
            ),
            (
                "",
                &[
                    ("IMGCAP_METRICS_CLOUDWATCH_NAMESPACE", "AWS/ECS"),
                    ("IMGCAP_METRICS_CLOUDWATCH_ENVIRONMENT", "prod"),
                ],
                "metrics.cloudwatch_namespace",
            ),
        ];
        for (file, vars, needle) in cases {
            let err = Config::from_sources(file, env(vars)).unwrap_err();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }

    #[test]
    fn aws_mode_takes_the_terraform_names() {
        let vars = [
            ("IMGCAP_MODE", "aws"),
            ("IMGCAP_S3_BUCKET", "imgcap-dev-images-123"),
            ("IMGCAP_S3_KMS_KEY_ARN", "arn:aws:kms:eu-west-1:123:key/k"),
            ("IMGCAP_DYNAMODB_TABLE", "imgcap-dev"),
            ("IMGCAP_DYNAMODB_JOBS_INDEX", "jobs-by-state"),
            ("IMGCAP_SQS_QUEUE_URL", "https://sqs/q"),
            ("IMGCAP_SQS_DLQ_URL", "https://sqs/dlq"),
            ("IMGCAP_SESSION_KEY_SECRET_ARN", "arn:aws:secretsmanager:s"),
        ];
        let config = Config::from_sources("", env(&vars)).unwrap();
        let resources = config.aws.resources().unwrap();
        assert_eq!(resources.dynamodb_table, "imgcap-dev");
        assert_eq!(resources.sqs_dlq_url, "https://sqs/dlq");
        assert_eq!(
            resources.s3_kms_key_arn.as_deref(),
            Some("arn:aws:kms:eu-west-1:123:key/k")
        );
    }

    #[test]
    fn env_example_lists_every_variable() {
        let example = include_str!("../../.env.example");
        for (var, _, _) in ENV_KEYS {
            assert!(example.contains(&format!("{var}=")), "{var} is missing");
        }
        for line in example.lines().filter(|l| l.starts_with("IMGCAP_")) {
            let var = line.split('=').next().unwrap();
            let known = ENV_KEYS.iter().any(|(v, _, _)| *v == var)
                || [
                    CONFIG_FILE_VAR,
                    ENV_FILE_VAR,
                    "IMGCAP_SIGNING_KEY",
                    "IMGCAP_SIGNING_KEY_FILE",
                    "IMGCAP_HF_API_KEY",
                    "IMGCAP_HF_API_KEY_FILE",
                    "IMGCAP_ADMIN_PASSWORD",
                ]
                .contains(&var);
            assert!(known, "{var} in .env.example is not read by the app");
        }
    }

    #[test]
    fn an_env_file_gives_settings_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("web.env");
        std::fs::write(
            &file,
            "# from provision\nIMGCAP_LISTEN_ADDR=127.0.0.1:9\n\nIMGCAP_PUBLIC_BASE_URL=http://from.file\n",
        )
        .unwrap();
        let env = |extra: &[(&str, &str)]| {
            let mut env = vec![(ENV_FILE_VAR.to_owned(), file.display().to_string())];
            env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            env
        };
        let missing = dir.path().join("imgcap.toml");
        let config = Config::load_with_env(&missing, env(&[])).unwrap();
        assert_eq!(config.listen_addr.to_string(), "127.0.0.1:9");
        let config = Config::load_with_env(
            &missing,
            env(&[("IMGCAP_PUBLIC_BASE_URL", "http://from.env")]),
        )
        .unwrap();
        assert_eq!(config.public_base_url, "http://from.env");

        std::fs::write(&file, "IMGCAP_LISTEN_ADDR\n").unwrap();
        let err = Config::load_with_env(&missing, env(&[])).unwrap_err();
        assert!(err.contains("web.env:1: expected NAME=value"), "{err}");
        std::fs::remove_file(&file).unwrap();
        let err = Config::load_with_env(&missing, env(&[])).unwrap_err();
        assert!(err.contains("IMGCAP_ENV_FILE: cannot read"), "{err}");
    }
}
