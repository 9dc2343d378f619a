//! [`Captioner`]: the entry point the servers use. Load once, then caption batches of images.

use std::path::Path;
use std::str::FromStr;

use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use imgcap_common::{caption, CaptionMode};
use tokenizers::Tokenizer;

use crate::config::BlipConfig;
use crate::error::{ModelError, Result};
use crate::generate::{self, GeneratedSequence, GenerationOptions, Strategy};
use crate::model::BlipModel;
use crate::preprocess::ImageProcessor;
use crate::progress::{LoadPhase, LoadProgress};
use crate::source::{ModelFiles, ModelSource};

/// Where and in which precision the model runs.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub device: Device,
    pub dtype: DType,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            dtype: DType::F32,
        }
    }
}

/// Fixes the number of CPU threads candle uses for the rest of the process.
///
/// Unless `RAYON_NUM_THREADS` is set, candle works its thread count out again on every matrix
/// product by reading `/proc/cpuinfo` — about 140 reads per generated token, several
/// milliseconds of a ~25 ms decoding step. This sets the variable once to the count candle
/// would pick (physical cores, or the process's CPU affinity mask).
///
/// # Safety
/// It writes an environment variable, so it must run before the process starts any other
/// thread (first thing in `main`, before the async runtime).
pub unsafe fn pin_cpu_thread_count() {
    const VAR: &str = "RAYON_NUM_THREADS";
    if std::env::var_os(VAR).is_none() {
        std::env::set_var(VAR, candle_core::utils::get_num_threads().to_string());
    }
}

/// `cpu`, `cuda`, `cuda:N`, `metal` or `auto` (the first GPU this build supports, else CPU).
pub fn parse_device(name: &str) -> Result<Device> {
    let name = name.trim().to_ascii_lowercase();
    let gpu_error =
        |e: candle_core::Error| ModelError::InvalidOptions(format!("device `{name}`: {e}"));
    match name.as_str() {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if candle_core::utils::cuda_is_available() {
                Device::new_cuda(0).map_err(gpu_error)
            } else if candle_core::utils::metal_is_available() {
                Device::new_metal(0).map_err(gpu_error)
            } else {
                Ok(Device::Cpu)
            }
        }
        "metal" => Device::new_metal(0).map_err(gpu_error),
        "cuda" => Device::new_cuda(0).map_err(gpu_error),
        other => match other.strip_prefix("cuda:").map(usize::from_str) {
            Some(Ok(ordinal)) => Device::new_cuda(ordinal).map_err(gpu_error),
            _ => Err(ModelError::InvalidOptions(format!(
                "unknown device `{name}`: use cpu, cuda, cuda:N, metal or auto"
            ))),
        },
    }
}

/// `f32`, `f16`, `bf16` (also `float32`, `float16`, `bfloat16`) or `auto`: on a CUDA device
/// bf16 from compute capability 8.0 on and f16 before ([`crate::gpu::cuda_auto_dtype`]); bf16
/// on a CPU that multiplies bf16 in hardware (AVX512-BF16); f32 elsewhere.
pub fn parse_dtype(name: &str, device: &Device) -> Result<DType> {
    match name.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(match crate::gpu::compute_capability(device)? {
            Some(cc) => crate::gpu::cuda_auto_dtype(cc),
            None if device.is_cpu() && crate::kernels::bf16::cpu_has_bf16_arithmetic() => {
                DType::BF16
            }
            None => DType::F32,
        }),
        "f32" | "float32" => Ok(DType::F32),
        "f16" | "float16" | "half" => Ok(DType::F16),
        "bf16" | "bfloat16" => Ok(DType::BF16),
        other => Err(ModelError::InvalidOptions(format!(
            "unknown dtype `{other}`: use auto, f32, f16 or bf16"
        ))),
    }
}

/// What is loaded, for `/info` and logs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelInfo {
    pub model_id: String,
    pub revision: Option<String>,
    /// `f32`, `f16`, `bf16`, or `gguf` for quantized checkpoints (computed in f32).
    pub dtype: String,
    pub device: String,
    pub image_size: usize,
    pub vision_layers: usize,
    pub text_layers: usize,
}

/// Options for one image's captions.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionOptions {
    pub mode: CaptionMode,
    pub concise: GenerationOptions,
    pub creative: GenerationOptions,
    /// Text the concise caption starts with (e.g. "a picture of"); none by default.
    pub concise_prompt: Option<String>,
    pub creative_prompt: Option<String>,
    pub max_concise_words: usize,
    pub max_creative_sentences: usize,
}

