//! Caption provenance: each caption's source and time, a regeneration that never overwrites
//! what the user wrote (the model's text waits as a suggestion), past versions, the review
//! mark; through the API, the pages and the export.

use serde_json::{json, Value};

use crate::editing::{patch, regenerate};
use crate::harness::{card_image_id, test_config, test_data, TestApp};

fn versions(image: &Value) -> Vec<(String, String, String)> {
    image["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let text = |f: &str| v[f].as_str().unwrap().to_owned();
            (
                text("caption"),
                text("text"),
                v["source"]["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_regeneration_keeps_what_the_user_wrote_and_suggests_beside_it() {
    let app = TestApp::spawn(test_config()).await;
    let token = app.token("lena", false).await;
    let done = app
        .upload_and_wait(&token, test_data("rocket.jpg"), "image/jpeg", "done")
        .await;
    let id = done["id"].as_str().unwrap().to_owned();
    let concise = &done["captions"]["concise"];
    assert_eq!(concise["text"], done["result"]["concise"]["text"], "{done}");
    assert_eq!(concise["source"]["type"], "model");
    assert_eq!(concise["source"]["model"], done["result"]["model"]);
    assert_eq!(concise["source"]["provider"], done["result"]["provider"]);
    assert!(concise["at"].as_str().unwrap().ends_with('Z'));
    assert!(concise["suggestion"].is_null());
    assert_eq!(done["reviewed"], false);
    assert_eq!(versions(&done).len(), 2, "{done}");

    let (status, edited) = patch(
        &app,
        &token,
        &id,
        json!({"creative": "Ready to fly.", "reviewed": true}),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["captions"]["creative"]["text"], "Ready to fly.");
    assert_eq!(
        edited["captions"]["creative"]["source"],
        json!({"type": "user"})
    );
    assert_eq!(edited["reviewed"], true);
    assert!(edited["reviewed_at"].is_string());
    assert_eq!(
        versions(&edited).last().unwrap(),
        &(
            "creative".to_owned(),
            "Ready to fly.".to_owned(),
            "user".to_owned()
        )
    );

    // Captioned again: the creative caption is the user's and stays; the model's new text
    // waits beside it. The concise caption was the model's, so it changes, unseen: the review
    // mark goes.
    assert_eq!(regenerate(&app, &token, &id).await.status(), 202);
    let again = app.wait_for(&token, &id, "done").await;
    let creative = &again["captions"]["creative"];
    assert_eq!(creative["text"], "Ready to fly.", "{again}");
    assert_eq!(creative["source"]["type"], "user");
    assert_eq!(creative["suggestion"], again["result"]["creative"]["text"]);
    assert!(again["captions"]["concise"]["suggestion"].is_null());
    assert_eq!(again["reviewed"], false);
    assert_eq!(versions(&again).len(), 4, "{again}");

    // Taking the suggestion: an empty correction goes back to the model's text.
    let (status, taken) = patch(&app, &token, &id, json!({"creative": ""})).await;
    assert_eq!(status, 200, "{taken}");
    let creative = &taken["captions"]["creative"];
    assert_eq!(creative["text"], again["result"]["creative"]["text"]);
    assert_eq!(creative["source"]["type"], "model");
    assert!(creative["suggestion"].is_null());
    assert_eq!(versions(&taken).len(), 5);
    assert_eq!(versions(&taken)[4].2, "model");

    // The review mark alone adds no version; another user cannot set it.
    let (_, reviewed) = patch(&app, &token, &id, json!({"reviewed": true})).await;
    assert_eq!(
        (reviewed["reviewed"].clone(), versions(&reviewed).len()),
        (json!(true), 5)
    );
    let other = app.token("mo", false).await;
    assert_eq!(
        patch(&app, &other, &id, json!({"reviewed": false})).await.0,
        404
    );
    let (status, body) = patch(&app, &token, &id, json!({"reviewed": "yes"})).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (400, Some("invalid_json"))
    );
}

#[tokio::test]
async fn the_detail_page_shows_sources_suggestions_history_and_the_review_mark() {
    let app = TestApp::spawn(test_config()).await;
    let browser = app.browser();
    browser.sign_up("nia", "a long enough password").await;
    let (status, card) = browser.upload(&test_data("coffee.png")).await;
    assert_eq!(status, 202, "{card}");
    let id = card_image_id(&card);
    let detail_page = format!("/images/{id}");
    let wait_done = || async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (_, detail) = browser.page(&detail_page).await;
            if detail.contains("Regenerate captions") {
                return detail;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never captioned: {detail}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    let detail = wait_done().await;
    assert!(detail.contains("Concise caption by "), "{detail}");
    assert!(detail.contains("Caption history (2 versions"), "{detail}");

    let response = browser
        .submit(
            &detail_page,
            &format!("/images/{id}/captions"),
            &[
                ("concise", "my cup"),
                ("creative", "Morning <b>coffee</b>."),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let response = browser
        .submit(&detail_page, &format!("/images/{id}/regenerate"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let detail = wait_done().await;
    assert!(detail.contains("Concise caption by you"), "{detail}");
    assert!(detail.contains("The model now suggests:"), "{detail}");
    assert!(
        detail.contains("Morning &#60;b&#62;coffee") && !detail.contains("<b>coffee"),
        "the user's text is shown as text: {detail}"
    );
    assert_eq!(detail.matches("Use the suggestion").count(), 2, "{detail}");

    // Keep mine for the concise caption, take the model's for the creative one.
    for (caption, take) in [("concise", "false"), ("creative", "true")] {
        let response = browser
            .submit(
                &detail_page,
                &format!("/images/{id}/suggestion"),
                &[("caption", caption), ("take", take)],
            )
            .await;
        assert_eq!(response.status(), 303);
    }
    let (_, detail) = browser.page(&detail_page).await;
    assert!(!detail.contains("The model now suggests:"), "{detail}");
    assert!(detail.contains("alt=\"my cup\""), "{detail}");
    // No suggestion left to settle: explained, nothing changed.
    let response = browser
        .submit(
            &detail_page,
            &format!("/images/{id}/suggestion"),
            &[("caption", "concise"), ("take", "true")],
        )
        .await;
    assert_eq!(response.status(), 409);

    let response = browser
        .submit(
            &detail_page,
            &format!("/images/{id}/review"),
            &[("reviewed", "true")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, detail) = browser.page(&detail_page).await;
    assert!(
        detail.contains("You marked these captions as reviewed."),
        "{detail}"
    );

    let csv = browser.get("/export.csv").await.text().await.unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row = lines.next().unwrap();
    assert_eq!(
        &header[header.len() - 3..],
        ["concise_source", "creative_source", "reviewed"]
    );
    assert!(
        row.ends_with(",\"user\",") || row.contains("\"user\","),
        "{row}"
    );
    assert!(row.ends_with("true"), "{row}");
}
