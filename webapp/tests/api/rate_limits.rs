//! Per-user limits that must hold whatever the user does: "delete all my data" does not refill
//! the upload limit, and regenerating captions (each one a captioner call) has its own hourly
//! budget, answered 429 with `Retry-After` and a sentence when spent.

use crate::harness::{json, png, test_config, without_captions, TestApp};

/// `Retry-After` of a 429, in seconds.
fn retry_after(response: &reqwest::Response) -> u64 {
    assert_eq!(response.status(), 429);
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn deleting_my_data_does_not_refill_the_upload_limit() {
    let mut config = without_captions(test_config());
    config.rate_limit.uploads_per_hour = 2;
    let app = TestApp::spawn(config).await;
    let token = app.token("mallory", false).await;
    for seed in 0..2 {
        let response = app.upload(&token, png(seed, 64, 48), "image/png").await;
        assert_eq!(response.status(), 202);
    }
    let response = app.upload(&token, png(2, 64, 48), "image/png").await;
    assert!(retry_after(&response) > 0);

    assert_eq!(app.delete(&token, "/api/v1/me").await, 204);
    let (_, history) = app.get_json(&token, "/api/v1/images").await;
    assert_eq!(history["items"].as_array().unwrap().len(), 0, "{history}");

    let response = app.upload(&token, png(3, 64, 48), "image/png").await;
    // One token per 30 minutes at 2 an hour: the bucket is as empty as before the deletion.
    assert!((1700..=1800).contains(&retry_after(&response)));
    let (_, body) = json(response).await;
    assert_eq!(body["error_type"], "rate_limited", "{body}");
}

#[tokio::test]
async fn regenerating_is_limited_by_an_hourly_captioning_budget() {
    let mut config = test_config();
    config.rate_limit.regenerations_per_hour = 2;
    let app = TestApp::spawn(config).await;
    let token = app.token("rita", false).await;
    let image = app
        .upload_and_wait(&token, png(7, 64, 48), "image/png", "done")
        .await;
    let id = image["id"].as_str().unwrap().to_owned();
    let regenerate = || {
        app.client
            .post(app.url(&format!("/api/v1/images/{id}/regenerate")))
            .bearer_auth(&token)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(regenerate().await.unwrap().status(), 202);
        app.wait_for(&token, &id, "done").await;
    }
    let response = regenerate().await.unwrap();
    // One regenerate per 30 minutes at 2 an hour.
    assert!((1700..=1800).contains(&retry_after(&response)));
    let (_, body) = json(response).await;
    assert_eq!(body["error_type"], "rate_limited", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("the regenerate limit is spent"),
        "{body}"
    );
    // Nothing was queued: the image keeps its captions.
    let (_, after) = app.get_json(&token, &format!("/api/v1/images/{id}")).await;
    assert_eq!(after["status"], "done", "{after}");
    // Other users have their own budget.
    let other = app.token("sam", false).await;
    let theirs = app
        .upload_and_wait(&other, png(8, 64, 48), "image/png", "done")
        .await;
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/images/{}/regenerate",
            theirs["id"].as_str().unwrap()
        )))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}
