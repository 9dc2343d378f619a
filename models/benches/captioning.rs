//! Criterion benchmarks: preprocessing a real photo, and captioning with the tiny checkpoint and
//! a full-size (random-weight) BLIP-base vision encoder and decoder step.
//! The one-line JSON figures of the README come from `examples/caption_bench.rs`.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use criterion::{criterion_group, Criterion};
use imgcap_imaging::{decode_image, ImageLimits};
use imgcap_models::preprocess::ImageProcessor;
use imgcap_models::source::WeightFiles;
use imgcap_models::synthetic::{random_normal, random_weights};
use imgcap_models::{BlipConfig, BlipModel, DecoderCache};

/// The allocator the servers use (see `imgcap-inference`'s `main.rs`), so figures match them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn preprocessing(c: &mut Criterion) {
    let bytes = std::fs::read(repo("../tests/data/chelsea.png")).unwrap();
    let processor = ImageProcessor::blip(384);
    c.bench_function("decode_and_preprocess_chelsea_384", |b| {
        b.iter(|| {
            let image = decode_image(&bytes, &ImageLimits::default()).unwrap().image;
            processor.batch(&[image], &Device::Cpu, DType::F32).unwrap()
        })
    });
}

fn base_model(c: &mut Criterion) {
    let json = std::fs::read_to_string(repo(
        "tests/fixtures/configs/blip-image-captioning-base.json",
    ))
    .unwrap();
    let config = BlipConfig::from_json(&json, Path::new("base")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let tensors: std::collections::HashMap<String, Tensor> =
        random_weights(&config, 0).unwrap().into_iter().collect();
    candle_core::safetensors::save(&tensors, &path).unwrap();
    drop(tensors);
    let model = BlipModel::load(
        config.clone(),
        &WeightFiles::Safetensors(vec![path]),
        &Device::Cpu,
        DType::F32,
    )
    .unwrap();
    let pixels = random_normal(&[1, 3, 384, 384], 1.0, 1).unwrap();
    let mut group = c.benchmark_group("blip_base_f32");
    group.sample_size(10);
    group.bench_function("vision_encode_batch1", |b| {
        b.iter(|| model.encode_images(&pixels).unwrap())
    });
    let embeds = model.encode_images(&pixels).unwrap();
    let context = model.image_context(&embeds, 1).unwrap();
    let bos = config.text.bos_token_id;
    group.bench_function("decode_10_tokens_batch1", |b| {
        b.iter(|| {
            let mut cache = DecoderCache::new();
            let mut input = Tensor::new(&[[bos]], &Device::Cpu).unwrap();
            for _ in 0..10 {
                let logits = model.decode(&input, &context, &mut cache).unwrap();
                let next = logits.argmax(1).unwrap();
                input = next.unsqueeze(1).unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, preprocessing, base_model);

// `criterion_main!` with the servers' start-up step first.
fn main() {
    // SAFETY: no other thread exists yet.
    unsafe { imgcap_models::pin_cpu_thread_count() };
    benches();
    Criterion::default().configure_from_args().final_summary();
}
