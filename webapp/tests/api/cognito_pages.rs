//! The pages and the REST API with Cognito sign-in (`[oidc]` configured), driven like a browser
//! against the loopback provider of `oidc_provider`.

use std::collections::HashMap;

use imgcap_webapp::auth::oidc::OidcSettings;
use imgcap_webapp::Application;
use openidconnect::url::Url;
use serde_json::json;

use crate::harness::{
    find_set_cookie, png, set_cookie_of, test_config, without_captions, PageClient, TestApp,
};
use crate::oidc_provider::{TestProvider, CLIENT_ID};

const MEMBER: &str = "7c4e1a2b-93d5-4f6a-8b0c-1d2e3f405162";
const ADMIN: &str = "0f9d8c7b-6a5e-4d3c-8b2a-190817263544";
/// Where Cognito sends the browser after its sign-out (never contacted).
const SIGNED_OUT_URL: &str = "http://127.0.0.1:9/";

fn settings(provider: &TestProvider) -> OidcSettings {
    OidcSettings {
        logout_url: Some(format!("{}/logout", provider.base)),
        logout_redirect_url: Some(SIGNED_OUT_URL.into()),
        ..provider.settings()
    }
}

async fn spawn(provider: &TestProvider) -> TestApp {
    let mut config = without_captions(test_config());
    config.oidc = Some(settings(provider));
    TestApp::spawn(config).await
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()["location"].to_str().unwrap()
}

/// Starts a sign-in at `/auth/login` and plays the hosted UI; returns the callback path.
async fn through_hosted_ui(provider: &TestProvider, browser: &PageClient) -> String {
    let response = browser.get("/auth/login").await;
    assert_eq!(response.status(), 303);
    let (code, state) = provider
        .authorize(&Url::parse(location(&response)).unwrap())
        .await;
    let query = serde_urlencoded::to_string([("code", code), ("state", state)]).unwrap();
    format!("/auth/callback?{query}")
}

/// A complete sign-in of the provider's current user; returns the callback's answer.
async fn sign_in(provider: &TestProvider, browser: &PageClient) -> reqwest::Response {
    let callback = through_hosted_ui(provider, browser).await;
    browser.get(&callback).await
}

#[tokio::test]
async fn cognito_sign_in_starts_a_session_and_the_admin_group_makes_an_admin() {
    let provider = TestProvider::start().await;
    let app = spawn(&provider).await;
    let browser = app.browser();

    // Every way in leads to the hosted UI.
    let response = browser.get("/upload").await;
    assert_eq!(location(&response), "/sign-in");
    for page in ["/sign-in", "/sign-up"] {
        let response = browser.get(page).await;
        assert_eq!(response.status(), 303, "{page}");
        assert_eq!(location(&response), "/auth/login", "{page}");
    }
    let response = browser.get("/auth/login").await;
    assert_eq!(response.status(), 303);
    let authorize = Url::parse(location(&response)).unwrap();
    assert!(
        authorize
            .as_str()
            .starts_with(&format!("{}/oauth2/authorize?", provider.base)),
        "{authorize}"
    );
    let query: HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43, "a base64url SHA-256");
    assert!(!query["state"].is_empty() && !query["nonce"].is_empty());
    let pending = set_cookie_of(&response, "imgcap_sign_in").to_owned();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/auth", "Max-Age=600"] {
        assert!(pending.contains(flag), "{pending} lacks {flag}");
    }
    assert!(
        !pending.contains("Secure"),
        "plain-HTTP localhost: {pending}"
    );
    for secret in [&query["state"], &query["nonce"]] {
        assert!(
            !pending.contains(secret.as_str()),
            "kept encoded: {pending}"
        );
    }

    // The hosted UI signs a member of no group in.
    provider.set_user(MEMBER, &[]);
    let (code, state) = provider.authorize(&authorize).await;
    let callback = serde_urlencoded::to_string([("code", code), ("state", state)]).unwrap();
    let response = browser.get(&format!("/auth/callback?{callback}")).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/");
    let session = set_cookie_of(&response, "imgcap_session");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(session.contains(flag), "{session} lacks {flag}");
    }
    let cleared = set_cookie_of(&response, "imgcap_sign_in");
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("Path=/auth"),
        "{cleared}"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM sessions WHERE user_id = '{MEMBER}' AND admin = 0"
        )),
        1
    );

    let (status, html) = browser.page("/upload").await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("Signed in as <strong>{MEMBER}</strong>")));
    assert_eq!(browser.upload(&png(1, 32, 32)).await.0, 202);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM images WHERE user_id = '{MEMBER}'"
        )),
        1
    );
    assert_eq!(browser.page("/admin").await.0, 403);
    // Signed in already: no second trip to the provider.
    assert_eq!(location(&browser.get("/auth/login").await), "/upload");

    provider.set_user(ADMIN, &["editors", "admin"]);
    let admin = app.browser();
    assert_eq!(sign_in(&provider, &admin).await.status(), 303);
    let (status, html) = admin.page("/admin").await;
    assert_eq!(status, 200);
    assert!(html.contains("Flush the queue"), "{html}");
}

