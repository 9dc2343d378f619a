//! The `embedded` provider: `imgcap_models::Captioner` in this process, on a blocking thread.
//! A timeout abandons the wait, not the computation: the thread finishes its batch.
//!
//! The model loads in the background ([`EmbeddedProvider::load_in_background`]): the app
//! serves at once, and the chain passes over this provider while it is not ready (downloading,
//! loading weights, or failed) without counting that against its circuit. A download that
//! fails because the hub cannot be reached (network, 5xx, 429) is tried again after
//! [`RETRY_FIRST`], doubling up to [`RETRY_MAX`]; one the hub refuses (404 unknown model,
//! 401/403 gated) is not, since only a change of settings can fix it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use imgcap_common::model_at_revision;
use imgcap_imaging::budget::{BudgetError, MemoryBudget};
use imgcap_imaging::{decode_image_with_header, read_header, ImageLimits};
use imgcap_models::source::ModelSource;
use imgcap_models::{CaptionOptions, LoadOptions, LoadPhase, LoadProgress, ModelError};

use crate::core::domain::ScoredCaption;
use crate::core::ports::{
    BoxFuture, CaptionError, CaptionInput, CaptionProvider, ProviderCaptions, ProviderState,
};

/// The first wait before a failed download is tried again.
pub const RETRY_FIRST: Duration = Duration::from_secs(30);
/// The longest wait between two tries.
pub const RETRY_MAX: Duration = Duration::from_secs(600);

pub struct EmbeddedProvider {
    model: OnceLock<Arc<imgcap_models::Captioner>>,
    progress: LoadProgress,
    /// The process's image memory budget, which each decode reserves from.
    image_budget: MemoryBudget,
}

impl EmbeddedProvider {
    /// A provider whose model loads from `source` on a background task; until then its
    /// [`CaptionProvider::state`] is `loading` (with the download's percent) or `failed`.
    pub fn load_in_background(
        source: ModelSource,
        options: LoadOptions,
        image_budget: MemoryBudget,
    ) -> Arc<Self> {
        let provider = Arc::new(Self {
            model: OnceLock::new(),
            progress: LoadProgress::default(),
            image_budget,
        });
        tokio::spawn(load(provider.clone(), source, options));
        provider
    }
}

/// Loads the model into `provider`, trying again after transient failures.
async fn load(provider: Arc<EmbeddedProvider>, source: ModelSource, options: LoadOptions) {
    let mut wait = RETRY_FIRST;
    loop {
        provider.progress.restart();
        match imgcap_models::Captioner::load_with_progress(&source, &options, &provider.progress)
            .await
        {
            Ok(model) => {
                tracing::info!(model = %model.info().model_id, "embedded captioner loaded");
                let _ = provider.model.set(Arc::new(model));
                return;
            }
            Err(err) => {
                let retry = err.is_transient().then_some(wait);
                let message = failure_message(&source, &err, retry);
                tracing::error!(error = %message, "cannot load the embedded captioner");
                provider.progress.fail(message);
                let Some(wait_now) = retry else { return };
                tokio::time::sleep(wait_now).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
        }
    }
}

/// What failed and what to set, as the log, `/readyz` and the admin page show it.
fn failure_message(source: &ModelSource, err: &ModelError, retry: Option<Duration>) -> String {
    let setting = match source {
        ModelSource::Dir(dir) => format!(
            "check IMGCAP_CAPTIONER_EMBEDDED_MODEL_DIR ({})",
            dir.display()
        ),
        ModelSource::Hub(_) => "to use a local copy of the model instead, set \
                                IMGCAP_CAPTIONER_EMBEDDED_MODEL_DIR to its directory"
            .to_owned(),
    };
    let model = match source {
        ModelSource::Dir(dir) => dir.display().to_string(),
        ModelSource::Hub(hub) => hub.model_id.clone(),
    };
    let retry = match retry {
        Some(wait) => format!("; trying again in {} s", wait.as_secs()),
        None => String::new(),
    };
    format!("the embedded captioner {model} could not be loaded: {err}; {setting}{retry}")
}

fn scored(caption: Option<imgcap_models::Caption>, which: &str) -> anyhow::Result<ScoredCaption> {
    let caption = caption.with_context(|| format!("the model gave no {which} caption"))?;
    Ok(ScoredCaption {
        text: caption.text,
        confidence: Some(caption.confidence),
    })
}

impl CaptionProvider for EmbeddedProvider {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn caption<'a>(
        &'a self,
        input: CaptionInput<'a>,
    ) -> BoxFuture<'a, Result<ProviderCaptions, CaptionError>> {
        let model = self.model.get().cloned();
        let bytes = input.image.to_vec();
        Box::pin(async move {
            let model = model.context("the model is not loaded yet")?;
            let limits = ImageLimits::default();
            let header = read_header(&bytes, &limits).map_err(CaptionError::rejected)?;
            // A spent budget is this process's state, not the image's: the job comes back.
            let reservation = self
                .image_budget
                .reserve(header.memory_needed())
                .await
                .map_err(|err| match err {
                    BudgetError::Busy { .. } => CaptionError::Unavailable(err.into()),
                    BudgetError::TooLarge { .. } => CaptionError::rejected(err),
                })?;
            tokio::task::spawn_blocking(move || {
                let _reservation = reservation;
                let decoded = decode_image_with_header(&bytes, &header, &limits)
                    .map_err(CaptionError::rejected)?;
                let mut captions = model
                    .caption_batch(&[decoded.image], &CaptionOptions::default())
                    .context("the model failed")?
                    .pop()
                    .context("the model returned no captions")?;
                Ok(ProviderCaptions {
                    concise: scored(captions.concise.take(), "concise")?,
                    creative: scored(captions.creative.take(), "creative")?,
                    model: model_at_revision(
                        &model.info().model_id,
                        model.info().revision.as_deref(),
                    ),
                })
            })
            .await
            .context("the captioning thread was interrupted")?
        })
    }

    fn state(&self) -> ProviderState {
        if self.model.get().is_some() {
            return ProviderState::Ready;
        }
        let status = self.progress.status();
        match status.phase {
            LoadPhase::Failed => ProviderState::Failed {
                message: status.error.unwrap_or_default(),
            },
            phase => ProviderState::Loading {
                phase: phase.label(),
                percent: status.percent,
            },
        }
    }
}
