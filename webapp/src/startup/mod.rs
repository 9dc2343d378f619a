//! Wiring: the configuration picks the adapters, builds the [`Engine`], the router and the
//! background tasks (caption workers, retention and orphan-blob sweeps, metrics gauges,
//! resumption of interrupted deletions).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use imgcap_imaging::budget::MemoryBudget;
use imgcap_imaging::ImageLimits;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::adapters::embedded::api_tokens::SqliteTokens;
use crate::adapters::embedded::db::Db;
use crate::adapters::embedded::private_files;
use crate::adapters::embedded::secrets::EnvFileSecrets;
use crate::auth::api_tokens::TokenAuthenticator;
use crate::auth::local_accounts::LocalAccounts;
use crate::auth::sign_in_throttle::{SignInLimits, SignInThrottle};
use crate::auth::sign_up::SignUp;
use crate::auth::signing::Signer;
use crate::config::{Config, Mode};
use crate::core::engine::{Engine, EngineSettings};
use crate::core::pipeline::PipelineSettings;
use crate::core::ports::TokenStore;
use crate::http::auth::BearerTokens;
use crate::http::device::DeviceCookies;
use crate::http::pages::CognitoSignIn;
use crate::http::server::{Listeners, ServerLimits};
use crate::http::session::{SessionPolicy, Sessions};
use crate::http::{app, content_security_policy, metrics_listener, AppState};
use crate::telemetry::emf::{Emf, EmfOutput};
use crate::telemetry::WebMetrics;

mod mode_adapters;
mod providers;

use mode_adapters::ModeAdapters;
use providers::uses_aws_services;
#[cfg(not(feature = "embedded-captioner"))]
pub use providers::EMBEDDED_CAPTIONER_NOT_BUILT;

pub struct Application {
    state: AppState,
    config: Config,
}

/// The personal API tokens of the configured mode, for `imgcap-webapp create-token`.
pub async fn api_tokens(config: &Config) -> anyhow::Result<TokenAuthenticator> {
    let store: Arc<dyn TokenStore> = match config.mode {
        Mode::Embedded => Arc::new(SqliteTokens::new(Db::open(&config.database_path())?)),
        Mode::Aws => {
            let resources = config.aws.resources().map_err(anyhow::Error::msg)?;
            let sdk = crate::adapters::aws::sdk_config(&config.aws).await;
            Arc::new(crate::adapters::aws::api_tokens::DynamoTokens::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                resources.dynamodb_table,
            ))
        }
    };
    Ok(TokenAuthenticator::new(store).with_lifetime(config.api_tokens.lifetime()))
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
            true => Some(crate::adapters::aws::sdk_config(&config.aws).await),
            false => None,
        };
        let local_secrets = EnvFileSecrets::new(config.secrets_dir());
        // One image memory budget for the process: uploads and the embedded captioner.
        let image_budget = MemoryBudget::new(
            config.upload.image_memory_budget_mb << 20,
            Duration::from_millis(config.upload.image_memory_wait_ms),
        );
        let ModeAdapters {
            ports,
            stores,
            signing_key,
            routes: adapter_routes,
            image_origin,
        } = match (config.mode, &sdk) {
            (Mode::Aws, Some(sdk)) => {
                ModeAdapters::aws(&config, sdk, &local_secrets, &image_budget).await?
            }
            _ => {
                ModeAdapters::embedded(&config, &db, sdk.as_ref(), &local_secrets, &image_budget)
                    .await?
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
            SessionPolicy {
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
            crate::http::server::serve(
                listeners.app,
                app(self.state.clone()),
                limits,
                engine.clone(),
                stopped(stop_seen.clone()),
            ),
            crate::http::server::serve(
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
            tasks.push(tokio::spawn(crate::core::worker::run(
                worker,
                engine.clone(),
                Duration::from_millis(self.config.worker.poll_interval_ms),
                watcher.clone(),
            )));
        }
        // In AWS mode the table's TTL and the bucket's lifecycle rule remove expired images.
        if self.config.mode == Mode::Embedded {
            tasks.push(tokio::spawn(crate::core::worker::sweep_retention(
                engine.clone(),
                Duration::from_secs(self.config.retention.sweep_interval_secs),
                watcher.clone(),
            )));
        }
        // In both modes: the bucket's lifecycle rule would remove an orphan only when its
        // retention ends; the sweep removes it after the grace period.
        let blobs = &self.config.blobs;
        tasks.push(tokio::spawn(crate::core::worker::sweep_orphan_blobs(
            engine.clone(),
            Duration::from_secs(blobs.orphan_grace_secs),
            Duration::from_secs(blobs.orphan_sweep_interval_secs),
            watcher.clone(),
        )));
        tasks.push(tokio::spawn(crate::core::worker::refresh_gauges(
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
