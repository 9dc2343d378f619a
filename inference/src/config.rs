//! Command line and environment. Every setting is a flag and an environment variable (`IMGCAP_*`,
//! or the names SageMaker and Hugging Face define), and its doc comment is its `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use imgcap_models::source::{HubModel, ModelSource};

/// The imgcap model server: a SageMaker bring-your-own-container endpoint that captions JPEG and
/// PNG images with BLIP, batching concurrent requests.
///
/// Without a subcommand it runs `serve` (SageMaker starts the container as `IMAGE serve`).
#[derive(Debug, Parser)]
#[command(
    name = "imgcap-inference",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(ServeArgs),
    /// Validate a checkpoint directory (config, tokenizer, every tensor, a test caption) and
    /// say exactly what is wrong; exit status 1 if anything is.
    CheckModel(CheckModelArgs),
    /// Write the `model.tar.gz` a SageMaker model's `ModelDataUrl` points at, after checking
    /// the checkpoint.
    Package(PackageArgs),
    /// Write a GGUF-quantized copy of a checkpoint (a new directory with `model.gguf` and the
    /// config and tokenizer files), then check it.
    Quantize(QuantizeArgs),
    /// GET /ping on this machine and exit 0 when it answers 200, else 1 (for HEALTHCHECK).
    Healthcheck(HealthcheckArgs),
    /// Evaluate captions: `eval score` computes BLEU-1..4, ROUGE-L and CIDEr-D of predictions
    /// against references (COCO formats), equal to pycocoevalcap 1.2.
    #[command(subcommand)]
    Eval(EvalCommand),
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Score predictions against references and print the corpus figures.
    Score(EvalScoreArgs),
    /// Caption a set with one checkpoint, write the predictions, score them against the set's
    /// references and report the speed (images/s, p50/p95 latency).
    Run(EvalRunArgs),
    /// Caption a set with two checkpoints and compare metrics, speed and the captions that
    /// differ most (text, and HTML with `--html`).
    Compare(EvalCompareArgs),
}

/// The set an evaluation captions, and how.
#[derive(Debug, Args)]
pub struct EvalSetArgs {
    /// A directory of JPEG/PNG images (their file names are the image ids).
    #[arg(long, conflicts_with = "coco")]
    pub images: Option<PathBuf>,
    /// A COCO captions file: its `images` (files relative to it) are captioned and its
    /// `annotations` are the references. `tests/data/eval/captions.json` ships with the
    /// repository.
    #[arg(long)]
    pub coco: Option<PathBuf>,
    /// Reference captions (COCO list or annotations file), when not the `--coco` file.
    #[arg(long)]
    pub references: Option<PathBuf>,
    /// The caption scored.
    #[arg(long, value_enum, default_value = "concise")]
    pub caption: crate::eval::run::Scored,
    /// `auto`, `f32`, `f16` or `bf16`, as for `serve`.
    #[arg(long, default_value = "auto")]
    pub dtype: String,
    /// `cpu`, `cuda`, `cuda:N`, `metal` or `auto`, as for `serve`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

#[derive(Debug, Args)]
pub struct EvalRunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub set: EvalSetArgs,
    /// Where to write the predictions (COCO results list).
    #[arg(long, default_value = "predictions.json")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct EvalCompareArgs {
    /// Checkpoint A: a directory, or a hub id with an optional `@revision`.
    pub a: String,
    /// Checkpoint B, the same way.
    pub b: String,
    #[command(flatten)]
    pub set: EvalSetArgs,
    /// Also write the report as an HTML page.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Also write the report as JSON (`figures.<row>.{a,b,delta}`, `differences`), for scripts
    /// such as a promotion gate.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// How many of the most different captions to show.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

#[derive(Debug, Args)]
pub struct EvalScoreArgs {
    /// The predictions: a COCO results list `[{"image_id", "caption"}]`, one per image.
    #[arg(long)]
    pub predictions: PathBuf,
    /// The references: the same list shape (several per image) or a COCO captions annotations
    /// file (`{"annotations": [{"image_id", "caption"}]}`).
    #[arg(long)]
    pub references: PathBuf,
    /// The captions are already tokenized (lower-case words split by single spaces): score them
    /// as they are instead of tokenizing them.
    #[arg(long)]
    pub tokenized: bool,
    /// Print JSON (every figure at full precision and each image's ROUGE-L and CIDEr-D) instead
    /// of the table.
    #[arg(long)]
    pub json: bool,
}

/// Where the checkpoint comes from when `/opt/ml/model` does not exist.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Local checkpoint directory (Hugging Face layout). `serve` loads `/opt/ml/model` instead
    /// when that exists: SageMaker unpacks the endpoint's model artifact there.
    #[arg(long, env = "IMGCAP_MODEL_DIR")]
    pub model_dir: Option<PathBuf>,
    /// Hugging Face model id, used when there is no model directory.
    #[arg(
        long,
        env = "HF_MODEL_ID",
        default_value = "Salesforce/blip-image-captioning-base"
    )]
    pub model_id: String,
    /// Branch, tag or commit of `--model-id`.
    #[arg(long, env = "HF_MODEL_REVISION", default_value = "main")]
    pub revision: String,
    /// Hugging Face access token for private or gated models.
    #[arg(long, env = "HF_TOKEN", hide_env_values = true)]
    pub hf_token: Option<String>,
    /// Base URL of the Hugging Face hub or a mirror.
    #[arg(long, env = "HF_ENDPOINT")]
    pub hf_endpoint: Option<String>,
}

