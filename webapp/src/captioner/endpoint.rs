//! The `endpoint` provider: any server speaking the `/invocations` contract of
//! `imgcap-common` (our inference server, locally or behind a load balancer). The raw image is
//! POSTed with its content type and the answer parsed as [`imgcap_common::CaptionResponse`].

use anyhow::Context;
use imgcap_common::{CaptionResponse, ErrorBody, GeneratedCaption};
use imgcap_models::preprocess::sniff_format;

use crate::domain::ScoredCaption;
use crate::ports::{BoxFuture, Captioner, ProviderCaptions};

pub struct EndpointCaptioner {
    client: reqwest::Client,
    url: String,
}

impl EndpointCaptioner {
    pub fn new(client: reqwest::Client, url: String) -> Self {
        Self { client, url }
    }
}

fn scored(caption: Option<GeneratedCaption>, which: &str) -> anyhow::Result<ScoredCaption> {
    let caption = caption.with_context(|| format!("the answer has no {which} caption"))?;
    Ok(ScoredCaption {
        text: caption.text,
        confidence: caption.confidence,
    })
}

impl Captioner for EndpointCaptioner {
    fn name(&self) -> &'static str {
        "endpoint"
    }

    fn caption<'a>(
        &'a self,
        image: &'a [u8],
        request_id: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<ProviderCaptions>> {
        Box::pin(async move {
            let content_type = sniff_format(image)?.mime_type();
            let response = self
                .client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .header(reqwest::header::ACCEPT, "application/json")
                .header(imgcap_common::REQUEST_ID_HEADER, request_id)
                .body(image.to_vec())
                .send()
                .await
                .context("the request failed")?;
            let status = response.status();
            if !status.is_success() {
                let detail = response
                    .json::<ErrorBody>()
                    .await
                    .map(|body| format!("{}: {}", body.error_type.as_str(), body.error))
                    .unwrap_or_else(|_| "no error body".into());
                anyhow::bail!("HTTP {status} ({detail})");
            }
            let answer: CaptionResponse = response
                .json()
                .await
                .context("the answer is not an /invocations response")?;
            Ok(ProviderCaptions {
                concise: scored(answer.captions.concise, "concise")?,
                creative: scored(answer.captions.creative, "creative")?,
                model: answer.model.model_id,
            })
        })
    }
}
