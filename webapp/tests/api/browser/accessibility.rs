//! Every page passes axe-core's WCAG 2.0/2.1 A and AA rules with zero violations, signed out
//! and signed in as an administrator, with and without images.

use super::{
    assert_accessible, click, sign_in, text_of, type_into, upload_photo, Browser, PASSWORD,
};
use crate::harness::{test_config, TestApp};

#[tokio::test]
async fn every_page_passes_an_axe_wcag_2_1_aa_audit_in_chromium() {
    let Some(session) = Browser::start("every_page_passes_an_axe_wcag_2_1_aa_audit").await else {
        return;
    };
    let browser = &session.client;
    let app = TestApp::spawn(test_config()).await;
    app.account("ada", PASSWORD, true).await;

    for (path, page) in [
        ("/sign-in", "sign-in"),
        ("/sign-up", "sign-up"),
        ("/privacy", "privacy"),
        ("/no-such-page", "404 error"),
    ] {
        browser.goto(&app.url(path)).await.unwrap();
        text_of(browser, "h1").await;
        assert_accessible(browser, page).await;
    }

    // A failed sign-in shows its message in the form.
    browser.goto(&app.url("/sign-in")).await.unwrap();
    for (field, value) in [("user_name", "ada"), ("password", "not the password")] {
        type_into(browser, field, value).await;
    }
    click(browser, "main button[type=submit]").await;
    text_of(browser, "#form-error").await;
    assert_accessible(browser, "sign-in (failed)").await;

    sign_in(browser, &app, "ada").await;
    assert_accessible(browser, "upload").await;
    upload_photo(browser, "rocket.jpg").await;
    assert_accessible(browser, "upload (captioned)").await;

    browser.goto(&app.url("/history")).await.unwrap();
    text_of(browser, "#history-grid").await;
    assert_accessible(browser, "history").await;
    click(browser, "#history-grid .tile a").await;
    text_of(browser, ".original").await;
    assert_accessible(browser, "image detail").await;

    for (path, page, ready) in [
        ("/account", "account", "main h1"),
        ("/account/delete-data", "delete my data", "#confirm-delete"),
        ("/admin", "admin", "main h1"),
        (
            "/images/01JDQ3Z6W8R4T0Y5V7X9A2B3C4",
            "404 error (signed in)",
            ".eyebrow",
        ),
    ] {
        browser.goto(&app.url(path)).await.unwrap();
        text_of(browser, ready).await;
        assert_accessible(browser, page).await;
    }

    browser
        .goto(&app.url("/account/delete-data"))
        .await
        .unwrap();
    click(browser, "#confirm-delete").await;
    text_of(browser, ".notice").await;
    assert_accessible(browser, "account (data deleted)").await;
    browser.goto(&app.url("/history")).await.unwrap();
    text_of(browser, "#history-empty").await;
    assert_accessible(browser, "history (empty)").await;
    browser.clone().close().await.unwrap();
}
