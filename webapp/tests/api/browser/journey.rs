//! One person's journey: sign up, upload a real photo, see both captions, find it in the
//! history, open it, delete all my data, see the history empty; a non-admin gets 403 on the
//! admin page; an oversize file gets the friendly message. Each step's screenshot goes to
//! `test-artifacts/e2e/` (input of `scripts/make-demo-gif.py`).

use fantoccini::Locator;
use serde_json::json;

use super::{
    click, text_of, type_into, upload_photo, wait_for_upload_page, Browser, Steps, PASSWORD,
};
use crate::harness::{test_config, TestApp};

#[tokio::test]
async fn a_person_uploads_a_photo_and_deletes_all_their_data_in_chromium() {
    let Some(session) = Browser::start("a_person_uploads_a_photo_and_deletes_all_their_data").await
    else {
        return;
    };
    let browser = &session.client;
    let app = TestApp::spawn(test_config()).await;
    let mut steps = Steps::new("e2e");

    // Sign up.
    browser.goto(&app.url("/sign-up")).await.unwrap();
    type_into(browser, "user_name", "lena").await;
    type_into(browser, "password", PASSWORD).await;
    steps.shot(browser, "sign-up").await;
    click(browser, "main button[type=submit]").await;
    wait_for_upload_page(browser).await;
    assert!(text_of(browser, "h1").await.contains("Caption your photos"));

    // Upload a real photo: its line in the list, then both captions once the job is done.
    let concise = upload_photo(browser, "rocket.jpg").await;
    let creative = text_of(browser, "#upload-result [id^=creative-]").await;
    assert!(!concise.is_empty() && !creative.is_empty());
    assert_eq!(
        text_of(browser, "#upload-list li[data-state=done] .upload-name").await,
        "rocket.jpg · 0.1 MB"
    );
    let card_alt = browser
        .find(Locator::Css("#upload-result .card-thumb img"))
        .await
        .unwrap()
        .attr("alt")
        .await
        .unwrap();
    assert_eq!(card_alt.as_deref(), Some(concise.as_str()));
    browser
        .execute(
            "document.querySelector('#upload-result .card').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    steps.shot(browser, "captions").await;

    // History shows it; its detail has both captions and the original.
    browser.goto(&app.url("/history")).await.unwrap();
    let tile = browser
        .wait()
        .for_element(Locator::Css("#history-grid .tile img"))
        .await
        .unwrap();
    assert_eq!(
        tile.attr("alt").await.unwrap().as_deref(),
        Some(concise.as_str())
    );
    steps.shot(browser, "history").await;
    click(browser, "#history-grid .tile a").await;
    assert_eq!(text_of(browser, "[id^=concise-]").await, concise);
    assert_eq!(text_of(browser, "[id^=creative-]").await, creative);
    let original = browser.find(Locator::Css(".original img")).await.unwrap();
    let loaded = browser
        .execute(
            "return arguments[0].complete && arguments[0].naturalWidth > 0;",
            vec![serde_json::to_value(&original).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(
        loaded,
        json!(true),
        "the original loads through its signed URL"
    );
    steps.shot(browser, "detail").await;

    // Delete all my data, with its confirmation step; the history is empty.
    browser.goto(&app.url("/account")).await.unwrap();
    browser
        .find(Locator::LinkText("Delete all my data…"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("confirm-delete"))
        .await
        .unwrap();
    steps.shot(browser, "confirm-delete").await;
    click(browser, "#confirm-delete").await;
    assert!(text_of(browser, ".notice").await.contains("are deleted"));
    browser.goto(&app.url("/history")).await.unwrap();
    assert!(text_of(browser, "#history-empty")
        .await
        .contains("No images yet"));
    steps.shot(browser, "history-empty").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 0);

    // Not an admin: 403.
    browser.goto(&app.url("/admin")).await.unwrap();
    assert_eq!(
        text_of(browser, ".eyebrow").await.to_lowercase(),
        "error 403"
    );
    assert_eq!(text_of(browser, "h1").await, "Not allowed");
    steps.shot(browser, "admin-forbidden").await;

    // An oversize file is refused in the page, with the friendly message, and never sent.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("huge-photo.jpg");
    let mut bytes = vec![0u8; 10 * 1024 * 1024 + 1];
    bytes[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
    std::fs::write(&big, bytes).unwrap();
    browser.goto(&app.url("/upload")).await.unwrap();
    type_into(browser, "file", big.to_str().unwrap()).await;
    assert_eq!(
        text_of(browser, "#upload-list li[data-state=error] .upload-status").await,
        "Image too large — the limit is 10 MB"
    );
    let button = browser.find(Locator::Id("upload-button")).await.unwrap();
    assert!(!button.is_enabled().await.unwrap(), "nothing to upload");
    steps.shot(browser, "oversize").await;
    browser.clone().close().await.unwrap();
}
