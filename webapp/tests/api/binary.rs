//! The real binary: `create-token` prints a token the app accepts, `create-admin` makes an
//! administrator account; a bad configuration stops it with a message naming the key.

use std::process::Command;

use crate::harness::{test_config, without_captions, TestApp};

const BIN: &str = env!("CARGO_BIN_EXE_imgcap-webapp");

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
