//! Upload pipeline cost: validate + strip + thumbnail + store, on a 1.1 MB photo (a JPEG made
//! from `tests/data/astronaut.png`, 2400×1800, quality 97) and on a 12 MP JPEG made the same
//! way (4000×3000, quality 90). For the 12 MP file
//! the same run times `vipsthumbnail -s 300` (Debian `libvips-tools`) when it is installed.
//!
//! Then the request overhead without captioning: the real app (embedded mode, no worker) on
//! loopback, `POST /api/v1/images` with that 1.1 MB JPEG, p50/p95 of the 202 round trip — HTTP,
//! auth, rate limit, pipeline, blobs, SQLite record and job.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use image::codecs::jpeg::JpegEncoder;
use imgcap_imaging::{resize_bicubic, ImageLimits};
use imgcap_webapp::adapters::embedded::api_tokens::SqliteTokens;
use imgcap_webapp::adapters::embedded::blobs::FileBlobs;
use imgcap_webapp::adapters::embedded::db::Db;
use imgcap_webapp::auth::api_tokens::TokenAuthenticator;
use imgcap_webapp::auth::signing::Signer;
use imgcap_webapp::config::ProviderKind;
use imgcap_webapp::core::domain::{BlobKey, ImageId, UploadBytes, UserId};
use imgcap_webapp::core::pipeline::{prepare, PipelineSettings};
use imgcap_webapp::core::ports::BlobStore;
use imgcap_webapp::http::server::Listeners;
use imgcap_webapp::{Application, Config};

const SETTINGS: PipelineSettings = PipelineSettings {
    limits: ImageLimits {
        min_side: 16,
        max_side: 16384,
        max_pixels: 40_000_000,
    },
    thumbnail_side: 300,
    thumbnail_quality: 85,
};

/// The photo resized to `width`×`height` and encoded at `quality`; `variant` changes a corner
/// so that every upload has different bytes (the same bytes would be answered as a duplicate).
fn photo_jpeg(source: &[u8], width: u32, height: u32, quality: u8, variant: u8) -> Vec<u8> {
    let photo = image::load_from_memory(source).unwrap().to_rgb8();
    let mut big = resize_bicubic(&photo, width, height);
    // A 16×16 patch, not one pixel: JPEG quantisation can erase a one-pixel change.
    for (x, y) in (0..16).flat_map(|x| (0..16).map(move |y| (x, y))) {
        big.put_pixel(
            x,
            y,
            image::Rgb([variant.wrapping_mul(6), 255 - variant, variant]),
        );
    }
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&big)
        .unwrap();
    out
}

/// The 1.1 MB photo both measures use (its size is printed with the figures).
fn photo_1_1mb(astronaut: &[u8], variant: u8) -> Vec<u8> {
    photo_jpeg(astronaut, 2400, 1800, 97, variant)
}

/// Validate, strip, thumbnail, then write both blobs.
fn run_pipeline(runtime: &tokio::runtime::Runtime, blobs: &FileBlobs, bytes: &[u8]) {
    let upload = UploadBytes::new(bytes.to_vec()).unwrap();
    let prepared = prepare(&upload, &SETTINGS).unwrap();
    let user: UserId = "bench".parse().unwrap();
    let id = ImageId::generate();
    runtime.block_on(async {
        blobs
            .put(
                &BlobKey::original(&user, id),
                prepared.original,
                "image/jpeg",
            )
            .await
            .unwrap();
        blobs
            .put(
                &BlobKey::thumbnail(&user, id),
                prepared.thumbnail,
                "image/jpeg",
            )
            .await
            .unwrap();
    });
}

fn median_ms(mut runs: Vec<Duration>) -> f64 {
    runs.sort();
    runs[runs.len() / 2].as_secs_f64() * 1000.0
}

