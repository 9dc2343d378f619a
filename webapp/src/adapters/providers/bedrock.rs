//! The `bedrock` provider: Bedrock Runtime `Converse` with the image and the prompts of
//! [`super::prompts`]. The model answers JSON with both captions; the answer is checked and the
//! caption rules of `imgcap-models` applied (concise: at most 10 words, cut at a word boundary;
//! creative: one or two full sentences), so a chatty or malformed answer is a provider error
//! and the chain moves on.

use anyhow::Context;
use aws_sdk_bedrockruntime::error::DisplayErrorContext;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ImageBlock, ImageFormat, ImageSource, InferenceConfiguration,
    Message, SystemContentBlock,
};
use imgcap_imaging::{sniff_format, ImageFormatKind};
use serde::Deserialize;

use super::{prompts, ruled_captions};
use crate::core::ports::{
    BoxFuture, CaptionError, CaptionInput, CaptionProvider, ProviderCaptions,
};

/// Enough for two sentences and the JSON around them; a longer answer is cut and then fails
/// to parse.
const MAX_TOKENS: i32 = 400;
/// Some variety for the creative caption without drifting from the photo.
const TEMPERATURE: f32 = 0.5;

pub struct BedrockProvider {
    client: aws_sdk_bedrockruntime::Client,
    model_id: String,
}

impl BedrockProvider {
    pub fn new(client: aws_sdk_bedrockruntime::Client, model_id: String) -> Self {
        Self { client, model_id }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelAnswer {
    concise: String,
    creative: String,
}

/// The captions of the model's answer, with the caption rules applied. The JSON object may be
/// wrapped in a code fence or a sentence; anything else is an error.
fn captions_from_answer(text: &str, model: &str) -> anyhow::Result<ProviderCaptions> {
    let object = match (text.find('{'), text.rfind('}')) {
        (Some(start), Some(end)) if start < end => &text[start..=end],
        _ => anyhow::bail!("the model did not answer with a JSON object"),
    };
    let answer: ModelAnswer = serde_json::from_str(object)
        .context("the model's JSON is not {\"concise\", \"creative\"}")?;
    ruled_captions(&answer.concise, &answer.creative, model)
}

impl CaptionProvider for BedrockProvider {
    fn name(&self) -> &'static str {
        "bedrock"
    }

    fn caption<'a>(
        &'a self,
        input: CaptionInput<'a>,
    ) -> BoxFuture<'a, Result<ProviderCaptions, CaptionError>> {
        Box::pin(async move {
            let format = match sniff_format(input.image).map_err(CaptionError::rejected)? {
                ImageFormatKind::Jpeg => ImageFormat::Jpeg,
                ImageFormatKind::Png => ImageFormat::Png,
            };
            let image = ImageBlock::builder()
                .format(format)
                .source(ImageSource::Bytes(Blob::new(input.image)))
                .build()
                .context("cannot build the image block")?;
            let message = Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Image(image))
                .content(ContentBlock::Text(prompts::bedrock_user_prompt(
                    input.labels,
                )))
                .build()
                .context("cannot build the message")?;
            let output = self
                .client
                .converse()
                .model_id(&self.model_id)
                .system(SystemContentBlock::Text(prompts::BEDROCK_SYSTEM.to_owned()))
                .messages(message)
                .inference_config(
                    InferenceConfiguration::builder()
                        .max_tokens(MAX_TOKENS)
                        .temperature(TEMPERATURE)
                        .build(),
                )
                .send()
                .await
                .map_err(|err| {
                    // A 4xx from Bedrock (e.g. ValidationException on the image) is about the
                    // request; throttling, timeouts and 5xx are the service's state.
                    let status = err.raw_response().map(|r| r.status().as_u16());
                    let detail = format!("Converse failed: {}", DisplayErrorContext(&err));
                    match status {
                        Some(status) => CaptionError::from_status(status, &detail),
                        None => CaptionError::Unavailable(anyhow::anyhow!(detail)),
                    }
                })?;
            let text = output
                .output()
                .and_then(|out| out.as_message().ok())
                .map(|message| {
                    message
                        .content()
                        .iter()
                        .filter_map(|block| block.as_text().ok())
                        .map(String::as_str)
                        .collect::<String>()
                })
                .context("the Converse answer has no message")?;
            Ok(captions_from_answer(&text, &self.model_id)
                .with_context(|| format!("stop reason {}", output.stop_reason().as_str()))?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_parsed_and_the_caption_rules_applied() {
        let captions = captions_from_answer(
            "```json\n{\"concise\": \"a red rocket standing on a launch pad under a clear blue \
             sky at dawn\", \"creative\": \"a rocket waits for its moment. the sky holds its \
             breath. then it roars\"}\n```",
            "m",
        )
        .unwrap();
        assert_eq!(
            captions.concise.text,
            "A red rocket standing on a launch pad"
        );
        assert_eq!(
            captions.creative.text,
            "A rocket waits for its moment. The sky holds its breath."
        );
        assert_eq!(captions.concise.confidence, None);
        assert_eq!(captions.model, "m");
    }

    #[test]
    fn malformed_answers_are_errors() {
        for answer in [
            "I cannot caption this image.",
            "{\"concise\": \"a dog\"}",
            "{\"concise\": \"a dog\", \"creative\": \"A dog.\", \"mood\": \"happy\"}",
            "{\"concise\": \"  \", \"creative\": \"A dog runs.\"}",
            "{\"concise\": \"a dog\", \"creative\": \"...\"}",
            "{\"concise\": 3, \"creative\": \"A dog runs.\"}",
        ] {
            assert!(captions_from_answer(answer, "m").is_err(), "{answer}");
        }
    }
}
