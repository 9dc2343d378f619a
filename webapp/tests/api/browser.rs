//! End to end in headless Chromium (driven through chromedriver with fantoccini): sign up,
//! upload a real photo, see both captions, find it in the history, open it, delete all my
//! data, see the history empty; a non-admin gets 403 on the admin page; an oversize file gets
//! the friendly message. Each step's screenshot goes to `test-artifacts/e2e/` (input of
//! `scripts/make-demo-gif.py`). Skipped, saying so, when Chromium or chromedriver is missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::harness::{test_config, TestApp};

const CHROME_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(program: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Saves numbered screenshots of the steps.
struct Steps {
    dir: PathBuf,
    taken: usize,
}

impl Steps {
    fn new() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts/e2e");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir, taken: 0 }
    }

    async fn shot(&mut self, browser: &Client, name: &str) {
        self.taken += 1;
        let png = browser.screenshot().await.unwrap();
        std::fs::write(self.dir.join(format!("{:02}-{name}.png", self.taken)), png).unwrap();
    }
}

async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_person_uploads_a_photo_and_deletes_all_their_data_in_chromium() {
    let (Some(chromium), Some(chromedriver)) = (
        find_program(&["chromium", "chromium-browser", "google-chrome"]),
        find_program(&["chromedriver"]),
    ) else {
        println!(
            "SKIPPED browser end-to-end test: chromium and chromedriver are not installed \
             (Debian: apt-get install -y chromium chromium-driver; scripts/test.sh does this)"
        );
        return;
    };
    let app = TestApp::spawn(test_config()).await;
    let driver = Driver::start(&chromedriver).await;
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"binary": chromium, "args": CHROME_FLAGS}),
    );
    let browser = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("chromedriver opens a session");
    let mut steps = Steps::new();

    // Sign up.
    browser.goto(&app.url("/sign-up")).await.unwrap();
    browser
        .find(Locator::Id("user_name"))
        .await
        .unwrap()
        .send_keys("lena")
        .await
        .unwrap();
    browser
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("a long enough password")
        .await
        .unwrap();
    steps.shot(&browser, "sign-up").await;
    browser
        .find(Locator::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The sign-up page has an h1 too: wait for the upload page's file input first, or the h1
    // read may be the old page's, or go stale as the browser navigates.
    browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Id("file"))
        .await
        .unwrap();
    assert!(text_of(&browser, "h1").await.contains("Caption a photo"));

    // Upload a real photo: preview, then both captions once the job is done.
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/rocket.jpg");
    browser
        .find(Locator::Id("file"))
        .await
        .unwrap()
        .send_keys(photo.canonicalize().unwrap().to_str().unwrap())
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Css("#preview:not([hidden])"))
        .await
        .unwrap();
    steps.shot(&browser, "preview").await;
    browser
        .find(Locator::Id("upload-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let concise = text_of(&browser, "#upload-result [id^=concise-]").await;
    let creative = text_of(&browser, "#upload-result [id^=creative-]").await;
    assert!(!concise.is_empty() && !creative.is_empty());
    let card_alt = browser
        .find(Locator::Css("#upload-result .card-thumb img"))
        .await
        .unwrap()
        .attr("alt")
        .await
        .unwrap();
    assert_eq!(card_alt.as_deref(), Some(concise.as_str()));
    browser
        .execute(
            "document.querySelector('#upload-result .card').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    steps.shot(&browser, "captions").await;

    // History shows it; its detail has both captions and the original.
    browser.goto(&app.url("/history")).await.unwrap();
    let tile = browser
        .wait()
        .for_element(Locator::Css("#history-grid .tile img"))
        .await
        .unwrap();
    assert_eq!(
        tile.attr("alt").await.unwrap().as_deref(),
        Some(concise.as_str())
    );
    steps.shot(&browser, "history").await;
    browser
        .find(Locator::Css("#history-grid .tile a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text_of(&browser, "[id^=concise-]").await, concise);
    assert_eq!(text_of(&browser, "[id^=creative-]").await, creative);
    let original = browser.find(Locator::Css(".original img")).await.unwrap();
    let loaded = browser
        .execute(
            "return arguments[0].complete && arguments[0].naturalWidth > 0;",
            vec![serde_json::to_value(&original).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(
        loaded,
        json!(true),
        "the original loads through its signed URL"
    );
    steps.shot(&browser, "detail").await;

    // Delete all my data, with its confirmation step; the history is empty.
    browser.goto(&app.url("/account")).await.unwrap();
    browser
        .find(Locator::LinkText("Delete all my data…"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("confirm-delete"))
        .await
        .unwrap();
    steps.shot(&browser, "confirm-delete").await;
    browser
        .find(Locator::Id("confirm-delete"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(text_of(&browser, ".notice").await.contains("are deleted"));
    browser.goto(&app.url("/history")).await.unwrap();
    assert!(text_of(&browser, "#history-empty")
        .await
        .contains("No images yet"));
    steps.shot(&browser, "history-empty").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM images"), 0);

    // Not an admin: 403.
    browser.goto(&app.url("/admin")).await.unwrap();
    assert_eq!(
        text_of(&browser, ".eyebrow").await.to_lowercase(),
        "error 403"
    );
    assert_eq!(text_of(&browser, "h1").await, "Not allowed");
    steps.shot(&browser, "admin-forbidden").await;

    // An oversize file is refused in the page, with the friendly message.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("huge-photo.jpg");
    let mut bytes = vec![0u8; 10 * 1024 * 1024 + 1];
    bytes[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
    std::fs::write(&big, bytes).unwrap();
    browser.goto(&app.url("/upload")).await.unwrap();
    browser
        .find(Locator::Id("file"))
        .await
        .unwrap()
        .send_keys(big.to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        text_of(&browser, "#upload-error:not([hidden])").await,
        "Image too large — the limit is 10 MB"
    );
    steps.shot(&browser, "oversize").await;
    browser.close().await.unwrap();
    drop(driver);
}
