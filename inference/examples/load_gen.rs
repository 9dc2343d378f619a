//! Load generator for the inference server: drives `POST /invocations` over HTTP with a real
//! photo at several concurrencies, with batching on (`--max-batch-size 8`, or
//! `--max-batch-size N` here) and off (`1`).
//!
//! ```text
//! cargo build --release -p imgcap-inference --bins --examples
//! target/release/examples/load_gen --random-weights base          # full-size, random weights
//! target/release/examples/load_gen --model-dir /path/to/checkpoint
//! target/release/examples/load_gen --url http://host:8080         # a server already running
//! ```
//!
//! Prints JSON lines on stdout: per server it starts, `{"event":"startup",...}` (process start
//! to listening and to `/ping` 200, against the model's own load and warm-up time); per run
//! `{"concurrency","batching","req_per_s","p50_ms","p95_ms","errors",...}`; at concurrency 1,
//! `{"event":"overhead",...}`: the share of the client's latency not spent in the model (HTTP,
//! body transfer, decoding and preprocessing, queueing), from the `x-*-time` headers.
//!
//! Requests are JSON with the photo in base64 and fixed caption lengths (`--concise-tokens`,
//! `--creative-tokens`, as minimum and maximum), so random weights do the work of real captions
//! and every request costs the same.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::Parser;
use imgcap_models::synthetic::random_weights;
use imgcap_models::BlipConfig;
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    /// Drive a server that is already running instead of starting one per batching setting.
    #[arg(long)]
    url: Option<String>,
    /// Checkpoint directory for the servers this tool starts.
    #[arg(long, conflicts_with_all = ["url", "random_weights"])]
    model_dir: Option<PathBuf>,
    /// Write a full-size checkpoint (`base` or `large`) with random weights to a temporary
    /// directory and serve it.
    #[arg(long, conflicts_with = "url")]
    random_weights: Option<String>,
    /// Where `--random-weights` writes its checkpoint (kept, for `--model-dir` next time);
    /// default: a temporary directory removed at exit.
    #[arg(long, requires = "random_weights")]
    random_weights_dir: Option<PathBuf>,
    /// The server binary; default: `imgcap-inference` in this example's target directory.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The photo to send.
    #[arg(long, default_value = "tests/data/rocket.jpg")]
    image: PathBuf,
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    concurrency: Vec<usize>,
    /// `on`, `off` or `both` (ignored with `--url`).
    #[arg(long, default_value = "both")]
    batching: String,
    /// `--max-batch-size` of the server with batching on (the server's default is 8).
    #[arg(long, default_value_t = 8)]
    max_batch_size: u32,
    /// Requests per run: this many per concurrent client, at least `--min-requests`.
    #[arg(long, default_value_t = 2)]
    requests_per_client: usize,
    #[arg(long, default_value_t = 6)]
    min_requests: usize,
    /// A run sends no new request after this many seconds.
    #[arg(long, default_value_t = 180)]
    max_seconds: u64,
    #[arg(long, default_value_t = 12)]
    concise_tokens: u32,
    #[arg(long, default_value_t = 24)]
    creative_tokens: u32,
    /// `--dtype` for the servers this tool starts.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// `--device` for the servers this tool starts (`cpu`, `cuda`, `cuda:N`, `auto`).
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// One finished request.
struct Sample {
    client_ms: f64,
    total_ms: f64,
    inference_ms: f64,
    preprocess_ms: f64,
    queue_ms: f64,
    batch_size: f64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let photo = std::fs::read(&args.image)
        .with_context(|| format!("cannot read {}", args.image.display()))?;
    let body = json!({
        "image": base64::engine::general_purpose::STANDARD.encode(&photo),
        "mode": "both",
        "parameters": {
            "concise": {"max_new_tokens": args.concise_tokens, "min_new_tokens": args.concise_tokens},
            "creative": {"max_new_tokens": args.creative_tokens, "min_new_tokens": args.creative_tokens,
                         "seed": 0},
        }
    });
    let body = Arc::new(serde_json::to_vec(&body)?);
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .build()?;

    if let Some(url) = &args.url {
        for &concurrency in &args.concurrency {
            run(&client, url, &body, &args, concurrency, "external").await?;
        }
        return Ok(());
    }

