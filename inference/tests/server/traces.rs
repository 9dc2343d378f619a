//! Traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a request's spans (the request, its
//! preprocessing and the batch it ran in) reach an OTLP collector, continuing the
//! caller's trace from `traceparent` or the SageMaker custom attributes, with the request id on
//! the request's span. Toward X-Ray's OTLP endpoint (what a SageMaker endpoint's container
//! exports to: no collector can run beside it) every export is signed with SigV4.

use std::time::Duration;

use crate::harness::{
    assert_captions, client, command, futures_join_all, photo, post_raw, tiny_model, Server,
};
use crate::otlp_collector::{CollectedSpan, Collector, SigV4Key, KIND_SERVER};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const SAGEMAKER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const SAGEMAKER_SPAN: &str = "b7ad6b7169203331";

/// The credentials of the SageMaker execution role, as the AWS chain would find them.
const ROLE_KEY: SigV4Key = SigV4Key {
    access_key: "ASIAIMGCAPTRACETEST",
    secret: "wJalr/imgcap+trace+test+secret",
    region: "eu-west-1",
};

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

    // A request's span ends after its batch's, and may come in a later export.
    let spans = collector
        .wait_for(|spans| {
            [CALLER_TRACE, SAGEMAKER_TRACE].iter().all(|trace| {
                ["request", "preprocess", "batch"]
                    .iter()
                    .all(|name| find(spans, trace, name).is_some())
            })
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

/// With the region to sign for (set, or read from an `xray.<region>.amazonaws.com` endpoint) the
/// spans arrive signed with the role's temporary credentials, session token included; a
/// collector that checks SigV4 as X-Ray does takes every export. The spans still buffered when
/// SageMaker stops the container (SIGTERM) leave signed too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_for_xray_are_signed_with_the_roles_credentials() {
    let collector = Collector::start_sigv4(ROLE_KEY).await;
    let mut server = Server::tiny_with_env(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint),
            // No export before the shutdown: only the final flush sends them.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            ("IMGCAP_TRACES_SIGV4_REGION", ROLE_KEY.region),
            ("AWS_ACCESS_KEY_ID", ROLE_KEY.access_key),
            ("AWS_SECRET_ACCESS_KEY", ROLE_KEY.secret),
            ("AWS_SESSION_TOKEN", "session-token-of-the-execution-role"),
        ],
    )
    .await;
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let answer = post_raw(
        &client(),
        &server,
        Some("image/jpeg"),
        photo("rocket.jpg"),
        &[("traceparent", &traceparent)],
    )
    .await;
    assert_captions(&answer, "both");
    server.send_signal(libc::SIGTERM);
    assert!(server.wait_exit(Duration::from_secs(20)).success());
    let spans = collector.spans();
    let request = find(&spans, CALLER_TRACE, "request")
        .unwrap_or_else(|| panic!("the last spans were not sent: {spans:#?}"));
    assert_eq!(request.parent_span_id, CALLER_SPAN);
    assert!(find(&spans, CALLER_TRACE, "batch").is_some());
    assert_eq!(collector.refusals(), Vec::<String>::new());
}

/// Without credentials the export fails, says why in the log, and the server serves on; with a
/// region that is not one it does not start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_export_without_credentials_fails_alone() {
    let collector = Collector::start_sigv4(ROLE_KEY).await;
    let home = tempfile::tempdir().unwrap();
    let absent = home.path().join("absent").display().to_string();
    let home_dir = home.path().display().to_string();
    let server = Server::tiny_with_env(
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("IMGCAP_TRACES_SIGV4_REGION", ROLE_KEY.region),
            // Nowhere to find credentials: no profile files, no instance metadata.
            ("HOME", &home_dir),
            ("AWS_CONFIG_FILE", &absent),
            ("AWS_SHARED_CREDENTIALS_FILE", &absent),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    )
    .await;
    let answer = post_raw(
        &client(),
        &server,
        Some("image/jpeg"),
        photo("rocket.jpg"),
        &[],
    )
    .await;
    assert_captions(&answer, "both");
    server
        .wait_for_log(|line| line.contains("no AWS credentials to sign the trace export"))
        .await;
    assert!(collector.spans().is_empty());
    assert_eq!(
        collector.refusals(),
        Vec::<String>::new(),
        "nothing was sent"
    );

    let model = tiny_model();
    let refused = command(
        &[
            "serve",
            "--port",
            "0",
            "--model-dir",
            model.to_str().unwrap(),
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint),
            ("IMGCAP_TRACES_SIGV4_REGION", "EU West"),
        ],
    )
    .output()
    .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("IMGCAP_TRACES_SIGV4_REGION=\"EU West\" is not an AWS region"),
        "{stderr}"
    );
}
