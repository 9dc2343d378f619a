//! The pages: local accounts and sessions, cookie flags, CSRF, security headers, isolation
//! between users, the admin page, page uploads' friendly errors.

use imgcap_webapp::Application;

use crate::harness::{
    card_image_id, csrf_token, find_set_cookie, local_listeners, png, set_cookie_of, test_config,
    without_captions, TestApp,
};

const PASSWORD: &str = "a long enough password";

#[tokio::test]
async fn sign_up_sign_in_and_sign_out_manage_server_side_sessions() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let browser = app.browser();
    let (status, html) = browser.page("/upload").await;
    assert_eq!(
        status, 303,
        "signed-out visitors go to the sign-in page: {html}"
    );

    let response = browser.sign_up("Alice", PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/upload");
    let cookie = set_cookie_of(&response, "imgcap_session").to_owned();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(!cookie.contains("Secure"), "plain-HTTP localhost: {cookie}");
    let first_session = browser.cookie("imgcap_session").unwrap();
    let (status, html) = browser.page("/upload").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Signed in as <strong>alice</strong>"),
        "{html}"
    );

    // Stored: an argon2id hash, and the session under the SHA-256 of its id only.
    let hash: String = app
        .db()
        .query_row(
            "SELECT password_hash FROM accounts WHERE user_id = 'alice'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let session_id = first_session.split('.').next().unwrap();
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM sessions WHERE id_sha256 LIKE '%{session_id}%'"
        )),
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE user_id = 'alice'"),
        1
    );

    // Sign-out removes the session server-side: replaying the old cookie is signed out.
    let response = browser.submit("/account", "/sign-out", &[]).await;
    assert_eq!(response.status(), 303);
    assert!(set_cookie_of(&response, "imgcap_session").contains("Max-Age=0"));
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions"), 0);
    browser.set_cookie("imgcap_session", &first_session);
    assert_eq!(browser.get("/upload").await.status(), 303);

    // A wrong password is refused; the right one starts a new session with a new id.
    let response = browser.sign_in("alice", "not the password").await;
    assert_eq!(response.status(), 401);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("That user name and password do not match an account"));
    let response = browser.sign_in("ALICE", PASSWORD).await;
    assert_eq!(response.status(), 303);
    assert_ne!(browser.cookie("imgcap_session").unwrap(), first_session);
    assert_eq!(browser.get("/upload").await.status(), 200);

    // A forged or tampered cookie is no session.
    let signed_in = browser.cookie("imgcap_session").unwrap();
    browser.set_cookie("imgcap_session", &format!("{signed_in}x"));
    assert_eq!(browser.get("/upload").await.status(), 303);

    // Sign-up mistakes are explained.
    let other = app.browser();
    for (name, password, status, message) in [
        ("alice", PASSWORD, 409, "That user name is taken"),
        ("bo", PASSWORD, 400, "A user name has 3 to 64 letters"),
        (
            "bob",
            "short",
            400,
            "Choose a password of at least 10 characters",
        ),
    ] {
        let response = other.sign_up(name, password).await;
        assert_eq!(response.status(), status, "{name}");
        assert!(
            response.text().await.unwrap().contains(message),
            "{message}"
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts"), 1);
}

#[tokio::test]
async fn sessions_end_after_idle_and_absolute_timeouts() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let browser = app.browser();
    browser.sign_up("carol", PASSWORD).await;
    assert_eq!(browser.get("/upload").await.status(), 200);
    // Idle for three hours (default idle timeout: two).
    app.db()
        .execute(
            "UPDATE sessions SET last_seen_ms = last_seen_ms - 3 * 3600000",
            [],
        )
        .unwrap();
    assert_eq!(browser.get("/upload").await.status(), 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions"),
        0,
        "expired sessions are removed"
    );

    browser.sign_in("carol", PASSWORD).await;
    assert_eq!(browser.get("/upload").await.status(), 200);
    // Active all along, but signed in eight days ago (absolute timeout: seven).
    app.db()
        .execute(
            "UPDATE sessions SET created_ms = created_ms - 8 * 86400000",
            [],
        )
        .unwrap();
    assert_eq!(browser.get("/upload").await.status(), 303);
}