#[tokio::test]
async fn a_replayed_or_unexpected_callback_signs_no_one_in() {
    let provider = TestProvider::start().await;
    let app = spawn(&provider).await;
    provider.set_user(MEMBER, &[]);
    let browser = app.browser();
    let callback = through_hosted_ui(&provider, &browser).await;
    let pending = browser.cookie("imgcap_sign_in").unwrap();
    assert_eq!(browser.get(&callback).await.status(), 303);

    // Someone with the callback URL and even the pending-login cookie gets nowhere.
    let replay = app.browser();
    replay.set_cookie("imgcap_sign_in", &pending);
    let response = replay.get(&callback).await;
    assert_eq!(response.status(), 400);
    assert!(find_set_cookie(&response, "imgcap_session").is_none());
    let html = response.text().await.unwrap();
    assert!(
        html.contains("This sign-in link has expired or was already used")
            && html.contains(r#"href="/auth/login""#),
        "{html}"
    );
    assert_eq!(replay.get("/upload").await.status(), 303);

    // A callback this browser never started, or with a forged pending login, is refused too.
    for cookie in [None, Some(format!("{pending}x"))] {
        let stranger = app.browser();
        if let Some(cookie) = &cookie {
            stranger.set_cookie("imgcap_sign_in", cookie);
        }
        let callback = through_hosted_ui(&provider, &app.browser()).await;
        let response = stranger.get(&callback).await;
        assert_eq!(response.status(), 400, "{cookie:?}");
        assert!(find_set_cookie(&response, "imgcap_session").is_none());
    }
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM sessions WHERE user_id = '{MEMBER}'"
        )),
        1
    );
}

#[tokio::test]
async fn a_sign_in_the_provider_refused_is_explained() {
    let provider = TestProvider::start().await;
    let app = spawn(&provider).await;
    let browser = app.browser();
    let response = browser.get("/auth/login").await;
    let authorize = Url::parse(location(&response)).unwrap();
    let state = authorize
        .query_pairs()
        .find(|(name, _)| name == "state")
        .unwrap()
        .1
        .into_owned();
    let query = serde_urlencoded::to_string([
        ("error", "access_denied"),
        ("error_description", "User cancelled login"),
        ("state", &state),
    ])
    .unwrap();
    let response = browser.get(&format!("/auth/callback?{query}")).await;
    assert_eq!(response.status(), 400);
    assert!(find_set_cookie(&response, "imgcap_session").is_none());
    assert!(set_cookie_of(&response, "imgcap_sign_in").contains("Max-Age=0"));
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Sign-in was cancelled or not allowed"),
        "{html}"
    );
    assert!(
        !html.contains("User cancelled login"),
        "the cause is logged only"
    );
    assert_eq!(browser.get("/upload").await.status(), 303);
}

#[tokio::test]
async fn sign_out_ends_the_session_and_the_cognito_session() {
    let provider = TestProvider::start().await;
    let app = spawn(&provider).await;
    provider.set_user(MEMBER, &[]);
    let browser = app.browser();
    sign_in(&provider, &browser).await;
    let first_session = browser.cookie("imgcap_session").unwrap();

    // The sign-out form may lead to the provider's sign-out page, and nowhere else.
    let response = browser.get("/account").await;
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains(&format!("form-action 'self' {};", provider.base)),
        "{policy}"
    );

    // Without the CSRF token nothing happens.
    let response = browser.post_form("/sign-out", &[]).await;
    assert_eq!(response.status(), 403);
    assert_eq!(browser.get("/upload").await.status(), 200);

    let response = browser.submit("/account", "/sign-out", &[]).await;
    assert_eq!(response.status(), 303);
    let logout = Url::parse(location(&response)).unwrap();
    assert_eq!(
        logout.as_str().split('?').next().unwrap(),
        format!("{}/logout", provider.base)
    );
    let query: HashMap<_, _> = logout.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["logout_uri"], SIGNED_OUT_URL);
    assert!(set_cookie_of(&response, "imgcap_session").contains("Max-Age=0"));
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions"), 0);
    browser.set_cookie("imgcap_session", &first_session);
    assert_eq!(browser.get("/upload").await.status(), 303);

    // Signing in again gives a session with a new id.
    assert_eq!(sign_in(&provider, &browser).await.status(), 303);
    assert_ne!(browser.cookie("imgcap_session").unwrap(), first_session);
    assert_eq!(browser.get("/upload").await.status(), 200);
}

