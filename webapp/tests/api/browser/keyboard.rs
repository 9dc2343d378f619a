//! The pages by keyboard alone: sign in, upload a photo and open its card with Tab, Enter and
//! Space, the focus visible at every stop. Choosing the file is the one step WebDriver cannot
//! do through the operating system's file dialog: it types the path into the focused input.

use fantoccini::key::Key;

use super::{
    press, tab_to, test_file, text_of, type_keys, wait_for_upload_page, Browser, PASSWORD,
};
use crate::harness::{test_config, TestApp};

#[tokio::test]
async fn a_person_signs_in_uploads_and_opens_a_card_by_keyboard_alone_in_chromium() {
    let Some(session) =
        Browser::start("a_person_signs_in_uploads_and_opens_a_card_by_keyboard").await
    else {
        return;
    };
    let browser = &session.client;
    let app = TestApp::spawn(test_config()).await;
    app.account("kim", PASSWORD, false).await;

    browser.goto(&app.url("/sign-in")).await.unwrap();
    tab_to(browser, "#user_name").await;
    type_keys(browser, "kim").await;
    tab_to(browser, "#password").await;
    type_keys(browser, PASSWORD).await;
    tab_to(browser, "main button[type=submit]").await;
    press(browser, Key::Enter).await;
    wait_for_upload_page(browser).await;

    tab_to(browser, "#file").await;
    browser
        .active_element()
        .await
        .unwrap()
        .send_keys(&test_file("rocket.jpg"))
        .await
        .unwrap();
    tab_to(browser, "#upload-button").await;
    press(browser, Key::Space).await;
    let concise = text_of(browser, "#upload-result [id^=concise-]").await;

    tab_to(browser, "#upload-result .card a.button").await;
    press(browser, Key::Enter).await;
    assert_eq!(text_of(browser, "main [id^=concise-]").await, concise);
    let url = browser.current_url().await.unwrap();
    assert!(url.path().starts_with("/images/"), "{url}");
    browser.clone().close().await.unwrap();
}
