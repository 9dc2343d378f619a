//! Spawning the app and talking to it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use imgcap_webapp::adapters::embedded::db::Db;
use imgcap_webapp::auth::local_accounts::LocalAccounts;
use imgcap_webapp::config::ProviderKind;
use imgcap_webapp::core::domain::UserId;
use imgcap_webapp::http::server::Listeners;
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

/// The app's listener and the metrics listener on free loopback ports.
pub async fn local_listeners() -> Listeners {
    let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
    Listeners {
        app: bind().await.unwrap(),
        metrics: bind().await.unwrap(),
    }
}

/// The metrics listener's text exposition.
pub async fn scrape_metrics(app: &TestApp) -> String {
    let response = app
        .client
        .get(format!("{}/metrics", app.metrics_base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// A config for tests: fast polling and retries, the tiny model as the only captioner.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.worker.concurrency = 1;
    config.worker.poll_interval_ms = 50;
    config.worker.retry_base_ms = 10;
    config.worker.retry_max_ms = 50;
    config.worker.captioner_wait_ms = 50;
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
    /// The metrics listener's base URL.
    pub metrics_base: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    /// What the app was started with.
    config: Config,
    /// Keeps the directory alive for restarts; removed when the last app drops it.
    _dir: std::sync::Arc<tempfile::TempDir>,
    server: tokio::task::JoinHandle<()>,
    background: Option<Background>,
}

impl TestApp {
    /// The app with its captioners ready: an embedded model (which loads in the background)
    /// has loaded, so tests that count calls or attempts see no job waiting for it.
    pub async fn spawn(config: Config) -> Self {
        let app = Self::spawn_loading(config).await;
        app.wait_for_captioners_to_load().await;
        app
    }

    /// The app as soon as it serves, its embedded model possibly still loading.
    pub async fn spawn_loading(config: Config) -> Self {
        let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
        Self::spawn_in(config, dir).await
    }

    /// Polls `/readyz` until no captioner is `loading`.
    pub async fn wait_for_captioners_to_load(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, body) = json(self.client.get(self.url("/readyz")).send().await.unwrap()).await;
            let captioners = body["captioners"].as_array().cloned().unwrap_or_default();
            if captioners.iter().all(|c| c["state"] != "loading") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the captioners never loaded: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn spawn_in(mut config: Config, dir: std::sync::Arc<tempfile::TempDir>) -> Self {
        let listeners = local_listeners().await;
        let addr: SocketAddr = listeners.app.local_addr().unwrap();
        let metrics_addr = listeners.metrics.local_addr().unwrap();
        config.listen_addr = addr;
        config.metrics.listen_addr = metrics_addr;
        config.public_base_url = format!("http://{addr}");
        config.data_dir = dir.path().to_path_buf();
        let application = Application::build(config.clone()).await.unwrap();
        let background = application.start_background().await.unwrap();
        let server = tokio::spawn(async move {
            application
                .serve_until(listeners, std::future::pending())
                .await;
        });
        Self {
            base: format!("http://{addr}"),
            metrics_base: format!("http://{metrics_addr}"),
            client: reqwest::Client::new(),
            data_dir: dir.path().to_path_buf(),
            config,
            _dir: dir,
            server,
            background: Some(background),
        }
    }

    /// Stops this app and starts a new one on the same data directory.
    pub async fn restart(mut self, config: Config) -> Self {
        self.stop().await;
        let app = Self::spawn_in(config, self._dir.clone()).await;
        app.wait_for_captioners_to_load().await;
        app
    }

    async fn stop(&mut self) {
        if let Some(background) = self.background.take() {
            background.shutdown().await;
        }
        self.server.abort();
        let _ = (&mut self.server).await;
    }

    /// A personal API token, made in the store of the app's mode (as `create-token` does).
    pub async fn token(&self, user: &str, admin: bool) -> String {
        let user: UserId = user.parse().unwrap();
        imgcap_webapp::startup::api_tokens(&self.config)
            .await
            .unwrap()
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

    /// Uploads `bytes` (answered 202) and polls the new image until its status is `status`.
    pub async fn upload_and_wait(
        &self,
        token: &str,
        bytes: Vec<u8>,
        content_type: &str,
        status: &str,
    ) -> Value {
        let (code, body) = json(self.upload(token, bytes, content_type).await).await;
        assert_eq!(code, 202, "{body}");
        self.wait_for(token, body["image"]["id"].as_str().unwrap(), status)
            .await
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

impl TestApp {
    /// Creates a local account directly in the database (for admins: the same code path as
    /// `imgcap-webapp create-admin`).
    pub async fn account(&self, name: &str, password: &str, admin: bool) {
        let db = Db::open(&self.data_dir.join("imgcap.sqlite3")).unwrap();
        LocalAccounts::new(db)
            .create(name, password, admin)
            .await
            .unwrap();
    }

    /// A browser-like client of this app: keeps cookies, follows no redirects.
    pub fn browser(&self) -> PageClient {
        PageClient {
            base: self.base.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }
}

/// A cookie-keeping HTTP client for the pages.
pub struct PageClient {
    pub base: String,
    client: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
}

/// The `Set-Cookie` header of the answer that sets `name`, if any.
pub fn find_set_cookie<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// The `Set-Cookie` header of the answer that sets `name`.
pub fn set_cookie_of<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    find_set_cookie(response, name).unwrap_or_else(|| panic!("no {name} cookie"))
}

/// The CSRF token a page carries for its forms and scripts.
pub fn csrf_token(html: &str) -> String {
    let start = html
        .find(r#"<meta name="csrf-token" content=""#)
        .expect("the page has a CSRF token")
        + r#"<meta name="csrf-token" content=""#.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The image id of an image card fragment (`<article id="image-ID">`).
pub fn card_image_id(card: &str) -> String {
    let start = card.find("id=\"image-").expect("an image card") + "id=\"image-".len();
    card[start..].split('"').next().unwrap().to_owned()
}

impl PageClient {
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    fn remember(&self, response: &reqwest::Response) {
        let mut cookies = self.cookies.lock().unwrap();
        for header in response.headers().get_all("set-cookie") {
            let header = header.to_str().unwrap();
            let (name, value) = header.split(';').next().unwrap().split_once('=').unwrap();
            if header.contains("Max-Age=0") {
                cookies.remove(name);
            } else {
                cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let cookie_header = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request
            .header("cookie", cookie_header)
            .send()
            .await
            .unwrap();
        self.remember(&response);
        response
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// Status and body of a page.
    pub async fn page(&self, path: &str) -> (u16, String) {
        let response = self.get(path).await;
        (response.status().as_u16(), response.text().await.unwrap())
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await
    }

    /// Submits a form the way a page does: with the CSRF token of `page`.
    pub async fn submit(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let (_, html) = self.page(page).await;
        let token = csrf_token(&html);
        let mut all = vec![("_csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_form(action, &all).await
    }

    pub async fn sign_up(&self, name: &str, password: &str) -> reqwest::Response {
        self.submit(
            "/sign-up",
            "/sign-up",
            &[("user_name", name), ("password", password)],
        )
        .await
    }

    pub async fn sign_in(&self, name: &str, password: &str) -> reqwest::Response {
        self.submit(
            "/sign-in",
            "/sign-in",
            &[("user_name", name), ("password", password)],
        )
        .await
    }

    /// Uploads through the upload page's endpoint as its script does (multipart, CSRF header).
    pub async fn upload(&self, bytes: &[u8]) -> (u16, String) {
        let (_, html) = self.page("/upload").await;
        let token = csrf_token(&html);
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("photo.jpg"),
        );
        let response = self
            .send(
                self.client
                    .post(format!("{}/upload", self.base))
                    .header("x-csrf-token", token)
                    .multipart(form),
            )
            .await;
        (response.status().as_u16(), response.text().await.unwrap())
    }
}
