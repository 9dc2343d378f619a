//! Taking images along: an original downloaded with its captions in its XMP, and the
//! fine-tuning dataset ZIP (REST and pages).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use imgcap_imaging::strip::strip_metadata;
use imgcap_imaging::xmp::read_xmp;
use imgcap_imaging::{sniff_format, ImageFormatKind};
use serde_json::{json, Value};

use crate::harness::{json, test_config, test_data, without_captions, TestApp};

async fn download(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/images/{id}/download")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The stored original, through the image's signed URL.
async fn stored_original(app: &TestApp, image: &Value) -> Vec<u8> {
    let url = image["image_url"].as_str().unwrap();
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

fn pixels(bytes: &[u8]) -> Vec<u8> {
    image::load_from_memory(bytes).unwrap().to_rgb8().into_raw()
}

#[tokio::test]
async fn an_original_downloads_with_the_captions_shown_in_its_xmp_and_its_image_data_untouched() {
    let app = TestApp::spawn(test_config()).await;
    let token = app.token("noor", false).await;
    let other = app.token("omar", false).await;

    // A JPEG whose EXIF orientation (6) the stored original lost, its concise caption corrected
    // with markup, quotes and non-ASCII text.
    let jpeg = app
        .upload_and_wait(
            &token,
            test_data("rocket_orient6.jpg"),
            "image/jpeg",
            "done",
        )
        .await;
    let id = jpeg["id"].as_str().unwrap();
    let corrected = "a <rocket> & \"its\" café 🚀";
    let response = app
        .client
        .patch(app.url(&format!("/api/v1/images/{id}")))
        .bearer_auth(&token)
        .json(&json!({ "concise": corrected }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let response = download(&app, &token, id).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"{id}.jpg\"").as_str()
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let downloaded = response.bytes().await.unwrap().to_vec();
    let xmp = read_xmp(&downloaded, ImageFormatKind::Jpeg)
        .unwrap()
        .expect("the download has an XMP packet");
    assert_eq!(xmp.alt_text.as_deref(), Some(corrected));
    assert_eq!(
        xmp.description.as_deref(),
        jpeg["result"]["creative"]["text"].as_str(),
        "the model's creative caption, not corrected"
    );
    assert_eq!(xmp.orientation, Some(6));
    // Only metadata was added: without it, the download is the stored original byte for byte,
    // and it decodes to the same pixels.
    let stored = stored_original(&app, &jpeg).await;
    assert_eq!(
        strip_metadata(&downloaded, ImageFormatKind::Jpeg, true).unwrap(),
        stored
    );
    assert_eq!(pixels(&downloaded), pixels(&stored));

    // A PNG: the XMP goes into an iTXt chunk.
    let png = app
        .upload_and_wait(&token, test_data("coffee.png"), "image/png", "done")
        .await;
    let png_id = png["id"].as_str().unwrap();
    let response = download(&app, &token, png_id).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let downloaded = response.bytes().await.unwrap().to_vec();
    assert_eq!(sniff_format(&downloaded).unwrap(), ImageFormatKind::Png);
    let xmp = read_xmp(&downloaded, ImageFormatKind::Png)
        .unwrap()
        .unwrap();
    assert_eq!(
        xmp.alt_text.as_deref(),
        png["result"]["concise"]["text"].as_str()
    );
    assert_eq!(xmp.orientation, None, "an upright upload needs none");
    let stored = stored_original(&app, &png).await;
    assert_eq!(
        strip_metadata(&downloaded, ImageFormatKind::Png, true).unwrap(),
        stored
    );

    // Someone else's image does not exist for them; a bad id is a 400; no token is a 401.
    let (status, body) = json(download(&app, &other, id).await).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = json(download(&app, &token, "not-an-id").await).await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (400, Some("invalid_image_id"))
    );
    let response = app
        .client
        .get(app.url(&format!("/api/v1/images/{id}/download")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn an_image_without_captions_yet_is_a_conflict_with_a_reason() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let token = app.token("pia", false).await;
    let (status, body) = json(
        app.upload(&token, test_data("rocket.jpg"), "image/jpeg")
            .await,
    )
    .await;
    assert_eq!(status, 202);
    let id = body["image"]["id"].as_str().unwrap();
    let (status, body) = json(download(&app, &token, id).await).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error_type"], "conflict");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not captioned yet"),
        "{body}"
    );
}

/// The body of a dataset export read as it streams: the ZIP's bytes and how many pieces they
/// came in.
async fn read_dataset(app: &TestApp, token: &str, query: &str) -> (Vec<u8>, usize) {
    let mut response = app
        .client
        .get(app.url(&format!("/api/v1/export/dataset{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"imgcap-dataset.zip\""
    );
    assert!(
        response.content_length().is_none(),
        "streamed, so its length is not known up front"
    );
    let mut bytes = Vec::new();
    let mut pieces = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        pieces += 1;
        bytes.extend_from_slice(&chunk);
    }
    (bytes, pieces)
}

/// Every file of the ZIP by name.
fn unzip(bytes: Vec<u8>) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            file.read_to_end(&mut content).unwrap();
            (file.name().unwrap().into_owned(), content)
        })
        .collect()
}

