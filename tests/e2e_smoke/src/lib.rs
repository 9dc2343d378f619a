//! The REST API client shared by the smoke test (`imgcap-e2e-smoke`) and the load test
//! (`load_test`): one user's bearer token against one deployment.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use reqwest::{header, Client, Method, RequestBuilder, StatusCode, Url};
use serde_json::Value;

/// The photos in `tests/data/` (see tests/data/LICENSES.md), compiled in so the binaries run
/// from anywhere.
pub const PHOTOS: [(&str, &[u8]); 5] = [
    ("rocket.jpg", include_bytes!("../../data/rocket.jpg")),
    ("astronaut.png", include_bytes!("../../data/astronaut.png")),
    ("chelsea.png", include_bytes!("../../data/chelsea.png")),
    ("coffee.png", include_bytes!("../../data/coffee.png")),
    (
        "rocket_orient6.jpg",
        include_bytes!("../../data/rocket_orient6.jpg"),
    ),
];

/// A client with the timeout both binaries use for a single request.
pub fn http_client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a default reqwest client builds")
}

pub struct Api {
    pub client: Client,
    pub base: Url,
    pub token: String,
    /// How long to wait for readiness, and then for an image's captions.
    pub timeout: Duration,
}

impl Api {
    pub fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .with_context(|| format!("cannot join {path} to the base URL"))
    }

    pub fn api(&self, method: Method, path: &str) -> Result<RequestBuilder> {
        Ok(self
            .client
            .request(method, self.url(path)?)
            .bearer_auth(&self.token))
    }

    /// Sends the request and returns the status and the body as JSON (`Null` when empty).
    pub async fn json(&self, request: RequestBuilder) -> Result<(StatusCode, Value)> {
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if bytes.is_empty() {
            return Ok((status, Value::Null));
        }
        let body = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "HTTP {status}: body is not JSON: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            )
        })?;
        Ok((status, body))
    }

    pub async fn wait_ready(&self) -> Result<()> {
        let health = self.client.get(self.url("/healthz")?).send().await?;
        ensure!(
            health.status() == StatusCode::OK,
            "/healthz answered {}",
            health.status()
        );
        let deadline = Instant::now() + self.timeout;
        loop {
            let (status, body) = self
                .json(self.client.get(self.url("/readyz")?))
                .await
                .unwrap_or((StatusCode::SERVICE_UNAVAILABLE, Value::Null));
            if status == StatusCode::OK {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "/readyz still answers {status} after {:?}: {body}",
                    self.timeout
                );
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Uploads a JPEG or PNG; answers the upload's JSON (`image`, `status_url`).
    pub async fn upload(&self, image: Vec<u8>) -> Result<Value> {
        // The app reads the type from the bytes; the header is only for proxies and logs.
        let content_type = if image.starts_with(b"\x89PNG") {
            "image/png"
        } else {
            "image/jpeg"
        };
        let (status, body) = self
            .json(
                self.api(Method::POST, "/api/v1/images")?
                    .header(header::CONTENT_TYPE, content_type)
                    .body(image),
            )
            .await?;
        ensure!(
            status == StatusCode::ACCEPTED || status == StatusCode::OK,
            "upload answered {status}: {body}"
        );
        ensure!(
            body["status_url"].is_string(),
            "upload answer has no status_url: {body}"
        );
        Ok(body)
    }

    /// Polls the image every `poll` until it is `done`; `failed` or the timeout is an error.
    pub async fn wait_captions(&self, status_url: &str, poll: Duration) -> Result<Value> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let (status, image) = self.json(self.api(Method::GET, status_url)?).await?;
            ensure!(
                status == StatusCode::OK,
                "GET {status_url} answered {status}: {image}"
            );
            match image["status"].as_str() {
                Some("done") => return Ok(image),
                Some("pending") if Instant::now() < deadline => tokio::time::sleep(poll).await,
                Some("pending") => bail!("still pending after {:?}", self.timeout),
                _ => bail!("captioning did not finish: {image}"),
            }
        }
    }

    /// `DELETE /api/v1/me`: removes all of this user's data.
    pub async fn delete_me(&self) -> Result<()> {
        let (status, body) = self.json(self.api(Method::DELETE, "/api/v1/me")?).await?;
        ensure!(
            status == StatusCode::NO_CONTENT,
            "DELETE /api/v1/me answered {status}: {body}"
        );
        Ok(())
    }
}

/// Checks that a `done` image has both captions and that the concise one has at most ten words;
/// answers a one-line description of them.
pub fn check_captions(image: &Value) -> Result<String> {
    let result = &image["result"];
    let text = |which: &str| -> Result<String> {
        let text = result[which]["text"]
            .as_str()
            .ok_or_else(|| anyhow!("no {which} caption in {result}"))?
            .trim();
        ensure!(!text.is_empty(), "the {which} caption is empty");
        Ok(text.to_owned())
    };
    let concise = text("concise")?;
    let creative = text("creative")?;
    let words = concise.split_whitespace().count();
    ensure!(
        words <= 10,
        "the concise caption has {words} words: {concise:?}"
    );
    Ok(format!(
        "concise {concise:?}, creative {creative:?} (provider {}, model {})",
        result["provider"], result["model"]
    ))
}
