//! Spawning the app and talking to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use imgcap_webapp::config::ProviderKind;
use imgcap_webapp::domain::UserId;
use imgcap_webapp::embedded::auth::TokenAuthenticator;
use imgcap_webapp::embedded::db::Db;
use imgcap_webapp::startup::Background;
use imgcap_webapp::{Application, Config};
use serde_json::Value;

pub const TINY_BLIP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/tests/fixtures/tiny-blip"
);

pub fn test_data(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data")
            .join(name),
    )
    .unwrap()
}

/// A config for tests: fast polling and retries, the tiny model as the only captioner.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.worker.concurrency = 1;
    config.worker.poll_interval_ms = 50;
    config.worker.retry_base_ms = 10;
    config.worker.retry_max_ms = 50;
    config.captioner.chain = vec![ProviderKind::Embedded];
    config.captioner.embedded.model_dir = Some(TINY_BLIP.into());
    config
}

/// A chain whose only captioner can never answer (nothing listens on port 9): for tests that
/// do not need captions, without loading a model.
pub fn without_captions(mut config: Config) -> Config {
    config.captioner.chain = vec![ProviderKind::Endpoint];
    config.captioner.endpoint.url = Some("http://127.0.0.1:9/invocations".into());
    config.worker.concurrency = 0;
    config
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    /// Keeps the directory alive for restarts; removed when the last app drops it.
    _dir: std::sync::Arc<tempfile::TempDir>,
    server: tokio::task::JoinHandle<()>,
    background: Option<Background>,
}

impl TestApp {
    pub async fn spawn(config: Config) -> Self {
        let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
        Self::spawn_in(config, dir).await
    }

    async fn spawn_in(mut config: Config, dir: std::sync::Arc<tempfile::TempDir>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        config.listen_addr = addr;
        config.public_base_url = format!("http://{addr}");
        config.data_dir = dir.path().to_path_buf();
        let application = Application::build(config).await.unwrap();
        let background = application.start_background().await.unwrap();
        let router = application.router();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            data_dir: dir.path().to_path_buf(),
            _dir: dir,
            server,
            background: Some(background),
        }
    }

    /// Stops this app and starts a new one on the same data directory.
    pub async fn restart(mut self, config: Config) -> Self {
        self.stop().await;
        Self::spawn_in(config, self._dir.clone()).await
    }

    async fn stop(&mut self) {
        if let Some(background) = self.background.take() {
            background.shutdown().await;
        }
        self.server.abort();
        let _ = (&mut self.server).await;
    }

    pub async fn token(&self, user: &str, admin: bool) -> String {
        let db = Db::open(&self.data_dir.join("imgcap.sqlite3")).unwrap();
        let user: UserId = user.parse().unwrap();
        TokenAuthenticator::new(db)
            .create_token(&user, admin)
            .await
            .unwrap()
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data_dir.join("imgcap.sqlite3")).unwrap()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |row| row.get(0)).unwrap()
    }

    /// Every regular file under the blob directory, the temporary area excluded.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        for prefix in ["originals", "thumbnails"] {
            walk(&self.data_dir.join("blobs").join(prefix), &mut out);
        }
        out
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn upload(
        &self,
        token: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/images"))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    pub async fn upload_multipart(
        &self,
        token: &str,
        field: &str,
        bytes: &[u8],
    ) -> reqwest::Response {
        let boundary = "----imgcap-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"a.jpg\"\r\n\
             Content-Type: image/jpeg\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.client
            .post(self.url("/api/v1/images"))
            .bearer_auth(token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `DELETE path` as the token's user; the status.
    pub async fn delete(&self, token: &str, path: &str) -> u16 {
        let response = self
            .client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }

    /// Polls the image until its status is `status`.
    pub async fn wait_for(&self, token: &str, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (code, body) = self.get_json(token, &format!("/api/v1/images/{id}")).await;
            assert_eq!(code, 200, "{body}");
            if body["status"] == status {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "image {id} never became {status}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A small PNG of one colour, different for each `seed`.
pub fn png(seed: u32, width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (seed % 251) as u8,
            ((seed / 251) as u8).wrapping_add(x as u8),
            y as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

pub async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