    let scratch = tempfile::tempdir()?;
    let model_dir = match (&args.model_dir, &args.random_weights) {
        (Some(dir), _) => dir.clone(),
        (None, Some(arch)) => write_random_checkpoint(
            arch,
            args.random_weights_dir.as_deref().unwrap_or(scratch.path()),
        )?,
        (None, None) => bail!("give --url, --model-dir or --random-weights base|large"),
    };
    let server_bin = match &args.server_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .context("cannot locate the target directory")?
            .join("imgcap-inference"),
    };
    if !server_bin.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p imgcap-inference --bins`",
            server_bin.display()
        );
    }
    let on = ("on", args.max_batch_size);
    let settings: Vec<(&str, u32)> = match args.batching.as_str() {
        "on" => vec![on],
        "off" => vec![("off", 1)],
        "both" => vec![on, ("off", 1)],
        other => bail!("--batching {other}: use on, off or both"),
    };
    for &(label, max_batch) in &settings {
        let server = Server::start(&server_bin, &model_dir, max_batch, &args).await?;
        let url = format!("http://{}", server.address);
        println!(
            "{}",
            json!({"event": "startup", "batching": label,
                   "start_to_listen_ms": round(server.listening_ms),
                   "start_to_ping_200_ms": round(server.ready_ms),
                   "model_load_ms": server.load_ms, "model_load_and_warmup_ms": server.warm_ms})
        );
        // One request first, so the runs measure a warm server and a warm connection pool.
        send(&client, &url, &body).await?;
        for &concurrency in &args.concurrency {
            run(&client, &url, &body, &args, concurrency, label).await?;
        }
        server.stop();
    }
    Ok(())
}

async fn run(
    client: &reqwest::Client,
    url: &str,
    body: &Arc<Vec<u8>>,
    args: &Args,
    concurrency: usize,
    batching: &str,
) -> Result<()> {
    let total = (args.requests_per_client * concurrency).max(args.min_requests);
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let next = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.to_string(), body.clone());
            let (next, samples, errors) = (next.clone(), samples.clone(), errors.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < deadline {
                    match send(&client, &url, &body).await {
                        Ok(sample) => samples.lock().unwrap().push(sample),
                        Err(err) => {
                            eprintln!("request failed: {err:#}");
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let mut latencies: Vec<f64> = samples.iter().map(|s| s.client_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let mean =
        |f: fn(&Sample) -> f64| samples.iter().map(f).sum::<f64>() / samples.len().max(1) as f64;
    println!(
        "{}",
        json!({
            "concurrency": concurrency,
            "batching": batching,
            "req_per_s": round3(samples.len() as f64 / elapsed),
            "p50_ms": round(percentile(&latencies, 0.50)),
            "p95_ms": round(percentile(&latencies, 0.95)),
            "errors": errors.load(Ordering::Relaxed),
            "requests": samples.len(),
            "mean_batch_size": round(mean(|s| s.batch_size)),
            "mean_inference_ms": round(mean(|s| s.inference_ms)),
        })
    );
    if concurrency == 1 && !samples.is_empty() {
        let client_ms = mean(|s| s.client_ms);
        let inference_ms = mean(|s| s.inference_ms);
        println!(
            "{}",
            json!({
                "event": "overhead",
                "batching": batching,
                "client_ms": round(client_ms),
                "server_total_ms": round(mean(|s| s.total_ms)),
                "inference_ms": round(inference_ms),
                "preprocess_ms": round(mean(|s| s.preprocess_ms)),
                "queue_ms": round(mean(|s| s.queue_ms)),
                "overhead_ms": round(client_ms - inference_ms),
                "overhead_share": round3((client_ms - inference_ms) / client_ms),
            })
        );
    }
    Ok(())
}

async fn send(client: &reqwest::Client, url: &str, body: &Arc<Vec<u8>>) -> Result<Sample> {
    let started = Instant::now();
    let response = client
        .post(format!("{url}/invocations"))
        .header("content-type", "application/json")
        .body(body.as_ref().clone())
        .send()
        .await?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await?;
    let client_ms = started.elapsed().as_secs_f64() * 1e3;
    if !status.is_success() {
        bail!("{status}: {text}");
    }
    let header = |name: &str| -> Result<f64> {
        Ok(headers
            .get(name)
            .with_context(|| format!("no {name} header"))?
            .to_str()?
            .parse()?)
    };
    Ok(Sample {
        client_ms,
        total_ms: header("x-total-time")?,
        inference_ms: header("x-inference-time")?,
        preprocess_ms: header("x-preprocess-time")?,
        queue_ms: header("x-queue-time")?,
        batch_size: header("x-batch-size")?,
    })
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank]
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A server process this tool started, with its start-up figures.
struct Server {
    child: Child,
    address: String,
    listening_ms: f64,
    ready_ms: f64,
    load_ms: Value,
    warm_ms: Value,
}

impl Server {
    async fn start(bin: &Path, model_dir: &Path, max_batch: u32, args: &Args) -> Result<Self> {
        let started = Instant::now();
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--log-format",
                "json",
            ])
            .arg("--model-dir")
            .arg(model_dir)
            .args([
                "--max-batch-size",
                &max_batch.to_string(),
                "--dtype",
                &args.dtype,
            ])
            .args(["--device", &args.device])
            .args(["--request-timeout-ms", "600000"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (events, received) = mpsc::channel::<(Value, Instant)>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(event) => {
                        let _ = events.send((event, Instant::now()));
                    }
                    Err(_) => eprintln!("server: {line}"),
                }
            }
        });
        let mut address = None;
        let mut listening_ms = 0.0;
        let mut logged = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(600);
        while address.is_none() || !logged.contains_key("ready") {
            let (event, at) = received
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .context("the server neither listened nor got ready in time")?;
            let message = event["message"].as_str().unwrap_or("").to_string();
            match message.as_str() {
                "listening" => {
                    address = event["address"].as_str().map(str::to_string);
                    listening_ms = at.duration_since(started).as_secs_f64() * 1e3;
                }
                "model loaded; warming up" | "ready" => {
                    logged.insert(message, event["elapsed_ms"].clone());
                }
                "cannot load the model; exiting" => bail!("the server failed: {event}"),
                _ => {}
            }
        }
        let address = address.context("no address")?;
        // The client's view: poll /ping until it answers 200.
        let client = reqwest::Client::builder().no_proxy().build()?;
        loop {
            let ping = client.get(format!("http://{address}/ping")).send().await;
            if ping.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(Self {
            ready_ms: started.elapsed().as_secs_f64() * 1e3,
            child,
            address,
            listening_ms,
            load_ms: logged
                .remove("model loaded; warming up")
                .unwrap_or(Value::Null),
            warm_ms: logged.remove("ready").unwrap_or(Value::Null),
        })
    }

    fn stop(mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.child.wait();
    }
}

/// A full-size BLIP checkpoint with random weights: the published config, `random_weights`,
/// and a synthetic WordPiece tokenizer over the same 30524-token vocabulary shape.
fn write_random_checkpoint(arch: &str, parent: &Path) -> Result<PathBuf> {
    let config_json = match arch {
        "base" => {
            include_str!("../../models/tests/fixtures/configs/blip-image-captioning-base.json")
        }
        "large" => {
            include_str!("../../models/tests/fixtures/configs/blip-image-captioning-large.json")
        }
        other => bail!("--random-weights {other}: use base or large"),
    };
    let dir = parent.join(format!("blip-{arch}-random-weights"));
    std::fs::create_dir_all(&dir)?;
    let config = BlipConfig::from_json(config_json, Path::new(arch))?;
    eprintln!(
        "writing a random-weight {arch} checkpoint to {}",
        dir.display()
    );
    std::fs::write(dir.join("config.json"), config_json)?;
    let tensors: HashMap<String, candle_core::Tensor> =
        random_weights(&config, 0)?.into_iter().collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    std::fs::write(
        dir.join("tokenizer.json"),
        serde_json::to_vec(&synthetic_tokenizer(&config))?,
    )?;
    Ok(dir)
}

/// A BERT-style WordPiece `tokenizer.json` with `vocab_size` entries: BERT's special tokens at
/// their usual ids, BLIP's `[DEC]` (the start token) and `[ENC]` at the end, words elsewhere.
fn synthetic_tokenizer(config: &BlipConfig) -> Value {
    let text = &config.text;
    let specials: HashMap<u32, &str> = [
        (text.pad_token_id, "[PAD]"),
        (100, "[UNK]"),
        (101, "[CLS]"),
        (text.sep_token_id, "[SEP]"),
        (103, "[MASK]"),
        (text.bos_token_id, "[DEC]"),
        (text.bos_token_id + 1, "[ENC]"),
    ]
    .into_iter()
    .collect();
    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for id in 0..text.vocab_size as u32 {
        let token = match specials.get(&id) {
            Some(special) => {
                added.push(json!({"id": id, "content": special, "single_word": false,
                    "lstrip": false, "rstrip": false, "normalized": false, "special": true}));
                special.to_string()
            }
            None => format!("w{id}"),
        };
        vocab.insert(token, json!(id));
    }
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", text.sep_token_id],
                           "cls": ["[CLS]", 101]},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    })
}
