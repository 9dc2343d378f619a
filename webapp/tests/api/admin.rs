//! Admin figures and queue control; 403 for everyone else.

use crate::harness::{json, png, test_config, test_data, without_captions, TestApp};

#[tokio::test]
async fn admin_endpoints_need_the_admin_role() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let user = app.token("jane", false).await;
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/admin/stats"),
        (reqwest::Method::POST, "/api/v1/admin/queue/flush"),
        (reqwest::Method::POST, "/api/v1/admin/jobs/retry"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&user)
            .send()
            .await
            .unwrap();
        let (status, body) = json(response).await;
        assert_eq!(
            (status, body["error_type"].as_str()),
            (403, Some("forbidden")),
            "{path}"
        );
        let response = app
            .client
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
}

#[tokio::test]
async fn figures_flush_and_retry() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let admin = app.token("root", true).await;
    let user = app.token("kim", false).await;
    let (_, first) = json(app.upload(&user, png(1, 32, 32), "image/png").await).await;
    json(app.upload(&user, png(2, 32, 32), "image/png").await).await;

    let (status, stats) = app.get_json(&admin, "/api/v1/admin/stats").await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["pending"], 2);
    assert_eq!(stats["queue"]["ready"], 2);
    assert_eq!(stats["days"][0]["uploads"], 2);

    let post = |path: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            json(
                app.client
                    .post(app.url(path))
                    .bearer_auth(admin)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, flushed) = post("/api/v1/admin/queue/flush").await;
    assert_eq!((status, flushed["count"].as_u64()), (200, Some(2)));
    let id = first["image"]["id"].as_str().unwrap();
    let (_, record) = app.get_json(&user, &format!("/api/v1/images/{id}")).await;
    assert_eq!(record["status"], "failed");
    let (_, stats) = app.get_json(&admin, "/api/v1/admin/stats").await;
    assert_eq!(
        (stats["failed"].as_u64(), stats["queue"]["ready"].as_u64()),
        (Some(2), Some(0))
    );

    let (status, retried) = post("/api/v1/admin/jobs/retry").await;
    assert_eq!((status, retried["count"].as_u64()), (200, Some(2)));
    let (_, stats) = app.get_json(&admin, "/api/v1/admin/stats").await;
    assert_eq!(
        (stats["pending"].as_u64(), stats["queue"]["ready"].as_u64()),
        (Some(2), Some(2))
    );

    // With a worker and a real captioner the retried jobs complete, and the figures show it.
    let app = app.restart(test_config()).await;
    app.wait_for(&user, id, "done").await;
    let (_, _) = json(
        app.upload(&user, test_data("rocket.jpg"), "image/jpeg")
            .await,
    )
    .await;
    let (_, stats) = app.get_json(&admin, "/api/v1/admin/stats").await;
    let latency = &stats["latency"][0];
    assert_eq!(latency["provider"], "embedded");
    assert!(latency["captions"].as_u64().unwrap() >= 1);
    assert!(latency["p95_ms"].as_u64().unwrap() >= latency["p50_ms"].as_u64().unwrap());
    assert!(stats["days"][0]["captions"].as_u64().unwrap() >= 1);
}
