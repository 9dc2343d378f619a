//! The caption providers of `captioner.chain` and the labeler, as configured.

use std::sync::Arc;

use anyhow::Context;
use imgcap_imaging::budget::MemoryBudget;
#[cfg(feature = "embedded-captioner")]
use imgcap_models::source::{HubModel, ModelSource};
#[cfg(feature = "embedded-captioner")]
use imgcap_models::LoadOptions;

use crate::adapters::aws::rekognition::RekognitionLabeler;
use crate::adapters::aws::secrets::SecretsManagerSecrets;
use crate::adapters::embedded::secrets::EnvFileSecrets;
use crate::adapters::outbound::captioner_client;
use crate::adapters::providers::bedrock::BedrockProvider;
#[cfg(feature = "embedded-captioner")]
use crate::adapters::providers::embedded::EmbeddedProvider;
use crate::adapters::providers::endpoint::EndpointProvider;
use crate::adapters::providers::hf::HfProvider;
use crate::adapters::providers::sagemaker::SageMakerProvider;
use crate::adapters::providers::ProviderChain;
use crate::config::{Config, ProviderKind};
use crate::core::ports::{CaptionProvider, Labeler, Secrets, HF_API_KEY_SECRET};

/// Whether anything but the AWS-mode adapters calls AWS (which then needs the SDK config).
pub(super) fn uses_aws_services(config: &Config) -> bool {
    let chain = &config.captioner.chain;
    chain.contains(&ProviderKind::Sagemaker)
        || chain.contains(&ProviderKind::Bedrock)
        || (chain.contains(&ProviderKind::Hf) && config.captioner.hf.api_key_secret_arn.is_some())
        || config.labels.rekognition
}

/// The Hugging Face API key: from Secrets Manager when `captioner.hf.api_key_secret_arn` is
/// set, else from the embedded secrets (`IMGCAP_HF_API_KEY`, ...).
async fn hf_api_key(
    config: &Config,
    sdk: Option<&aws_config::SdkConfig>,
    local_secrets: &EnvFileSecrets,
) -> anyhow::Result<String> {
    let bytes = match (&config.captioner.hf.api_key_secret_arn, sdk) {
        (Some(arn), Some(sdk)) => SecretsManagerSecrets::new(
            aws_sdk_secretsmanager::Client::new(sdk),
            vec![(HF_API_KEY_SECRET.to_owned(), arn.clone())],
        )
        .get(HF_API_KEY_SECRET)
        .await
        .context("`captioner.hf.api_key_secret_arn` (IMGCAP_HF_API_KEY_SECRET_ARN)")?,
        _ => local_secrets.get(HF_API_KEY_SECRET).await?,
    };
    let key = String::from_utf8(bytes).context("the Hugging Face API key is not text")?;
    // Files and secrets often end with a newline; a key never contains whitespace.
    let key = key.trim().to_owned();
    anyhow::ensure!(!key.is_empty(), "the Hugging Face API key is empty");
    Ok(key)
}

/// Why a web app built without the `embedded-captioner` feature refuses to start with the
/// `embedded` captioner in its chain.
#[cfg(not(feature = "embedded-captioner"))]
pub const EMBEDDED_CAPTIONER_NOT_BUILT: &str =
    "`captioner.chain` names `embedded`, but this binary was built without the \
     `embedded-captioner` feature, so it has no model in the process: choose another captioner \
     (`endpoint`, `sagemaker`, `bedrock`, `hf`) or build imgcap-webapp with its default features";