impl Default for CaptionOptions {
    fn default() -> Self {
        Self {
            mode: CaptionMode::Both,
            concise: GenerationOptions {
                strategy: Strategy::BeamSearch {
                    num_beams: 3,
                    length_penalty: 1.0,
                },
                max_new_tokens: 20,
                min_new_tokens: 3,
                repetition_penalty: 1.0,
                no_repeat_ngram_size: 3,
            },
            creative: GenerationOptions {
                strategy: Strategy::Sample {
                    temperature: 0.9,
                    top_k: 50,
                    top_p: 0.9,
                    seed: None,
                },
                max_new_tokens: 40,
                min_new_tokens: 10,
                repetition_penalty: 1.2,
                no_repeat_ngram_size: 3,
            },
            concise_prompt: None,
            creative_prompt: None,
            max_concise_words: 10,
            max_creative_sentences: 2,
        }
    }
}

impl CaptionOptions {
    pub fn validate(&self) -> Result<()> {
        if self.mode.wants_concise() {
            self.concise.validate()?;
        }
        if self.mode.wants_creative() {
            self.creative.validate()?;
        }
        if self.max_concise_words == 0 || self.max_creative_sentences == 0 {
            return Err(ModelError::InvalidOptions(
                "max_concise_words and max_creative_sentences must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Caption {
    pub text: String,
    /// Mean log-probability of the generated tokens (≤ 0; closer to 0 is more confident).
    pub confidence: f32,
    /// Tokens generated, the end token included.
    pub tokens: usize,
}

impl Caption {
    fn new(text: String, sequence: &GeneratedSequence) -> Self {
        Self {
            text,
            confidence: sequence.mean_logprob(),
            tokens: sequence.tokens.len(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct ImageCaptions {
    pub concise: Option<Caption>,
    pub creative: Option<Caption>,
}

pub struct Captioner {
    model: BlipModel,
    tokenizer: Tokenizer,
    processor: ImageProcessor,
    info: ModelInfo,
}

impl Captioner {
    /// Resolves `source` (local dir, SageMaker dir or hub) and loads it on a blocking thread.
    pub async fn load(source: &ModelSource, options: &LoadOptions) -> Result<Self> {
        Self::load_with_progress(source, options, &LoadProgress::default()).await
    }

    /// [`Captioner::load`], reporting the download and the phases to `progress`: `downloading`
    /// (when anything is fetched), `loading weights`, then `ready` or `failed` with the error.
    pub async fn load_with_progress(
        source: &ModelSource,
        options: &LoadOptions,
        progress: &LoadProgress,
    ) -> Result<Self> {
        let loaded = async {
            let files = source.resolve_with_progress(progress).await?;
            progress.set_phase(LoadPhase::LoadingWeights);
            tracing::info!(model_id = %files.model_id, "loading the model's weights");
            let options = options.clone();
            tokio::task::spawn_blocking(move || Self::from_files(&files, &options))
                .await
                .map_err(|e| {
                    ModelError::InvalidOptions(format!("model loading was interrupted: {e}"))
                })?
        }
        .await;
        match &loaded {
            Ok(_) => progress.set_phase(LoadPhase::Ready),
            Err(err) => progress.fail(err.to_string()),
        }
        loaded
    }

    pub fn from_files(files: &ModelFiles, options: &LoadOptions) -> Result<Self> {
        let config = BlipConfig::from_file(&files.config)?;
        let tokenizer = load_tokenizer(&files.tokenizer)?;
        let processor = match &files.preprocessor_config {
            Some(path) => ImageProcessor::from_preprocessor_config(path)?,
            None => ImageProcessor::blip(config.vision.image_size as u32),
        };
        let model = BlipModel::load(config, &files.weights, &options.device, options.dtype)?;
        let cfg = model.config();
        let info = ModelInfo {
            model_id: files.model_id.clone(),
            revision: files.revision.clone(),
            dtype: if model.is_quantized() {
                "gguf".into()
            } else {
                dtype_name(model.dtype()).into()
            },
            device: device_name(model.device()),
            image_size: cfg.vision.image_size,
            vision_layers: cfg.vision.num_hidden_layers,
            text_layers: cfg.text.num_hidden_layers,
        };
        Ok(Self {
            model,
            tokenizer,
            processor,
            info,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }
    pub fn model(&self) -> &BlipModel {
        &self.model
    }
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }
    /// Resizing and normalisation for this checkpoint; servers run it on worker threads.
    pub fn processor(&self) -> &ImageProcessor {
        &self.processor
    }

    /// The start token followed by the prompt's tokens, as BLIP's `generate` builds it.
    pub fn prefix_ids(&self, prompt: Option<&str>) -> Result<Vec<u32>> {
        let bos = self.model.config().text.bos_token_id;
        let Some(prompt) = prompt.filter(|p| !p.trim().is_empty()) else {
            return Ok(vec![bos]);
        };
        let encoding = self
            .tokenizer
            .encode(prompt, true)
            .map_err(|e| ModelError::InvalidOptions(format!("cannot tokenize the prompt: {e}")))?;
        // [CLS] prompt [SEP] → [BOS] prompt
        let ids = encoding.get_ids();
        let mut prefix = vec![bos];
        prefix.extend_from_slice(&ids[1..ids.len().saturating_sub(1)]);
        Ok(prefix)
    }

    fn decode_text(&self, prefix: &[u32], generated: &GeneratedSequence) -> Result<String> {
        let ids: Vec<u32> = prefix[1..]
            .iter()
            .chain(&generated.tokens)
            .copied()
            .collect();
        self.tokenizer
            .decode(&ids, true)
            .map_err(|e| ModelError::InvalidOptions(format!("cannot decode tokens: {e}")))
    }

    /// Captions decoded RGB images, all with the same options.
    pub fn caption_batch(
        &self,
        images: &[RgbImage],
        options: &CaptionOptions,
    ) -> Result<Vec<ImageCaptions>> {
        if images.is_empty() {
            return Ok(vec![]);
        }
        let pixels =
            self.processor
                .batch(images, self.model.device(), self.model.activation_dtype())?;
        self.caption_pixels(&pixels, &vec![options.clone(); images.len()])
    }

    /// Captions preprocessed images [n, 3, size, size], image `i` with `options[i]`: one
    /// batched vision pass, then one batched decode per distinct set of options.
    pub fn caption_pixels(
        &self,
        pixel_values: &Tensor,
        options: &[CaptionOptions],
    ) -> Result<Vec<ImageCaptions>> {
        let n = pixel_values.dims4()?.0;
        if options.len() != n {
            return Err(ModelError::InvalidOptions(format!(
                "{} options for {n} images",
                options.len()
            )));
        }
        options.iter().try_for_each(CaptionOptions::validate)?;
        let embeds = self.model.encode_images(pixel_values)?;
        let mut results = vec![ImageCaptions::default(); n];
        let mut done = vec![false; n];
        for first in 0..n {
            if done[first] {
                continue;
            }
            let group: Vec<usize> = (first..n)
                .filter(|&i| !done[i] && options[i] == options[first])
                .collect();
            group.iter().for_each(|&i| done[i] = true);
            let index = Tensor::from_vec(
                group.iter().map(|&i| i as u32).collect::<Vec<_>>(),
                group.len(),
                embeds.device(),
            )?;
            let group_embeds = if group.len() == n {
                embeds.clone()
            } else {
                embeds.index_select(&index, 0)?
            };
            let opts = &options[first];
            let concise_prefix = self.prefix_ids(opts.concise_prompt.as_deref())?;
            let creative_prefix = self.prefix_ids(opts.creative_prompt.as_deref())?;
            let generate = |wanted: bool, prefix: &[u32], options: &GenerationOptions| {
                wanted
                    .then(|| self.model.generate(&group_embeds, prefix, options))
                    .transpose()
            };
            // The stop check of `generate::stop_early_when` speaks of this call's images.
            let (concise, creative) = generate::for_images(&group, || -> Result<_> {
                Ok(
                    match (opts.mode.wants_concise(), opts.mode.wants_creative()) {
                        // Both captions from the same prefix: one decoding pass serves both searches.
                        (true, true) if concise_prefix == creative_prefix => {
                            let mut both = self.model.generate_together(
                                &group_embeds,
                                &concise_prefix,
                                &[&opts.concise, &opts.creative],
                            )?;
                            let creative = both.pop();
                            (both.pop(), creative)
                        }
                        (concise, creative) => (
                            generate(concise, &concise_prefix, &opts.concise)?,
                            generate(creative, &creative_prefix, &opts.creative)?,
                        ),
                    },
                )
            })?;
            for (&i, seq) in group.iter().zip(concise.iter().flatten()) {
                let text = self.decode_text(&concise_prefix, seq)?;
                results[i].concise = Some(Caption::new(
                    caption::concise(&text, opts.max_concise_words),
                    seq,
                ));
            }
            for (&i, seq) in group.iter().zip(creative.iter().flatten()) {
                let text = self.decode_text(&creative_prefix, seq)?;
                results[i].creative = Some(Caption::new(
                    caption::creative(&text, opts.max_creative_sentences),
                    seq,
                ));
            }
        }
        Ok(results)
    }
}

fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    if !path.exists() {
        return Err(ModelError::MissingFile {
            path: path.to_path_buf(),
        });
    }
    Tokenizer::from_file(path).map_err(|e| ModelError::Tokenizer {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// `f32`, `f16`, `bf16`: how `/info` names a dtype.
pub fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        _ => "f32",
    }
}

fn device_name(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda".into(),
        Device::Metal(_) => "metal".into(),
    }
}
