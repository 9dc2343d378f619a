//! `[aws]`: what every AWS client shares, and the resource names AWS mode needs.

use serde::Deserialize;

use super::env::EnvKind;

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

/// The resource names keep the variables Terraform's task definition sets (`env::ALIASES`).
pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("aws.region", EnvKind::Str),
    ("aws.endpoint_url", EnvKind::Str),
    ("aws.s3_bucket", EnvKind::Str),
    ("aws.s3_kms_key_arn", EnvKind::Str),
    ("aws.dynamodb_table", EnvKind::Str),
    ("aws.dynamodb_jobs_index", EnvKind::Str),
    ("aws.sqs_queue_url", EnvKind::Str),
    ("aws.sqs_dlq_url", EnvKind::Str),
    ("aws.session_key_secret_arn", EnvKind::Str),
];