pub(super) async fn load_providers(
    config: &Config,
    sdk: Option<&aws_config::SdkConfig>,
    local_secrets: &EnvFileSecrets,
    image_budget: &MemoryBudget,
) -> anyhow::Result<ProviderChain> {
    let captioner = &config.captioner;
    let sdk = || sdk.context("the AWS SDK configuration was not built");
    let mut providers: Vec<(Arc<dyn CaptionProvider>, _)> = Vec::new();
    for kind in &captioner.chain {
        match kind {
            #[cfg(feature = "embedded-captioner")]
            ProviderKind::Embedded => {
                let settings = &captioner.embedded;
                let source = ModelSource::dir_or_hub(
                    settings.model_dir.clone(),
                    HubModel {
                        endpoint: settings.hub_endpoint.clone(),
                        cache_dir: settings.hub_cache_dir.clone(),
                        ..HubModel::new(settings.model_id.clone())
                    },
                );
                let device = imgcap_models::parse_device(&settings.device)
                    .context("`captioner.embedded.device`")?;
                let options = LoadOptions {
                    dtype: imgcap_models::parse_dtype(&settings.dtype, &device)
                        .context("`captioner.embedded.dtype`")?,
                    device,
                };
                // The app serves while the model downloads and loads; `/readyz` and the pages
                // show the progress, and jobs wait for it.
                providers.push((
                    EmbeddedProvider::load_in_background(source, options, image_budget.clone()),
                    settings.breaker(),
                ));
            }
            #[cfg(not(feature = "embedded-captioner"))]
            ProviderKind::Embedded => {
                // Only the in-process model would decode with the budget here.
                let _ = image_budget;
                anyhow::bail!("{EMBEDDED_CAPTIONER_NOT_BUILT}");
            }
            ProviderKind::Endpoint => {
                let settings = &captioner.endpoint;
                let url = settings
                    .url
                    .clone()
                    .context("`captioner.endpoint.url` is required")?;
                providers.push((
                    Arc::new(EndpointProvider::new(captioner_client()?, url)),
                    settings.breaker(),
                ));
            }
            ProviderKind::Sagemaker => {
                let settings = &captioner.sagemaker;
                let endpoint = settings
                    .endpoint_name
                    .clone()
                    .context("`captioner.sagemaker.endpoint_name` is required")?;
                let client = aws_sdk_sagemakerruntime::Client::new(sdk()?);
                providers.push((
                    Arc::new(SageMakerProvider::new(client, endpoint)),
                    settings.breaker(),
                ));
            }
            ProviderKind::Bedrock => {
                let settings = &captioner.bedrock;
                let model_id = settings
                    .model_id
                    .clone()
                    .context("`captioner.bedrock.model_id` is required")?;
                let mut client_config = aws_sdk_bedrockruntime::config::Builder::from(sdk()?);
                if let Some(url) = &settings.endpoint_url {
                    client_config = client_config.endpoint_url(url);
                }
                let client = aws_sdk_bedrockruntime::Client::from_conf(client_config.build());
                providers.push((
                    Arc::new(BedrockProvider::new(client, model_id)),
                    settings.breaker(),
                ));
            }
            ProviderKind::Hf => {
                let settings = &captioner.hf;
                let key = hf_api_key(config, sdk().ok(), local_secrets).await?;
                providers.push((
                    Arc::new(HfProvider::new(
                        captioner_client()?,
                        &settings.base_url,
                        settings.model_id.clone(),
                        key,
                    )),
                    settings.breaker(),
                ));
            }
        }
    }
    Ok(ProviderChain::new(providers))
}

/// Rekognition labels when `labels.rekognition` is on: on the S3 object when the originals
/// are in `bucket`, else on the bytes.
pub(super) fn load_labeler(
    config: &Config,
    sdk: Option<&aws_config::SdkConfig>,
    bucket: Option<String>,
) -> anyhow::Result<Option<Arc<dyn Labeler>>> {
    if !config.labels.rekognition {
        return Ok(None);
    }
    let sdk = sdk.context("the AWS SDK configuration was not built")?;
    Ok(Some(Arc::new(RekognitionLabeler::new(
        aws_sdk_rekognition::Client::new(sdk),
        bucket,
        config.labels.max_labels,
        config.labels.min_confidence,
    ))))
}
