//! Fault injection: `IMGCAP_FAULT_INJECTION=1` makes `imgcap-fault` in the custom attributes
//! fail or delay a request; without it the attribute changes nothing.

use std::time::{Duration, Instant};

use crate::harness::{assert_captions, client, metric, metrics_text, photo, post_raw, Server};

const ATTRIBUTES: &str = "x-amzn-sagemaker-custom-attributes";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_fail_or_delay_requests_when_enabled() {
    let server = Server::tiny_with_env(&[], &[("IMGCAP_FAULT_INJECTION", "1")]).await;
    let client = client();
    let jpeg = photo("rocket.jpg");
    let failures = r#"imgcap_inference_request_failure_total{error_type="internal"}"#;

    let failed = post_raw(
        &client,
        &server,
        Some("image/jpeg"),
        jpeg.clone(),
        &[
            (ATTRIBUTES, "mode=concise;imgcap-fault=5xx"),
            ("x-request-id", "drill-5xx"),
        ],
    )
    .await;
    failed.assert_error(500, "internal");
    assert!(failed.json["error"].as_str().unwrap().contains("injected"));
    assert_eq!(failed.header(ATTRIBUTES), "mode=concise;imgcap-fault=5xx");
    let text = metrics_text(&server).await;
    assert_eq!(metric(&text, failures), Some(1.0), "{text}");
    assert_eq!(
        metric(&text, r#"imgcap_inference_requests_total{status="500"}"#),
        Some(1.0)
    );
    server
        .wait_for_log(|l| l.contains("drill-5xx") && l.contains(r#""injected":true"#))
        .await;

    let started = Instant::now();
    let slow = post_raw(
        &client,
        &server,
        Some("image/jpeg"),
        jpeg.clone(),
        &[(ATTRIBUTES, "imgcap-fault=slow:700;mode=concise")],
    )
    .await;
    assert_captions(&slow, "concise");
    assert!(started.elapsed() >= Duration::from_millis(700));
    let total: f64 = slow.header("x-total-time").parse().unwrap();
    assert!(
        total >= 700.0,
        "the delay counts in the request's time: {total}"
    );

    for bad in ["imgcap-fault=slow:60001", "imgcap-fault=crash"] {
        post_raw(
            &client,
            &server,
            Some("image/jpeg"),
            jpeg.clone(),
            &[(ATTRIBUTES, bad)],
        )
        .await
        .assert_error(422, "invalid_parameters");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_attributes_are_ignored_without_the_setting() {
    let server = Server::tiny(&[]).await;
    let client = client();
    let jpeg = photo("rocket.jpg");
    for attributes in ["imgcap-fault=5xx", "imgcap-fault=nonsense"] {
        let answer = post_raw(
            &client,
            &server,
            Some("image/jpeg"),
            jpeg.clone(),
            &[(ATTRIBUTES, attributes)],
        )
        .await;
        assert_captions(&answer, "both");
    }
    let started = Instant::now();
    let answer = post_raw(
        &client,
        &server,
        Some("image/jpeg"),
        jpeg,
        &[(ATTRIBUTES, "imgcap-fault=slow:5000")],
    )
    .await;
    assert_captions(&answer, "both");
    assert!(started.elapsed() < Duration::from_secs(5));
}
