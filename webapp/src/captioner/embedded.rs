//! The `embedded` provider: `imgcap_models::Captioner` in this process, on a blocking thread.
//! A timeout abandons the wait, not the computation: the thread finishes its batch.

use std::sync::Arc;

use anyhow::Context;
use imgcap_models::preprocess::{decode_image, ImageLimits};
use imgcap_models::CaptionOptions;

use crate::domain::ScoredCaption;
use crate::ports::{BoxFuture, CaptionInput, Captioner, ProviderCaptions};

pub struct EmbeddedCaptioner {
    model: Arc<imgcap_models::Captioner>,
}

impl EmbeddedCaptioner {
    pub fn new(model: imgcap_models::Captioner) -> Self {
        Self {
            model: Arc::new(model),
        }
    }
}

fn scored(caption: Option<imgcap_models::Caption>, which: &str) -> anyhow::Result<ScoredCaption> {
    let caption = caption.with_context(|| format!("the model gave no {which} caption"))?;
    Ok(ScoredCaption {
        text: caption.text,
        confidence: Some(caption.confidence),
    })
}

impl Captioner for EmbeddedCaptioner {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn caption<'a>(
        &'a self,
        input: CaptionInput<'a>,
    ) -> BoxFuture<'a, anyhow::Result<ProviderCaptions>> {
        let model = self.model.clone();
        let bytes = input.image.to_vec();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let decoded = decode_image(&bytes, &ImageLimits::default())?;
                let mut captions = model
                    .caption_batch(&[decoded.image], &CaptionOptions::default())?
                    .pop()
                    .context("the model returned no captions")?;
                Ok(ProviderCaptions {
                    concise: scored(captions.concise.take(), "concise")?,
                    creative: scored(captions.creative.take(), "creative")?,
                    model: model.info().model_id.clone(),
                })
            })
            .await
            .context("the captioning thread was interrupted")?
        })
    }
}
