//! The captioner chain's failover, retries, and jobs surviving a restart.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use imgcap_webapp::config::ProviderKind;

use crate::harness::{json, png, test_config, test_data, without_captions, TestApp};

/// An `/invocations` server that always answers 500, counting its calls.
async fn failing_endpoint() -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let router = axum::Router::new().route(
        "/invocations",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(serde_json::json!({"error": "boom", "error_type": "internal"})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/invocations"), calls)
}

#[tokio::test]
async fn a_failing_first_captioner_fails_over_to_the_second() {
    let (url, calls) = failing_endpoint().await;
    let mut config = test_config();
    config.captioner.chain = vec![ProviderKind::Endpoint, ProviderKind::Embedded];
    config.captioner.endpoint.url = Some(url);
    let app = TestApp::spawn(config).await;
    let token = app.token("erin", false).await;
    let done = app
        .upload_and_wait(&token, test_data("rocket.jpg"), "image/jpeg", "done")
        .await;
    assert_eq!(done["result"]["provider"], "embedded");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the endpoint was tried first"
    );
}

#[tokio::test]
async fn jobs_fail_readably_after_bounded_retries() {
    let mut config = without_captions(test_config());
    config.worker.concurrency = 1;
    config.worker.max_attempts = 3;
    config.captioner.endpoint.failure_threshold = 100;
    let app = TestApp::spawn(config).await;
    let token = app.token("erin", false).await;
    let failed = app
        .upload_and_wait(&token, png(3, 64, 64), "image/png", "failed")
        .await;
    let reason = failed["failure_reason"].as_str().unwrap();
    assert!(reason.contains("after 3 attempts"), "{reason}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE job_state = 'dead' AND attempts = 3"),
        1
    );
}

#[tokio::test]
async fn a_pending_job_completes_after_a_restart() {
    // No workers: the job stays queued.
    let app = TestApp::spawn(without_captions(test_config())).await;
    let token = app.token("frank", false).await;
    let (status, body) = json(
        app.upload(&token, test_data("rocket.jpg"), "image/jpeg")
            .await,
    )
    .await;
    assert_eq!(status, 202);
    let id = body["image"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE job_state = 'queued'"),
        1
    );

    let app = app.restart(test_config()).await;
    let done = app.wait_for(&token, &id, "done").await;
    assert_eq!(done["result"]["provider"], "embedded");
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs"), 0);
}
