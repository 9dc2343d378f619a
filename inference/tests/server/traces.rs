//! Traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a request's spans (the request, its
//! preprocessing and the batch it ran in) reach an OTLP collector, continuing the
//! caller's trace from `traceparent` or the SageMaker custom attributes, with the request id on
//! the request's span.

use crate::harness::{assert_captions, client, futures_join_all, photo, post_raw, Server};
use crate::otlp_collector::{CollectedSpan, Collector, KIND_SERVER};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const SAGEMAKER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const SAGEMAKER_SPAN: &str = "b7ad6b7169203331";

fn find<'a>(spans: &'a [CollectedSpan], trace: &str, name: &str) -> Option<&'a CollectedSpan> {
    spans
        .iter()
        .find(|span| span.trace_id == trace && span.name == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_continue_the_callers_trace() {
    let collector = Collector::start().await;
    let server = Server::tiny_with_env(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
    .await;
    let client = client();
    let jpeg = photo("rocket.jpg");

    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let answer = post_raw(
        &client,
        &server,
        Some("image/jpeg"),
        jpeg.clone(),
        &[("traceparent", &traceparent), ("x-request-id", "traced-1")],
    )
    .await;
    assert_captions(&answer, "both");
    // Through SageMaker only the custom attributes reach the container.
    let attributes =
        format!("request_id=traced-2;traceparent=00-{SAGEMAKER_TRACE}-{SAGEMAKER_SPAN}-01");
    let answer = post_raw(
        &client,
        &server,
        Some("image/jpeg"),
        jpeg,
        &[("x-amzn-sagemaker-custom-attributes", &attributes)],
    )
    .await;
    assert_captions(&answer, "both");

    let spans = collector
        .wait_for(|spans| {
            find(spans, CALLER_TRACE, "batch").is_some()
                && find(spans, SAGEMAKER_TRACE, "batch").is_some()
        })
        .await;
    let request = find(&spans, CALLER_TRACE, "request").unwrap();
    assert_eq!(request.service, "imgcap-inference");
    assert_eq!(request.kind, KIND_SERVER);
    assert_eq!(
        request.parent_span_id, CALLER_SPAN,
        "a child of the caller's span"
    );
    assert_eq!(request.attribute("request_id"), Some("traced-1"));
    assert_eq!(request.attribute("path"), Some("/invocations"));
    let preprocess = find(&spans, CALLER_TRACE, "preprocess").unwrap();
    assert_eq!(preprocess.parent_span_id, request.span_id);
    let batch = find(&spans, CALLER_TRACE, "batch").unwrap();
    assert_eq!(batch.parent_span_id, request.span_id);
    assert_eq!(batch.attribute("batch_size"), Some("1"));

    let request = find(&spans, SAGEMAKER_TRACE, "request").unwrap();
    assert_eq!(request.parent_span_id, SAGEMAKER_SPAN);
    assert_eq!(request.attribute("request_id"), Some("traced-2"));
    assert_ne!(request.span_id, SAGEMAKER_SPAN);
}

/// A batch of several requests belongs to the first one's trace and links to the others'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_batch_links_every_request_it_serves() {
    let collector = Collector::start().await;
    let server = Server::tiny_with_env(
        &["--max-batch-wait-ms", "500"],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_SERVICE_NAME", "captioner-canary"),
        ],
    )
    .await;
    let jpeg = photo("rocket.jpg");
    let traces = [CALLER_TRACE, SAGEMAKER_TRACE];
    let answers = futures_join_all(traces.into_iter().map(|trace| {
        let (client, url, jpeg) = (client(), server.url("/invocations"), jpeg.clone());
        async move {
            client
                .post(url)
                .header("content-type", "image/jpeg")
                .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-01"))
                .body(jpeg)
                .send()
                .await
                .unwrap()
                .status()
        }
    }))
    .await;
    assert!(
        answers.iter().all(|status| status.is_success()),
        "{answers:?}"
    );
    let spans = collector
        .wait_for(|spans| {
            // The readiness polls (`GET /ping`) are requests too.
            let invocations = |s: &&CollectedSpan| s.attribute("path") == Some("/invocations");
            spans.iter().filter(invocations).count() == 2
        })
        .await;
    let batches: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "batch" && traces.contains(&s.trace_id.as_str()))
        .collect();
    assert_eq!(batches.len(), 1, "one batch for both requests: {spans:#?}");
    let batch = batches[0];
    assert_eq!(batch.service, "captioner-canary");
    assert_eq!(batch.attribute("batch_size"), Some("2"));
    let other = traces.iter().find(|t| **t != batch.trace_id).unwrap();
    let linked = find(&spans, other, "request").unwrap();
    assert_eq!(
        batch.links,
        vec![(linked.trace_id.clone(), linked.span_id.clone())]
    );
}
