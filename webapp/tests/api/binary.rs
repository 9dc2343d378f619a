//! The real binary: `create-token` prints a token the app accepts, `create-admin` makes an
//! administrator account, `create-invite` a sign-up invite code; a bad configuration stops it
//! with a message naming the key.

use std::process::Command;

use crate::harness::{test_config, without_captions, TestApp};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_imgcap-webapp");

#[tokio::test]
async fn create_token_prints_a_working_token() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let output = Command::new(BIN)
        .args(["create-token", "--user", "zoe", "--admin"])
        .env("IMGCAP_DATA_DIR", &app.data_dir)
        .env("IMGCAP_CONFIG", app.data_dir.join("absent.toml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("imgcap_"));
    let (status, _) = app.get_json(&token, "/api/v1/admin/stats").await;
    assert_eq!(status, 200, "an admin token");
    let (status, _) = app.get_json(&format!("{token}x"), "/api/v1/images").await;
    assert_eq!(status, 401);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM api_tokens WHERE token_sha256 LIKE 'imgcap%'"),
        0,
        "only hashes are stored"
    );
}

#[tokio::test]
async fn create_admin_makes_an_account_that_signs_in_as_admin() {
    let app = TestApp::spawn(without_captions(test_config())).await;
    let create = |password: &'static str| {
        Command::new(BIN)
            .args(["create-admin", "--user", "Root"])
            .env("IMGCAP_DATA_DIR", &app.data_dir)
            .env("IMGCAP_CONFIG", app.data_dir.join("absent.toml"))
            .env("IMGCAP_ADMIN_PASSWORD", password)
            .output()
            .unwrap()
    };
    let output = create("the first admin password");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("administrator `root` created"));
    let browser = app.browser();
    assert_eq!(
        browser
            .sign_in("root", "the first admin password")
            .await
            .status(),
        303
    );
    assert_eq!(browser.page("/admin").await.0, 200);
    // Taken names and short passwords are refused with the reason.
    let output = create("the first admin password");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("that user name is taken"));
    let output = Command::new(BIN)
        .args(["create-admin", "--user", "other"])
        .env("IMGCAP_DATA_DIR", &app.data_dir)
        .env("IMGCAP_CONFIG", app.data_dir.join("absent.toml"))
        .env_remove("IMGCAP_ADMIN_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 10 characters"));
}

#[tokio::test]
async fn create_invite_prints_a_single_use_code_for_the_sign_up_page() {
    let mut config = without_captions(test_config());
    config.sign_up_policy = Some(imgcap_webapp::config::SignUpPolicy::Invite);
    let app = TestApp::spawn(config).await;
    let output = Command::new(BIN)
        .arg("create-invite")
        .env("IMGCAP_DATA_DIR", &app.data_dir)
        .env("IMGCAP_CONFIG", app.data_dir.join("absent.toml"))
        .env("IMGCAP_SIGN_UP_POLICY", "invite")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("single use, valid for 7 days"), "{stderr}");
    let code = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_eq!(
        app.count("SELECT COUNT(*) FROM invites WHERE used_by IS NULL"),
        1,
        "stored, as its hash"
    );
    assert_eq!(
        crate::sign_up::sign_up_invited(&app.browser(), "newcomer", &code)
            .await
            .status(),
        303
    );
    assert_eq!(
        crate::sign_up::sign_up_invited(&app.browser(), "second", &code)
            .await
            .status(),
        403
    );
}

#[test]
fn a_bad_configuration_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value, needle) in [
        ("IMGCAP_MODE", "aws", "IMGCAP_S3_BUCKET"),
        ("IMGCAP_UPLOAD_MAX_BYTES", "ten", "IMGCAP_UPLOAD_MAX_BYTES"),
    ] {
        let output = Command::new(BIN)
            .env("IMGCAP_DATA_DIR", dir.path())
            .env("IMGCAP_CONFIG", dir.path().join("absent.toml"))
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{stderr}");
    }
}

