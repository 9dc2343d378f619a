//! Searching one's captions in the browser: the history's search box finds the images whose
//! captions (here the user's own corrections) say the words, marks them, and leaves the others
//! out. The screenshot is the README's (`docs/images/search-results.png`).

use fantoccini::Locator;
use serde_json::json;

use super::{click, sign_in, text_of, type_into, Browser, Steps, PASSWORD};
use crate::harness::{test_config, test_data, TestApp};

#[tokio::test]
async fn the_history_search_marks_the_matching_words_in_chromium() {
    let Some(session) = Browser::start("the_history_search_marks_the_matching_words").await else {
        return;
    };
    let browser = &session.client;
    let app = TestApp::spawn(test_config()).await;
    assert_eq!(app.browser().sign_up("maya", PASSWORD).await.status(), 303);
    let token = app.token("maya", false).await;
    let library = [
        (
            "rocket.jpg",
            "image/jpeg",
            "A rocket on its launch pad at dawn",
            "Steam rises as the rocket waits for the countdown.",
        ),
        (
            "astronaut.png",
            "image/png",
            "An astronaut in a white suit",
            "A portrait of an astronaut who flew on the rocket.",
        ),
        (
            "coffee.png",
            "image/png",
            "A cup of coffee with latte art",
            "Morning light on a cup of coffee.",
        ),
        (
            "chelsea.png",
            "image/png",
            "A tabby cat looking up",
            "A curious cat waits for a treat.",
        ),
    ];
    for (file, content_type, concise, creative) in library {
        let done = app
            .upload_and_wait(&token, test_data(file), content_type, "done")
            .await;
        let response = app
            .client
            .patch(app.url(&format!("/api/v1/images/{}", done["id"].as_str().unwrap())))
            .bearer_auth(&token)
            .json(&json!({"concise": concise, "creative": creative, "reviewed": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // Someone else's rocket never shows.
    let other = app.token("noor", false).await;
    app.upload_and_wait(
        &other,
        test_data("rocket_orient6.jpg"),
        "image/jpeg",
        "done",
    )
    .await;

    sign_in(browser, &app, "maya").await;
    browser.goto(&app.url("/history")).await.unwrap();
    type_into(browser, "search-q", "rocket").await;
    click(browser, "form.search button[type=submit]").await;
    browser
        .wait()
        .for_element(Locator::Css("#history-grid .tile mark"))
        .await
        .unwrap();
    let tiles = browser
        .find_all(Locator::Css("#history-grid .tile"))
        .await
        .unwrap();
    assert_eq!(
        tiles.len(),
        2,
        "the rocket and the astronaut who flew on it"
    );
    assert_eq!(
        text_of(browser, "#history-grid .tile .tile-caption mark").await,
        "rocket",
        "the concise caption's match ranks first"
    );
    assert!(text_of(browser, "#history-grid")
        .await
        .contains("In the creative caption"));
    Steps::new("e2e-search")
        .shot(browser, "search-results")
        .await;
    browser.clone().close().await.unwrap();
}
