//! Memory under a burst of amplifying uploads: starts the real app in this process (embedded
//! mode, the tiny test checkpoint as captioner, the default image memory budget), sends 64
//! concurrent uploads on loopback — half 16-bit RGBA PNGs just under the 40 MP limit (about
//! 300 KB each, 320 MB decoded), half tiny PNGs whose colour profile inflates to 300 MB — and
//! samples the process's RSS (`/proc/self/status`, every 5 ms) from before the burst until the
//! caption worker has finished with what was accepted. Prints the budget, the peak RSS growth
//! and its ratio to the budget (target ≤ 1.2), the answers by status, and whether the app is
//! alive and takes a normal upload afterwards.
//!
//! ```sh
//! cargo run --release -p imgcap-webapp --example memory_budget
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use imgcap_imaging::hostile;
use imgcap_webapp::adapters::embedded::api_tokens::SqliteTokens;
use imgcap_webapp::adapters::embedded::db::Db;
use imgcap_webapp::auth::api_tokens::TokenAuthenticator;
use imgcap_webapp::config::ProviderKind;
use imgcap_webapp::http::server::Listeners;
use imgcap_webapp::{Application, Config};

/// The allocator the web app's binary uses: what it keeps from the OS is part of the figure.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const UPLOADS: u32 = 64;
/// 6320² = 39.9 MP, just under the default pixel limit.
const SIDE: u32 = 6320;
const PROFILE_BYTES: u64 = 300 << 20;
const MIB: f64 = (1 << 20) as f64;

/// Resident set size of this process in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

#[tokio::main]
async fn main() {
    // As the binary does: the figure is the one a deployment gets.
    imgcap_webapp::allocator::return_freed_memory_promptly();
    let dir = tempfile::tempdir().unwrap();
    let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
    let listeners = Listeners {
        app: bind().await.unwrap(),
        metrics: bind().await.unwrap(),
    };
    let addr = listeners.app.local_addr().unwrap();
    let mut config = Config {
        listen_addr: addr,
        public_base_url: format!("http://{addr}"),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.rate_limit.uploads_per_hour = 10_000;
    config.captioner.chain = vec![ProviderKind::Embedded];
    config.captioner.embedded.model_dir =
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/tests/fixtures/tiny-blip"));
    let budget_bytes = config.upload.image_memory_budget_mb << 20;
    let application = Arc::new(Application::build(config).await.unwrap());
    let _background = application.start_background().await.unwrap();
    let server = application.clone();
    tokio::spawn(async move { server.serve_until(listeners, std::future::pending()).await });
    let db = Db::open(&dir.path().join("imgcap.sqlite3")).unwrap();
    let token = TokenAuthenticator::new(Arc::new(SqliteTokens::new(db)))
        .create_token(&"bench".parse().unwrap(), false)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    // The model loads in the background: the baseline is taken once captioning is ready.
    let warm_up = client
        .post(format!("{base}/api/v1/images"))
        .bearer_auth(&token)
        .header("content-type", "image/png")
        .body(
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/chelsea.png"))
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(warm_up.status(), 202);
    wait_until_captioned(&client, &base, &token, Duration::from_secs(120)).await;

    let bodies: Vec<(&str, Vec<u8>)> = (0..UPLOADS)
        .map(|seed| match seed % 2 {
            0 => ("16-bit", hostile::png_rgba16(SIDE, SIDE, seed)),
            _ => (
                "profile",
                hostile::png_with_inflating_profile(64, 64, PROFILE_BYTES, seed),
            ),
        })
        .collect();
    let sizes: BTreeMap<&str, usize> = bodies
        .iter()
        .map(|(kind, body)| (*kind, body.len()))
        .collect();

    let baseline = rss_bytes();
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = std::thread::spawn({
        let (peak, sampling) = (peak.clone(), sampling.clone());
        move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    });

    let started = Instant::now();
    let requests: Vec<_> = bodies
        .into_iter()
        .map(|(kind, body)| {
            let request = client
                .post(format!("{base}/api/v1/images"))
                .bearer_auth(&token)
                .header("content-type", "image/png")
                .body(body);
            tokio::spawn(async move {
                match request.send().await {
                    Ok(response) => (kind, response.status().as_u16()),
                    Err(_) => (kind, 0),
                }
            })
        })
        .collect();
    let mut answers: BTreeMap<(&str, u16), u32> = BTreeMap::new();
    for request in requests {
        *answers.entry(request.await.unwrap()).or_default() += 1;
    }
    let burst = started.elapsed();
    // The caption worker decodes every accepted image again, under the same budget.
    let captioned = wait_until_captioned(&client, &base, &token, Duration::from_secs(600)).await;
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();

    let peak = peak.load(Ordering::Relaxed);
    let growth = peak.saturating_sub(baseline);
    let alive = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    let normal = client
        .post(format!("{base}/api/v1/images"))
        .bearer_auth(&token)
        .header("content-type", "image/jpeg")
        .body(
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/rocket.jpg"))
                .unwrap(),
        )
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());

    println!("image memory budget: {:.0} MiB", budget_bytes as f64 / MIB);
    println!(
        "burst: {UPLOADS} concurrent uploads, half {SIDE}x{SIDE} 16-bit RGBA PNGs ({} bytes, \
         {:.0} MiB decoded), half 64x64 PNGs with a colour profile inflating to {:.0} MiB ({} bytes); \
         answered in {:.1} s",
        sizes["16-bit"],
        (u64::from(SIDE) * u64::from(SIDE) * 8) as f64 / MIB,
        PROFILE_BYTES as f64 / MIB,
        sizes["profile"],
        burst.as_secs_f64()
    );
    for status in [202, 422, 503] {
        let count = |kind| answers.get(&(kind, status)).copied().unwrap_or(0);
        println!(
            "  {status}: {} (16-bit {}, profile {})",
            count("16-bit") + count("profile"),
            count("16-bit"),
            count("profile")
        );
    }
    let other: u32 = answers
        .iter()
        .filter(|((_, status), _)| ![202, 422, 503].contains(status))
        .map(|(_, n)| n)
        .sum();
    println!("  other (5xx, connection errors): {other}");
    println!(
        "RSS: baseline {:.0} MiB, peak {:.0} MiB, growth {:.0} MiB = {:.2} x the budget (target <= 1.2)",
        baseline as f64 / MIB,
        peak as f64 / MIB,
        growth as f64 / MIB,
        growth as f64 / budget_bytes as f64
    );
    println!("accepted uploads captioned afterwards: {captioned}");
    println!("server alive (GET /healthz 200): {alive}; a normal upload afterwards: {normal}");
}

/// Polls until no image of the user is pending (or the time is up); whether they all finished.
async fn wait_until_captioned(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    within: Duration,
) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let history: serde_json::Value = client
            .get(format!("{base}/api/v1/images?limit=100"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let images = history["items"].as_array().cloned().unwrap_or_default();
        if images.iter().all(|image| image["status"] != "pending") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
