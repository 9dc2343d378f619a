//! Traces, through the real binary: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, an upload's
//! request, the upload, the caption job the worker runs later and its provider call share one
//! trace at the OTLP collector, with the request id on the request and the job; the `endpoint`
//! captioner receives the trace context as `traceparent` (the inference server's tests show it
//! continuing from there).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;

use crate::binary::{create_token, free_port, KillOnDrop, BIN};
use crate::harness::png;
use crate::otlp_collector::{CollectedSpan, Collector, KIND_CLIENT, KIND_CONSUMER, KIND_SERVER};
use crate::providers::{invocation_answer, Fake};

const REQUEST_ID: &str = "traced-upload-1";

fn named<'a>(spans: &'a [CollectedSpan], name: &str, parent: &str) -> &'a CollectedSpan {
    spans
        .iter()
        .find(|span| span.name == name && span.parent_span_id == parent)
        .unwrap_or_else(|| panic!("no {name} span under {parent}: {spans:#?}"))
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
    let settings = [
        (
            "IMGCAP_CONFIG",
            dir.path().join("absent.toml").display().to_string(),
        ),
        (
            "IMGCAP_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("IMGCAP_CAPTIONER_CHAIN", "endpoint".to_owned()),
        (
            "IMGCAP_CAPTIONER_ENDPOINT_URL",
            format!("{}/invocations", captioner.url),
        ),
        ("IMGCAP_METRICS_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
    ];
    let token = create_token(&settings);
    let port = free_port();
    let _app = KillOnDrop(
        Command::new(BIN)
            .env_clear()
            .envs(settings)
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