fn metadata_rows(files: &BTreeMap<String, Vec<u8>>) -> Vec<Value> {
    std::str::from_utf8(&files["train/metadata.jsonl"])
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test]
async fn the_dataset_is_a_streamed_zip_of_the_callers_captioned_images() {
    let app = TestApp::spawn(test_config()).await;
    let token = app.token("quinn", false).await;
    let other = app.token("rae", false).await;
    let rocket = app
        .upload_and_wait(
            &token,
            test_data("rocket_orient6.jpg"),
            "image/jpeg",
            "done",
        )
        .await;
    let coffee = app
        .upload_and_wait(&token, test_data("coffee.png"), "image/png", "done")
        .await;
    let theirs = app
        .upload_and_wait(&other, test_data("chelsea.png"), "image/png", "done")
        .await;
    let coffee_id = coffee["id"].as_str().unwrap();
    let response = app
        .client
        .patch(app.url(&format!("/api/v1/images/{coffee_id}")))
        .bearer_auth(&token)
        .json(
            &json!({ "concise": "a cup of coffee", "creative": "Steam over a dark cup.",
                        "reviewed": true }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let (bytes, pieces) = read_dataset(&app, &token, "").await;
    assert!(
        pieces > 1,
        "{} bytes arrived in one piece: the ZIP was not streamed",
        bytes.len()
    );
    let files = unzip(bytes);
    let rocket_file = format!("{}.jpg", rocket["id"].as_str().unwrap());
    let coffee_file = format!("{coffee_id}.png");
    assert_eq!(
        files.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([
            "annotations/captions.json".to_owned(),
            format!("train/{coffee_file}"),
            format!("train/{rocket_file}"),
            "train/metadata.jsonl".to_owned(),
        ]),
        "only the caller's images: {} is not theirs",
        theirs["id"]
    );
    assert_eq!(
        files[&format!("train/{rocket_file}")],
        stored_original(&app, &rocket).await
    );
    assert_eq!(
        files[&format!("train/{coffee_file}")],
        stored_original(&app, &coffee).await
    );

    // metadata.jsonl: oldest first, the captions shown, where the text comes from.
    let rows = metadata_rows(&files);
    let model = rocket["result"]["model"].as_str().unwrap();
    assert_eq!(
        rows,
        vec![
            json!({
                "file_name": rocket_file,
                "text": rocket["result"]["concise"]["text"],
                "concise": rocket["result"]["concise"]["text"],
                "creative": rocket["result"]["creative"]["text"],
                "source": format!("{model} via embedded"),
                "reviewed": false,
            }),
            json!({
                "file_name": coffee_file,
                "text": "a cup of coffee",
                "concise": "a cup of coffee",
                "creative": "Steam over a dark cup.",
                "source": "user",
                "reviewed": true,
            }),
        ]
    );

    // COCO captions: each image once with the size of its file, two captions each.
    let coco: Value = serde_json::from_slice(&files["annotations/captions.json"]).unwrap();
    let images = coco["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    for image in images {
        let name = format!("train/{}", image["file_name"].as_str().unwrap());
        let decoded = image::load_from_memory(&files[&name]).unwrap();
        assert_eq!(
            (image["width"].as_u64(), image["height"].as_u64()),
            (
                Some(u64::from(decoded.width())),
                Some(u64::from(decoded.height()))
            ),
            "{name}"
        );
    }
    // The rotated upload's file is stored as the camera wrote it: its sides swapped.
    assert_eq!(images[0]["width"], rocket["height"]);
    let annotations = coco["annotations"].as_array().unwrap();
    let captions: Vec<(u64, &str)> = annotations
        .iter()
        .map(|a| {
            (
                a["image_id"].as_u64().unwrap(),
                a["caption"].as_str().unwrap(),
            )
        })
        .collect();
    let first = images[0]["id"].as_u64().unwrap();
    let second = images[1]["id"].as_u64().unwrap();
    assert_eq!(
        captions,
        vec![
            (first, rocket["result"]["concise"]["text"].as_str().unwrap()),
            (
                first,
                rocket["result"]["creative"]["text"].as_str().unwrap()
            ),
            (second, "a cup of coffee"),
            (second, "Steam over a dark cup."),
        ]
    );
    let ids: BTreeSet<u64> = annotations
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "annotation ids are unique");

    // Only the coffee was marked reviewed.
    let (bytes, _) = read_dataset(&app, &token, "?reviewed_only=true").await;
    let files = unzip(bytes);
    assert_eq!(files.len(), 3, "{:?}", files.keys());
    let rows = metadata_rows(&files);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["file_name"].as_str(), rows[0]["reviewed"].as_bool()),
        (Some(coffee_file.as_str()), Some(true))
    );
    let coco: Value = serde_json::from_slice(&files["annotations/captions.json"]).unwrap();
    assert_eq!(
        (
            coco["images"].as_array().unwrap().len(),
            coco["annotations"].as_array().unwrap().len()
        ),
        (1, 2)
    );
    let (bytes, _) = read_dataset(&app, &token, "?reviewed_only=false").await;
    assert_eq!(metadata_rows(&unzip(bytes)).len(), 2);

    let (status, body) = json(
        app.client
            .get(app.url("/api/v1/export/dataset?reviewed_only=maybe"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error_type"].as_str()),
        (400, Some("invalid_query"))
    );
    let response = app
        .client
        .get(app.url("/api/v1/export/dataset"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn an_empty_library_is_a_valid_empty_dataset_and_pending_images_stay_out() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let token = app.token("sam", false).await;
    let (bytes, _) = read_dataset(&app, &token, "").await;
    let files = unzip(bytes);
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["annotations/captions.json", "train/metadata.jsonl"]
    );
    assert!(files["train/metadata.jsonl"].is_empty());
    let coco: Value = serde_json::from_slice(&files["annotations/captions.json"]).unwrap();
    assert_eq!(coco["images"], json!([]));
    assert_eq!(coco["annotations"], json!([]));

    // An image that is not captioned is not part of it.
    let response = app
        .upload(&token, test_data("rocket.jpg"), "image/jpeg")
        .await;
    assert_eq!(response.status(), 202);
    let (bytes, _) = read_dataset(&app, &token, "").await;
    assert_eq!(unzip(bytes).len(), 2);
}

#[tokio::test]
async fn the_pages_offer_the_download_and_the_dataset() {
    let app = TestApp::spawn(test_config()).await;
    let browser = app.browser();
    browser.sign_up("tove", "a long enough password").await;
    let token = app.token("tove", false).await;
    let image = app
        .upload_and_wait(&token, test_data("rocket.jpg"), "image/jpeg", "done")
        .await;
    let id = image["id"].as_str().unwrap();

    let (status, detail) = browser.page(&format!("/images/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        detail.contains(&format!("href=\"/images/{id}/download\"")),
        "{detail}"
    );
    let response = browser.get(&format!("/images/{id}/download")).await;
    assert_eq!(response.status(), 200);
    let downloaded = response.bytes().await.unwrap();
    let xmp = read_xmp(&downloaded, ImageFormatKind::Jpeg)
        .unwrap()
        .unwrap();
    assert_eq!(
        xmp.alt_text.as_deref(),
        image["result"]["concise"]["text"].as_str()
    );

    let (_, history) = browser.page("/history").await;
    assert!(
        history.contains("href=\"/export/dataset.zip\""),
        "{history}"
    );
    let response = browser.get("/export/dataset.zip").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let files = unzip(response.bytes().await.unwrap().to_vec());
    assert!(files.contains_key(&format!("train/{id}.jpg")));

    // Someone else's image is the not-found page; without a session, the sign-in page.
    let stranger = app.browser();
    stranger.sign_up("ulla", "a long enough password").await;
    let (status, _) = stranger.page(&format!("/images/{id}/download")).await;
    assert_eq!(status, 404);
    let (status, _) = app.browser().page("/export/dataset.zip").await;
    assert_eq!(status, 303);
}