/// The repository's `.env.example`, loaded as it is (every `NAME=value` line, as `docker run
/// --env-file` or `set -a; . ./.env.example` would), starts the app: it serves `/healthz` and the
/// sign-in page. Only what a test must isolate is set on top: the data directory, the port and
/// the tiny model (the example leaves the model directory empty, which downloads from the hub).
#[tokio::test]
async fn the_env_example_starts_the_app_as_it_is() {
    let example = std::fs::read_to_string(crate::docs::ENV_EXAMPLE).unwrap();
    let settings: Vec<(String, String)> = example
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l
                .split_once('=')
                .unwrap_or_else(|| panic!(".env.example: not NAME=value: {l}"));
            assert!(
                !value.starts_with(['"', '\'']) && !value.contains(' '),
                ".env.example: {name} is not read the same by docker --env-file and sh: {value}"
            );
            (name.to_owned(), value.to_owned())
        })
        .collect();
    assert!(settings.len() > 50, "{settings:?}");
    assert!(
        settings
            .iter()
            .any(|(name, value)| name == "IMGCAP_OIDC_SCOPES" && value.is_empty()),
        "the example keeps the [oidc] section off"
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .envs(settings)
        .env("IMGCAP_DATA_DIR", dir.path().join("data"))
        .env("IMGCAP_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("IMGCAP_METRICS_LISTEN_ADDR", "127.0.0.1:0")
        .env(
            "IMGCAP_CAPTIONER_EMBEDDED_MODEL_DIR",
            crate::harness::TINY_BLIP,
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = KillOnDrop(command.spawn().unwrap());
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            panic!("the app stopped ({status}): {stderr}");
        }
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
            assert_eq!(response.status(), 200);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the app did not serve /healthz within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let page = client.get(format!("{base}/sign-in")).send().await.unwrap();
    assert_eq!(page.status(), 200, "local accounts, no [oidc] section");
}

/// Settings of an embedded app whose data lives in `dir`: no config file, metrics on a free port.
pub(crate) fn embedded_settings(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        (
            "IMGCAP_CONFIG",
            dir.join("absent.toml").display().to_string(),
        ),
        ("IMGCAP_DATA_DIR", dir.join("data").display().to_string()),
        ("IMGCAP_METRICS_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
    ]
}

/// `create-token --user zoe` in an environment of only `settings`; the token.
pub(crate) fn create_token(settings: &[(&str, String)]) -> String {
    let output = Command::new(BIN)
        .args(["create-token", "--user", "zoe"])
        .env_clear()
        .envs(settings.iter().map(|(name, value)| (name, value)))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A loopback port nothing listens on (for the binary's `IMGCAP_LISTEN_ADDR`).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) struct KillOnDrop(pub(crate) std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The text log escapes control characters: a JSON field name with a newline, which the refusal
/// is logged with, does not start a log line of its own.
#[tokio::test]
async fn control_characters_cannot_forge_text_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = embedded_settings(dir.path());
    settings.extend([
        ("IMGCAP_LOG_FORMAT", "text".to_owned()),
        ("IMGCAP_CAPTIONER_CHAIN", "endpoint".to_owned()),
        (
            "IMGCAP_CAPTIONER_ENDPOINT_URL",
            "http://127.0.0.1:9/invocations".to_owned(),
        ),
        ("IMGCAP_WORKER_CONCURRENCY", "0".to_owned()),
    ]);
    let token = create_token(&settings);
    let port = free_port();
    let mut child = KillOnDrop(
        Command::new(BIN)
            .env_clear()
            .envs(settings)
            .env("IMGCAP_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the app did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let response = client
        .patch(format!("{base}/api/v1/images/{}", ulid::Ulid::new()))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"concise\nINFO forged: admin signed in": "x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let _ = child.0.kill();
    let _ = child.0.wait();
    let mut log = String::new();
    std::io::Read::read_to_string(child.0.stdout.as_mut().unwrap(), &mut log).unwrap();
    assert!(
        log.contains(r"concise\nINFO forged"),
        "the refusal is logged, escaped: {log}"
    );
    assert!(
        !log.lines().any(|line| line.starts_with("INFO forged")),
        "a forged line: {log}"
    );
}
