//! The `hf` provider: the Hugging Face Inference API's image-to-text task
//! (`POST {base_url}/models/{model_id}`), authenticated with an API key.
//!
//! Image-to-text models are captioners without instructions, so the two captions are two calls
//! made at once: the concise one with the raw image (the model's own generation settings), the
//! creative one with JSON asking for nucleus sampling and more tokens, so it is a longer, freer
//! description of the same photo (not an instruction-following "creative" text). The caption
//! rules of `imgcap-models` are applied to both. The API reports no confidence.

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use imgcap_imaging::sniff_format;
use serde::Deserialize;

use super::ruled_captions;
use crate::adapters::outbound;
use crate::core::ports::{
    BoxFuture, CaptionError, CaptionInput, CaptionProvider, ProviderCaptions,
};

pub struct HfProvider {
    client: reqwest::Client,
    /// `{base_url}/models/{model_id}`
    url: String,
    model_id: String,
    api_key: String,
}

impl HfProvider {
    pub fn new(client: reqwest::Client, base_url: &str, model_id: String, api_key: String) -> Self {
        Self {
            client,
            url: format!("{}/models/{model_id}", base_url.trim_end_matches('/')),
            model_id,
            api_key,
        }
    }

    /// The generated text of one request.
    async fn generate(&self, request: reqwest::RequestBuilder) -> Result<String, CaptionError> {
        let response = request
            .bearer_auth(&self.api_key)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .context("the request failed")?;
        let status = response.status();
        let body = outbound::read_body(response).await?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<ApiError>(&body)
                .map(|e| e.error)
                .unwrap_or_else(|_| "no error body".into());
            return Err(CaptionError::from_status(status.as_u16(), &detail));
        }
        let answer: Answer =
            serde_json::from_slice(&body).context("the answer is not image-to-text output")?;
        let text = match answer {
            Answer::List(mut outputs) if !outputs.is_empty() => outputs.swap_remove(0),
            Answer::One(output) => output,
            Answer::List(_) => return Err(anyhow::anyhow!("the answer holds no caption").into()),
        };
        Ok(text.generated_text)
    }
}

#[derive(Deserialize)]
struct Generated {
    generated_text: String,
}

/// The API answers a list of outputs (one per image); a single object is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Answer {
    List(Vec<Generated>),
    One(Generated),
}

#[derive(Deserialize)]
struct ApiError {
    error: String,
}

/// The creative request: the image in base64 and sampling settings.
fn creative_request(image: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "inputs": STANDARD.encode(image),
        "parameters": {
            "generation_parameters": {
                "do_sample": true,
                "temperature": 0.9,
                "top_p": 0.9,
                "max_new_tokens": 40,
            },
        },
    })
}

impl CaptionProvider for HfProvider {
    fn name(&self) -> &'static str {
        "hf"
    }

    fn caption<'a>(
        &'a self,
        input: CaptionInput<'a>,
    ) -> BoxFuture<'a, Result<ProviderCaptions, CaptionError>> {
        Box::pin(async move {
            let content_type = sniff_format(input.image)
                .map_err(CaptionError::rejected)?
                .mime_type();
            let concise = self.generate(
                self.client
                    .post(&self.url)
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(input.image.to_vec()),
            );
            let creative = self.generate(
                self.client
                    .post(&self.url)
                    .json(&creative_request(input.image)),
            );
            let (concise, creative) = tokio::try_join!(
                async { concise.await.map_err(|e| e.context("concise caption")) },
                async { creative.await.map_err(|e| e.context("creative caption")) },
            )?;
            Ok(ruled_captions(&concise, &creative, &self.model_id)?)
        })
    }
}
