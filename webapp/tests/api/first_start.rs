//! A first start without a model directory: the embedded model comes from the Hugging Face hub
//! in the background while the app serves. A fake hub on loopback serves the tiny checkpoint's
//! real files the way the hub does (hf-hub 0.4 asks `GET {endpoint}/{repo}/resolve/{revision}/
//! {file}` with a `Range` header, and reads `ETag`, `X-Repo-Commit` and `Content-Range`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::harness::{json, png, test_config, TestApp, TINY_BLIP};

const REPO: &str = "org/tiny-blip";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const WEIGHTS: &str = "model.safetensors";

/// How the fake hub answers.
#[derive(Clone)]
enum Hub {
    /// Serves the files; the weights' download stops halfway until the gate has a permit.
    Gated(Arc<Semaphore>),
    /// Answers every request with this status (404: no such model; 401: gated).
    Status(u16),
}

/// Starts the fake hub; returns its endpoint.
async fn fake_hub(hub: Hub) -> String {
    let files: Arc<HashMap<String, Vec<u8>>> = Arc::new(
        [
            "config.json",
            "tokenizer.json",
            "preprocessor_config.json",
            WEIGHTS,
        ]
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(Path::new(TINY_BLIP).join(name)).unwrap();
            (format!("/{REPO}/resolve/main/{name}"), bytes)
        })
        .collect(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, files.clone(), hub.clone()));
        }
    });
    endpoint
}

/// One request (hf-hub sends one per connection it does not reuse; `Connection: close`).
async fn answer(mut stream: TcpStream, files: Arc<HashMap<String, Vec<u8>>>, hub: Hub) {
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
    let range = head.lines().find_map(|line| {
        line.to_ascii_lowercase()
            .strip_prefix("range: bytes=")
            .map(str::to_owned)
    });
    let gate = match (&hub, files.get(&path)) {
        (Hub::Status(status), _) => {
            let body = r#"{"error":"Repository not found"}"#;
            let response = format!(
                "HTTP/1.1 {status} Error\r\nContent-Length: {}\r\nConnection: close\r\n\
                 X-Error-Code: RepoNotFound\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            return;
        }
        (Hub::Gated(_), None) => {
            let response =
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            let _ = stream.write_all(response.as_bytes()).await;
            return;
        }
        (Hub::Gated(gate), Some(_)) => gate.clone(),
    };
    let bytes = &files[&path];
    let len = bytes.len();
    let (start, end) = range
        .as_deref()
        .and_then(|r| r.trim().split_once('-'))
        .map(|(a, b)| (a.parse().unwrap_or(0), b.parse().unwrap_or(len - 1)))
        .unwrap_or((0, len - 1));
    let end = end.min(len - 1);
    let body = &bytes[start..=end];
    // The file name stands in for the content hash the hub sends as the etag.
    let etag = path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .replace('.', "-");
    let response = format!(
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nConnection: close\r\n\
         Content-Range: bytes {start}-{end}/{len}\r\nETag: \"{etag}\"\r\n\
         X-Repo-Commit: {COMMIT}\r\n\r\n",
        body.len()
    );
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    if path.ends_with(WEIGHTS) && body.len() > 1 {
        // Half the weights, then wait for the test.
        let half = body.len() / 2;
        let _ = stream.write_all(&body[..half]).await;
        let _ = stream.flush().await;
        let _permit = gate.acquire().await.unwrap();
        let _ = stream.write_all(&body[half..]).await;
    } else {
        let _ = stream.write_all(body).await;
    }
    let _ = stream.shutdown().await;
}

/// The tiny model fetched from `endpoint` into a fresh cache.
fn hub_config(endpoint: String, cache: &Path) -> imgcap_webapp::Config {
    let mut config = test_config();
    config.captioner.embedded.model_dir = None;
    config.captioner.embedded.model_id = REPO.into();
    config.captioner.embedded.hub_endpoint = Some(endpoint);
    config.captioner.embedded.hub_cache_dir = Some(cache.to_path_buf());
    config
}

/// Polls `/readyz` until the embedded captioner's state passes `check`; returns the status and
/// the body.
async fn readyz_until(app: &TestApp, check: impl Fn(&Value) -> bool) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
        if check(&body["captioners"][0]) {
            return (status, body);
        }
        assert!(Instant::now() < deadline, "/readyz never got there: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_app_serves_while_the_model_downloads_and_captions_the_uploads_made_meanwhile() {
    let gate = Arc::new(Semaphore::new(0));
    let endpoint = fake_hub(Hub::Gated(gate.clone())).await;
    let cache = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_loading(hub_config(endpoint, cache.path())).await;

    // Half the weights are in: loading, with the percent of what is known. (Between the small
    // files and the weights, what is known is all fetched: 100 %, not yet the state sought.)
    let (status, ready) = readyz_until(&app, |c| {
        c["state"] == "loading" && c["percent"].as_f64().is_some_and(|p| p > 40.0 && p < 100.0)
    })
    .await;
    assert_eq!(status, 503, "nothing can caption yet: {ready}");
    assert_eq!(ready["captioner"], false);
    assert_eq!(ready["database"], true);
    let embedded = &ready["captioners"][0];
    assert_eq!(embedded["name"], "embedded");
    assert_eq!(embedded["phase"], "downloading");
    let percent = embedded["percent"].as_f64().unwrap();
    assert!(percent < 100.0, "{ready}");

    // The pages say so, without JavaScript.
    let browser = app.browser();
    assert_eq!(
        browser
            .sign_up("nina", "a long enough password")
            .await
            .status(),
        303
    );
    let (status, page) = browser.page("/upload").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("The captioning model is loading —")
            && page.contains("uploads are kept and captioned when it is ready"),
        "{page}"
    );

    // An upload meanwhile is accepted and waits.
    let token = app.token("nina", false).await;
    let (status, body) = json(app.upload(&token, png(7, 64, 64), "image/png").await).await;
    assert_eq!(status, 202, "{body}");
    let id = body["image"]["id"].as_str().unwrap().to_owned();
    let (_, image) = app.get_json(&token, &format!("/api/v1/images/{id}")).await;
    assert_eq!(image["status"], "pending", "{image}");

    // The rest of the weights: the model loads and the upload is captioned.
    gate.add_permits(1);
    let done = app.wait_for(&token, &id, "done").await;
    assert_eq!(done["result"]["provider"], "embedded");
    // The model and the revision of the weights it downloaded.
    let model = done["result"]["model"].as_str().unwrap();
    assert!(model.starts_with(&format!("{REPO}@")), "{model}");
    let (status, ready) = readyz_until(&app, |c| c["state"] == "ready").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["jobs_waiting_for_captioner"], 0);
    let (_, page) = browser.page("/upload").await;
    assert!(!page.contains("captioning-notice"), "no banner once ready");
    assert!(cache
        .path()
        .join("models--org--tiny-blip/snapshots")
        .join(COMMIT)
        .join(WEIGHTS)
        .is_file());
}

