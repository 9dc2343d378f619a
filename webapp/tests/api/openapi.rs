//! The OpenAPI document matches the routes the app really serves; request ids; health.

use std::collections::BTreeSet;

use crate::harness::{json, test_config, without_captions, TestApp};

#[tokio::test]
async fn every_documented_operation_is_served_and_every_route_is_documented() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let (status, doc) = json(
        app.client
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let served: BTreeSet<String> = [
        "POST /api/v1/images",
        "GET /api/v1/images",
        "GET /api/v1/images/{id}",
        "PATCH /api/v1/images/{id}",
        "POST /api/v1/images/{id}/regenerate",
        "DELETE /api/v1/images/{id}",
        "GET /api/v1/images/{id}/download",
        "GET /api/v1/export/dataset",
        "DELETE /api/v1/me",
        "GET /api/v1/admin/stats",
        "POST /api/v1/admin/queue/flush",
        "POST /api/v1/admin/jobs/retry",
        "GET /api/v1/openapi.json",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(documented, served);

    // Each documented operation reaches a handler: no unknown-route 404, no 405.
    for operation in &documented {
        let (method, path) = operation.split_once(' ').unwrap();
        let path = path.replace("{id}", &ulid::Ulid::new().to_string());
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let (_, body) = json(response).await;
        assert_ne!(status, 405, "{operation}");
        assert_ne!(body["error_type"], "unknown_route", "{operation}");
    }
    // And the checks can fail: an undocumented route or method is refused as such.
    let (status, body) = json(
        app.client
            .get(app.url("/api/v1/nope"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (404, Some("unknown_route"))
    );
    let (status, body) = json(app.client.put(app.url("/api/v1/me")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (405, Some("method_not_allowed"))
    );
}

#[tokio::test]
async fn request_ids_are_echoed_and_health_is_reported() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-123");
    let (status, body) = json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["database"], true);
    assert_eq!(body["blob_store"], true);
    assert_eq!(body["captioner"], true);
}

#[tokio::test]
async fn readiness_fails_when_every_captioner_circuit_is_open() {
    let mut config = without_captions(test_config());
    config.worker.concurrency = 1;
    config.captioner.endpoint.failure_threshold = 1;
    config.captioner.endpoint.cooldown_ms = 60_000;
    let app = TestApp::spawn(config).await;
    let token = app.token("lee", false).await;
    json(
        app.upload(&token, crate::harness::png(5, 32, 32), "image/png")
            .await,
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
        if status == 503 && body["jobs_waiting_for_captioner"] == 1 {
            assert_eq!(body["captioner"], false);
            assert_eq!(body["database"], true);
            assert_eq!(
                body["captioners"],
                serde_json::json!([{"name": "endpoint", "state": "circuit_open"}])
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "readiness never dropped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