impl ModelArgs {
    pub fn hub_model(&self) -> HubModel {
        HubModel {
            token: self.hf_token.clone(),
            endpoint: self.hf_endpoint.clone(),
            ..HubModel::new(&self.model_id).with_revision(&self.revision)
        }
    }

    /// The server's choice: `/opt/ml/model` when it exists, else `--model-dir`, else the hub.
    pub fn detect(&self) -> ModelSource {
        ModelSource::detect(self.model_dir.clone(), self.hub_model())
    }

    /// For the operator tools: `--model-dir` when given, else the hub (`/opt/ml/model` is not
    /// looked at).
    pub fn explicit(&self) -> ModelSource {
        match &self.model_dir {
            Some(dir) => ModelSource::Dir(dir.clone()),
            None => ModelSource::Hub(self.hub_model()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for containers and log pipelines).
    Json,
    /// Human-readable lines.
    Text,
}

#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log line format.
    #[arg(long, env = "IMGCAP_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax, e.g. `info` or `info,imgcap_inference=debug`.
    #[arg(long, env = "IMGCAP_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// Address to listen on.
    #[arg(long, env = "IMGCAP_HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// Port to listen on. SageMaker's `SAGEMAKER_BIND_TO_PORT`, when set, takes precedence.
    #[arg(long, env = "IMGCAP_PORT", default_value_t = 8080)]
    pub port: u16,

    /// Device: `cpu`, `cuda`, `cuda:N`, `metal`, or `auto` (the first GPU this build supports,
    /// else the CPU).
    #[arg(long, env = "IMGCAP_DEVICE", default_value = "auto")]
    pub device: String,
    /// Precision: `auto`, `f32`, `f16` or `bf16`. `auto` is bf16 on a GPU of compute capability
    /// 8.0 or later (A10G, A100, L4, H100), f16 on older GPUs (T4, V100), bf16 on a CPU with
    /// AVX512-BF16, else f32. On the CPU, bf16 keeps the matrices in bf16 and computes in f32;
    /// GGUF checkpoints always compute in f32.
    #[arg(long, env = "IMGCAP_DTYPE", default_value = "auto")]
    pub dtype: String,

    /// Most images captioned together in one batch; 1 disables batching. Default: 32 on a GPU,
    /// 8 on the CPU (where a batch gains little beyond that and each image waits for all).
    #[arg(long, env = "IMGCAP_MAX_BATCH_SIZE",
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_batch_size: Option<u32>,
    /// Most decoding work in one batch: the sum, over its requests, of their work as
    /// `--max-request-work` counts it (beams × `max_new_tokens` per caption). It bounds the
    /// decoder's key/value caches, hence the memory a batch takes; a request that would go over
    /// waits for the next batch, and a batch always takes its first request. Default: the batch
    /// size × 100 (the work of a request with default parameters), so only heavier requests
    /// make smaller batches.
    #[arg(long, env = "IMGCAP_MAX_BATCH_WORK",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_batch_work: Option<u64>,
    /// How long a batch waits for more requests after its first one arrives, in milliseconds.
    #[arg(long, env = "IMGCAP_MAX_BATCH_WAIT_MS", default_value_t = 10)]
    pub max_batch_wait_ms: u64,
    /// `POST /invocations` requests served at once; more get 429 with `Retry-After`.
    #[arg(long, env = "IMGCAP_MAX_CONCURRENT_REQUESTS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,
    /// Largest request body in bytes; larger ones get 413. Default 6 MiB, SageMaker's limit for
    /// real-time endpoints.
    #[arg(long, env = "IMGCAP_MAX_BODY_BYTES", default_value_t = 6 * 1024 * 1024)]
    pub max_body_bytes: u64,
    /// A request that has no answer after this many milliseconds fails with 504.
    #[arg(long, env = "IMGCAP_REQUEST_TIMEOUT_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,
    /// Most decoding work one request may ask for: the sum, over the captions it wants, of
    /// beams (1 for sampling and greedy) × `max_new_tokens`. More gets 422 before the image is
    /// decoded. The defaults ask for 100 (concise 3 × 20 + creative 1 × 40); the parameter
    /// ranges allow up to 2176 (16 × 128 + 1 × 128).
    #[arg(long, env = "IMGCAP_MAX_REQUEST_WORK", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_request_work: u64,
    /// Client connections open at once; a connection over the cap is answered 429
    /// (`overloaded`, with `Retry-After`) and closed.
    #[arg(long, env = "IMGCAP_MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// A connection must send a complete request head (request line and headers) within this
    /// many milliseconds of opening, and of its previous answer; otherwise it is closed.
    #[arg(long, env = "IMGCAP_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,
    /// A kept-alive connection idle this many milliseconds after its last answer is closed (and
    /// one whose client does not read its answer, this long again later). The header-read
    /// timeout also bounds idle time: the shorter of the two applies.
    #[arg(long, env = "IMGCAP_KEEP_ALIVE_TIMEOUT_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub keep_alive_timeout_ms: u64,
    /// On SIGTERM or SIGINT, how long in-flight requests get to finish, in milliseconds.
    #[arg(long, env = "IMGCAP_SHUTDOWN_TIMEOUT_MS", default_value_t = 30_000)]
    pub shutdown_timeout_ms: u64,
    /// Requests decoded and preprocessed at once, on blocking threads beside the model.
    /// Default: the number of CPUs.
    #[arg(long, env = "IMGCAP_PREPROCESS_WORKERS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub preprocess_workers: Option<u32>,
    /// Largest image side in pixels, checked from the header before decoding.
    #[arg(long, env = "IMGCAP_MAX_IMAGE_SIDE", default_value_t = 16_384,
          value_parser = clap::value_parser!(u32).range(16..))]
    pub max_image_side: u32,
    /// Largest image area in pixels, checked from the header before decoding.
    #[arg(long, env = "IMGCAP_MAX_IMAGE_PIXELS", default_value_t = 40_000_000,
          value_parser = clap::value_parser!(u64).range(256..))]
    pub max_image_pixels: u64,
    /// Memory image decoding may hold at once, in MiB. Each request reserves what its image's
    /// header says decoding needs; with no room it waits (--image-memory-wait-ms), then gets
    /// 503 with Retry-After; an image needing more than the whole budget gets 422.
    #[arg(long, env = "IMGCAP_IMAGE_MEMORY_BUDGET_MB", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(16..=1 << 20))]
    pub image_memory_budget_mb: u64,
    /// How long a request waits for room in the image memory budget, in milliseconds.
    #[arg(long, env = "IMGCAP_IMAGE_MEMORY_WAIT_MS", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(..=60_000))]
    pub image_memory_wait_ms: u64,
    /// Honour `imgcap-fault=5xx` (answer 500) and `imgcap-fault=slow:<ms>` (delay the answer,
    /// at most 60000) in `X-Amzn-SageMaker-Custom-Attributes`, for alarm drills on a canary
    /// (`scripts/fire-alarms.sh`). Never for production traffic: any caller could fail its
    /// requests. Off, the attribute is ignored. The variable takes 1/0, true/false, yes/no, on/off.
    #[arg(long, env = "IMGCAP_FAULT_INJECTION",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub fault_injection: bool,

    #[command(flatten)]
    pub log: LogArgs,
}

