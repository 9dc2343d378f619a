//! `imgcap-e2e-smoke`: drives one whole user journey through the REST API of a running imgcap
//! deployment (docker compose on one machine, or a real AWS stack) and exits non-zero at the
//! first step that does not behave:
//!
//! 1. `/healthz` answers, then `/readyz` becomes 200 (waits for the model to load);
//! 2. upload a JPEG to `POST /api/v1/images` (202, or 200 when these bytes were uploaded before);
//! 3. poll the image until it is `done` with a concise (at most ten words) and a creative caption;
//! 4. the image is in the caller's history;
//! 5. its short-lived URLs serve the stored original and the thumbnail without the bearer token;
//! 6. `DELETE /api/v1/me` removes everything: the image is 404, the history is empty and the
//!    URLs no longer serve the image.
//!
//! The token must belong to a user kept for this test: step 6 deletes all of that user's data.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use clap::Parser;
use imgcap_e2e_smoke::{check_captions, http_client, Api, PHOTOS};
use reqwest::{Method, StatusCode, Url};

#[derive(Parser)]
#[command(
    version,
    about = "End-to-end smoke test of a running imgcap deployment"
)]
struct Args {
    /// Base URL of the web app, e.g. `https://imgcap.example.com` or `http://127.0.0.1:8080`.
    #[arg(long, env = "IMGCAP_E2E_BASE_URL")]
    base_url: Url,
    /// API bearer token of a user reserved for this test (all its data is deleted at the end).
    #[arg(long, env = "IMGCAP_E2E_TOKEN", hide_env_values = true)]
    token: String,
    /// JPEG to upload instead of the built-in photo (`tests/data/rocket.jpg`).
    #[arg(long)]
    image: Option<PathBuf>,
    /// How long to wait for readiness, and then for the captions, in seconds.
    #[arg(long, env = "IMGCAP_E2E_TIMEOUT_SECS", default_value_t = 300)]
    timeout_secs: u64,
}

/// GETs a short-lived image URL without the bearer token.
async fn fetch_blob(smoke: &Api, url: &str) -> Result<(StatusCode, Vec<u8>)> {
    let response = smoke.client.get(smoke.url(url)?).send().await?;
    let status = response.status();
    Ok((status, response.bytes().await?.to_vec()))
}

fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

async fn run(smoke: &Api, image_bytes: Vec<u8>) -> Result<()> {
    let step = |name: &str, started: Instant, detail: &str| {
        println!(
            "PASS {name} ({} ms) {detail}",
            started.elapsed().as_millis()
        );
    };

    let t = Instant::now();
    smoke.wait_ready().await.context("readiness")?;
    step("ready: /healthz 200, /readyz 200", t, "");

    let t = Instant::now();
    let uploaded = smoke.upload(image_bytes).await.context("upload")?;
    let id = uploaded["image"]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("upload answer has no image id: {uploaded}"))?
        .to_owned();
    let status_url = uploaded["status_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    step("upload: POST /api/v1/images", t, &format!("id {id}"));

    let t = Instant::now();
    let image = smoke
        .wait_captions(&status_url, Duration::from_secs(1))
        .await
        .context("captions")?;
    let captions = check_captions(&image).context("captions")?;
    step("captions: both captions stored", t, &captions);

    let t = Instant::now();
    let (status, page) = smoke
        .json(smoke.api(Method::GET, "/api/v1/images?limit=100")?)
        .await?;
    ensure!(
        status == StatusCode::OK,
        "history answered {status}: {page}"
    );
    let listed = page["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|item| item["id"] == id.as_str()));
    ensure!(listed, "the image is not in the history: {page}");
    step("history: the record is listed", t, "");

    let t = Instant::now();
    let image_url = image["image_url"].as_str().unwrap_or_default().to_owned();
    let thumbnail_url = image["thumbnail_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, original) = fetch_blob(smoke, &image_url).await.context("original")?;
    ensure!(status == StatusCode::OK, "the image URL answered {status}");
    ensure!(is_jpeg(&original), "the image URL did not serve a JPEG");
    ensure!(
        image["size_bytes"].as_u64() == Some(original.len() as u64),
        "the image URL served {} bytes, the record says {}",
        original.len(),
        image["size_bytes"]
    );
    let (status, thumbnail) = fetch_blob(smoke, &thumbnail_url)
        .await
        .context("thumbnail")?;
    ensure!(
        status == StatusCode::OK && is_jpeg(&thumbnail),
        "the thumbnail URL answered {status} ({} bytes)",
        thumbnail.len()
    );
    step(
        "urls: signed URLs serve the original and the thumbnail",
        t,
        &format!("{} + {} bytes", original.len(), thumbnail.len()),
    );

    let t = Instant::now();
    smoke.delete_me().await?;
    step("delete: DELETE /api/v1/me", t, "");

    let t = Instant::now();
    let (status, body) = smoke.json(smoke.api(Method::GET, &status_url)?).await?;
    ensure!(
        status == StatusCode::NOT_FOUND,
        "the deleted image answered {status}: {body}"
    );
    let (status, page) = smoke
        .json(smoke.api(Method::GET, "/api/v1/images")?)
        .await?;
    ensure!(
        status == StatusCode::OK && page["items"].as_array().is_some_and(Vec::is_empty),
        "the history is not empty after deletion ({status}): {page}"
    );
    let (status, _) = fetch_blob(smoke, &image_url).await?;
    ensure!(
        status != StatusCode::OK,
        "the image URL still serves the image after deletion"
    );
    step("gone: image 404, history empty, URL dead", t, "");
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let started = Instant::now();
    let image = match &args.image {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) => {
                eprintln!("FAIL cannot read {}: {err}", path.display());
                return std::process::ExitCode::from(2);
            }
        },
        None => PHOTOS[0].1.to_vec(),
    };
    let smoke = Api {
        client: http_client(),
        base: args.base_url,
        token: args.token,
        timeout: Duration::from_secs(args.timeout_secs),
    };
    println!("imgcap e2e smoke test against {}", smoke.base);
    match run(&smoke, image).await {
        Ok(()) => {
            println!("e2e smoke: PASS in {} s", started.elapsed().as_secs());
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            println!("FAIL {err:#}");
            println!("e2e smoke: FAIL after {} s", started.elapsed().as_secs());
            std::process::ExitCode::FAILURE
        }
    }
}
