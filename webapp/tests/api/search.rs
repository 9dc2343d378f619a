//! Searching one's captions: `GET /api/v1/images?q=` and the history page's search form. Found
//! by the captions shown (corrections included) best first, only the caller's images, paged by
//! cursors bound to the user and the query, in step with edits, deletion and retention, and
//! hostile queries are plain words.

use serde_json::{json, Value};

use crate::harness::{json, png, test_config, TestApp};

const PASSWORD: &str = "a long enough password";

async fn search(app: &TestApp, token: &str, params: &[(&str, &str)]) -> (u16, Value) {
    json(
        app.client
            .get(app.url("/api/v1/images"))
            .query(params)
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The ids of one page of results, which must be 200.
async fn found(app: &TestApp, token: &str, q: &str) -> Vec<String> {
    let (status, body) = search(app, token, &[("q", q)]).await;
    assert_eq!(status, 200, "{q}: {body}");
    ids(&body)
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A captioned image of the token's user, its captions corrected as `edit` says. The tiny
/// model's captions are random words, so tests that must not match by chance correct both.
async fn image(app: &TestApp, token: &str, seed: u32, edit: Value) -> (String, Value) {
    let done = app
        .upload_and_wait(token, png(seed, 64, 64), "image/png", "done")
        .await;
    let id = done["id"].as_str().unwrap().to_owned();
    if edit == json!({}) {
        return (id, done);
    }
    let response = app
        .client
        .patch(app.url(&format!("/api/v1/images/{id}")))
        .bearer_auth(token)
        .json(&edit)
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(status, 200, "{body}");
    (id, body)
}

#[tokio::test]
async fn search_finds_the_callers_captions_and_corrections_best_first_with_matches() {
    let app = TestApp::spawn(test_config()).await;
    let token = app.token("sana", false).await;
    let (bicycle, _) = image(
        &app,
        &token,
        1,
        json!({"concise": "a red bicycle by the canal", "creative": "Morning light on a quiet canal."}),
    )
    .await;
    let (door, _) = image(
        &app,
        &token,
        2,
        json!({"concise": "a blue door", "creative": "A red door frame under blue shutters."}),
    )
    .await;
    // The tiny model's captions are random words: they are searched for another user, so
    // that they cannot match the words searched here.
    let rafa = app.token("rafa", false).await;
    let (model_only, done) = image(&app, &rafa, 3, json!({})).await;
    let stranger = app.token("tariq", false).await;
    let (theirs, _) = image(
        &app,
        &stranger,
        4,
        json!({"concise": "a red bicycle", "creative": "A red bicycle."}),
    )
    .await;

    let (status, page) = search(&app, &token, &[("q", "red")]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        ids(&page),
        [bicycle.clone(), door.clone()],
        "a match in the concise caption ranks above one in the creative"
    );
    assert_eq!(
        page["items"][0]["matches"],
        json!([{"field": "concise", "words": ["red"]}])
    );
    assert_eq!(
        page["items"][1]["matches"],
        json!([{"field": "creative", "words": ["red"]}])
    );
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(found(&app, &token, "Red BICYCLE").await, [bicycle.as_str()]);
    assert_eq!(found(&app, &token, "canal light").await, [bicycle.as_str()]);
    assert_eq!(
        found(&app, &token, "shutter").await,
        [door.as_str()],
        "prefix"
    );
    assert!(found(&app, &token, "zebra").await.is_empty());
    assert_eq!(found(&app, &stranger, "red bicycle").await, [theirs]);

    // The model's own captions are searched where not corrected.
    let concise = done["result"]["concise"]["text"].as_str().unwrap();
    let word = concise
        .split(|c: char| !c.is_alphanumeric())
        .max_by_key(|w| w.chars().count())
        .unwrap();
    assert!(
        !word.is_empty(),
        "the model's caption has a word: {concise}"
    );
    assert_eq!(found(&app, &rafa, word).await, [model_only]);

    // A correction replaces the words it corrects.
    let response = app
        .client
        .patch(app.url(&format!("/api/v1/images/{bicycle}")))
        .bearer_auth(&token)
        .json(&json!({"concise": "a green tandem by the canal"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(found(&app, &token, "tandem").await, [bicycle.as_str()]);
    assert_eq!(found(&app, &token, "red").await, [door]);
    assert!(found(&app, &token, "bicycle").await.is_empty());

    // The parameter is in the OpenAPI document.
    let (_, doc) = json(
        app.client
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let params = doc["paths"]["/api/v1/images"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(params.iter().any(|p| p["name"] == "q"), "{params:?}");
}

#[tokio::test]
async fn search_pages_with_cursors_bound_to_the_user_and_the_query() {
    let app = TestApp::spawn(test_config()).await;
    let token = app.token("ulla", false).await;
    let mut kites = Vec::new();
    for seed in 0..5 {
        let edit = json!({"concise": "a green kite", "creative": "A kite in the wind."});
        kites.push(image(&app, &token, 10 + seed, edit).await.0);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut first_cursor = None;
    loop {
        let mut params = vec![("q", "kite"), ("limit", "2")];
        if let Some(cursor) = &cursor {
            params.push(("cursor", cursor));
        }
        let (status, page) = search(&app, &token, &params).await;
        assert_eq!(status, 200, "{page}");
        let items = ids(&page);
        assert!(!items.is_empty() && items.len() <= 2, "{page}");
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(next) => {
                first_cursor.get_or_insert_with(|| next.to_owned());
                cursor = Some(next.to_owned());
            }
            None => break,
        }
    }
    // Equal ranks: newest first, each image once.
    kites.reverse();
    assert_eq!(seen, kites);

    let cursor = first_cursor.unwrap();
    let invalid = |body: &Value| body["error_type"] == "invalid_cursor";
    let (status, body) = search(&app, &token, &[("q", "green"), ("cursor", &cursor)]).await;
    assert!(
        status == 400 && invalid(&body),
        "another query: {status} {body}"
    );
    let (status, body) = search(&app, &token, &[("cursor", &cursor)]).await;
    assert!(
        status == 400 && invalid(&body),
        "the history: {status} {body}"
    );
    let stranger = app.token("vera", false).await;
    let (status, body) = search(&app, &stranger, &[("q", "kite"), ("cursor", &cursor)]).await;
    assert!(
        status == 400 && invalid(&body),
        "another user: {status} {body}"
    );
    let mut tampered = cursor.into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (status, body) = search(&app, &token, &[("q", "kite"), ("cursor", &tampered)]).await;
    assert!(status == 400 && invalid(&body), "tampered: {status} {body}");
    let (status, history) = search(&app, &token, &[("limit", "2")]).await;
    assert_eq!(status, 200);
    let history_cursor = history["next_cursor"].as_str().unwrap();
    let (status, body) = search(&app, &token, &[("q", "kite"), ("cursor", history_cursor)]).await;
    assert!(
        status == 400 && invalid(&body),
        "a history cursor: {status} {body}"
    );
}

#[tokio::test]
async fn deleted_and_expired_images_leave_the_results() {
    let mut config = test_config();
    config.retention.sweep_interval_secs = 1;
    let app = TestApp::spawn(config).await;
    let token = app.token("wim", false).await;
    let edit = json!({"concise": "a lighthouse at dusk", "creative": "Waves below the cliff."});
    let (deleted, _) = image(&app, &token, 20, edit.clone()).await;
    let (expiring, _) = image(&app, &token, 21, edit.clone()).await;
    let (kept, _) = image(&app, &token, 22, edit).await;
    assert_eq!(found(&app, &token, "lighthouse").await.len(), 3);

    assert_eq!(
        app.delete(&token, &format!("/api/v1/images/{deleted}"))
            .await,
        204
    );
    let mut left = found(&app, &token, "lighthouse").await;
    left.sort();
    assert_eq!(left, [expiring.clone(), kept.clone()]);

    app.db()
        .execute(
            "UPDATE images SET expires_at = 1 WHERE image_id = ?1",
            [&expiring],
        )
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while found(&app, &token, "lighthouse").await != [kept.clone()] {
        assert!(
            std::time::Instant::now() < deadline,
            "retention never removed the image from the results"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    assert_eq!(app.delete(&token, "/api/v1/me").await, 204);
    assert!(found(&app, &token, "lighthouse").await.is_empty());
    assert_eq!(app.count("SELECT COUNT(*) FROM image_search"), 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM image_search_keys"), 0);
}

#[tokio::test]
async fn hostile_queries_are_plain_words() {
    let app = TestApp::spawn(test_config()).await;
    let token = app.token("xena", false).await;
    let edit =
        json!({"concise": "a kite in the wind near the shore", "creative": "Gulls circle above."});
    let (kite, _) = image(&app, &token, 30, edit).await;
    let long = "a".repeat(200);
    // Each query and whether its words are all in the caption (operators are words too).
    for (q, in_caption) in [
        ("\"", false),
        ("\"kite", true),
        ("*", false),
        ("kite*", true),
        ("-kite", true),
        ("NEAR(kite wind)", true),
        ("kite AND", false),
        ("OR", false),
        ("NOT kite", false),
        ("concise:kite", false),
        ("{concise creative}: kite", false),
        ("^kite", true),
        ("(", false),
        ("kite + wind", true),
        ("'; DROP TABLE images; --", false),
        ("%_%", false),
        ("\u{0}kite", true),
        ("łódź 東京 🚀", false),
        (long.as_str(), false),
    ] {
        let (status, body) = search(&app, &token, &[("q", q)]).await;
        assert_eq!(status, 200, "{q:?}: {body}");
        let expected = if in_caption {
            vec![kite.clone()]
        } else {
            vec![]
        };
        assert_eq!(ids(&body), expected, "{q:?}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 1);
    let (status, body) = search(&app, &token, &[("q", "   ")]).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body), [kite], "a blank query is the whole history");

    let too_long = "a".repeat(201);
    let many = (0..17)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    for q in [too_long.as_str(), many.as_str()] {
        let (status, body) = search(&app, &token, &[("q", q)]).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error_type"], "invalid_search");
    }
}

#[tokio::test]
async fn the_history_page_searches_without_javascript_and_marks_matches_safely() {
    let app = TestApp::spawn(test_config()).await;
    app.account("yuki", PASSWORD, false).await;
    let token = app.token("yuki", false).await;
    let (hostile, _) = image(
        &app,
        &token,
        40,
        json!({"concise": "a <script>alert(1)</script> red kite", "creative": "Evening over the bay."}),
    )
    .await;
    let (labelled, _) = image(
        &app,
        &token,
        41,
        json!({"concise": "a harbour", "creative": "A red sail & a kite."}),
    )
    .await;
    let stranger = app.token("zoe", false).await;
    let (theirs, _) = image(
        &app,
        &stranger,
        42,
        json!({"concise": "a red kite", "creative": "A red kite."}),
    )
    .await;

    let browser = app.browser();
    assert_eq!(browser.sign_in("yuki", PASSWORD).await.status(), 303);
    let (status, html) = browser.page("/history").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"<form class="search" role="search" method="get" action="/history">"#));
    assert!(html.contains(r#"name="q""#));

    let (status, html) = browser.page("/history?q=red+kite").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("/images/{hostile}")));
    assert!(html.contains(&format!("/images/{labelled}")));
    assert!(!html.contains(&theirs), "another user's image");
    assert!(
        html.contains(
            "a &#60;script&#62;alert(1)&#60;/script&#62; <mark>red</mark> <mark>kite</mark>"
        ) || html
            .contains("a &lt;script&gt;alert(1)&lt;/script&gt; <mark>red</mark> <mark>kite</mark>"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(
        html.contains("<mark>red</mark> sail"),
        "the creative match is shown: {html}"
    );
    assert!(
        html.contains(r#"value="red kite""#),
        "the query is kept in the form"
    );

    let (status, html) = browser.page("/history?q=%22%3Cb%3Ezebra").await;
    assert_eq!(status, 200);
    assert!(html.contains("No images match"), "{html}");
    assert!(!html.contains("<b>zebra"), "{html}");

    let long = "a".repeat(201);
    let (status, _) = browser.page(&format!("/history?q={long}")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_database_from_before_the_search_is_indexed_when_opened() {
    use imgcap_webapp::adapters::embedded::db::Db;
    use imgcap_webapp::adapters::embedded::repo::SqliteRepo;
    use imgcap_webapp::core::ports::CaptionRepo;
    use imgcap_webapp::core::search::SearchQuery;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imgcap.sqlite3");
    drop(Db::open(&path).unwrap());
    // The database as it was before the search: no index, no triggers, captioned images.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TRIGGER images_search_insert; DROP TRIGGER images_search_update;
         DROP TRIGGER images_search_delete; DROP TABLE image_search;
         DROP TABLE image_search_keys;
         INSERT INTO images (user_id, image_id, sha256, status, content_type, size_bytes,
             width, height, orientation, created_ms, updated_ms, expires_at, concise, creative,
             model, provider, latency_ms, labels, concise_edited, edited_ms)
         VALUES ('old', '01JDQ3Z6W8R4T0Y5V7X9A2B3C4', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'done', 'image/png', 1, 1, 1, 1,
             0, 0, 4102444800, 'a red tram', 'A tram in the rain.', 'm', 'embedded', 1,
             '[{\"name\": \"Vehicle\", \"confidence\": 90.0}]', 'a blue tram', 1),
             ('old', '01JDQ3Z6W8R4T0Y5V7X9A2B3C5', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'pending', 'image/png', 1, 1, 1, 1,
             0, 0, 4102444800, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);",
    )
    .unwrap();
    drop(conn);

    let repo = SqliteRepo::new(Db::open(&path).unwrap());
    let user = "old".parse().unwrap();
    let search = |q: &'static str| {
        let repo = &repo;
        let user = &user;
        async move {
            let query = SearchQuery::parse(q).unwrap().unwrap();
            let hits = repo.search(user, &query, None, 10).await.unwrap();
            hits.into_iter()
                .map(|h| h.record.id.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search("blue vehicle rain").await,
        ["01JDQ3Z6W8R4T0Y5V7X9A2B3C4"]
    );
    assert!(search("red").await.is_empty(), "the correction replaced it");
    // Opening again neither fails nor indexes twice.
    drop(Db::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM image_search", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 2);
}

/// A database whose index was built by an older definition (older triggers, missing rows) gets
/// this binary's triggers and a complete index when opened.
#[tokio::test]
async fn an_index_of_an_older_definition_is_rebuilt_when_opened() {
    use imgcap_webapp::adapters::embedded::db::Db;
    use imgcap_webapp::adapters::embedded::repo::SqliteRepo;
    use imgcap_webapp::core::ports::CaptionRepo;
    use imgcap_webapp::core::search::SearchQuery;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("imgcap.sqlite3");
    drop(Db::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let update_trigger = |conn: &rusqlite::Connection| -> String {
        conn.query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'images_search_update'",
            [],
            |row| row.get(0),
        )
        .unwrap()
    };
    let current = update_trigger(&conn);
    // What an older release left: an update trigger that indexed no corrections, a record
    // missing from the index, and the version before this one.
    conn.execute_batch(
        "DROP TRIGGER images_search_update;
         CREATE TRIGGER images_search_update AFTER UPDATE OF concise ON images BEGIN
             UPDATE image_search SET concise = NEW.concise WHERE rowid = 0;
         END;
         INSERT INTO images (user_id, image_id, sha256, status, content_type, size_bytes,
             width, height, orientation, created_ms, updated_ms, expires_at, concise, creative,
             model, provider, latency_ms, labels, concise_edited, edited_ms)
         VALUES ('old', '01JDQ3Z6W8R4T0Y5V7X9A2B3C4', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'done', 'image/png', 1, 1, 1, 1,
             0, 0, 4102444800, 'a red tram', 'A tram in the rain.', 'm', 'embedded', 1,
             '[]', NULL, NULL);
         DELETE FROM image_search;
         PRAGMA user_version = 0;",
    )
    .unwrap();
    assert_ne!(update_trigger(&conn), current);
    drop(conn);

    let repo = SqliteRepo::new(Db::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(update_trigger(&conn), current, "this binary's trigger");
    // The rebuilt trigger indexes a correction.
    conn.execute_batch(
        "UPDATE images SET concise_edited = 'a green tram' WHERE image_id = '01JDQ3Z6W8R4T0Y5V7X9A2B3C4'",
    )
    .unwrap();
    let user = "old".parse().unwrap();
    for (q, hits) in [("green rain", 1), ("red", 0)] {
        let query = SearchQuery::parse(q).unwrap().unwrap();
        let found = repo.search(&user, &query, None, 10).await.unwrap();
        assert_eq!(found.len(), hits, "{q}");
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert!(version > 0);
}

#[tokio::test]
async fn search_answers_the_same_in_aws_mode() {
    let resources = crate::aws_resources::Resources::get(5).await;
    let mut config = test_config();
    config.mode = imgcap_webapp::config::Mode::Aws;
    config.worker.max_attempts = resources.max_receive_count;
    config.aws = resources.aws.clone();
    let app = TestApp::spawn(config).await;
    let (owner, stranger) = (
        crate::moto::unique_name("owner"),
        crate::moto::unique_name("stranger"),
    );
    let token = app.token(&owner, false).await;
    let stranger = app.token(&stranger, false).await;
    let edit = json!({"concise": "a red bicycle by the canal", "creative": "A quiet canal."});
    let (bicycle, _) = image(&app, &token, 50, edit).await;
    let edit = json!({"concise": "a blue door", "creative": "A red door frame."});
    let (door, _) = image(&app, &token, 51, edit).await;

    let (status, page) = search(&app, &token, &[("q", "red"), ("limit", "1")]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), [bicycle.as_str()]);
    assert_eq!(
        page["items"][0]["matches"],
        json!([{"field": "concise", "words": ["red"]}])
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let (status, next) = search(&app, &token, &[("q", "red"), ("cursor", cursor)]).await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(ids(&next), [door.as_str()]);
    assert_eq!(next["next_cursor"], Value::Null);
    let (status, stolen) = search(&app, &stranger, &[("q", "red"), ("cursor", cursor)]).await;
    assert_eq!(
        (status, &stolen["error_type"]),
        (400, &json!("invalid_cursor"))
    );
    assert!(found(&app, &stranger, "red").await.is_empty());
    assert_eq!(found(&app, &token, "\"red* -(").await.len(), 2);

    assert_eq!(
        app.delete(&token, &format!("/api/v1/images/{bicycle}"))
            .await,
        204
    );
    assert_eq!(found(&app, &token, "red").await, [door]);
}
