//! Wiring: the configuration picks the adapters, builds the [`Engine`], the router and the
//! background tasks (caption workers, retention and orphan-blob sweeps, metrics gauges,
//! resumption of interrupted deletions).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use imgcap_imaging::budget::MemoryBudget;
use imgcap_imaging::ImageLimits;
#[cfg(feature = "embedded-captioner")]
use imgcap_models::source::{HubModel, ModelSource};
#[cfg(feature = "embedded-captioner")]
use imgcap_models::LoadOptions;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::aws::rekognition::RekognitionLabeler;
use crate::aws::secrets::SecretsManagerSecrets;
use crate::aws::AwsAdapters;
use crate::captioner::bedrock::BedrockCaptioner;
#[cfg(feature = "embedded-captioner")]
use crate::captioner::embedded::EmbeddedCaptioner;
use crate::captioner::endpoint::EndpointCaptioner;
use crate::captioner::hf::HfCaptioner;
use crate::captioner::sagemaker::SageMakerCaptioner;
use crate::captioner::CaptionerChain;
use crate::config::{Config, Mode, ProviderKind};
use crate::embedded::accounts::LocalAccounts;
use crate::embedded::auth::SqliteTokens;
use crate::embedded::blobs::{self, FileBlobs};
use crate::embedded::db::Db;
use crate::embedded::private_files;
use crate::embedded::queue::SqliteQueue;
use crate::embedded::ratelimit::SqliteRateLimiter;
use crate::embedded::repo::SqliteRepo;
use crate::embedded::secrets::EnvFileSecrets;
use crate::embedded::sessions::SqliteSessions;
use crate::embedded::sign_in_throttle::{SignInLimits, SignInThrottle};
use crate::embedded::sign_up::SignUp;
use crate::http::auth::BearerTokens;
use crate::http::device::DeviceCookies;
use crate::http::pages::CognitoSignIn;
use crate::http::session::{SessionSettings, Sessions};
use crate::http::{app, content_security_policy, metrics_listener, AppState};
use crate::outbound::captioner_client;
use crate::pipeline::PipelineSettings;
use crate::ports::{
    Captioner, Labeler, Secrets, SessionStore, TokenStore, HF_API_KEY_SECRET, SIGNING_KEY_SECRET,
};
use crate::server::{Listeners, ServerLimits};
use crate::service::{Engine, EngineSettings, Ports};
use crate::signing::Signer;
use crate::telemetry::emf::{Emf, EmfOutput};
use crate::telemetry::WebMetrics;
use crate::tokens::TokenAuthenticator;

pub struct Application {
    state: AppState,
    config: Config,
}

