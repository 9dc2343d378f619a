//! Bulk upload: several files chosen at once, each uploaded as its own request with its own
//! status line; a refused file stops no other, and a spent upload limit is said per file.

use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::Value;

use super::{
    assert_accessible, click, sign_in, test_file, text_of, type_into, Browser, Steps, PASSWORD,
};
use crate::harness::{scrape_metrics, test_config, test_data, without_captions, TestApp};

/// Each line of the upload list as `[file name line, state, status line]`, once none is
/// waiting or uploading any more.
async fn settled_list(browser: &Client) -> Vec<[String; 3]> {
    for _ in 0..300 {
        let items: Value = browser
            .execute(
                r##"return Array.from(document.querySelectorAll("#upload-list li")).map((li) => [
                  li.querySelector(".upload-name").textContent,
                  li.dataset.state,
                  li.querySelector(".upload-status").textContent,
                ]);"##,
                vec![],
            )
            .await
            .unwrap();
        let items: Vec<[String; 3]> = serde_json::from_value(items).unwrap();
        if items
            .iter()
            .all(|[_, state, _]| state == "done" || state == "error")
        {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the uploads did not finish in 30 s");
}

async fn choose_and_upload(browser: &Client, paths: &[String]) -> Vec<[String; 3]> {
    type_into(browser, "file", &paths.join("\n")).await;
    click(browser, "#upload-button").await;
    settled_list(browser).await
}

fn line(name: &str, state: &str, status: &str) -> [String; 3] {
    [name.into(), state.into(), status.into()]
}

#[tokio::test]
async fn a_bulk_upload_reports_each_file_and_the_spent_upload_limit_in_chromium() {
    let Some(session) = Browser::start("a_bulk_upload_reports_each_file").await else {
        return;
    };
    let browser = &session.client;
    let mut config = test_config();
    // Two uploads an hour: the photo and the file that is not an image spend them.
    config.rate_limit.uploads_per_hour = 2;
    let app = TestApp::spawn(config).await;
    app.account("mia", PASSWORD, false).await;
    // Someone else's image, which must never show up in mia's history.
    let other = app.token("otto", false).await;
    assert_eq!(
        app.upload(&other, test_data("chelsea.png"), "image/png")
            .await
            .status(),
        202
    );
    let mut steps = Steps::new("e2e-bulk");
    sign_in(browser, &app, "mia").await;

    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge-photo.jpg");
    let mut bytes = vec![0u8; 10 * 1024 * 1024 + 1];
    bytes[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
    std::fs::write(&huge, bytes).unwrap();
    // Named .png, so the browser calls it image/png: only the server can tell it is not one.
    let notes = dir.path().join("notes.png");
    std::fs::write(&notes, "shopping list: milk, bread").unwrap();
    let files = [
        test_file("rocket.jpg"),
        huge.to_str().unwrap().to_owned(),
        notes.to_str().unwrap().to_owned(),
    ];
    let list = choose_and_upload(browser, &files).await;
    assert_eq!(
        list,
        [
            line(
                "rocket.jpg · 0.1 MB",
                "done",
                "Uploaded — its captions appear below"
            ),
            line(
                "huge-photo.jpg · 10.0 MB",
                "error",
                "Image too large — the limit is 10 MB"
            ),
            line(
                "notes.png · 0.0 MB",
                "error",
                "That file is not a JPEG or PNG"
            ),
        ]
    );
    // The oversize file was refused in the page; the other two reached the server (otto's
    // upload is the other accepted one).
    let metrics = scrape_metrics(&app).await;
    for (outcome, count) in [
        ("accepted", 2.0),
        ("unsupported_type", 1.0),
        ("too_large", 0.0),
    ] {
        let series = format!("imgcap_web_uploads_total{{outcome=\"{outcome}\"}} ");
        let found = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .map_or(0.0, |n| n.parse::<f64>().unwrap());
        assert_eq!(found, count, "uploads with outcome {outcome}");
    }
    steps.shot(browser, "results").await;
    assert_accessible(browser, "upload (results)").await;

    // Straight to the history: the photo's tile fills in its caption as it is written (it
    // polls while pending), and nothing of otto's is there.
    browser.goto(&app.url("/history")).await.unwrap();
    let mut caption = String::new();
    for _ in 0..300 {
        caption = text_of(browser, "#history-grid .tile-caption").await;
        if caption != "Captioning…" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tiles = browser
        .find_all(Locator::Css("#history-grid .tile img"))
        .await
        .unwrap();
    assert_eq!(tiles.len(), 1);
    let alt = tiles[0].attr("alt").await.unwrap().unwrap();
    assert_eq!(alt, caption, "the tile's alt text is its concise caption");
    assert!(!caption.is_empty() && caption != "Captioning…" && caption != "Not captioned");
    click(browser, "#history-grid .tile a").await;
    assert_eq!(text_of(browser, "main [id^=concise-]").await, caption);

    // The limit is spent: each file says so, and none is stored.
    browser.goto(&app.url("/upload")).await.unwrap();
    let list = choose_and_upload(
        browser,
        &[test_file("coffee.png"), test_file("astronaut.png")],
    )
    .await;
    assert_eq!(list.len(), 2);
    for [name, state, status] in &list {
        assert_eq!(state, "error", "{name}");
        assert!(
            status.starts_with("You have reached the upload limit for now — try again in "),
            "{name}: {status}"
        );
    }
    steps.shot(browser, "limit-spent").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 2);
    browser.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_pending_history_tile_keeps_asking_for_its_captions_in_chromium() {
    let Some(session) = Browser::start("a_pending_history_tile_keeps_asking").await else {
        return;
    };
    let browser = &session.client;
    // No captioner answers: the image stays pending.
    let app = TestApp::spawn(without_captions(test_config())).await;
    app.account("mia", PASSWORD, false).await;
    sign_in(browser, &app, "mia").await;
    let list = choose_and_upload(browser, &[test_file("rocket.jpg")]).await;
    assert_eq!(list[0][1], "done", "{list:?}");
    browser.goto(&app.url("/history")).await.unwrap();
    assert_eq!(
        text_of(browser, "#history-grid .tile-caption").await,
        "Captioning…"
    );
    let tile_requests = || async {
        let series = "imgcap_web_http_requests_total{method=\"GET\",route=\"/images/{id}/tile\",status=\"200\"} ";
        scrape_metrics(&app)
            .await
            .lines()
            .find_map(|l| l.strip_prefix(series))
            .map_or(0.0, |n| n.parse::<f64>().unwrap())
    };
    let before = tile_requests().await;
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert!(
        tile_requests().await >= before + 2.0,
        "the pending tile asks again every 2 s"
    );
    assert_accessible(browser, "history (pending)").await;
    browser.clone().close().await.unwrap();
}