#[tokio::test]
async fn state_changing_page_requests_need_the_csrf_token() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let browser = app.browser();
    // Even sign-in forms: a form posted from elsewhere carries no token.
    let response = browser
        .post_form("/sign-in", &[("user_name", "dave"), ("password", PASSWORD)])
        .await;
    assert_eq!(response.status(), 403);
    let (_, anonymous_page) = browser.page("/sign-up").await;
    let anonymous_token = csrf_token(&anonymous_page);
    browser.sign_up("dave", PASSWORD).await;

    let tokens = || app.count("SELECT COUNT(*) FROM api_tokens");
    for fields in [
        vec![],
        vec![("_csrf", "forged")],
        // The token from before sign-in is not the session's.
        vec![("_csrf", anonymous_token.as_str())],
    ] {
        let response = browser.post_form("/account/tokens", &fields).await;
        assert_eq!(response.status(), 403, "{fields:?}");
        assert!(response.text().await.unwrap().contains("reload the page"));
    }
    assert_eq!(tokens(), 0);
    // Another user's valid token does not work for this session either.
    let eve = app.browser();
    eve.sign_up("eve", PASSWORD).await;
    let (_, eves_page) = eve.page("/account").await;
    let response = browser
        .post_form("/account/tokens", &[("_csrf", &csrf_token(&eves_page))])
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(tokens(), 0);

    let response = browser.submit("/account", "/account/tokens", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(tokens(), 1);
    // The header works as well as the field (htmx and the upload script use it).
    let (_, html) = browser.page("/upload").await;
    let response = browser
        .send(
            reqwest::Client::new()
                .post(format!("{}/account/tokens", app.base))
                .header("x-csrf-token", csrf_token(&html)),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(tokens(), 2);
    // Delete all my data without the token does nothing.
    let response = browser.post_form("/account/delete-data", &[]).await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    for path in [
        "/sign-in",
        "/api/v1/openapi.json",
        "/static/app.css",
        "/nope",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(
            !headers.contains_key("strict-transport-security"),
            "plain HTTP: {path}"
        );
    }
    // Pages carry no inline script or style.
    let (_, html) = app.browser().page("/sign-in").await;
    for inline in ["<script>", "style=", "<style", "onclick", "onsubmit"] {
        assert!(!html.contains(inline), "{inline} in the sign-in page");
    }
    // The HTML 404 page, and JSON 404 under /api.
    let response = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn over_https_answers_carry_hsts_and_cookies_are_secure() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = without_captions(test_config());
    config.public_base_url = "https://imgcap.example".into();
    config.data_dir = dir.path().to_path_buf();
    let listeners = local_listeners().await;
    let base = format!("http://{}", listeners.app.local_addr().unwrap());
    let application = Application::build(config).await.unwrap();
    let server = tokio::spawn(async move {
        application
            .serve_until(listeners, std::future::pending())
            .await
    });
    let response = reqwest::get(format!("{base}/sign-in")).await.unwrap();
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    // `__Host-` names: only Secure, for Path=/ and without Domain, so no subdomain or
    // plain-HTTP attacker can plant or overwrite them.
    assert!(find_set_cookie(&response, "imgcap_presession").is_none());
    let cookie = set_cookie_of(&response, "__Host-imgcap_presession");
    for wanted in ["; Secure", "HttpOnly", "; Path=/;"] {
        assert!(cookie.contains(wanted), "{wanted}: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let presession = cookie.split(';').next().unwrap().to_owned();
    let html = response.text().await.unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(format!("{base}/sign-up"))
        .header("cookie", &presession)
        .form(&[
            ("_csrf", csrf_token(&html).as_str()),
            ("user_name", "hoster"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = set_cookie_of(&response, "__Host-imgcap_session");
    assert!(
        cookie.contains("; Secure") && cookie.contains("; Path=/;"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let response = client
        .get(format!("{base}/account"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the prefixed cookie is the session");
    server.abort();
}

#[tokio::test]
async fn users_never_reach_each_others_images_through_the_pages() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let alice = app.browser();
    alice.sign_up("alice", PASSWORD).await;
    let (status, card) = alice.upload(&png(3, 64, 48)).await;
    assert_eq!(status, 202, "{card}");
    let id = card_image_id(&card);
    let (status, history) = alice.page("/history").await;
    assert_eq!(status, 200);
    assert!(history.contains(&format!("/images/{id}")));
    let (status, detail) = alice.page(&format!("/images/{id}")).await;
    assert_eq!(status, 200);
    let thumbnail = detail
        .split("<img src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&");
    assert_eq!(
        app.client.get(&thumbnail).send().await.unwrap().status(),
        200
    );

    let bob = app.browser();
    bob.sign_up("bob", PASSWORD).await;
    for path in [format!("/images/{id}"), format!("/images/{id}/card")] {
        let (status, html) = bob.page(&path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!html.contains(&thumbnail), "{path}");
    }
    for action in ["delete", "regenerate"] {
        let response = bob
            .submit("/upload", &format!("/images/{id}/{action}"), &[])
            .await;
        assert_eq!(response.status(), 404, "{action}");
    }
    let response = bob
        .submit(
            "/upload",
            &format!("/images/{id}/captions"),
            &[("concise", "mine now"), ("creative", "mine now")],
        )
        .await;
    assert_eq!(response.status(), 404);
    let (_, history) = bob.page("/history").await;
    assert!(!history.contains(&id) && history.contains("No images yet"));
    let (_, export) = bob.page("/export.json").await;
    assert_eq!(export.trim(), "[]");
    // Bob deleting all his data leaves Alice's image alone.
    assert_eq!(
        bob.submit("/account/delete-data", "/account/delete-data", &[])
            .await
            .status(),
        303
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM images WHERE user_id = 'alice'"),
        1
    );

    // Alice deletes it; it is gone with its blobs.
    let response = alice
        .submit(
            &format!("/images/{id}"),
            &format!("/images/{id}/delete"),
            &[],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 0);
    assert!(app.blob_files().is_empty());
}

#[tokio::test]
async fn the_admin_page_is_for_administrators_only() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let user = app.browser();
    user.sign_up("frank", PASSWORD).await;
    let (status, html) = user.page("/admin").await;
    assert_eq!(status, 403);
    assert!(
        html.contains("This page is for administrators only"),
        "{html}"
    );
    let response = user.submit("/upload", "/admin/flush", &[]).await;
    assert_eq!(response.status(), 403);
    assert!(!user.page("/upload").await.1.contains("href=\"/admin\""));

    app.account("root", PASSWORD, true).await;
    let admin = app.browser();
    assert_eq!(admin.sign_in("root", PASSWORD).await.status(), 303);
    let (status, html) = admin.page("/admin").await;
    assert_eq!(status, 200);
    assert!(html.contains("Flush the queue") && html.contains("Retry failed jobs"));
    // Frank's upload waits in the queue (no workers); the admin flushes it.
    assert_eq!(user.upload(&png(1, 32, 32)).await.0, 202);
    let response = admin.submit("/admin", "/admin/flush", &[]).await;
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("1 queued jobs removed"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM images WHERE status = 'failed'"),
        1
    );
    let response = admin.submit("/admin", "/admin/retry", &[]).await;
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("1 failed images queued again"));
    assert_eq!(app.count("SELECT COUNT(*) FROM jobs"), 1);
}

#[tokio::test]
async fn page_uploads_explain_what_is_wrong() {
    let mut config = without_captions(test_config());
    config.upload.max_bytes = 1024 * 1024;
    let app = TestApp::spawn(config).await;
    let browser = app.browser();
    browser.sign_up("gina", PASSWORD).await;
    let (status, html) = browser.upload(&vec![0xFF; 1024 * 1024 + 1]).await;
    assert_eq!(status, 413);
    assert!(
        html.contains("Image too large — the limit is 1 MB"),
        "{html}"
    );
    let (status, html) = browser.upload(b"GIF89a not an image").await;
    assert_eq!(status, 415);
    assert!(html.contains("That file is not a JPEG or PNG"), "{html}");
    let (status, html) = browser.upload(&png(2, 32, 32)).await;
    assert_eq!(status, 202);
    assert!(html.contains("Writing captions"), "{html}");
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 1);
}

#[tokio::test]
async fn the_privacy_notice_describes_local_accounts_and_backups() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let (status, html) = app.browser().page("/privacy").await;
    assert_eq!(status, 200);
    assert!(html.contains("argon2id hash of your password"), "{html}");
    assert!(!html.contains("Amazon Cognito"), "{html}");
    assert!(html.contains("previous versions of a deleted image for 7 days"));
    assert!(html.contains("point-in-time-recovery backups hold deleted records for 35 days"));
}

#[tokio::test]
async fn history_tiles_poll_while_pending_and_show_the_caption_when_done() {
    let app = TestApp::spawn(test_config()).await;
    let alice = app.browser();
    alice.sign_up("alice", PASSWORD).await;
    let (status, card) = alice.upload(&png(5, 64, 48)).await;
    assert_eq!(status, 202, "{card}");
    let id = card_image_id(&card);
    app.wait_for(&app.token("alice", false).await, &id, "done")
        .await;
    let (status, tile) = alice.page(&format!("/images/{id}/tile")).await;
    assert_eq!(status, 200);
    assert!(
        tile.starts_with(&format!("<li class=\"tile\" id=\"tile-{id}\">")),
        "{tile}"
    );
    assert!(
        !tile.contains("hx-get"),
        "a captioned tile stops polling: {tile}"
    );
    assert!(
        !tile.contains("Captioning…") && !tile.contains("not captioned yet"),
        "{tile}"
    );
    assert!(
        !tile.contains("<span class=\"tile-caption\"></span>"),
        "{tile}"
    );

    // Pending: the tile fetches itself again until the captions are written.
    let pending_app = TestApp::spawn(without_captions(test_config())).await;
    let bea = pending_app.browser();
    bea.sign_up("bea", PASSWORD).await;
    let (_, card) = bea.upload(&png(6, 64, 48)).await;
    let pending = card_image_id(&card);
    let (_, history) = bea.page("/history").await;
    assert!(
        history.contains(&format!(
            "<li class=\"tile\" id=\"tile-{pending}\" hx-get=\"/images/{pending}/tile\" hx-trigger=\"every 2s\" hx-swap=\"outerHTML\">"
        )),
        "{history}"
    );
    let (status, tile) = bea.page(&format!("/images/{pending}/tile")).await;
    assert_eq!(status, 200);
    assert!(tile.contains("Captioning…"), "{tile}");

    // Someone else's tile is not found.
    let bob = pending_app.browser();
    bob.sign_up("bob", PASSWORD).await;
    let (status, html) = bob.page(&format!("/images/{pending}/tile")).await;
    assert_eq!(status, 404);
    assert!(!html.contains(&pending), "{html}");
}
