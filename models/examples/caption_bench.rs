//! Full-size BLIP speed benchmark with random weights (same FLOPs as the published checkpoints).
//!
//! ```text
//! cargo run --release -p imgcap-models [--features mkl] --example caption_bench -- \
//!     --arch base|large [--dtype auto|f32|f16|bf16] [--quantize q8_0|q4k] [--batch N]
//!     [--device cpu|cuda] [--weights-dir DIR]
//! ```
//! Prints one JSON line. Captions are forced to a fixed length (12 tokens concise, 24 creative,
//! about what real captions take) so every run does the same work; decode figures are per
//! generated token (per decoding step of the batch). `e2e_both_ms` is what the servers do per
//! batch: both captions, their searches decoded in shared passes. `stock_decode_ms_per_token` is
//! candle-transformers' own BLIP decoder on the same weights, in the same run (f32, batch 1:
//! the only setting it supports). `vision_gflops` is the encoder's multiply-add work per second
//! and `peak_f32_gflops` the machine's f32 FMA rate on all threads, measured in the same run
//! (the encoder is bound by arithmetic: their ratio is how close it runs to the hardware);
//! `dtype_loaded` is what `auto` resolved to and `bf16_kernel` which bf16 kernels this CPU runs.
//! On a GPU (`--device cuda`, a build with the `cuda` feature) every timing waits for the device
//! to finish, `peak_f32_gflops` (a CPU figure) is null and `gpu` holds the device's name and the
//! memory in use after the run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{blip, blip_text};
use clap::Parser;
use imgcap_models::quantize::parse_quantization;
use imgcap_models::source::WeightFiles;
use imgcap_models::synthetic::{random_normal, random_weights};
use imgcap_models::{
    parse_device, parse_dtype, BlipConfig, BlipModel, GenerationOptions, Strategy,
};

/// The allocator the servers use (see `imgcap-inference`'s `main.rs`), so figures match them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// `base` or `large` (Salesforce/blip-image-captioning-*).
    #[arg(long, default_value = "base")]
    arch: String,
    #[arg(long, default_value = "f32")]
    dtype: String,
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Quantize the checkpoint to GGUF first (`q8_0`, `q4k`, ...); activations then run in f32.
    #[arg(long)]
    quantize: Option<String>,
    /// Timed repetitions; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Keep the random checkpoint in this directory (written when it has none) and reuse it in
    /// later runs, instead of writing a new one to a temporary directory each run.
    #[arg(long)]
    weights_dir: Option<PathBuf>,
    /// Set by the benchmark itself: measure the checkpoint already written in this directory.
    #[arg(long, hide = true)]
    checkpoint_dir: Option<PathBuf>,
}

/// Random weights of `config` as `model.safetensors` (f32) and, with `quantize`, `model.gguf`.
fn write_random_checkpoint(config: &BlipConfig, quantize: Option<&str>, dir: &Path) -> Result<()> {
    let path = dir.join("model.safetensors");
    let tensors: std::collections::HashMap<String, Tensor> =
        random_weights(config, 0)?.into_iter().collect();
    candle_core::safetensors::save(&tensors, &path)?;
    if let Some(kind) = quantize {
        let tensors: Vec<_> = tensors.into_iter().collect();
        imgcap_models::quantize::write_gguf(
            &tensors,
            parse_quantization(kind)?,
            &dir.join("model.gguf"),
        )?;
    }
    Ok(())
}

