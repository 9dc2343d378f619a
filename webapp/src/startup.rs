//! Wiring: the configuration picks the adapters, builds the [`Engine`], the router and the
//! background tasks (caption workers, retention sweep, resumption of interrupted deletions).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use imgcap_models::preprocess::ImageLimits;
use imgcap_models::source::{HubModel, ModelSource};
use imgcap_models::LoadOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::aws::{AwsAdapters, SIGNING_KEY_SECRET};
use crate::captioner::embedded::EmbeddedCaptioner;
use crate::captioner::endpoint::EndpointCaptioner;
use crate::captioner::CaptionerChain;
use crate::config::{Config, Mode, ProviderKind};
use crate::embedded::auth::TokenAuthenticator;
use crate::embedded::blobs::{self, FileBlobs};
use crate::embedded::db::Db;
use crate::embedded::queue::SqliteQueue;
use crate::embedded::ratelimit::SqliteRateLimiter;
use crate::embedded::repo::SqliteRepo;
use crate::embedded::secrets::EnvFileSecrets;
use crate::http::{app, AppState};
use crate::pipeline::PipelineSettings;
use crate::ports::{Captioner, Secrets};
use crate::service::{Engine, EngineSettings, Ports};
use crate::signing::Signer;

pub struct Application {
    state: AppState,
    config: Config,
}

async fn load_captioners(config: &Config) -> anyhow::Result<CaptionerChain> {
    let captioner = &config.captioner;
    let mut providers: Vec<(Arc<dyn Captioner>, _)> = Vec::new();
    for kind in &captioner.chain {
        match kind {
            ProviderKind::Embedded => {
                let settings = &captioner.embedded;
                let source = match &settings.model_dir {
                    Some(dir) => ModelSource::Dir(dir.clone()),
                    None => ModelSource::Hub(HubModel::new(settings.model_id.clone())),
                };
                let options = LoadOptions {
                    device: imgcap_models::parse_device(&settings.device)
                        .context("`captioner.embedded.device`")?,
                    ..LoadOptions::default()
                };
                let model = imgcap_models::Captioner::load(&source, &options)
                    .await
                    .context("cannot load the embedded captioner (`captioner.embedded`)")?;
                tracing::info!(model = %model.info().model_id, "embedded captioner loaded");
                providers.push((Arc::new(EmbeddedCaptioner::new(model)), settings.breaker()));
            }
            ProviderKind::Endpoint => {
                let settings = &captioner.endpoint;
                let url = settings
                    .url
                    .clone()
                    .context("`captioner.endpoint.url` is required")?;
                let client = reqwest::Client::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .build()
                    .context("cannot build the HTTP client")?;
                providers.push((
                    Arc::new(EndpointCaptioner::new(client, url)),
                    settings.breaker(),
                ));
            }
        }
    }
    Ok(CaptionerChain::new(providers))
}

impl Application {
    /// Builds every adapter of the configured mode; fails with a readable message when a
    /// dependency (database, blob directory, AWS resource, model) is unusable.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = Db::open(&config.database_path())?;
        let (ports, signing_key, adapter_routes) = match config.mode {
            Mode::Embedded => {
                let signing_key = EnvFileSecrets::new(config.secrets_dir())
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
                    limiter: Arc::new(SqliteRateLimiter::new(
                        db.clone(),
                        config.rate_limit.uploads_per_hour,
                    )),
                    chain: load_captioners(&config).await?,
                };
                (ports, signing_key, blobs::routes(file_blobs))
            }
            Mode::Aws => {
                let aws = AwsAdapters::connect(&config).await?;
                let signing_key = aws
                    .secrets
                    .get(SIGNING_KEY_SECRET)
                    .await
                    .context("cannot read the signing key (`aws.session_key_secret_arn`)")?;
                let ports = Ports {
                    blobs: aws.blobs,
                    repo: aws.repo,
                    queue: aws.queue,
                    limiter: aws.limiter,
                    chain: load_captioners(&config).await?,
                };
                // S3 serves the presigned URLs itself.
                (ports, signing_key, axum::Router::new())
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
            url_ttl: Duration::from_secs(config.blobs.url_ttl_secs),
            retention_days: config.retention.days,
            worker: config.worker.clone(),
        };
        let engine = Arc::new(Engine::new(
            ports,
            Signer::derive(&signing_key, "history-cursor"),
            settings,
        ));
        let state = AppState {
            engine,
            // Personal API tokens in both modes until sign-in arrives.
            auth: Arc::new(TokenAuthenticator::new(db)),
            max_upload_bytes: upload.max_bytes,
            adapter_routes,
        };
        Ok(Self { state, config })
    }

    pub fn router(&self) -> axum::Router {
        app(self.state.clone())
    }

    /// Finishes interrupted deletions, then starts the workers and the retention sweep.
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
                engine,
                Duration::from_secs(self.config.retention.sweep_interval_secs),
                watcher,
            )));
        }
        Ok(Background { shutdown, tasks })
    }

    /// Serves until Ctrl-C / SIGTERM, then stops the background tasks.
    pub async fn serve(self, listener: TcpListener) -> anyhow::Result<()> {
        let background = self.start_background().await?;
        tracing::info!(addr = %listener.local_addr()?, "imgcap-webapp listening");
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the server failed")?;
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
