//! Upload → job → done → history → get (signed URLs) → delete → gone.

use imgcap_webapp::auth::signing::Signer;

use crate::harness::{json, test_config, test_data, TestApp};

#[tokio::test]
async fn upload_is_captioned_listed_served_and_deleted() {
    let app = TestApp::spawn(test_config()).await;
    let token = app.token("alice", false).await;

    let response = app
        .upload(&token, test_data("rocket.jpg"), "image/jpeg")
        .await;
    assert_eq!(
        response.headers()["x-request-id"].len(),
        26,
        "a ULID request id is generated"
    );
    let (status, body) = json(response).await;
    assert_eq!(status, 202, "{body}");
    let id = body["image"]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["status_url"], format!("/api/v1/images/{id}"));
    assert_eq!(body["image"]["status"], "pending");

    let done = app.wait_for(&token, &id, "done").await;
    let result = &done["result"];
    assert_eq!(result["provider"], "embedded");
    assert!(!result["concise"]["text"].as_str().unwrap().is_empty());
    assert!(result["creative"]["confidence"].as_f64().unwrap() <= 0.0);
    assert!(result["model"].as_str().is_some());
    assert!(result["latency_ms"].as_u64().is_some());

    let (status, page) = app.get_json(&token, "/api/v1/images").await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], id.as_str());
    assert!(page["next_cursor"].is_null());

    // Signed URLs serve the stored original and the thumbnail.
    let original = app
        .client
        .get(done["image_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(original.status(), 200);
    assert_eq!(original.headers()["content-type"], "image/jpeg");
    let original = original.bytes().await.unwrap();
    assert_eq!(original.len() as u64, done["size_bytes"].as_u64().unwrap());
    let thumbnail = app
        .client
        .get(done["thumbnail_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(thumbnail.status(), 200);
    let thumbnail = image::load_from_memory(&thumbnail.bytes().await.unwrap()).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (300, 200));

    // A tampered signature, a tampered expiry, a missing signature: 403.
    let url = done["image_url"].as_str().unwrap().to_owned();
    let (path, query) = url.split_once('?').unwrap();
    let expires: i64 = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("expires="))
        .unwrap()
        .parse()
        .unwrap();
    let sig = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("sig="))
        .unwrap();
    let mut bad_sig = sig.to_owned();
    bad_sig.replace_range(0..1, if sig.starts_with('A') { "B" } else { "A" });
    for bad in [
        format!("{path}?expires={expires}&sig={bad_sig}"),
        format!("{path}?expires={}&sig={sig}", expires + 3600),
        path.to_owned(),
        url.replace("/originals/", "/thumbnails/"),
    ] {
        let response = app.client.get(&bad).send().await.unwrap();
        assert_eq!(response.status(), 403, "{bad}");
    }
    // A correctly signed but expired URL: 403 too.
    let key = std::fs::read(app.data_dir.join("secrets/signing-key")).unwrap();
    let blob_key = path.split_once("/blobs/").unwrap().1;
    let past = chrono::Utc::now().timestamp() - 10;
    let signer = Signer::derive(&key, "blob-url");
    let expired_sig = signer.sign(&[blob_key.as_bytes(), &past.to_be_bytes()]);
    let response = app
        .client
        .get(format!("{path}?expires={past}&sig={expired_sig}"))
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (403, Some("forbidden"))
    );
    assert!(body["error"].as_str().unwrap().contains("expired"));

    // Delete → gone everywhere.
    let response = app
        .client
        .delete(app.url(&format!("/api/v1/images/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, body) = app.get_json(&token, &format!("/api/v1/images/{id}")).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (404, Some("not_found"))
    );
    assert!(app.blob_files().is_empty());
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs"), 0);
    let response = app.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 404, "the signed URL of a deleted image");
}

#[tokio::test]
async fn retention_sweep_removes_expired_images() {
    let mut config = crate::harness::without_captions(test_config());
    config.retention.sweep_interval_secs = 1;
    let app = TestApp::spawn(config).await;
    let token = app.token("alice", false).await;
    let (status, body) = json(
        app.upload(&token, crate::harness::png(1, 64, 64), "image/png")
            .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (status, keep) = json(
        app.upload(&token, crate::harness::png(2, 64, 64), "image/png")
            .await,
    )
    .await;
    assert_eq!(status, 202);
    let expires_at = app.count("SELECT MIN(expires_at) FROM images");
    let days = (expires_at - chrono::Utc::now().timestamp()) as f64 / 86_400.0;
    assert!(
        (89.9..=90.0).contains(&days),
        "default retention is 90 days, got {days}"
    );
    app.db()
        .execute(
            "UPDATE images SET expires_at = 1 WHERE image_id = ?1",
            [body["image"]["id"].as_str().unwrap()],
        )
        .unwrap();
    // The sweep removes the record first (a record never points at a missing blob), then
    // its blobs: wait for both.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.count("SELECT COUNT(*) FROM images") != 1 || app.blob_files().len() != 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let id = keep["image"]["id"].as_str().unwrap();
    let files = app.blob_files();
    assert!(files.iter().all(|f| f.to_string_lossy().contains(id)));
}

/// Sets a file's modification time `age` in the past.
fn age_file(path: &std::path::Path, age: std::time::Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - age)
        .unwrap();
}

#[tokio::test]
async fn orphan_sweep_removes_old_blobs_without_a_record_only() {
    let mut config = crate::harness::without_captions(test_config());
    config.blobs.orphan_grace_secs = 3600;
    config.blobs.orphan_sweep_interval_secs = 1;
    let app = TestApp::spawn(config).await;
    let token = app.token("alice", false).await;
    let (status, body) = json(
        app.upload(&token, crate::harness::png(1, 64, 64), "image/png")
            .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let kept = body["image"]["id"].as_str().unwrap().to_owned();
    let two_hours = std::time::Duration::from_secs(7200);
    for file in app.blob_files() {
        age_file(&file, two_hours);
    }
    // What a crash between the blobs and the record leaves: an old original and thumbnail
    // with no record; and the blobs of an upload still in progress (written just now).
    let blobs = app.data_dir.join("blobs");
    let orphan = imgcap_webapp::core::domain::ImageId::generate();
    let in_progress = imgcap_webapp::core::domain::ImageId::generate();
    for (dir, name) in [
        ("originals/alice", orphan.to_string()),
        ("thumbnails/alice", format!("{orphan}.jpg")),
        ("originals/bob", in_progress.to_string()),
    ] {
        std::fs::create_dir_all(blobs.join(dir)).unwrap();
        std::fs::write(blobs.join(dir).join(&name), b"bytes").unwrap();
        if !name.starts_with(&in_progress.to_string()) {
            age_file(&blobs.join(dir).join(&name), two_hours);
        }
    }
    assert_eq!(app.blob_files().len(), 5);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.blob_files().len() != 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep never removed the orphans: {:?}",
            app.blob_files()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let files = app.blob_files();
    assert!(
        files
            .iter()
            .all(|f| !f.to_string_lossy().contains(&orphan.to_string())),
        "{files:?}"
    );
    assert!(files
        .iter()
        .any(|f| f.to_string_lossy().contains(&in_progress.to_string())));
    assert_eq!(
        files
            .iter()
            .filter(|f| f.to_string_lossy().contains(&kept))
            .count(),
        2,
        "the blobs of a record stay, however old: {files:?}"
    );
    let (_, image) = app
        .get_json(&token, &format!("/api/v1/images/{kept}"))
        .await;
    let served = app
        .client
        .get(image["thumbnail_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200, "the kept image still serves");
}