#[tokio::test]
async fn the_api_takes_cognito_access_tokens_and_personal_tokens_but_not_id_tokens() {
    let provider = TestProvider::start().await;
    let app = spawn(&provider).await;

    provider.set_user(MEMBER, &[]);
    let access = provider.access_token(&provider.access_claims());
    let (status, body) = app.get_json(&access, "/api/v1/images").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.get_json(&access, "/api/v1/admin/stats").await.0, 403);
    let response = app.upload(&access, png(2, 32, 32), "image/png").await;
    assert_eq!(response.status(), 202);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM images WHERE user_id = '{MEMBER}'"
        )),
        1
    );

    // An ID token is validly signed, but it is not an access token.
    let mut id_claims = provider.access_claims();
    id_claims["token_use"] = json!("id");
    id_claims["aud"] = json!(CLIENT_ID);
    id_claims.as_object_mut().unwrap().remove("client_id");
    let id_token = provider.access_token(&id_claims);
    assert_eq!(app.get_json(&id_token, "/api/v1/images").await.0, 401);

    provider.set_user(ADMIN, &["admin"]);
    let admin_access = provider.access_token(&provider.access_claims());
    assert_eq!(
        app.get_json(&admin_access, "/api/v1/admin/stats").await.0,
        200
    );

    // Personal tokens still work, and only as themselves.
    let personal = app.token(MEMBER, false).await;
    let (status, body) = app.get_json(&personal, "/api/v1/images").await;
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");
    let unknown = format!("imgcap_{}", "A".repeat(43));
    assert_eq!(app.get_json(&unknown, "/api/v1/images").await.0, 401);

    // A token made on the Account page does not carry the admin group along: membership is
    // checked at each sign-in, a token would keep it after removal from the group.
    let browser = app.browser();
    sign_in(&provider, &browser).await;
    let response = browser.submit("/account", "/account/tokens", &[]).await;
    let html = response.text().await.unwrap();
    let start = html.find("imgcap_").expect("the new token is shown");
    let made: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect();
    assert_eq!(app.get_json(&made, "/api/v1/images").await.0, 200);
    assert_eq!(app.get_json(&made, "/api/v1/admin/stats").await.0, 403);
}

#[tokio::test]
async fn local_account_forms_are_not_served_with_cognito() {
    let provider = TestProvider::start().await;
    let app = spawn(&provider).await;
    app.account("alice", "a long enough password", false).await;
    let browser = app.browser();
    let credentials = [
        ("user_name", "alice"),
        ("password", "a long enough password"),
    ];
    for form in ["/sign-in", "/sign-up"] {
        let response = browser.submit("/privacy", form, &credentials).await;
        assert_eq!(response.status(), 404, "{form}");
        assert!(
            find_set_cookie(&response, "imgcap_session").is_none(),
            "{form}"
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts"), 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions"), 0);

    // Without [oidc], the local forms are there and the provider's routes are not.
    let local = TestApp::spawn(without_captions(test_config())).await;
    let browser = local.browser();
    assert_eq!(browser.page("/sign-in").await.0, 200);
    assert_eq!(browser.page("/auth/login").await.0, 404);
    assert_eq!(browser.page("/auth/callback?code=c&state=s").await.0, 404);
}

#[tokio::test]
async fn start_up_fails_clearly_when_the_provider_cannot_be_reached() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = without_captions(test_config());
    config.data_dir = dir.path().to_path_buf();
    config.oidc = Some(OidcSettings {
        issuer: "http://127.0.0.1:9/pool".into(),
        client_id: CLIENT_ID.into(),
        redirect_url: "http://127.0.0.1:9/auth/callback".into(),
        ..OidcSettings::default()
    });
    let err = match Application::build(config).await {
        Ok(_) => panic!("started without the identity provider"),
        Err(err) => format!("{err:#}"),
    };
    for part in [
        "[oidc]",
        "http://127.0.0.1:9/pool/.well-known/openid-configuration",
    ] {
        assert!(err.contains(part), "{err} should name {part}");
    }
}

#[tokio::test]
async fn the_privacy_notice_says_cognito_holds_the_account() {
    let provider = TestProvider::start().await;
    let app = spawn(&provider).await;
    let (status, html) = app.browser().page("/privacy").await;
    assert_eq!(status, 200);
    assert!(html.contains("held by Amazon Cognito"), "{html}");
    assert!(!html.contains("argon2id"), "{html}");
}