/// GPU work runs asynchronously: each run waits for `device` to finish before it is timed.
fn median_ms(runs: usize, device: &Device, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?; // warm-up: first-touch allocations, thread pools, kernel loading
    device.synchronize()?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        device.synchronize()?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn fixed_length(strategy: Strategy, tokens: usize) -> GenerationOptions {
    GenerationOptions {
        strategy,
        max_new_tokens: tokens,
        min_new_tokens: tokens,
        repetition_penalty: 1.0,
        no_repeat_ngram_size: 0,
    }
}

fn stock_config(cfg: &BlipConfig) -> blip::Config {
    let (v, t) = (&cfg.vision, &cfg.text);
    blip::Config {
        text_config: blip_text::Config {
            vocab_size: t.vocab_size,
            hidden_size: t.hidden_size,
            encoder_hidden_size: t.encoder_hidden_size(),
            intermediate_size: t.intermediate_size,
            projection_dim: t.hidden_size,
            num_hidden_layers: t.num_hidden_layers,
            num_attention_heads: t.num_attention_heads,
            max_position_embeddings: t.max_position_embeddings,
            hidden_act: candle_nn::Activation::GeluPytorchTanh,
            layer_norm_eps: t.layer_norm_eps,
            is_decoder: true,
        },
        vision_config: blip::VisionConfig {
            hidden_size: v.hidden_size,
            intermediate_size: v.intermediate_size,
            projection_dim: 512,
            num_hidden_layers: v.num_hidden_layers,
            num_attention_heads: v.num_attention_heads,
            image_size: v.image_size,
            patch_size: v.patch_size,
            hidden_act: candle_nn::Activation::GeluPytorchTanh,
            layer_norm_eps: v.layer_norm_eps,
        },
        projection_dim: 512,
        image_text_hidden_size: 256,
    }
}

fn main() -> Result<()> {
    // SAFETY: no other thread exists yet.
    unsafe { imgcap_models::pin_cpu_thread_count() };
    let args = Args::parse();
    let config_json = match args.arch.as_str() {
        "base" => include_str!("../tests/fixtures/configs/blip-image-captioning-base.json"),
        "large" => include_str!("../tests/fixtures/configs/blip-image-captioning-large.json"),
        other => anyhow::bail!("unknown --arch {other}: use base or large"),
    };
    let config = BlipConfig::from_json(config_json, Path::new(&args.arch))?;
    let device = parse_device(&args.device)?;
    let dtype = parse_dtype(&args.dtype, &device)?;

    let Some(checkpoint) = &args.checkpoint_dir else {
        // Write the random checkpoint, then measure in a fresh process: memory freed while
        // generating weights would otherwise stay in this one and blur `rss_mb`.
        let temporary = tempfile::tempdir()?;
        let dir = args.weights_dir.as_deref().unwrap_or(temporary.path());
        let written = if args.quantize.is_some() {
            "model.gguf"
        } else {
            "model.safetensors"
        };
        if !dir.join(written).exists() {
            std::fs::create_dir_all(dir)?;
            write_random_checkpoint(&config, args.quantize.as_deref(), dir)?;
        }
        let status = std::process::Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .arg("--checkpoint-dir")
            .arg(dir)
            .status()?;
        anyhow::ensure!(status.success(), "the measuring process failed: {status}");
        return Ok(());
    };
    let weights_path = checkpoint.join("model.safetensors");
    let (weight_files, weights_bytes) = if args.quantize.is_some() {
        let gguf = checkpoint.join("model.gguf");
        let bytes = std::fs::metadata(&gguf)?.len();
        (WeightFiles::Gguf(gguf), bytes)
    } else {
        // The file holds f32 tensors; the model keeps them in `dtype`.
        let f32_bytes = std::fs::metadata(&weights_path)?.len();
        let bytes = f32_bytes * dtype.size_in_bytes() as u64 / 4;
        (WeightFiles::Safetensors(vec![weights_path.clone()]), bytes)
    };
    let model = BlipModel::load(config.clone(), &weight_files, &device, dtype)?;

    let size = config.vision.image_size;
    let pixels = random_normal(&[args.batch, 3, size, size], 1.0, 1)?
        .to_device(&device)?
        .to_dtype(model.activation_dtype())?;
    let bos = config.text.bos_token_id;

    let vision_ms = median_ms(args.runs, &device, || {
        Ok(model.encode_images(&pixels).map(drop)?)
    })?;
    let embeds = model.encode_images(&pixels)?;

    let decode_tokens = 20;
    let greedy = fixed_length(Strategy::Greedy, decode_tokens);
    let decode_ms = median_ms(args.runs, &device, || {
        Ok(model.generate(&embeds, &[bos], &greedy).map(drop)?)
    })?;

    let concise = fixed_length(
        Strategy::BeamSearch {
            num_beams: 3,
            length_penalty: 1.0,
        },
        12,
    );
    let e2e_concise_ms = median_ms(args.runs, &device, || {
        let embeds = model.encode_images(&pixels)?;
        Ok(model.generate(&embeds, &[bos], &concise).map(drop)?)
    })?;
    let creative = fixed_length(
        Strategy::Sample {
            temperature: 0.9,
            top_k: 50,
            top_p: 0.9,
            seed: Some(0),
        },
        24,
    );
    let e2e_creative_ms = median_ms(args.runs, &device, || {
        let embeds = model.encode_images(&pixels)?;
        Ok(model.generate(&embeds, &[bos], &creative).map(drop)?)
    })?;
    // Both captions of each image, as the servers produce them: one vision pass, then the beam
    // search and the sample decoded in shared passes.
    let e2e_both_ms = median_ms(args.runs, &device, || {
        let embeds = model.encode_images(&pixels)?;
        Ok(model
            .generate_together(&embeds, &[bos], &[&concise, &creative])
            .map(drop)?)
    })?;
    let rss = rss_mb();
    let gpu = imgcap_models::gpu::gpu_info(&device)?;
    drop(model);

    // candle-transformers' BLIP on the same weights, same greedy loop over its own KV cache.
    // It only runs in f32 and one image at a time (its attention mask is f32 and its position
    // embeddings do not broadcast over a batch), so that is how it is measured.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights_path], DType::F32, &device)? };
    let mut stock = blip::BlipForConditionalGeneration::new(&stock_config(&config), vb)?;
    let stock_pixels = pixels.narrow(0, 0, 1)?.to_dtype(DType::F32)?;
    let stock_embeds = candle_core::Module::forward(stock.vision_model(), &stock_pixels)?;
    let stock_ms = median_ms(args.runs, &device, || {
        stock.reset_kv_cache();
        let mut ids = vec![bos];
        for _ in 0..decode_tokens {
            let input = Tensor::from_vec(ids.clone(), (1, 1), &device)?;
            let logits = stock.text_decoder().forward(&input, &stock_embeds)?;
            ids = logits
                .squeeze(1)?
                .argmax(candle_core::D::Minus1)?
                .to_vec1::<u32>()?;
        }
        Ok(())
    })?;

    let vision_gflops = vision_flops(&config) * args.batch as f64 / vision_ms / 1e6;
    // The CPU's peak says nothing about a GPU run.
    let peak_gflops = device.is_cpu().then(peak_f32_gflops);
    let line = serde_json::json!({
        "arch": args.arch,
        "dtype": args.quantize.as_deref().unwrap_or(&args.dtype),
        "batch": args.batch,
        "vision_ms": round(vision_ms),
        "decode_ms_per_token": round(decode_ms / decode_tokens as f64),
        "stock_decode_ms_per_token": round(stock_ms / decode_tokens as f64),
        "stock_dtype": "f32",
        "stock_batch": 1,
        "e2e_concise_ms": round(e2e_concise_ms),
        "e2e_creative_ms": round(e2e_creative_ms),
        "e2e_both_ms": round(e2e_both_ms),
        "rss_mb": round(rss),
        "weights_mb": round(weights_bytes as f64 / (1024.0 * 1024.0)),
        "mkl": cfg!(feature = "mkl"),
        "dtype_loaded": imgcap_models::captioner::dtype_name(dtype),
        "bf16_kernel": imgcap_models::Bf16Kernel::detect().name(),
        "vision_gflops": round(vision_gflops),
        "peak_f32_gflops": peak_gflops.map(round),
        "device": args.device,
        "gpu": gpu,
    });
    println!("{line}");
    Ok(())
}

/// Multiply-add work of one image through the vision encoder, in floating-point operations
/// (2 per multiply-add): the patch projection, then per layer the four products and the two
/// attention products (scores and weighted sum).
fn vision_flops(config: &BlipConfig) -> f64 {
    let v = &config.vision;
    let (d, ff) = (v.hidden_size as f64, v.intermediate_size as f64);
    let patches = (v.image_size / v.patch_size).pow(2) as f64;
    let n = patches + 1.0;
    let patch = 2.0 * patches * (3 * v.patch_size * v.patch_size) as f64 * d;
    let layer = 2.0 * n * d * (3.0 * d + d + 2.0 * ff) + 2.0 * 2.0 * n * n * d;
    patch + v.num_hidden_layers as f64 * layer
}

/// The machine's f32 multiply-add rate with every worker thread busy: independent AVX2 FMA
/// chains (AVX-512 where the CPU has it), in GFLOP/s. What the vision figure is measured
/// against: the encoder is bound by arithmetic, so achieved / peak says how much is left.
fn peak_f32_gflops() -> f64 {
    use rayon::prelude::*;
    const ITERS: u64 = 20_000_000;
    let threads = rayon::current_num_threads();
    let start = Instant::now();
    let lanes_done: u64 = (0..threads)
        .into_par_iter()
        .map(|_| fma_chains(ITERS))
        .sum();
    lanes_done as f64 * 2.0 / start.elapsed().as_secs_f64() / 1e9
}

/// Runs 12 independent chains of vector FMAs `iters` times; returns the lanes computed.
fn fma_chains(iters: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { fma_chains_avx512(iters) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { fma_chains_avx2(iters) };
        }
    }
    0
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_chains_avx2(iters: u64) -> u64 {
    use std::arch::x86_64::*;
    let (x, y) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let mut acc = [_mm256_set1_ps(1.0); 12];
    for _ in 0..iters {
        for a in &mut acc {
            *a = _mm256_fmadd_ps(*a, x, y);
        }
    }
    let sum = acc
        .iter()
        .fold(_mm256_setzero_ps(), |s, &a| _mm256_add_ps(s, a));
    std::hint::black_box(sum);
    iters * 12 * 8
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_chains_avx512(iters: u64) -> u64 {
    use std::arch::x86_64::*;
    let (x, y) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let mut acc = [_mm512_set1_ps(1.0); 12];
    for _ in 0..iters {
        for a in &mut acc {
            *a = _mm512_fmadd_ps(*a, x, y);
        }
    }
    let sum = acc
        .iter()
        .fold(_mm512_setzero_ps(), |s, &a| _mm512_add_ps(s, a));
    std::hint::black_box(sum);
    iters * 12 * 16
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
