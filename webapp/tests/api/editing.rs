//! Correcting and regenerating captions (REST and pages), and exporting one's data.

use serde_json::json;

use crate::harness::{
    card_image_id, csrf_token, json, png, test_config, test_data, without_captions, TestApp,
};

const PASSWORD: &str = "a long enough password";

pub(crate) async fn patch(
    app: &TestApp,
    token: &str,
    id: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    json(
        app.client
            .patch(app.url(&format!("/api/v1/images/{id}")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub(crate) async fn regenerate(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/images/{id}/regenerate")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn captions_are_corrected_beside_the_models_and_regenerated_through_the_api() {
    let app = TestApp::spawn(test_config()).await;
    let token = app.token("hana", false).await;
    let done = app
        .upload_and_wait(&token, test_data("rocket.jpg"), "image/jpeg", "done")
        .await;
    let id = done["id"].as_str().unwrap().to_owned();
    let model_concise = done["result"]["concise"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(done["edited"].is_null());

    let (status, body) = patch(
        &app,
        &token,
        &id,
        json!({"concise": "  a rocket   on its pad "}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["edited"]["concise"], "a rocket on its pad");
    assert!(body["edited"]["creative"].is_null(), "untouched: {body}");
    assert_eq!(
        body["result"]["concise"]["text"],
        model_concise.as_str(),
        "the model's text stays"
    );
    assert!(body["edited"]["edited_at"].as_str().unwrap().ends_with('Z'));
    let (status, body) = patch(&app, &token, &id, json!({"creative": "Ready to fly."})).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            body["edited"]["concise"].as_str(),
            body["edited"]["creative"].as_str()
        ),
        (Some("a rocket on its pad"), Some("Ready to fly."))
    );

    for (bad, kind) in [
        (
            json!({"concise": "one two three four five six seven eight nine ten eleven"}),
            "invalid_caption",
        ),
        (json!({"concise": "x".repeat(126)}), "invalid_caption"),
        (json!({"creative": "x".repeat(601)}), "invalid_caption"),
        (json!({"title": "x"}), "invalid_json"),
    ] {
        let (status, body) = patch(&app, &token, &id, bad.clone()).await;
        assert_eq!(
            (status, body["error_type"].as_str()),
            (400, Some(kind)),
            "{bad}"
        );
    }
    let other = app.token("ivo", false).await;
    assert_eq!(
        patch(&app, &other, &id, json!({"concise": "mine"})).await.0,
        404
    );
    // An empty text goes back to the model's caption.
    let (_, body) = patch(&app, &token, &id, json!({"concise": ""})).await;
    assert!(body["edited"]["concise"].is_null());
    assert_eq!(body["edited"]["creative"], "Ready to fly.");

    // Regenerate: pending again, the correction kept, then captioned anew (provenance.rs
    // follows what happens to the correction).
    let response = regenerate(&app, &token, &id).await;
    let (status, body) = json(response).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("pending")),
        "{body}"
    );
    assert!(body["result"].is_null());
    assert_eq!(body["edited"]["creative"], "Ready to fly.");
    let done = app.wait_for(&token, &id, "done").await;
    assert_eq!(done["edited"]["creative"], "Ready to fly.");
    assert!(done["result"]["concise"]["text"].is_string());
}

#[tokio::test]
async fn only_captioned_images_can_be_corrected_and_pending_ones_not_regenerated() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let token = app.token("jo", false).await;
    let (_, body) = json(app.upload(&token, png(4, 32, 32), "image/png").await).await;
    let id = body["image"]["id"].as_str().unwrap();
    let (status, body) = patch(&app, &token, id, json!({"concise": "early"})).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (409, Some("conflict"))
    );
    let response = regenerate(&app, &token, id).await;
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn the_pages_edit_captions_and_export_json_and_csv() {
    let app = TestApp::spawn(test_config()).await;
    let browser = app.browser();
    browser.sign_up("kim", PASSWORD).await;
    let (status, card) = browser.upload(&test_data("coffee.png")).await;
    assert_eq!(status, 202, "{card}");
    let id = card_image_id(&card);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let card = loop {
        let (status, card) = browser.page(&format!("/images/{id}/card")).await;
        assert_eq!(status, 200);
        if card.contains("Regenerate") {
            break card;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never captioned: {card}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(card.contains("data-copy-target=\"concise-"), "{card}");

    let response = browser
        .submit(
            &format!("/images/{id}"),
            &format!("/images/{id}/captions"),
            &[
                ("concise", "a cup of coffee"),
                ("creative", "=Steam curls, \"fresh\", over a cup."),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, detail) = browser.page(&format!("/images/{id}")).await;
    assert!(
        detail.contains("alt=\"a cup of coffee\""),
        "the alt text is the concise caption"
    );
    assert!(detail.contains("The model's original captions"), "{detail}");
    assert!(detail.contains("edited"));
    // A too long correction is explained on the page and not stored.
    let response = browser
        .submit(
            &format!("/images/{id}"),
            &format!("/images/{id}/captions"),
            &[("concise", &"word ".repeat(11)), ("creative", "fine")],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("The concise caption must be at most 10 words"));

    let response = browser.get("/export.json").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("imgcap-export.json"));
    let rows: serde_json::Value = response.json().await.unwrap();
    let row = &rows[0];
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["file_name"], format!("{id}.png"));
    assert_eq!(row["concise"], "a cup of coffee");
    assert_eq!(row["edited"], true);
    assert!(row["model_concise"].is_string() && row["uploaded_at"].is_string());

    let response = browser.get("/export.csv").await;
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = response.text().await.unwrap();
    let mut lines = csv.split("\r\n");
    assert!(lines
        .next()
        .unwrap()
        .starts_with("id,file_name,status,uploaded_at"));
    let line = lines.next().unwrap();
    assert!(
        line.starts_with(&format!("\"{id}\",\"{id}.png\",\"done\"")),
        "{line}"
    );
    assert!(
        line.contains("\"'=Steam curls, \"\"fresh\"\", over a cup.\""),
        "quoted and defused: {line}"
    );

    // The export needs a session, and the token check does not apply to downloads (GET).
    let (status, _) = app.browser().page("/export.csv").await;
    assert_eq!(status, 303);
    let (_, page) = browser.page("/account").await;
    assert!(!csrf_token(&page).is_empty());
}
