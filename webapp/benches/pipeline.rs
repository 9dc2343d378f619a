//! Upload pipeline cost: validate + strip + thumbnail + store, on `tests/data/astronaut.png`
//! (0.8 MB) and on a 12 MP JPEG made once from it (4000×3000, quality 90). For the 12 MP file
//! the same run times `vipsthumbnail -s 300` (Debian `libvips-tools`) when it is installed.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use image::codecs::jpeg::JpegEncoder;
use imgcap_models::preprocess::{resize_bicubic, ImageLimits};
use imgcap_webapp::domain::{BlobKey, ImageId, UploadBytes, UserId};
use imgcap_webapp::embedded::blobs::FileBlobs;
use imgcap_webapp::pipeline::{prepare, PipelineSettings};
use imgcap_webapp::ports::BlobStore;
use imgcap_webapp::signing::Signer;

const SETTINGS: PipelineSettings = PipelineSettings {
    limits: ImageLimits {
        min_side: 16,
        max_side: 16384,
        max_pixels: 40_000_000,
    },
    thumbnail_side: 300,
    thumbnail_quality: 85,
};

fn twelve_megapixel_jpeg(source: &[u8]) -> Vec<u8> {
    let photo = image::load_from_memory(source).unwrap().to_rgb8();
    let big = resize_bicubic(&photo, 4000, 3000);
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&big)
        .unwrap();
    out
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
    let photo = twelve_megapixel_jpeg(&astronaut);
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
        "pipeline astronaut.png ({} bytes): {:.1} ms",
        astronaut.len(),
        ours(&astronaut)
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
    group.bench_function("astronaut_png", |b| {
        b.iter(|| run_pipeline(&runtime, &blobs, black_box(&astronaut)))
    });
    group.bench_function("jpeg_12mp", |b| {
        b.iter(|| run_pipeline(&runtime, &blobs, black_box(&photo)))
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