fn vipsthumbnail_ms(input: &Path, out_dir: &Path) -> Option<f64> {
    let out = out_dir.join("vips-thumb.jpg");
    let run = || {
        Command::new("vipsthumbnail")
            .arg(input)
            .args(["-s", "300", "-o"])
            .arg(format!("{}[Q=85]", out.display()))
            .status()
    };
    if !run().ok()?.success() {
        return None;
    }
    let runs = (0..7)
        .map(|_| {
            let started = Instant::now();
            run().unwrap();
            started.elapsed()
        })
        .collect();
    Some(median_ms(runs))
}

fn pipeline(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blobs = FileBlobs::new(
        dir.path().join("blobs"),
        "http://127.0.0.1".into(),
        Signer::derive(b"bench", "blob-url"),
    );
    let astronaut =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/astronaut.png"))
            .unwrap();
    let small_photo = photo_1_1mb(&astronaut, 0);
    let photo = photo_jpeg(&astronaut, 4000, 3000, 90, 0);
    let photo_path = dir.path().join("12mp.jpg");
    std::fs::write(&photo_path, &photo).unwrap();

    // Side-by-side figures in milliseconds (median of 7 runs).
    let ours = |bytes: &[u8]| {
        median_ms(
            (0..7)
                .map(|_| {
                    let started = Instant::now();
                    run_pipeline(&runtime, &blobs, bytes);
                    started.elapsed()
                })
                .collect(),
        )
    };
    println!(
        "pipeline 1.1 MB JPEG ({} bytes): {:.1} ms",
        small_photo.len(),
        ours(&small_photo)
    );
    println!(
        "pipeline 12 MP JPEG ({} bytes): {:.1} ms",
        photo.len(),
        ours(&photo)
    );
    match vipsthumbnail_ms(&photo_path, dir.path()) {
        Some(ms) => println!("vipsthumbnail -s 300, same 12 MP JPEG: {ms:.1} ms"),
        None => println!("vipsthumbnail: not installed (apt-get install libvips-tools)"),
    }

    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    group.bench_function("jpeg_1_1mb", |b| {
        b.iter(|| run_pipeline(&runtime, &blobs, black_box(&small_photo)))
    });
    group.bench_function("jpeg_12mp", |b| {
        b.iter(|| run_pipeline(&runtime, &blobs, black_box(&photo)))
    });
    group.finish();
}

/// p50 and p95 of `POST /api/v1/images` (1.1 MB JPEG → 202) against the real app.
fn request_overhead(_: &mut Criterion) {
    const UPLOADS: usize = 40;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let astronaut =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/astronaut.png"))
            .unwrap();
    let photos: Vec<Vec<u8>> = (0..UPLOADS as u8)
        .map(|variant| photo_1_1mb(&astronaut, variant))
        .collect();
    let mut runs = runtime.block_on(async {
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
        // Captioning is not part of the measure: no worker, and a chain that loads no model.
        config.worker.concurrency = 0;
        config.captioner.chain = vec![ProviderKind::Endpoint];
        config.captioner.endpoint.url = Some("http://127.0.0.1:9/invocations".into());
        let application = Application::build(config).await.unwrap();
        tokio::spawn(async move {
            application
                .serve_until(listeners, std::future::pending())
                .await
        });
        let db = Db::open(&dir.path().join("imgcap.sqlite3")).unwrap();
        let token = TokenAuthenticator::new(std::sync::Arc::new(SqliteTokens::new(db)))
            .create_token(&"bench".parse().unwrap(), false)
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let mut runs = Vec::with_capacity(UPLOADS);
        for photo in &photos {
            let started = Instant::now();
            let response = client
                .post(format!("http://{addr}/api/v1/images"))
                .bearer_auth(&token)
                .header("content-type", "image/jpeg")
                .body(photo.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
            runs.push(started.elapsed());
        }
        runs
    });
    runs.sort();
    let ms = |q: f64| runs[((runs.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "request overhead, POST /api/v1/images {} KB JPEG ({} uploads): p50 {:.1} ms, p95 {:.1} ms",
        photos[0].len() / 1024,
        UPLOADS,
        ms(0.5),
        ms(0.95)
    );
}

criterion_group!(benches, pipeline, request_overhead);
criterion_main!(benches);
