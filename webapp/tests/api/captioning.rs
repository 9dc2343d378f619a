//! The captioner chain's failover, retries, jobs waiting out an outage, and jobs surviving a
//! restart.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use imgcap_webapp::config::ProviderKind;

use crate::harness::{json, png, test_config, test_data, without_captions, TestApp};
use crate::providers::invocation_answer;

/// An `/invocations` server that always answers `status` with an error body, counting its
/// calls.
pub async fn failing_endpoint(status: StatusCode) -> (String, Arc<AtomicUsize>) {
    let up = Arc::new(AtomicBool::new(false));
    let (url, calls) = switchable_endpoint(status, up).await;
    (url, calls)
}

/// An `/invocations` server that answers captions while `up` is set and `down_status` with an
/// error body while it is not, counting its calls.
async fn switchable_endpoint(
    down_status: StatusCode,
    up: Arc<AtomicBool>,
) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let router = axum::Router::new().route(
        "/invocations",
        axum::routing::post(move || {
            let counter = counter.clone();
            let up = up.load(Ordering::SeqCst);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                if up {
                    (
                        [("content-type", "application/json")],
                        invocation_answer("a rocket on a launch pad", "A rocket waits."),
                    )
                        .into_response()
                } else {
                    (
                        down_status,
                        axum::Json(serde_json::json!({"error": "boom", "error_type": "internal"})),
                    )
                        .into_response()
                }
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
    let (url, calls) = failing_endpoint(StatusCode::INTERNAL_SERVER_ERROR).await;
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

/// A captioner's 4xx belongs to the image: it spends attempts, and the image ends `failed`.
#[tokio::test]
async fn a_captioner_refusing_the_image_fails_the_job_after_bounded_retries() {
    let (url, calls) = failing_endpoint(StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut config = without_captions(test_config());
    config.captioner.endpoint.url = Some(url);
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
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM jobs WHERE job_state = 'dead' AND attempts = 3"),
        1
    );
}

/// A captioner down (503, then its circuit open) for longer than the whole retry budget: the
/// uploads made meanwhile wait without spending attempts, and are all captioned once it is
/// back, without anyone retrying them.
#[tokio::test]
async fn jobs_wait_out_a_captioner_outage_longer_than_their_retry_budget() {
    let up = Arc::new(AtomicBool::new(false));
    let (url, calls) = switchable_endpoint(StatusCode::SERVICE_UNAVAILABLE, up.clone()).await;
    let mut config = without_captions(test_config());
    config.captioner.endpoint.url = Some(url);
    config.worker.concurrency = 1;
    config.worker.max_attempts = 2;
    config.captioner.endpoint.failure_threshold = 2;
    config.captioner.endpoint.cooldown_ms = 200;
    let app = TestApp::spawn(config).await;
    let token = app.token("olga", false).await;
    // The timeline, printed with `--nocapture` (the note quotes it).
    let start = Instant::now();
    let at = |event: &str| {
        eprintln!(
            "outage timeline: {:>6} ms  {event}",
            start.elapsed().as_millis()
        )
    };
    at("captioner down (503); 3 uploads");
    let mut ids = Vec::new();
    for seed in 0..3 {
        let (status, body) = json(
            app.upload(&token, png(40 + seed, 64, 64), "image/png")
                .await,
        )
        .await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["image"]["id"].as_str().unwrap().to_owned());
    }

    // Many more deliveries than the budget of 2, and a job visibly waiting for a captioner.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, ready) = json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
        if calls.load(Ordering::SeqCst) >= 8 && ready["jobs_waiting_for_captioner"] != 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the jobs never waited: {ready}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for id in &ids {
        let (_, image) = app.get_json(&token, &format!("/api/v1/images/{id}")).await;
        assert_eq!(image["status"], "pending", "{image}");
    }
    at(&format!(
        "{} deliveries refused, all 3 images pending, max attempts spent {}",
        calls.load(Ordering::SeqCst),
        app.count("SELECT MAX(attempts) FROM jobs")
    ));
    assert!(
        app.count("SELECT MAX(attempts) FROM jobs") < 2,
        "no attempt spent on the outage"
    );

    up.store(true, Ordering::SeqCst);
    at("captioner back");
    for id in &ids {
        let done = app.wait_for(&token, id, "done").await;
        assert_eq!(done["result"]["provider"], "endpoint");
    }
    at("all 3 captioned, nobody pressed retry");
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs"), 0);
    let (_, ready) = json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(ready["jobs_waiting_for_captioner"], 0, "{ready}");
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
