//! Who may create a local account: the sign-up policy (`open`, `invite`, `closed`), single-use
//! invite codes made on the admin page, and the per-address sign-up throttle.

use imgcap_webapp::config::SignUpPolicy;
use imgcap_webapp::Config;

use crate::harness::{test_config, without_captions, PageClient, TestApp};

const PASSWORD: &str = "a long enough password";

fn config(policy: Option<SignUpPolicy>) -> Config {
    let mut config = without_captions(test_config());
    config.sign_up_policy = policy;
    config
}

/// Signs up with an invite code; the answer.
pub async fn sign_up_invited(browser: &PageClient, name: &str, code: &str) -> reqwest::Response {
    browser
        .submit(
            "/sign-up",
            "/sign-up",
            &[
                ("user_name", name),
                ("password", PASSWORD),
                ("invite", code),
            ],
        )
        .await
}

#[tokio::test]
async fn open_sign_up_is_throttled_per_client_address() {
    let app = TestApp::spawn(config(None)).await;
    for name in ["ann", "ben", "cat"] {
        let response = app.browser().sign_up(name, PASSWORD).await;
        assert_eq!(response.status(), 303, "{name}");
    }
    // A mistake costs nothing: it is explained without spending the address's allowance...
    let response = app.browser().sign_up("x", PASSWORD).await;
    assert_eq!(response.status(), 400);
    // ... but a fourth account within the hour is refused.
    let response = app.browser().sign_up("dan", PASSWORD).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // One sign-up per 20 minutes at 3 an hour.
    assert!((1190..=1200).contains(&retry_after), "{retry_after}");
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Too many accounts were created from your network — try again in 20 minutes"),
        "{html}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts"), 3);
}

#[tokio::test]
async fn closed_sign_up_says_so_and_is_not_linked() {
    let app = TestApp::spawn(config(Some(SignUpPolicy::Closed))).await;
    let browser = app.browser();
    let (status, html) = browser.page("/sign-up").await;
    assert_eq!(status, 403);
    assert!(html.contains("Sign-up is closed on this service"), "{html}");
    let (status, html) = browser.page("/sign-in").await;
    assert_eq!(status, 200);
    assert!(!html.contains("href=\"/sign-up\""), "{html}");
    // The form refuses as well, with the same sentence.
    let response = browser
        .submit(
            "/sign-in",
            "/sign-up",
            &[("user_name", "ann"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 403);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Sign-up is closed on this service"));
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts"), 0);
}

#[tokio::test]
async fn invite_sign_up_needs_a_single_use_code_from_an_administrator() {
    let mut config = config(Some(SignUpPolicy::Invite));
    // Every try with a valid name and password counts against the address, wrong codes too.
    config.rate_limit.sign_ups_per_ip_per_hour = 10;
    let app = TestApp::spawn(config).await;
    app.account("root", PASSWORD, true).await;
    let admin = app.browser();
    assert_eq!(admin.sign_in("root", PASSWORD).await.status(), 303);
    let response = admin.submit("/admin", "/admin/invites", &[]).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    let start = html.find("id=\"invite-code\">").expect("the new code") + 17;
    let code = html[start..].split('<').next().unwrap().to_owned();

    let visitor = app.browser();
    let (_, form) = visitor.page("/sign-up").await;
    assert!(form.contains("name=\"invite\""), "{form}");
    for wrong in ["", "not-a-code"] {
        let response = sign_up_invited(&visitor, "ann", wrong).await;
        assert_eq!(response.status(), 403);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("That invite code is not valid"));
    }
    // A name already taken keeps the code.
    assert_eq!(sign_up_invited(&visitor, "root", &code).await.status(), 409);
    assert_eq!(sign_up_invited(&visitor, "ann", &code).await.status(), 303);
    // Used once, it is spent.
    let response = sign_up_invited(&app.browser(), "ben", &code).await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.count("SELECT COUNT(*) FROM accounts"), 2);
}
