//! End to end in headless Chromium (driven through chromedriver with fantoccini): the journey
//! of one person (`journey`), bulk upload with per-file results and the upload limit
//! (`bulk_upload`), a WCAG 2.1 AA audit of every page with axe-core (`accessibility`) and the
//! pages used by keyboard alone (`keyboard`). Each test is skipped, saying so, when Chromium or
//! chromedriver is missing; axe-core comes from npm (`scripts/ensure-axe-core.sh`).

mod accessibility;
mod bulk_upload;
mod journey;
mod keyboard;
mod search;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::harness::TestApp;

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

/// The password of the accounts these tests make.
const PASSWORD: &str = "a long enough password";

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
        let url = format!("http://127.0.0.1:{port}");
        // Ready when its /status says so: an open port alone was seen to reset the first
        // session request while four browser tests started at once.
        for _ in 0..200 {
            let status = match reqwest::get(format!("{url}/status")).await {
                Ok(response) => response.json::<Value>().await.ok(),
                Err(_) => None,
            };
            if status.is_some_and(|s| s["value"]["ready"] == json!(true)) {
                return Self { child, url };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut driver = Self { child, url };
        let _ = driver.child.kill();
        panic!(
            "chromedriver did not report ready on {} within 20 s",
            driver.url
        );
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session; its chromedriver stops when this drops.
struct Browser {
    client: Client,
    _driver: Driver,
}

impl Browser {
    /// `None`, saying so, when Chromium or chromedriver is not installed.
    async fn start(test: &str) -> Option<Self> {
        let (Some(chromium), Some(chromedriver)) = (
            find_program(&["chromium", "chromium-browser", "google-chrome"]),
            find_program(&["chromedriver"]),
        ) else {
            println!(
                "SKIPPED browser test {test}: chromium and chromedriver are not installed \
                 (Debian: apt-get install -y chromium chromium-driver; scripts/test.sh does this)"
            );
            return None;
        };
        let driver = Driver::start(&chromedriver).await;
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": CHROME_FLAGS}),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("chromedriver opens a session");
        Some(Self {
            client,
            _driver: driver,
        })
    }
}

/// Saves numbered screenshots of the steps under `test-artifacts/<name>/`.
struct Steps {
    dir: PathBuf,
    taken: usize,
}

impl Steps {
    fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../test-artifacts")
            .join(name);
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

/// Clicks the element `css` selects.
async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Types `text` into the element whose id is `id`.
async fn type_into(browser: &Client, id: &str, text: &str) {
    browser
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no #{id}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// A file from the repository's `tests/data`, as an absolute path for a file input.
fn test_file(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(name)
        .canonicalize()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// Signs in through the sign-in form, landing on the upload page.
async fn sign_in(browser: &Client, app: &TestApp, user: &str) {
    browser.goto(&app.url("/sign-in")).await.unwrap();
    for (field, value) in [("user_name", user), ("password", PASSWORD)] {
        type_into(browser, field, value).await;
    }
    click(browser, "main button[type=submit]").await;
    wait_for_upload_page(browser).await;
}

/// The sign-in and sign-up pages have an h1 and a form too: wait for the upload page's file
/// input, or a read may see the old page, or go stale as the browser navigates.
async fn wait_for_upload_page(browser: &Client) {
    browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Id("file"))
        .await
        .unwrap();
}

/// Uploads a photo through the upload page and waits for its card's concise caption.
async fn upload_photo(browser: &Client, name: &str) -> String {
    type_into(browser, "file", &test_file(name)).await;
    click(browser, "#upload-button").await;
    text_of(browser, "#upload-result [id^=concise-]").await
}

fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/browser/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core is not installed ({}: {e}): run scripts/ensure-axe-core.sh \
                 (scripts/test.sh does)",
                path.display()
            )
        })
    })
}

/// Runs axe-core on the page as it is now with the WCAG 2.0 and 2.1 A and AA rules and fails,
/// listing each violation and where it is, unless there are none.
async fn assert_accessible(browser: &Client, page: &str) {
    let loaded = browser
        .execute("return typeof window.axe === 'object';", vec![])
        .await
        .unwrap();
    if loaded != json!(true) {
        browser.execute(axe_source(), vec![]).await.unwrap();
    }
    let found = browser
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } })
              .then((results) => done(results.violations.map((v) => ({
                rule: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(" ") + " — " + n.failureSummary.replace(/\s+/g, " ")),
              }))))
              .catch((error) => done([{ rule: "axe-error", impact: "", help: String(error), nodes: [] }]));"#,
            vec![],
        )
        .await
        .unwrap();
    let violations = found.as_array().expect("axe answers a list");
    let report: Vec<String> = violations
        .iter()
        .map(|v| {
            let nodes: Vec<String> = v["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| format!("    - {}", n.as_str().unwrap_or("?")))
                .collect();
            format!(
                "  {} ({}): {}\n{}",
                v["rule"].as_str().unwrap_or("?"),
                v["impact"].as_str().unwrap_or("?"),
                v["help"].as_str().unwrap_or("?"),
                nodes.join("\n")
            )
        })
        .collect();
    assert!(
        violations.is_empty(),
        "WCAG 2.1 AA violations on the {page} page:\n{}",
        report.join("\n")
    );
}

/// Presses one key in whatever element has the focus, as a person at a keyboard does.
async fn press(browser: &Client, key: Key) {
    type_keys(browser, &key.to_string()).await;
}

/// Types the characters into whatever element has the focus.
async fn type_keys(browser: &Client, text: &str) {
    let actions = text
        .chars()
        .fold(KeyActions::new("keyboard".into()), |a, c| {
            a.then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c })
        });
    browser.perform_actions(actions).await.unwrap();
}

/// Presses Tab until the focused element matches `css`, checking at every stop that the focus
/// is visible: an outline on the element, or on the label of a visually hidden file input.
async fn tab_to(browser: &Client, css: &str) {
    for _ in 0..40 {
        press(browser, Key::Tab).await;
        let stop: Value = browser
            .execute(
                r#"const el = document.activeElement;
                const shown = el.matches(".visually-hidden") ? document.querySelector(`label[for="${el.id}"]`) : el;
                const style = getComputedStyle(shown);
                return {
                  matches: el.matches(arguments[0]),
                  visible: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
                  name: el.outerHTML.slice(0, 120),
                };"#,
                vec![json!(css)],
            )
            .await
            .unwrap();
        assert_eq!(
            stop["visible"],
            json!(true),
            "no visible focus on {}",
            stop["name"]
        );
        if stop["matches"] == json!(true) {
            return;
        }
    }
    panic!("40 presses of Tab did not reach {css}");
}