/// The work of a request with the default parameters: concise 3 beams × 20 tokens, creative
/// 1 × 40 (see `--max-request-work`).
const DEFAULT_REQUEST_WORK: u64 = 100;

/// `--max-batch-size` and `--max-batch-work`, as given or defaulted for the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_batch_size: u32,
    pub max_batch_work: u64,
}

impl ServeArgs {
    /// The batch limits on a GPU (`on_gpu`) or the CPU.
    pub fn batch_limits(&self, on_gpu: bool) -> BatchLimits {
        let max_batch_size = self.max_batch_size.unwrap_or(if on_gpu { 32 } else { 8 });
        BatchLimits {
            max_batch_size,
            max_batch_work: self
                .max_batch_work
                .unwrap_or(u64::from(max_batch_size) * DEFAULT_REQUEST_WORK),
        }
    }

    /// `SAGEMAKER_BIND_TO_PORT` when set (SageMaker's contract), else `--port`.
    pub fn effective_port(&self) -> anyhow::Result<u16> {
        sagemaker_port().map(|port| port.unwrap_or(self.port))
    }
}

fn sagemaker_port() -> anyhow::Result<Option<u16>> {
    match std::env::var("SAGEMAKER_BIND_TO_PORT") {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().parse().map(Some).map_err(|_| {
                anyhow::anyhow!("SAGEMAKER_BIND_TO_PORT={value:?} is not a port number")
            })
        }
        _ => Ok(None),
    }
}

