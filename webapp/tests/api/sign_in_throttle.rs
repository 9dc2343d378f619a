//! Password guessing on the local accounts' sign-in: failures are counted per user name and per
//! client address, and once too many failed the form answers 429 with `Retry-After` without
//! checking the password, the same for unknown user names. A browser that signed in to the
//! account before (it holds the account's device cookie) is counted on its own, so nobody
//! else's failures lock the owner out of it.

use imgcap_webapp::Config;

use crate::harness::{test_config, without_captions, PageClient, TestApp};

const PASSWORD: &str = "a long enough password";
const WRONG: &str = "not the password at all";

fn config(per_account: u32, per_ip: u32) -> Config {
    let mut config = without_captions(test_config());
    config.rate_limit.sign_in_failures_per_account = per_account;
    config.rate_limit.sign_in_failures_per_ip = per_ip;
    config
}

/// Signs in and returns the status.
async fn status(browser: &PageClient, name: &str, password: &str) -> u16 {
    browser.sign_in(name, password).await.status().as_u16()
}

/// Signs in expecting the throttled answer: 429, a `Retry-After` within the window, and the
/// message in the form.
async fn assert_throttled(browser: &PageClient, name: &str, password: &str) {
    let response = browser.sign_in(name, password).await;
    assert_eq!(response.status(), 429, "{name}");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&retry_after), "{retry_after}");
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Too many sign-in attempts — try again in 15 minutes"),
        "{html}"
    );
}

#[tokio::test]
async fn after_five_failures_even_the_right_password_is_refused_known_or_unknown_name() {
    let app = TestApp::spawn(config(5, 20)).await;
    app.account("alice", PASSWORD, false).await;
    let browser = app.browser();
    for name in ["alice", "nobody"] {
        for _ in 0..5 {
            assert_eq!(status(&browser, name, WRONG).await, 401, "{name}");
        }
        assert_throttled(&browser, name, PASSWORD).await;
        // The name as typed differently is the same account.
        assert_throttled(&browser, &format!(" {} ", name.to_uppercase()), PASSWORD).await;
    }
    assert!(browser.cookie("imgcap_session").is_none());

    // Refused attempts are counted apart from wrong passwords.
    let text = crate::harness::scrape_metrics(&app).await;
    for line in [
        "imgcap_web_sign_ins_total{outcome=\"refused\"} 10",
        "imgcap_web_sign_ins_total{outcome=\"throttled\"} 4",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}

#[tokio::test]
async fn a_successful_sign_in_starts_the_account_count_again() {
    let app = TestApp::spawn(config(3, 20)).await;
    app.account("alice", PASSWORD, false).await;
    let browser = app.browser();
    for _ in 0..2 {
        assert_eq!(status(&browser, "alice", WRONG).await, 401);
    }
    // A signed-in browser is sent past the form: sign in with another.
    assert_eq!(status(&app.browser(), "alice", PASSWORD).await, 303);
    for _ in 0..3 {
        assert_eq!(status(&browser, "alice", WRONG).await, 401);
    }
    assert_throttled(&browser, "alice", PASSWORD).await;
}

#[tokio::test]
async fn other_accounts_from_the_same_address_sign_in_until_the_address_limit() {
    let app = TestApp::spawn(config(2, 5)).await;
    app.account("alice", PASSWORD, false).await;
    app.account("bob", PASSWORD, false).await;
    let browser = app.browser();
    for _ in 0..2 {
        assert_eq!(status(&browser, "alice", WRONG).await, 401);
    }
    assert_throttled(&browser, "alice", PASSWORD).await;
    // Two failures of the address so far; bob's sign-in does not count against it.
    assert_eq!(status(&app.browser(), "bob", PASSWORD).await, 303);
    for name in ["carol", "carol", "dave"] {
        assert_eq!(status(&browser, name, WRONG).await, 401, "{name}");
    }
    // Five failures: the address is spent, for every account.
    assert_throttled(&app.browser(), "bob", PASSWORD).await;
    assert_throttled(&browser, "erin", PASSWORD).await;
}

/// Signs in, then out again: the browser keeps only the account's device cookie.
async fn sign_in_and_out(browser: &PageClient, name: &str) {
    assert_eq!(status(browser, name, PASSWORD).await, 303);
    assert!(browser.cookie("imgcap_device").is_some());
    let response = browser.submit("/upload", "/sign-out", &[]).await;
    assert_eq!(response.status(), 303);
    assert!(browser.cookie("imgcap_session").is_none());
}

#[tokio::test]
async fn an_attacker_cannot_lock_the_owner_out_of_a_browser_they_signed_in_from() {
    // The attacker guesses from the owner's own address: even the address's count is spent.
    let app = TestApp::spawn(config(5, 5)).await;
    app.account("alice", PASSWORD, false).await;
    let owner = app.browser();
    sign_in_and_out(&owner, "alice").await;

    let attacker = app.browser();
    for _ in 0..5 {
        assert_eq!(status(&attacker, "alice", WRONG).await, 401);
    }
    // The attacker is throttled, even with the right password...
    assert_throttled(&attacker, "alice", PASSWORD).await;
    // ... and so is every browser that has not signed in to the account before.
    assert_throttled(&app.browser(), "alice", PASSWORD).await;
    // The owner's browser still signs in.
    assert_eq!(status(&owner, "alice", PASSWORD).await, 303);
    assert!(owner.cookie("imgcap_session").is_some());
    // The privacy notice says what the second cookie is for.
    let (_, html) = app.browser().page("/privacy").await;
    assert!(
        html.contains("a second cookie marks this browser"),
        "{html}"
    );
}

#[tokio::test]
async fn a_trusted_browser_has_its_own_failure_limit_and_only_for_its_account() {
    let app = TestApp::spawn(config(3, 20)).await;
    app.account("alice", PASSWORD, false).await;
    app.account("bob", PASSWORD, false).await;
    let browser = app.browser();
    sign_in_and_out(&browser, "alice").await;
    for _ in 0..3 {
        assert_eq!(status(&browser, "alice", WRONG).await, 401);
    }
    assert_throttled(&browser, "alice", PASSWORD).await;
    // Its failures were not the account's: other browsers still sign in to it.
    assert_eq!(status(&app.browser(), "alice", PASSWORD).await, 303);
    // Alice's device cookie proves nothing for bob: this browser is untrusted there.
    for _ in 0..3 {
        assert_eq!(status(&browser, "bob", WRONG).await, 401);
    }
    assert_throttled(&browser, "bob", PASSWORD).await;
    // A tampered device cookie is no device cookie: once the account's count is spent, it is
    // throttled like any stranger.
    let attacker = app.browser();
    for _ in 0..3 {
        assert_eq!(status(&attacker, "alice", WRONG).await, 401);
    }
    let tampered = app.browser();
    let cookie = browser.cookie("imgcap_device").unwrap();
    tampered.set_cookie("imgcap_device", &format!("x{cookie}"));
    assert_throttled(&tampered, "alice", PASSWORD).await;
}
