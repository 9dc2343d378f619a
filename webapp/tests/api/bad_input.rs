//! Every bad upload gets its status and error type, and nothing is stored.

use crate::harness::{json, png, test_config, test_data, without_captions, TestApp};

/// A PNG header claiming 20000×20000 pixels, with a tiny (invalid) data chunk.
fn png_bomb() -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend(20000u32.to_be_bytes());
    ihdr.extend(20000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend(kind);
        c.extend(data);
        let mut crc_input = kind.to_vec();
        crc_input.extend(data);
        c.extend(imgcap_imaging::hostile::crc32(&crc_input).to_be_bytes());
        c
    };
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &ihdr));
    out.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    out.extend(chunk(b"IEND", &[]));
    out
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing_behind() {
    let mut config = without_captions(test_config());
    config.upload.max_bytes = 200_000;
    let app = TestApp::spawn(config).await;
    let token = app.token("mallory", false).await;
    let rocket = test_data("rocket.jpg");

    let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;".to_vec();
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        (
            "oversize",
            test_data("astronaut.png"),
            "image/png",
            413,
            "payload_too_large",
        ),
        (
            "gif as jpeg",
            gif,
            "image/jpeg",
            415,
            "unsupported_media_type",
        ),
        (
            "text as jpeg",
            b"hello, I am a JPEG".to_vec(),
            "image/jpeg",
            415,
            "unsupported_media_type",
        ),
        (
            "json body",
            b"{}".to_vec(),
            "application/json",
            415,
            "unsupported_media_type",
        ),
        (
            "truncated jpeg",
            rocket[..rocket.len() / 2].to_vec(),
            "image/jpeg",
            422,
            "invalid_image",
        ),
        (
            "header bomb",
            png_bomb(),
            "image/png",
            422,
            "image_too_large",
        ),
        (
            "tiny image",
            png(1, 4, 4),
            "image/png",
            422,
            "image_too_small",
        ),
        ("empty body", Vec::new(), "image/jpeg", 400, "empty_body"),
    ];
    for (name, bytes, content_type, status, kind) in cases {
        let (got, body) = json(app.upload(&token, bytes, content_type).await).await;
        assert_eq!(
            (got, body["error_type"].as_str()),
            (status, Some(kind)),
            "{name}: {body}"
        );
        assert!(!body["error"].as_str().unwrap().is_empty(), "{name}");
    }

    let (status, body) = json(app.upload_multipart(&token, "image", &rocket).await).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (400, Some("missing_file_field"))
    );
    let big = vec![0xFFu8; 300_000];
    let (status, body) = json(app.upload_multipart(&token, "file", &big).await).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (413, Some("payload_too_large"))
    );

    let response = app
        .client
        .post(app.url("/api/v1/images"))
        .header("content-type", "image/jpeg")
        .body(rocket.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");

    assert!(app.blob_files().is_empty(), "{:?}", app.blob_files());
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs"), 0);

    // The multipart path stores like the raw one.
    let (status, body) = json(app.upload_multipart(&token, "file", &rocket).await).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(app.blob_files().len(), 2);
}

#[tokio::test]
async fn a_failed_store_removes_what_was_written() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let token = app.token("bob", false).await;

    // The thumbnail cannot be written: a file sits where bob's thumbnail directory goes.
    let thumbnails = app.data_dir.join("blobs/thumbnails");
    std::fs::create_dir_all(&thumbnails).unwrap();
    std::fs::write(thumbnails.join("bob"), b"in the way").unwrap();
    let (status, body) = json(app.upload(&token, png(7, 64, 64), "image/png").await).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (500, Some("internal"))
    );
    assert!(
        !body["error"].as_str().unwrap().contains("bob"),
        "no cause leaks: {body}"
    );
    std::fs::remove_file(thumbnails.join("bob")).unwrap();
    assert!(app.blob_files().is_empty(), "{:?}", app.blob_files());
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 0);

    // The job cannot be queued: the record and both blobs are removed again.
    app.db().execute_batch("DROP TABLE jobs").unwrap();
    let (status, _) = json(app.upload(&token, png(8, 64, 64), "image/png").await).await;
    assert_eq!(status, 500);
    assert!(app.blob_files().is_empty(), "{:?}", app.blob_files());
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 0);
}

#[tokio::test]
async fn a_chunked_body_is_cut_off_at_the_limit_while_it_streams() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut config = without_captions(test_config());
    config.upload.max_bytes = 100_000;
    let app = TestApp::spawn(config).await;
    let token = app.token("mallory", false).await;
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /api/v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // No length announced: 20 chunks of 10 kB, well past the limit; the server answers once
    // it has read a little more than 100 kB, and may close before the rest is sent.
    let chunk = vec![0x89u8; 10_000];
    for _ in 0..20 {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if stream.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"));
    assert!(app.blob_files().is_empty());
}

/// Uploads that decode to far more than they weigh share the image memory budget: a burst
/// beyond it is answered 503 with `Retry-After` and a sentence for people, never a crash or
/// another 5xx; an image needing more than the whole budget is 422; the app serves normal
/// uploads afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn amplifying_uploads_share_the_memory_budget() {
    use imgcap_imaging::hostile;
    let mut config = without_captions(test_config());
    config.upload.image_memory_budget_mb = 64;
    config.upload.image_memory_wait_ms = 0;
    let app = TestApp::spawn(config).await;
    let token = app.token("mallory", false).await;

    // 2000×2000 16-bit RGBA: about 30 KB that decode to 32 MB (about 52 MB with the RGB8
    // copy and the working set), so the budget holds one at a time.
    let burst = (0..8).map(|seed| {
        let request = app
            .client
            .post(app.url("/api/v1/images"))
            .bearer_auth(&token)
            .header("content-type", "image/png")
            .body(hostile::png_rgba16(2000, 2000, seed));
        tokio::spawn(async move {
            let response = request.send().await.unwrap();
            let retry_after = response.headers().get("retry-after").cloned();
            let (status, body) = json(response).await;
            (status, retry_after, body)
        })
    });
    let mut statuses = Vec::new();
    for answer in burst.collect::<Vec<_>>() {
        let (status, retry_after, body) = answer.await.unwrap();
        match status {
            202 => {}
            503 => {
                assert_eq!(body["error_type"], "server_busy", "{body}");
                assert_eq!(
                    body["error"],
                    "The server is busy processing other images; please try again in a few \
                     seconds."
                );
                assert_eq!(retry_after.unwrap(), "1");
            }
            _ => panic!("unexpected answer {status}: {body}"),
        }
        statuses.push(status);
    }
    assert!(
        statuses.contains(&202) && statuses.contains(&503),
        "{statuses:?}"
    );

    let huge = hostile::png_rgba16(3000, 3000, 99);
    let (status, body) = json(app.upload(&token, huge, "image/png").await).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (422, Some("image_too_large"))
    );
    assert!(
        body["error"].as_str().unwrap().contains("at most 64 MiB"),
        "{body}"
    );

    let (status, body) = json(
        app.upload(&token, test_data("rocket.jpg"), "image/jpeg")
            .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let stored = app.count("SELECT COUNT(*) FROM images");
    assert_eq!(
        stored as usize,
        statuses.iter().filter(|&&s| s == 202).count() + 1
    );
}
