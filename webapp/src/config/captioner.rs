//! `[captioner]`: the provider chain and each provider's section (timeout, circuit breaker,
//! where it is).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::env::EnvKind;
use super::positive;

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
    /// `auto` (bf16 on a CPU with AVX512-BF16, else f32), `f32`, `f16` or `bf16`.
    pub dtype: String,
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
            dtype: "auto".into(),
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

impl CaptionerConfig {
    pub(super) fn validate(&self) -> Result<(), String> {
        if self.chain.is_empty() {
            return Err("`captioner.chain` must name at least one captioner".into());
        }
        for (i, kind) in self.chain.iter().enumerate() {
            if self.chain[..i].contains(kind) {
                return Err(format!("`captioner.chain` names {kind:?} twice"));
            }
        }
        for (section, breaker) in [
            ("captioner.embedded", self.embedded.breaker()),
            ("captioner.endpoint", self.endpoint.breaker()),
            ("captioner.sagemaker", self.sagemaker.breaker()),
            ("captioner.bedrock", self.bedrock.breaker()),
            ("captioner.hf", self.hf.breaker()),
        ] {
            positive(&format!("{section}.timeout_ms"), breaker.timeout_ms)?;
            positive(
                &format!("{section}.failure_threshold"),
                breaker.failure_threshold.into(),
            )?;
        }
        if self.chain.contains(&ProviderKind::Endpoint) {
            match &self.endpoint.url {
                Some(url) if url.starts_with("http://") || url.starts_with("https://") => {}
                Some(_) => return Err("`captioner.endpoint.url` must be an http(s) URL".into()),
                None => {
                    return Err(
                        "`captioner.endpoint.url` is required when the chain has `endpoint`".into(),
                    )
                }
            }
        }
        Ok(())
    }

    /// The settings the `sagemaker`, `bedrock` and `hf` providers need when the chain has them.
    pub(super) fn validate_cloud_captioners(&self) -> Result<(), String> {
        let chain = &self.chain;
        let blank = |value: &Option<String>| value.as_deref().is_none_or(|v| v.trim().is_empty());
        let http = |url: &str| url.starts_with("http://") || url.starts_with("https://");
        if chain.contains(&ProviderKind::Sagemaker) && blank(&self.sagemaker.endpoint_name) {
            return Err(
                "`captioner.sagemaker.endpoint_name` (IMGCAP_SAGEMAKER_ENDPOINT) is \
                        required when the chain has `sagemaker`"
                    .into(),
            );
        }
        let bedrock = &self.bedrock;
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
        let hf = &self.hf;
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
}

/// Names the key for unknown or not-yet-available captioners (serde would only say "unknown
/// variant").
pub(super) fn check_chain_names(table: &toml::Table) -> Result<(), String> {
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

/// `sagemaker.endpoint_name`, `bedrock.model_id` and `hf.api_key_secret_arn` keep the variables
/// Terraform's task definition sets (`env::ALIASES`).
pub(super) const ENV_KEYS: &[(&str, EnvKind)] = &[
    ("captioner.chain", EnvKind::List),
    ("captioner.embedded.model_dir", EnvKind::Str),
    ("captioner.embedded.model_id", EnvKind::Str),
    ("captioner.embedded.device", EnvKind::Str),
    ("captioner.embedded.dtype", EnvKind::Str),
    ("captioner.embedded.timeout_ms", EnvKind::Int),
    ("captioner.embedded.failure_threshold", EnvKind::Int),
    ("captioner.embedded.cooldown_ms", EnvKind::Int),
    ("captioner.endpoint.url", EnvKind::Str),
    ("captioner.endpoint.timeout_ms", EnvKind::Int),
    ("captioner.endpoint.failure_threshold", EnvKind::Int),
    ("captioner.endpoint.cooldown_ms", EnvKind::Int),
    ("captioner.sagemaker.endpoint_name", EnvKind::Str),
    ("captioner.sagemaker.timeout_ms", EnvKind::Int),
    ("captioner.sagemaker.failure_threshold", EnvKind::Int),
    ("captioner.sagemaker.cooldown_ms", EnvKind::Int),
    ("captioner.bedrock.model_id", EnvKind::Str),
    ("captioner.bedrock.endpoint_url", EnvKind::Str),
    ("captioner.bedrock.timeout_ms", EnvKind::Int),
    ("captioner.bedrock.failure_threshold", EnvKind::Int),
    ("captioner.bedrock.cooldown_ms", EnvKind::Int),
    ("captioner.hf.base_url", EnvKind::Str),
    ("captioner.hf.model_id", EnvKind::Str),
    ("captioner.hf.api_key_secret_arn", EnvKind::Str),
    ("captioner.hf.timeout_ms", EnvKind::Int),
    ("captioner.hf.failure_threshold", EnvKind::Int),
    ("captioner.hf.cooldown_ms", EnvKind::Int),
];
