//! `GET /metrics`: the figures move with the traffic, labels hold route templates and never an
//! id, and the optional token is enforced.

use crate::harness::{json, png, test_config, test_data, TestApp};

/// The value of one series (`name{labels}` exactly as rendered), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// `GET /metrics` on the main listener.
async fn scrape_main(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn counters_follow_uploads_and_captions_with_templated_routes() {
    let mut config = test_config();
    config.metrics.refresh_interval_secs = 1;
    let app = TestApp::spawn(config).await;
    let token = app.token("alice", false).await;
    let photo = test_data("rocket.jpg");
    let done = app
        .upload_and_wait(&token, photo.clone(), "image/jpeg", "done")
        .await;
    let id = done["id"].as_str().unwrap().to_owned();
    let (status, _) = json(app.upload(&token, photo, "image/jpeg").await).await;
    assert_eq!(status, 200, "the same bytes again");
    let (status, _) = json(app.upload(&token, b"hello".to_vec(), "text/plain").await).await;
    assert_eq!(status, 415);
    let (status, _) = json(
        app.upload(&token, png(1, 4, 4)[..20].to_vec(), "image/png")
            .await,
    )
    .await;
    assert_eq!(status, 422, "a truncated image");
    let unknown = format!("/api/v1/nothing/{id}");
    assert_eq!(app.get_json(&token, &unknown).await.0, 404);
    let invented = reqwest::Method::from_bytes(b"BREW").unwrap();
    let response = app
        .client
        .request(invented, app.url(&unknown))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // The queue gauges are sampled every refresh interval (1 s here): a sample taken while the
    // finished job was still being acknowledged says `in_flight 1` until the next one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let text = loop {
        let response = app
            .client
            .get(format!("{}/metrics", app.metrics_base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"));
        let text = response.text().await.unwrap();
        let settled =
            value(&text, "imgcap_web_caption_queue_jobs{state=\"in_flight\"}") == Some(0.0);
        if settled || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    for (series, expected) in [
        ("imgcap_web_uploads_total{outcome=\"accepted\"}", 1.0),
        ("imgcap_web_uploads_total{outcome=\"duplicate\"}", 1.0),
        ("imgcap_web_uploads_total{outcome=\"unsupported_type\"}", 1.0),
        ("imgcap_web_uploads_total{outcome=\"invalid_image\"}", 1.0),
        (
            "imgcap_web_caption_jobs_total{outcome=\"done\",provider=\"embedded\"}",
            1.0,
        ),
        (
            "imgcap_web_caption_latency_seconds_count{provider=\"embedded\"}",
            1.0,
        ),
        (
            "imgcap_web_http_requests_total{method=\"POST\",route=\"/api/v1/images\",status=\"202\"}",
            1.0,
        ),
        (
            "imgcap_web_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}",
            1.0,
        ),
        (
            "imgcap_web_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"}",
            1.0,
        ),
        ("imgcap_web_captioner_circuit_open{provider=\"embedded\"}", 0.0),
    ] {
        assert_eq!(value(&text, series), Some(expected), "{series} in\n{text}");
    }
    let polls = value(
        &text,
        "imgcap_web_http_requests_total{method=\"GET\",route=\"/api/v1/images/{id}\",status=\"200\"}",
    )
    .unwrap();
    assert!(polls >= 1.0, "the status polls, under the route template");
    assert!(
        text.contains("imgcap_web_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/images\","),
        "{text}"
    );
    for state in ["ready", "in_flight", "dead"] {
        let series = format!("imgcap_web_caption_queue_jobs{{state=\"{state}\"}}");
        assert_eq!(value(&text, &series), Some(0.0), "{series} in\n{text}");
    }
    assert!(!text.contains(&id), "no image id in any label");
    assert!(!text.contains("alice"), "no user in any label");
}

#[tokio::test]
async fn the_metrics_token_is_required_when_set() {
    let mut config = crate::harness::without_captions(test_config());
    config.metrics.token = Some("scraper-secret-0123456789".into());
    let app = TestApp::spawn(config).await;
    for sent in [None, Some("wrong-token-0123456789"), Some("")] {
        let (status, body) = json(scrape_main(&app, sent).await).await;
        assert_eq!(status, 401, "{sent:?}");
        assert_eq!(body["error_type"], "unauthorized");
    }
    let response = scrape_main(&app, Some("scraper-secret-0123456789")).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            "imgcap_web_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"401\"} 3"
        ),
        "{text}"
    );
}

/// Without a token the metrics are served only on the metrics listener (loopback by default),
/// not to whoever reaches the app's listener.
#[tokio::test]
async fn without_a_token_metrics_are_only_on_the_metrics_listener() {
    let app = TestApp::spawn(crate::harness::without_captions(test_config())).await;
    let (status, body) = json(scrape_main(&app, None).await).await;
    assert_eq!(status, 404);
    assert_eq!(body["error_type"], "not_found");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("IMGCAP_METRICS_LISTEN_ADDR"),
        "{body}"
    );
    let text = crate::harness::scrape_metrics(&app).await;
    assert!(text.contains("imgcap_web_http_requests_total"), "{text}");
    // The metrics listener serves nothing else.
    let response = app
        .client
        .get(format!("{}/healthz", app.metrics_base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
