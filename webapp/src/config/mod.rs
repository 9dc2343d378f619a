//! The one typed configuration: `imgcap.toml` (optional) overridden by `IMGCAP_*` variables,
//! validated before anything starts. Every error names the key (and the variable) at fault.
//! Each section has its own file with its default and validation; `env` derives the variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::oidc::OidcSettings;

mod api_tokens;
mod aws;
mod blobs;
mod captioner;
mod env;
mod labels;
mod metrics;
mod oidc;
mod rate_limit;
mod retention;
mod server;
mod session;
#[cfg(test)]
mod tests;
mod upload;
mod worker;

pub use api_tokens::ApiTokensConfig;
pub use aws::{AwsConfig, AwsResources};
pub use blobs::BlobConfig;
pub use captioner::{
    BedrockCaptionerConfig, BreakerConfig, CaptionerConfig, EmbeddedCaptionerConfig,
    EndpointCaptionerConfig, HfCaptionerConfig, ProviderKind, SageMakerCaptionerConfig,
};
pub use labels::LabelsConfig;
pub use metrics::MetricsConfig;
pub use rate_limit::RateLimitConfig;
pub use retention::RetentionConfig;
pub use server::ServerConfig;
pub use session::SessionConfig;
pub use upload::UploadConfig;
pub use worker::WorkerConfig;

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

const TOP_LEVEL_ENV_KEYS: &[(&str, env::EnvKind)] = &[
    ("mode", env::EnvKind::Str),
    ("listen_addr", env::EnvKind::Str),
    ("public_base_url", env::EnvKind::Str),
    ("data_dir", env::EnvKind::Str),
    ("log_format", env::EnvKind::Str),
    ("sign_up_policy", env::EnvKind::Str),
];

/// The variable that names the configuration file (default `imgcap.toml`, optional).
pub const CONFIG_FILE_VAR: &str = "IMGCAP_CONFIG";

/// The variable that names a file of `IMGCAP_*=value` lines (docker's `--env-file` format: no
/// quotes, `#` comments). docker-compose's provision service hands the web app the names of the
/// resources it created this way; every command run in the container (`create-token`, ...) reads
/// the same file, which a shell wrapper around `serve` would not give them.
pub const ENV_FILE_VAR: &str = "IMGCAP_ENV_FILE";

/// A setting that must not be 0.
fn positive(key: &str, value: u64) -> Result<(), String> {
    if value == 0 {
        Err(format!("`{key}` must be greater than 0"))
    } else {
        Ok(())
    }
}

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
            Some((_, file)) => env::read_env_file(Path::new(file))?,
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
        env::apply(&mut table, env)?;
        captioner::check_chain_names(&table)?;
        let config: Config = table
            .try_into()
            .map_err(|e: toml::de::Error| format!("configuration: {}", e.message()))?;
        config.validate()?;
        Ok(config)
    }

    /// Each section's own checks, and those that span sections.
    fn validate(&self) -> Result<(), String> {
        if self.mode == Mode::Aws {
            self.aws.resources()?;
        }
        if !(self.public_base_url.starts_with("http://")
            || self.public_base_url.starts_with("https://"))
            || self.public_base_url.ends_with('/')
        {
            return Err("`public_base_url` must be an http(s) URL without a trailing slash".into());
        }
        self.server.validate()?;
        self.upload.validate()?;
        self.rate_limit.validate()?;
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
        self.blobs.validate()?;
        self.metrics.validate()?;
        if self.metrics.listen_addr == self.listen_addr && self.listen_addr.port() != 0 {
            return Err(
                "`metrics.listen_addr` (IMGCAP_METRICS_LISTEN_ADDR) must differ from `listen_addr`"
                    .into(),
            );
        }
        self.worker.validate()?;
        self.retention.validate()?;
        self.session.validate()?;
        self.api_tokens.validate()?;
        self.captioner.validate()?;
        if let Some(oidc) = &self.oidc {
            oidc.validate()?;
        }
        self.captioner.validate_cloud_captioners()?;
        self.labels.validate()
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