/// Whether anything but the AWS-mode adapters calls AWS (which then needs the SDK config).
fn uses_aws_services(config: &Config) -> bool {
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

async fn load_captioners(
    config: &Config,
    sdk: Option<&aws_config::SdkConfig>,
    local_secrets: &EnvFileSecrets,
    image_budget: &MemoryBudget,
) -> anyhow::Result<CaptionerChain> {
    let captioner = &config.captioner;
    let sdk = || sdk.context("the AWS SDK configuration was not built");
    let mut providers: Vec<(Arc<dyn Captioner>, _)> = Vec::new();
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
                let options = LoadOptions {
                    device: imgcap_models::parse_device(&settings.device)
                        .context("`captioner.embedded.device`")?,
                    ..LoadOptions::default()
                };
                // The app serves while the model downloads and loads; `/readyz` and the pages
                // show the progress, and jobs wait for it.
                providers.push((
                    EmbeddedCaptioner::load_in_background(source, options, image_budget.clone()),
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
                    Arc::new(EndpointCaptioner::new(captioner_client()?, url)),
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
                    Arc::new(SageMakerCaptioner::new(client, endpoint)),
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
                    Arc::new(BedrockCaptioner::new(client, model_id)),
                    settings.breaker(),
                ));
            }
            ProviderKind::Hf => {
                let settings = &captioner.hf;
                let key = hf_api_key(config, sdk().ok(), local_secrets).await?;
                providers.push((
                    Arc::new(HfCaptioner::new(
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
    Ok(CaptionerChain::new(providers))
}

/// Rekognition labels when `labels.rekognition` is on: on the S3 object when the originals
/// are in `bucket`, else on the bytes.
fn load_labeler(
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

/// The personal API tokens of the configured mode, for `imgcap-webapp create-token`.
pub async fn api_tokens(config: &Config) -> anyhow::Result<TokenAuthenticator> {
    let store: Arc<dyn TokenStore> = match config.mode {
        Mode::Embedded => Arc::new(SqliteTokens::new(Db::open(&config.database_path())?)),
        Mode::Aws => {
            let resources = config.aws.resources().map_err(anyhow::Error::msg)?;
            let sdk = crate::aws::sdk_config(&config.aws).await;
            Arc::new(crate::aws::tokens::DynamoTokens::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                resources.dynamodb_table,
            ))
        }
    };
    Ok(TokenAuthenticator::new(store).with_lifetime(config.api_tokens.lifetime()))
}

/// Where the sessions and personal API tokens of users live: shared by every instance in AWS
/// mode.
struct UserStores {
    sessions: Arc<dyn SessionStore>,
    tokens: Arc<dyn TokenStore>,
}

impl Application {
    /// Builds every adapter of the configured mode; fails with a readable message when a
    /// dependency (database, blob directory, AWS resource, model) is unusable.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // Earlier versions left the data directory readable by every local account.
        let data_dir = config.data_dir.clone();
        tokio::task::spawn_blocking(move || private_files::tighten(&data_dir))
            .await
            .context("restricting the data directory was interrupted")??;
        let db = Db::open(&config.database_path())?;
        let sdk = match config.mode == Mode::Aws || uses_aws_services(&config) {
            true => Some(crate::aws::sdk_config(&config.aws).await),
            false => None,
        };
        let local_secrets = EnvFileSecrets::new(config.secrets_dir());
        // One image memory budget for the process: uploads and the embedded captioner.
        let image_budget = MemoryBudget::new(
            config.upload.image_memory_budget_mb << 20,
            Duration::from_millis(config.upload.image_memory_wait_ms),
        );
        let (ports, stores, signing_key, adapter_routes, image_origin) = match (config.mode, &sdk) {
            (Mode::Aws, Some(sdk)) => {
                let aws = AwsAdapters::connect(&config, sdk).await?;
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
                    chain: load_captioners(&config, Some(sdk), &local_secrets, &image_budget)
                        .await?,
                    labeler: load_labeler(&config, Some(sdk), Some(aws.bucket))?,
                };
                let stores = UserStores {
                    sessions: aws.sessions,
                    tokens: aws.tokens,
                };
                // S3 serves the presigned URLs itself.
                (
                    ports,
                    stores,
                    signing_key,
                    axum::Router::new(),
                    image_origin,
                )
            }
            _ => {
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
                    chain: load_captioners(&config, sdk.as_ref(), &local_secrets, &image_budget)
                        .await?,
                    labeler: load_labeler(&config, sdk.as_ref(), None)?,
                };
                let stores = UserStores {
                    sessions: Arc::new(SqliteSessions::new(db.clone())),
                    tokens: Arc::new(SqliteTokens::new(db.clone())),
                };
                // Signed blob URLs point at the app itself.
                let origin = config.public_base_url.clone();
                let routes = blobs::routes(file_blobs);
                (ports, stores, signing_key, routes, origin)
            }
        };
        anyhow::ensure!(
            signing_key.len() >= 32,
            "the signing key must be at least 32 bytes long"
        );
        let upload = &config.upload;
        let settings = EngineSettings {
            pipeline: PipelineSettings {
                limits: ImageLimits {
                    min_side: upload.min_side,
                    max_side: upload.max_side,
                    max_pixels: upload.max_pixels,
                },
                thumbnail_side: upload.thumbnail_side,
                thumbnail_quality: upload.thumbnail_quality,
            },
            image_budget,
            url_ttl: Duration::from_secs(config.blobs.url_ttl_secs),
            retention_days: config.retention.days,
            worker: config.worker.clone(),
            rate_limit: config.rate_limit.clone(),
            labels_timeout: Duration::from_millis(config.labels.timeout_ms),
        };
        let metrics = &config.metrics;
        let cloudwatch = metrics.cloudwatch().map(|(namespace, environment)| {
            let output = metrics.cloudwatch_output.clone();
            Emf::new(
                namespace,
                environment,
                output.unwrap_or_else(EmfOutput::stdout),
            )
        });
        let engine = Arc::new(Engine::new(
            ports,
            Signer::derive(&signing_key, "history-cursor"),
            settings,
            WebMetrics::new(cloudwatch),
        ));
        let sessions = Sessions::new(
            stores.sessions,
            &signing_key,
            SessionSettings {
                idle: Duration::from_secs(config.session.idle_timeout_secs),
                absolute: Duration::from_secs(config.session.absolute_timeout_secs),
                secure_cookies: config.secure_cookies(),
                host_prefix: config.https(),
            },
        );
        let oidc = match &config.oidc {
            Some(settings) => Some(Arc::new(
                CognitoSignIn::connect(settings, &signing_key, config.secure_cookies()).await?,
            )),
            None => None,
        };
        let api_tokens = Arc::new(
            TokenAuthenticator::new(stores.tokens).with_lifetime(config.api_tokens.lifetime()),
        );
        let state = AppState {
            engine,
            auth: Arc::new(BearerTokens::new(
                api_tokens.clone(),
                oidc.as_ref()
                    .map(|provider| provider.access_token_verifier()),
            )),
            sessions: Arc::new(sessions),
            accounts: Arc::new(LocalAccounts::new(db.clone())),
            sign_up: Arc::new(SignUp::new(
                db.clone(),
                config.sign_up_policy(),
                config.rate_limit.sign_ups_per_ip_per_hour,
            )),
            device_cookies: Arc::new(DeviceCookies::new(&signing_key, config.secure_cookies())),
            sign_in_throttle: Arc::new(SignInThrottle::new(
                db,
                SignInLimits {
                    per_account: config.rate_limit.sign_in_failures_per_account,
                    per_ip: config.rate_limit.sign_in_failures_per_ip,
                    window: Duration::from_secs(config.rate_limit.sign_in_window_secs),
                },
            )),
            api_tokens,
            content_security_policy: content_security_policy(
                &[&image_origin],
                oidc.as_ref()
                    .and_then(|provider| provider.logout_origin())
                    .as_deref(),
            ),
            oidc,
            https: config.https(),
            max_upload_bytes: upload.max_bytes,
            metrics_token: config.metrics.token.clone(),
            adapter_routes,
        };
        Ok(Self { state, config })
    }

    /// Serves the app and the metrics listener, under the `[server]` limits, until `stop`
    /// completes; then lets the open connections finish their requests.
    pub async fn serve_until(&self, listeners: Listeners, stop: impl Future<Output = ()>) {
        let limits = ServerLimits::new(&self.config.server);
        let engine = &self.state.engine;
        let (stopping, stop_seen) = watch::channel(false);
        let stopped = |mut seen: watch::Receiver<bool>| async move {
            let _ = seen.wait_for(|stopped| *stopped).await;
        };
        tokio::join!(
            async {
                stop.await;
                stopping.send_replace(true);
            },
            crate::server::serve(
                listeners.app,
                app(self.state.clone()),
                limits,
                engine.clone(),
                stopped(stop_seen.clone()),
            ),
            crate::server::serve(
                listeners.metrics,
                metrics_listener::routes(self.state.clone()),
                limits,
                engine.clone(),
                stopped(stop_seen),
            ),
        );
    }

    /// Finishes interrupted deletions, then starts the workers, the sweeps and the gauges.
    pub async fn start_background(&self) -> anyhow::Result<Background> {
        let engine = self.state.engine.clone();
        engine.resume_user_deletions().await?;
        let (shutdown, watcher) = watch::channel(false);
        let mut tasks = Vec::new();
        for worker in 0..self.config.worker.concurrency {
            tasks.push(tokio::spawn(crate::worker::run(
                worker,
                engine.clone(),
                Duration::from_millis(self.config.worker.poll_interval_ms),
                watcher.clone(),
            )));
        }
        // In AWS mode the table's TTL and the bucket's lifecycle rule remove expired images.
        if self.config.mode == Mode::Embedded {
            tasks.push(tokio::spawn(crate::worker::sweep_retention(
                engine.clone(),
                Duration::from_secs(self.config.retention.sweep_interval_secs),
                watcher.clone(),
            )));
        }
        // In both modes: the bucket's lifecycle rule would remove an orphan only when its
        // retention ends; the sweep removes it after the grace period.
        let blobs = &self.config.blobs;
        tasks.push(tokio::spawn(crate::worker::sweep_orphan_blobs(
            engine.clone(),
            Duration::from_secs(blobs.orphan_grace_secs),
            Duration::from_secs(blobs.orphan_sweep_interval_secs),
            watcher.clone(),
        )));
        tasks.push(tokio::spawn(crate::worker::refresh_gauges(
            engine,
            Duration::from_secs(self.config.metrics.refresh_interval_secs),
            watcher,
        )));
        Ok(Background { shutdown, tasks })
    }

    /// Serves until Ctrl-C / SIGTERM, then stops the background tasks.
    pub async fn serve(self, listeners: Listeners) -> anyhow::Result<()> {
        let background = self.start_background().await?;
        tracing::info!(
            addr = %listeners.app.local_addr()?,
            metrics_addr = %listeners.metrics.local_addr()?,
            "imgcap-webapp listening"
        );
        self.serve_until(listeners, imgcap_common::server::shutdown_signal())
            .await;
        background.shutdown().await;
        Ok(())
    }
}

/// The background tasks; [`Background::shutdown`] stops them after their current job.
pub struct Background {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
