//! Hardening (`docs/security.md`, "Hardening"): a private data directory, personal answers
//! not cached, expired sessions found by index.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use imgcap_webapp::adapters::embedded::sessions::REMOVE_EXPIRED_SESSIONS;

use crate::harness::{png, test_config, without_captions, TestApp};

const PASSWORD: &str = "a long enough password";

/// Every directory and file under `root`, `root` included.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    if root.is_dir() {
        for entry in std::fs::read_dir(root).unwrap() {
            out.extend(tree(&entry.unwrap().path()));
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Paths whose mode is not private (`0700` directories, `0600` files).
fn not_private(root: &Path) -> Vec<String> {
    tree(root)
        .into_iter()
        .filter(|p| mode(p) != if p.is_dir() { 0o700 } else { 0o600 })
        .map(|p| format!("{} {:o}", p.display(), mode(&p)))
        .collect()
}

#[tokio::test]
async fn the_data_directory_is_private_also_in_existing_installs() {
    let config = without_captions(test_config());
    let app = TestApp::spawn(config.clone()).await;
    let token = app.token("alice", false).await;
    let response = app.upload(&token, png(1, 64, 64), "image/png").await;
    assert_eq!(response.status(), 202);
    let files = tree(&app.data_dir);
    for wanted in ["imgcap.sqlite3", "signing-key"] {
        assert!(
            files.iter().any(|p| p.ends_with(wanted)),
            "{wanted} missing: {files:?}"
        );
    }
    assert!(!app.blob_files().is_empty());
    assert_eq!(not_private(&app.data_dir), Vec::<String>::new());

    // What an earlier version left: directories 0755, files 0644.
    for path in tree(&app.data_dir) {
        let loose = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).unwrap();
    }
    let app = app.restart(config).await;
    assert_eq!(
        not_private(&app.data_dir),
        Vec::<String>::new(),
        "tightened on start"
    );
    let response = app.upload(&token, png(2, 64, 64), "image/png").await;
    assert_eq!(response.status(), 202, "still usable");
    assert_eq!(not_private(&app.data_dir), Vec::<String>::new());
}

/// Signed-in pages (the one showing a new API token too) and authenticated API answers are not
/// stored by any cache; static assets stay cacheable.
#[tokio::test]
async fn personal_answers_are_not_cached() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let browser = app.browser();
    browser.sign_up("dave", PASSWORD).await;
    let cache_control = |response: &reqwest::Response| {
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    for path in ["/history", "/account", "/upload", "/export.json"] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            cache_control(&response).as_deref(),
            Some("no-store"),
            "{path}"
        );
    }
    let response = browser.submit("/account", "/account/tokens", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(cache_control(&response).as_deref(), Some("no-store"));
    let html = response.text().await.unwrap();
    assert!(html.contains("imgcap_"), "the new token is shown: {html}");

    let token = app.token("alice", false).await;
    for path in [
        "/api/v1/images",
        "/api/v1/images/01JDQ3Z6W8R4T0Y5V7X9A2B3C4",
    ] {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            cache_control(&response).as_deref(),
            Some("no-store"),
            "{path}"
        );
    }
    let response = app
        .client
        .get(app.url("/static/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        cache_control(&response).as_deref(),
        Some("public, max-age=3600")
    );
}

/// Each sign-in removes the expired sessions; the statement finds them through indexes rather
/// than reading every session (a scan per sign-in grows with the table).
#[tokio::test]
async fn sign_in_finds_expired_sessions_by_index() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let browser = app.browser();
    let response = browser.sign_up("dave", PASSWORD).await;
    assert_eq!(response.status(), 303);
    let db = app.db();
    let mut plan = db
        .prepare(&format!("EXPLAIN QUERY PLAN {REMOVE_EXPIRED_SESSIONS}"))
        .unwrap();
    let steps: Vec<String> = plan
        .query_map(rusqlite::params![0, 0], |row| row.get(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        !steps.iter().any(|step| step.starts_with("SCAN")),
        "{steps:?}"
    );
    assert!(
        steps.iter().any(|step| step.contains("USING INDEX")),
        "{steps:?}"
    );
}

/// With `api_tokens.lifetime_days`, tokens are made with an expiry the Account page shows, and
/// an expired one is refused with 401 saying so.
#[tokio::test]
async fn api_tokens_expire_when_a_lifetime_is_set() {
    let mut config = without_captions(test_config());
    config.api_tokens.lifetime_days = 30;
    let app = TestApp::spawn(config).await;
    let browser = app.browser();
    browser.sign_up("dave", PASSWORD).await;
    let response = browser.submit("/account", "/account/tokens", &[]).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    let marker = "<code id=\"new-token\" class=\"token\">";
    let start = html.find(marker).unwrap() + marker.len();
    let token = html[start..].split('<').next().unwrap().to_owned();
    let in_30_days = chrono::Utc::now() + chrono::Duration::days(30);
    let expiry = in_30_days.format("%Y-%m-%d").to_string();
    assert!(html.contains("<th scope=\"col\">Expires</th>"), "{html}");
    assert!(
        html.contains(&format!("<time datetime=\"{expiry}")),
        "{expiry}: {html}"
    );
    let (status, _) = app.get_json(&token, "/api/v1/images").await;
    assert_eq!(status, 200);

    app.db()
        .execute("UPDATE api_tokens SET expires_ms = 1", [])
        .unwrap();
    let (status, body) = app.get_json(&token, "/api/v1/images").await;
    assert_eq!(status, 401);
    assert_eq!(body["error_type"], "token_expired");
    assert!(
        body["error"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    // An unknown token is still just unauthorized.
    let (status, body) = app
        .get_json(&format!("imgcap_{}", "A".repeat(43)), "/api/v1/images")
        .await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (401, Some("unauthorized"))
    );
}