/// The hub refusing the model: `/readyz` and the admin page say why and what to set; the app
/// keeps serving and keeps the uploads.
async fn a_refused_download(status: u16, expected: &[&str]) {
    let endpoint = fake_hub(Hub::Status(status)).await;
    let cache = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_loading(hub_config(endpoint.clone(), cache.path())).await;

    let (code, ready) = readyz_until(&app, |c| c["state"] == "failed").await;
    assert_eq!(code, 503, "{ready}");
    let message = ready["captioners"][0]["message"].as_str().unwrap();
    let hub_url = format!("{endpoint}/{REPO}");
    for part in [REPO, &hub_url, "IMGCAP_CAPTIONER_EMBEDDED_MODEL_DIR"]
        .iter()
        .chain(expected)
    {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
    assert!(
        !message.contains("trying again"),
        "refusals are not retried: {message}"
    );

    // Uploads are kept, pending; history and the pages work; the banner says it failed.
    let token = app.token("omar", false).await;
    let (code, body) = json(app.upload(&token, png(8, 64, 64), "image/png").await).await;
    assert_eq!(code, 202, "{body}");
    let id = body["image"]["id"].as_str().unwrap().to_owned();
    let (code, history) = app.get_json(&token, "/api/v1/images").await;
    assert_eq!(code, 200);
    assert_eq!(history["items"][0]["id"], id.as_str(), "{history}");
    assert_eq!(history["items"][0]["status"], "pending");

    app.account("root", "a long enough password", true).await;
    let browser = app.browser();
    assert_eq!(
        browser
            .sign_in("root", "a long enough password")
            .await
            .status(),
        303
    );
    let (code, page) = browser.page("/history").await;
    assert_eq!(code, 200);
    assert!(
        page.contains("The captioning model could not be loaded"),
        "{page}"
    );
    let (code, admin) = browser.page("/admin").await;
    assert_eq!(code, 200);
    assert!(admin.contains("failed") && admin.contains(REPO), "{admin}");
}

#[tokio::test]
async fn an_unknown_model_is_a_clear_failure_and_the_app_keeps_serving() {
    a_refused_download(404, &["404", "check the model id"]).await;
}

#[tokio::test]
async fn a_gated_model_without_a_token_names_hf_token() {
    a_refused_download(401, &["401", "HF_TOKEN"]).await;
}
