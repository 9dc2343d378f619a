//! The `sagemaker` provider: `InvokeEndpoint` on our inference container, which speaks the
//! `/invocations` contract; the answer is parsed like the `endpoint` provider's.
//!
//! SageMaker forwards no request headers to the container except the custom attributes, so the
//! request id travels there as `request_id=...` beside `mode=both` (the container reads `mode`
//! and ignores other keys; SageMaker's logs and data capture keep them), and so does the trace
//! context (`traceparent=...`) when traces are exported.

use aws_sdk_sagemakerruntime::error::{DisplayErrorContext, SdkError};
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::primitives::Blob;
use imgcap_imaging::sniff_format;

use super::endpoint::{invocation_captions, invocation_error};
use crate::core::ports::{
    BoxFuture, CaptionError, CaptionInput, CaptionProvider, ProviderCaptions,
};

pub struct SageMakerProvider {
    client: aws_sdk_sagemakerruntime::Client,
    endpoint_name: String,
}

impl SageMakerProvider {
    pub fn new(client: aws_sdk_sagemakerruntime::Client, endpoint_name: String) -> Self {
        Self {
            client,
            endpoint_name,
        }
    }
}

/// `mode=both`, plus the request id when it cannot be mistaken for more attributes, plus the
/// trace context when there is one (a `traceparent` is hex digits and dashes).
fn custom_attributes(request_id: &str, traceparent: Option<&str>) -> String {
    let fits = imgcap_common::accepted_request_id(request_id)
        .is_some_and(|id| !id.contains([';', ',', '=']));
    let mut attributes = "mode=both".to_owned();
    if fits {
        attributes.push_str(&format!(";request_id={request_id}"));
    }
    if let Some(traceparent) = traceparent {
        attributes.push_str(&format!(
            ";{}={traceparent}",
            imgcap_common::server::TRACEPARENT
        ));
    }
    attributes
}

/// The container's own error (it answered non-2xx: a 4xx is about the image) or the SDK's
/// account of what went wrong (SageMaker itself, the network: the provider is unavailable).
fn describe(err: SdkError<InvokeEndpointError>) -> CaptionError {
    if let Some(InvokeEndpointError::ModelError(model)) = err.as_service_error() {
        let body = model.original_message().unwrap_or_default();
        let detail = format!("from the container: {}", invocation_error(body.as_bytes()));
        return CaptionError::from_status(
            model.original_status_code().unwrap_or_default() as u16,
            &detail,
        );
    }
    CaptionError::Unavailable(anyhow::anyhow!(
        "InvokeEndpoint failed: {}",
        DisplayErrorContext(err)
    ))
}

impl CaptionProvider for SageMakerProvider {
    fn name(&self) -> &'static str {
        "sagemaker"
    }

    fn caption<'a>(
        &'a self,
        input: CaptionInput<'a>,
    ) -> BoxFuture<'a, Result<ProviderCaptions, CaptionError>> {
        Box::pin(async move {
            let content_type = sniff_format(input.image)
                .map_err(CaptionError::rejected)?
                .mime_type();
            let output = self
                .client
                .invoke_endpoint()
                .endpoint_name(&self.endpoint_name)
                .content_type(content_type)
                .accept("application/json")
                .custom_attributes(custom_attributes(
                    input.request_id,
                    imgcap_common::server::current_traceparent().as_deref(),
                ))
                .body(Blob::new(input.image))
                .send()
                .await
                .map_err(describe)?;
            let body = output.body().map(Blob::as_ref).unwrap_or_default();
            Ok(invocation_captions(body)?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_id_joins_the_mode_when_it_is_safe() {
        assert_eq!(
            custom_attributes("abc-123", None),
            "mode=both;request_id=abc-123"
        );
        assert_eq!(custom_attributes("a;mode=concise", None), "mode=both");
        assert_eq!(custom_attributes("has space", None), "mode=both");
    }

    #[test]
    fn the_trace_context_follows() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            custom_attributes("abc-123", Some(traceparent)),
            format!("mode=both;request_id=abc-123;traceparent={traceparent}")
        );
        assert_eq!(
            custom_attributes("a b", Some(traceparent)),
            format!("mode=both;traceparent={traceparent}")
        );
    }
}
