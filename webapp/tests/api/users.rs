//! Isolation between users, history paging, rate limits, and deleting all of a user's data.

use crate::harness::{json, png, test_config, without_captions, TestApp};

#[tokio::test]
async fn users_see_only_their_own_images_and_page_through_them() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let alice = app.token("alice", false).await;
    let bob = app.token("bob", false).await;
    let mut ids = Vec::new();
    for seed in 0..5 {
        let (status, body) = json(app.upload(&alice, png(seed, 32, 32), "image/png").await).await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["image"]["id"].as_str().unwrap().to_owned());
    }
    ids.reverse(); // newest first

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/images?limit=2&cursor={c}"),
            None => "/api/v1/images?limit=2".into(),
        };
        let (status, page) = app.get_json(&alice, &path).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    // Bob sees nothing of Alice's, cannot read or delete her images, nor use her cursor.
    let (_, page) = app.get_json(&bob, "/api/v1/images").await;
    assert!(page["items"].as_array().unwrap().is_empty());
    let (status, _) = app
        .get_json(&bob, &format!("/api/v1/images/{}", ids[0]))
        .await;
    assert_eq!(status, 404);
    let response = app
        .client
        .delete(app.url(&format!("/api/v1/images/{}", ids[0])))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let (_, first) = app.get_json(&alice, "/api/v1/images?limit=2").await;
    let alices_cursor = first["next_cursor"].as_str().unwrap();
    let (status, body) = app
        .get_json(&bob, &format!("/api/v1/images?cursor={alices_cursor}"))
        .await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (400, Some("invalid_cursor"))
    );
    for bad in ["?cursor=garbage", "?limit=0", "?limit=101", "?limit=x"] {
        let (status, _) = app.get_json(&alice, &format!("/api/v1/images{bad}")).await;
        assert_eq!(status, 400, "{bad}");
    }
    let (status, body) = app.get_json(&alice, "/api/v1/images/not-a-ulid").await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (400, Some("invalid_image_id"))
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 5);
}

#[tokio::test]
async fn the_upload_limit_answers_429_with_retry_after() {
    let mut config = without_captions(test_config());
    config.rate_limit.uploads_per_hour = 3;
    let app = TestApp::spawn(config).await;
    let token = app.token("gina", false).await;
    for seed in 0..3 {
        let (status, _) = json(app.upload(&token, png(seed, 32, 32), "image/png").await).await;
        assert_eq!(status, 202);
    }
    let response = app.upload(&token, png(9, 32, 32), "image/png").await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1200).contains(&retry_after), "{retry_after}");
    let (_, body) = json(response).await;
    assert_eq!(body["error_type"], "rate_limited");
    // Another user has their own bucket.
    let other = app.token("hank", false).await;
    assert_eq!(
        app.upload(&other, png(9, 32, 32), "image/png")
            .await
            .status(),
        202
    );
}

#[tokio::test]
async fn the_default_limit_refuses_the_61st_upload_in_an_hour() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let token = app.token("ivan", false).await;
    // Every attempt takes a token, accepted or not; empty bodies keep this fast.
    for _ in 0..60 {
        let (status, _) = json(app.upload(&token, Vec::new(), "image/png").await).await;
        assert_eq!(status, 400);
    }
    let response = app.upload(&token, png(1, 32, 32), "image/png").await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn deleting_me_removes_every_trace_and_can_resume() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let alice = app.token("alice", false).await;
    let bob = app.token("bob", false).await;
    for seed in 0..3 {
        json(app.upload(&alice, png(seed, 32, 32), "image/png").await).await;
    }
    let (_, bobs) = json(app.upload(&bob, png(1, 32, 32), "image/png").await).await;
    let delete_me = |token: String| {
        let app = &app;
        async move {
            app.client
                .delete(app.url("/api/v1/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(delete_me(alice.clone()).await, 204);
    // The rate-limit buckets stay (`rate_limits::deleting_my_data_does_not_refill_the_upload_limit`).
    for table in ["images", "jobs", "user_deletions"] {
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE user_id = 'alice'"
            )),
            0,
            "{table}"
        );
    }
    assert!(!app.data_dir.join("blobs/originals/alice").exists());
    assert!(!app.data_dir.join("blobs/thumbnails/alice").exists());
    // Idempotent.
    assert_eq!(delete_me(alice.clone()).await, 204);
    // Bob's data is untouched.
    let (status, _) = app
        .get_json(
            &bob,
            &format!("/api/v1/images/{}", bobs["image"]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.blob_files().len(), 2);

    // A deletion that crashed after writing its marker is finished at start-up.
    app.db()
        .execute(
            "INSERT INTO user_deletions (user_id, started_ms) VALUES ('bob', 0)",
            [],
        )
        .unwrap();
    let app = app.restart(without_captions(test_config())).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM user_deletions"), 0);
    assert!(app.blob_files().is_empty());
}
