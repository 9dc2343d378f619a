//! Traces, through the real binary: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, an upload's
//! request, the upload, the caption job the worker runs later and its provider call share one
//! trace at the OTLP collector, with the request id on the request and the job; the `endpoint`
//! captioner receives the trace context as `traceparent` (the inference server's tests show it
//! continuing from there). Sent straight to X-Ray's OTLP endpoint (no ADOT sidecar), the
//! export is signed with SigV4.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;

use crate::binary::{create_token, embedded_settings, free_port, KillOnDrop, BIN};
use crate::harness::png;
use crate::otlp_collector::{
    CollectedSpan, Collector, SigV4Key, KIND_CLIENT, KIND_CONSUMER, KIND_SERVER,
};
use crate::providers::{invocation_answer, Fake};

const REQUEST_ID: &str = "traced-upload-1";

fn named<'a>(spans: &'a [CollectedSpan], name: &str, parent: &str) -> &'a CollectedSpan {
    spans
        .iter()
        .find(|span| span.name == name && span.parent_span_id == parent)
        .unwrap_or_else(|| panic!("no {name} span under {parent}: {spans:#?}"))
}

/// The binary with `settings`, exporting its spans to `collector` (plus `envs`), once it
/// answers; the process and its base URL.
async fn start_traced_app(
    settings: &[(&str, String)],
    collector: &Collector,
    envs: &[(&str, &str)],
) -> (KillOnDrop, String) {
    let port = free_port();
    let app = KillOnDrop(
        Command::new(BIN)
            .env_clear()
            .envs(settings.iter().map(|(name, value)| (name, value)))
            .envs(envs.iter().copied())
            .env("IMGCAP_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the app did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (app, base)
}

#[tokio::test]
async fn an_upload_and_its_caption_job_share_one_trace() {
    let collector = Collector::start().await;
    let captioner = Fake::start(|_| {
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(invocation_answer("a red square", "a square, red").into())
            .unwrap()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = embedded_settings(dir.path());
    settings.extend([
        ("IMGCAP_CAPTIONER_CHAIN", "endpoint".to_owned()),
        (
            "IMGCAP_CAPTIONER_ENDPOINT_URL",
            format!("{}/invocations", captioner.url),
        ),
    ]);
    let token = create_token(&settings);
    let (_app, base) = start_traced_app(&settings, &collector, &[]).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/api/v1/images"))
        .bearer_auth(&token)
        .header("content-type", "image/png")
        .header("x-request-id", REQUEST_ID)
        .body(png(7, 64, 48))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    let spans = collector
        .wait_for(|spans| spans.iter().any(|s| s.name == "job"))
        .await;
    let request = spans
        .iter()
        .find(|s| s.name == "request" && s.attribute("request_id") == Some(REQUEST_ID))
        .unwrap_or_else(|| panic!("no request span with the request id: {spans:#?}"));
    assert_eq!(request.service, "imgcap-webapp");
    assert_eq!(request.kind, KIND_SERVER);
    assert_eq!(
        request.parent_span_id, "",
        "a root: the client sent no traceparent"
    );
    let upload = named(&spans, "upload", &request.span_id);
    let job = named(&spans, "job", &upload.span_id);
    assert_eq!(job.kind, KIND_CONSUMER);
    assert_eq!(job.attribute("request_id"), Some(REQUEST_ID));
    let call = named(&spans, "provider call", &job.span_id);
    assert_eq!(call.kind, KIND_CLIENT);
    assert_eq!(call.attribute("provider"), Some("endpoint"));
    for span in [upload, job, call] {
        assert_eq!(span.trace_id, request.trace_id, "{span:#?}");
    }

    let received = captioner.received();
    assert_eq!(received.len(), 1);
    let header = |name: &str| received[0].headers[name].to_str().unwrap().to_owned();
    assert_eq!(
        header("traceparent"),
        format!("00-{}-{}-01", call.trace_id, call.span_id),
        "the inference server's spans become children of the provider call"
    );
    assert_eq!(header("x-request-id"), REQUEST_ID);
}

/// Without the ADOT sidecar the app can export to X-Ray itself: with the region to sign for,
/// every export carries a SigV4 signature of the task role's credentials.
#[tokio::test]
async fn spans_for_xray_are_signed_with_sigv4() {
    const KEY: SigV4Key = SigV4Key {
        access_key: "ASIAIMGCAPWEBTRACES",
        secret: "web/trace+test+secret",
        region: "us-east-2",
    };
    let collector = Collector::start_sigv4(KEY).await;
    let dir = tempfile::tempdir().unwrap();
    let (_app, base) = start_traced_app(
        &embedded_settings(dir.path()),
        &collector,
        &[
            ("IMGCAP_TRACES_SIGV4_REGION", KEY.region),
            ("AWS_ACCESS_KEY_ID", KEY.access_key),
            ("AWS_SECRET_ACCESS_KEY", KEY.secret),
            ("AWS_SESSION_TOKEN", "session-token-of-the-task-role"),
        ],
    )
    .await;
    let response = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .header("x-request-id", "signed-trace-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    collector
        .wait_for(|spans| {
            spans
                .iter()
                .any(|s| s.name == "request" && s.attribute("request_id") == Some("signed-trace-1"))
        })
        .await;
    assert_eq!(collector.refusals(), Vec::<String>::new());
}
