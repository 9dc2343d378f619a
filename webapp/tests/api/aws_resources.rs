//! The AWS resources of AWS mode for tests: created in the shared moto server, shaped like
//! Terraform's (`infra/terraform/modules/{storage,data,queue,secrets}`), or, when
//! `IMGCAP_CONTRACT_RESOURCES=env` (scripts/webapp-aws-contract-tests.sh), the ones Terraform
//! itself created, named by the `IMGCAP_*` variables of `test-artifacts/infra/emulator.env`.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_s3::types::{
    BucketVersioningStatus, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;
use imgcap_webapp::config::{AwsConfig, Config};

use crate::moto::{unique_name, Moto};

/// Whether the tests use Terraform's resources (named by the environment).
pub fn from_environment() -> bool {
    std::env::var("IMGCAP_CONTRACT_RESOURCES").as_deref() == Ok("env")
}

/// Where the AWS adapters of a test point, and the queue's `maxReceiveCount`.
pub struct Resources {
    pub aws: AwsConfig,
    pub max_receive_count: u32,
}

impl Resources {
    /// Fresh resources for one test, or the environment's.
    pub async fn get(max_receive_count: u32) -> Self {
        if from_environment() {
            Self::from_env().await
        } else {
            Self::create(max_receive_count).await
        }
    }

    pub async fn sdk(&self) -> aws_config::SdkConfig {
        imgcap_webapp::adapters::aws::sdk_config(&self.aws).await
    }

    /// An S3 client for these resources (path-style, as the emulator needs).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk().await)
                .force_path_style(true)
                .build(),
        )
    }

    /// Object versions and delete markers under `prefix` in the bucket.
    pub async fn object_versions(&self, prefix: &str) -> usize {
        let page = self
            .s3()
            .await
            .list_object_versions()
            .bucket(self.aws.s3_bucket.as_deref().unwrap())
            .prefix(prefix)
            .send()
            .await
            .unwrap();
        page.versions().len() + page.delete_markers().len()
    }

    async fn from_env() -> Self {
        let config = Config::from_sources("", std::env::vars())
            .expect("the IMGCAP_* environment is a valid AWS-mode configuration");
        let aws = config.aws;
        let sdk = imgcap_webapp::adapters::aws::sdk_config(&aws).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let redrive = sqs
            .get_queue_attributes()
            .queue_url(aws.sqs_queue_url.as_deref().unwrap())
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .unwrap();
        let redrive: serde_json::Value = serde_json::from_str(
            &redrive.attributes().unwrap()[&QueueAttributeName::RedrivePolicy],
        )
        .unwrap();
        let max_receive_count = redrive["maxReceiveCount"]
            .as_u64()
            .or_else(|| redrive["maxReceiveCount"].as_str()?.parse().ok())
            .unwrap() as u32;
        Self {
            aws,
            max_receive_count,
        }
    }

    /// A bucket, table, queue pair and secret in moto, named for this test only.
    pub async fn create(max_receive_count: u32) -> Self {
        let moto = Moto::shared();
        let mut aws = moto.aws_config();
        let sdk = imgcap_webapp::adapters::aws::sdk_config(&aws).await;
        let name = unique_name("imgcap");
        let kms_key_arn = format!("arn:aws:kms:us-east-1:123456789012:key/{}", random_token());

        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket().bucket(&name).send().await.unwrap();
        s3.put_bucket_versioning()
            .bucket(&name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        s3.put_bucket_encryption()
            .bucket(&name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(
                                ServerSideEncryptionByDefault::builder()
                                    .sse_algorithm(ServerSideEncryption::AwsKms)
                                    .kms_master_key_id(&kms_key_arn)
                                    .build()
                                    .unwrap(),
                            )
                            .bucket_key_enabled(true)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();

        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let string_key = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap()
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .unwrap()
        };
        dynamodb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_key("pk"))
            .attribute_definitions(string_key("sk"))
            .attribute_definitions(string_key("job_state"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name("jobs-by-state")
                    .key_schema(key("job_state", KeyType::Hash))
                    .key_schema(key("sk", KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::KeysOnly)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        dynamodb
            .update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();

        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let dlq_url = sqs
            .create_queue()
            .queue_name(format!("{name}-captions-dlq"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let dlq_arn = sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{name}-captions"))
            .attributes(QueueAttributeName::VisibilityTimeout, "300")
            .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "20")
            .attributes(
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({
                    "deadLetterTargetArn": dlq_arn,
                    "maxReceiveCount": max_receive_count,
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();

        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let secret_arn = secrets
            .create_secret()
            .name(format!("imgcap/{name}/session-key"))
            .secret_string(random_token().repeat(2))
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();

        aws.s3_bucket = Some(name.clone());
        aws.s3_kms_key_arn = Some(kms_key_arn);
        aws.dynamodb_table = Some(name);
        aws.dynamodb_jobs_index = Some("jobs-by-state".into());
        aws.sqs_queue_url = Some(queue_url);
        aws.sqs_dlq_url = Some(dlq_url);
        aws.session_key_secret_arn = Some(secret_arn);
        Self {
            aws,
            max_receive_count,
        }
    }
}

/// 32 random alphanumeric characters.
fn random_token() -> String {
    ulid::Ulid::new().to_string().to_lowercase() + "abcdef"
}