#[derive(Debug, Args)]
pub struct CheckModelArgs {
    /// The checkpoint directory.
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The archive to write.
    #[arg(long, env = "IMGCAP_PACKAGE_OUT", default_value = "model.tar.gz")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct QuantizeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The directory to write (created; must not hold a checkpoint already).
    #[arg(long, env = "IMGCAP_QUANTIZE_OUT")]
    pub out: PathBuf,
    /// Quantization of the linear layers: `q8_0` (near-lossless, 4x smaller matrices) or `q4k`
    /// (smaller, coarser); also `q4_0`, `q5k`, `q6k`, `f16`.
    #[arg(long = "type", env = "IMGCAP_QUANTIZE_TYPE", default_value = "q8_0")]
    pub quantization: String,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Port of the local server. SageMaker's `SAGEMAKER_BIND_TO_PORT`, when set, takes
    /// precedence.
    #[arg(long, env = "IMGCAP_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Give up after this many milliseconds.
    #[arg(long, env = "IMGCAP_HEALTHCHECK_TIMEOUT_MS", default_value_t = 2_000)]
    pub timeout_ms: u64,
}

impl HealthcheckArgs {
    pub fn effective_port(&self) -> anyhow::Result<u16> {
        sagemaker_port().map(|port| port.unwrap_or(self.port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_is_the_default_and_flags_work_with_or_without_it() {
        let cli = Cli::try_parse_from(["imgcap-inference"]).unwrap();
        assert!(cli.command.is_none());
        let cli = Cli::try_parse_from(["imgcap-inference", "--max-batch-size", "1", "--port", "9"])
            .unwrap();
        assert_eq!((cli.serve.max_batch_size, cli.serve.port), (Some(1), 9));
        let cli =
            Cli::try_parse_from(["imgcap-inference", "serve", "--max-batch-size", "4"]).unwrap();
        match cli.command {
            Some(Command::Serve(args)) => assert_eq!(args.max_batch_size, Some(4)),
            other => panic!("expected serve, got {other:?}"),
        }
        assert!(Cli::try_parse_from(["imgcap-inference", "--max-batch-size", "0"]).is_err());
        assert!(Cli::try_parse_from(["imgcap-inference", "--max-batch-work", "0"]).is_err());
    }

    fn limits(args: &[&str], on_gpu: bool) -> BatchLimits {
        let cli = Cli::try_parse_from([&["imgcap-inference"][..], args].concat()).unwrap();
        cli.serve.batch_limits(on_gpu)
    }

    #[test]
    fn batch_limits_default_by_device_and_follow_the_flags() {
        let limits_of = |size, work| BatchLimits {
            max_batch_size: size,
            max_batch_work: work,
        };
        assert_eq!(limits(&[], false), limits_of(8, 800));
        assert_eq!(limits(&[], true), limits_of(32, 3200));
        // The work budget follows a given size unless it is given too.
        assert_eq!(
            limits(&["--max-batch-size", "16"], true),
            limits_of(16, 1600)
        );
        assert_eq!(
            limits(
                &["--max-batch-size", "16", "--max-batch-work", "900"],
                false
            ),
            limits_of(16, 900)
        );
        assert_eq!(
            limits(&["--max-batch-work", "5000"], true),
            limits_of(32, 5000)
        );
    }
}
