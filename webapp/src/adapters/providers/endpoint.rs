//! The `endpoint` provider: any server speaking the `/invocations` contract of
//! `imgcap-common` (our inference server, locally or behind a load balancer). The raw image is
//! POSTed with its content type (and the trace context, `traceparent`, when traces are
//! exported) and the answer parsed as [`imgcap_common::CaptionResponse`].
//! The parsing is shared with the `sagemaker` provider, which reaches the same server through
//! `InvokeEndpoint`.

use anyhow::Context;
use imgcap_common::{model_at_revision, CaptionResponse, ErrorBody, GeneratedCaption};
use imgcap_imaging::sniff_format;

use crate::adapters::outbound;
use crate::core::domain::ScoredCaption;
use crate::core::ports::{
    BoxFuture, CaptionError, CaptionInput, CaptionProvider, ProviderCaptions,
};

pub struct EndpointProvider {
    client: reqwest::Client,
    url: String,
}

impl EndpointProvider {
    pub fn new(client: reqwest::Client, url: String) -> Self {
        Self { client, url }
    }
}

fn scored(caption: Option<GeneratedCaption>, which: &str) -> anyhow::Result<ScoredCaption> {
    let caption = caption.with_context(|| format!("the answer has no {which} caption"))?;
    Ok(ScoredCaption {
        text: caption.text,
        confidence: Some(caption.confidence),
    })
}

/// Both captions of an `/invocations` answer body (`mode=both`).
pub(crate) fn invocation_captions(body: &[u8]) -> anyhow::Result<ProviderCaptions> {
    let answer: CaptionResponse =
        serde_json::from_slice(body).context("the answer is not an /invocations response")?;
    Ok(ProviderCaptions {
        concise: scored(answer.captions.concise, "concise")?,
        creative: scored(answer.captions.creative, "creative")?,
        model: model_at_revision(&answer.model.model_id, answer.model.revision.as_deref()),
    })
}

/// `error_type: error` of an `/invocations` error body, for the log.
pub(crate) fn invocation_error(body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .map(|body| format!("{}: {}", body.error_type.as_str(), body.error))
        .unwrap_or_else(|_| "no error body".into())
}

impl CaptionProvider for EndpointProvider {
    fn name(&self) -> &'static str {
        "endpoint"
    }

    fn caption<'a>(
        &'a self,
        input: CaptionInput<'a>,
    ) -> BoxFuture<'a, Result<ProviderCaptions, CaptionError>> {
        Box::pin(async move {
            let content_type = sniff_format(input.image)
                .map_err(CaptionError::rejected)?
                .mime_type();
            let mut request = self
                .client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .header(reqwest::header::ACCEPT, "application/json")
                .header(imgcap_common::REQUEST_ID_HEADER, input.request_id);
            if let Some(traceparent) = imgcap_common::server::current_traceparent() {
                request = request.header(imgcap_common::server::TRACEPARENT, traceparent);
            }
            let response = request
                .body(input.image.to_vec())
                .send()
                .await
                .context("the request failed")?;
            let status = response.status();
            let body = outbound::read_body(response).await?;
            if !status.is_success() {
                return Err(CaptionError::from_status(
                    status.as_u16(),
                    &invocation_error(&body),
                ));
            }
            Ok(invocation_captions(&body)?)
        })
    }
}
