//! Operator tools for checkpoints: `check-model` (is this directory something the server can
//! load, and if not, what exactly is wrong), `package` (the `model.tar.gz` SageMaker unpacks into
//! `/opt/ml/model`) and `quantize` (a GGUF copy).

mod export;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};
use candle_core::quantized::gguf_file;
use image::{Rgb, RgbImage};
use imgcap_models::preprocess::ImageProcessor;
use imgcap_models::source::{ModelFiles, ModelSource, WeightFiles};
use imgcap_models::synthetic::tensor_shapes;
use imgcap_models::{BlipConfig, CaptionOptions, Captioner, LoadOptions};
use tokenizers::Tokenizer;

pub use self::export::{package, quantize};

/// Files that are not read by the server but belong with a checkpoint, so the archive also
/// loads in `transformers`.
const COMPANION_FILES: &[&str] = &[
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "generation_config.json",
];
const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
/// The LM head may be tied to the word embeddings (the weight then absent), and its bias is
/// saved under either name; the loader accepts all of these.
const TIED_HEAD_WEIGHT: &str = "text_decoder.cls.predictions.decoder.weight";
const HEAD_BIAS: &str = "text_decoder.cls.predictions.bias";
const HEAD_BIAS_ALIAS: &str = "text_decoder.cls.predictions.decoder.bias";
/// How many missing or mis-shaped tensors are listed one by one.
const LISTED: usize = 12;

/// One finding of `check-model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub ok: bool,
    pub subject: String,
    pub detail: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    fn ok(&mut self, subject: impl Into<String>, detail: impl Into<String>) {
        self.findings.push(Finding {
            ok: true,
            subject: subject.into(),
            detail: detail.into(),
        });
    }

    fn fail(&mut self, subject: impl Into<String>, detail: impl Into<String>) {
        self.findings.push(Finding {
            ok: false,
            subject: subject.into(),
            detail: detail.into(),
        });
    }

    pub fn problems(&self) -> usize {
        self.findings.iter().filter(|f| !f.ok).count()
    }

    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        for finding in &self.findings {
            let mark = if finding.ok { "ok  " } else { "FAIL" };
            let mut lines = finding.detail.lines();
            writeln!(
                out,
                "{mark} {}: {}",
                finding.subject,
                lines.next().unwrap_or("")
            )?;
            for line in lines {
                writeln!(out, "       {line}")?;
            }
        }
        match self.problems() {
            0 => writeln!(out, "the checkpoint is valid"),
            n => writeln!(out, "the checkpoint has {n} problem(s)"),
        }
    }
}

/// Checks the checkpoint in `dir`: its files, config, tokenizer, preprocessing, every tensor's
/// name and shape, then a real load and a test caption (only when everything before passed, so
/// the report names causes, not their consequences).
pub async fn check_dir(dir: &Path) -> Report {
    match ModelSource::Dir(dir.to_path_buf()).resolve().await {
        Ok(files) => {
            let files_for_check = files.clone();
            tokio::task::spawn_blocking(move || check_files(&files_for_check))
                .await
                .unwrap_or_else(|e| {
                    let mut report = Report::default();
                    report.fail("check", format!("the check was interrupted: {e}"));
                    report
                })
        }
        Err(err) => {
            let mut report = Report::default();
            report.fail("files", err.to_string());
            report
        }
    }
}

pub fn check_files(files: &ModelFiles) -> Report {
    let mut report = Report::default();
    report.ok("files", describe_files(files));
    let config = match BlipConfig::from_file(&files.config) {
        Ok(config) => {
            let (v, t) = (&config.vision, &config.text);
            report.ok(
                "config.json",
                format!(
                    "vision {} layers x {} ({}x{} px, patch {}), text {} layers x {}, vocabulary {}",
                    v.num_hidden_layers,
                    v.hidden_size,
                    v.image_size,
                    v.image_size,
                    v.patch_size,
                    t.num_hidden_layers,
                    t.hidden_size,
                    t.vocab_size
                ),
            );
            Some(config)
        }
        Err(err) => {
            report.fail("config.json", err.to_string());
            None
        }
    };
    check_tokenizer(&mut report, files, config.as_ref());
    check_preprocessor(&mut report, files, config.as_ref());
    if let Some(config) = &config {
        check_tensors(&mut report, &files.weights, config);
    }
    if report.problems() == 0 {
        test_caption(&mut report, files);
    }
    report
}

fn describe_files(files: &ModelFiles) -> String {
    let weights = match &files.weights {
        WeightFiles::Safetensors(paths) if paths.len() == 1 => file_name(&paths[0]),
        WeightFiles::Safetensors(paths) => format!("{} safetensors shards", paths.len()),
        WeightFiles::PyTorch(path) | WeightFiles::Gguf(path) => file_name(path),
    };
    format!("model {}, weights {weights}", files.model_id)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn check_tokenizer(report: &mut Report, files: &ModelFiles, config: Option<&BlipConfig>) {
    let tokenizer = match Tokenizer::from_file(&files.tokenizer) {
        Ok(tokenizer) => tokenizer,
        Err(err) => {
            report.fail("tokenizer.json", format!("cannot be read: {err}"));
            return;
        }
    };
    let size = tokenizer.get_vocab_size(true);
    match config {
        Some(config) if size > config.text.vocab_size => report.fail(
            "tokenizer.json",
            format!(
                "{size} tokens, more than the model's vocabulary of {}: the tokenizer belongs to \
                 another model",
                config.text.vocab_size
            ),
        ),
        _ => report.ok("tokenizer.json", format!("{size} tokens")),
    }
}

fn check_preprocessor(report: &mut Report, files: &ModelFiles, config: Option<&BlipConfig>) {
    let Some(path) = &files.preprocessor_config else {
        report.ok(
            "preprocessor_config.json",
            "absent: BLIP's defaults apply (bicubic resize to the model's size, CLIP mean/std)",
        );
        return;
    };
    let processor = match ImageProcessor::from_preprocessor_config(path) {
        Ok(processor) => processor,
        Err(err) => {
            report.fail("preprocessor_config.json", err.to_string());
            return;
        }
    };
    let size = (processor.height, processor.width);
    match config.map(|c| c.vision.image_size as u32) {
        Some(side) if size != (side, side) => report.fail(
            "preprocessor_config.json",
            format!(
                "resizes to {}x{}, but the model's vision_config.image_size is {side}",
                size.1, size.0
            ),
        ),
        _ => report.ok(
            "preprocessor_config.json",
            format!("bicubic resize to {}x{}", size.1, size.0),
        ),
    }
}

/// Names and shapes of every tensor, read from the headers only (no weights are loaded).
fn checkpoint_shapes(weights: &WeightFiles) -> anyhow::Result<BTreeMap<String, Vec<usize>>> {
    let mut shapes = BTreeMap::new();
    match weights {
        WeightFiles::Safetensors(paths) => {
            for path in paths {
                shapes.extend(safetensors_shapes(path)?);
            }
        }
        WeightFiles::PyTorch(path) => {
            let infos = candle_core::pickle::read_pth_tensor_info(path, false, None).with_context(
                || format!("{} is not a readable PyTorch checkpoint", path.display()),
            )?;
            for info in infos {
                shapes.insert(info.name, info.layout.shape().dims().to_vec());
            }
        }
        WeightFiles::Gguf(path) => {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let content = gguf_file::Content::read(&mut BufReader::new(file))
                .with_context(|| format!("{} is not a readable GGUF file", path.display()))?;
            for (name, info) in content.tensor_infos {
                shapes.insert(name, info.shape.dims().to_vec());
            }
        }
    }
    Ok(shapes)
}

/// A safetensors header: 8 bytes of little-endian length, then JSON naming each tensor's dtype,
/// shape and byte range. The ranges are checked against the file size, so a truncated download
/// is caught here rather than at load.
fn safetensors_shapes(path: &Path) -> anyhow::Result<BTreeMap<String, Vec<usize>>> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let file_len = file.metadata()?.len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes)
        .with_context(|| format!("{} is too short to be safetensors", path.display()))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > 100 * 1024 * 1024 || 8 + header_len > file_len {
        bail!(
            "{} is not safetensors (header length {header_len} for a file of {file_len} bytes)",
            path.display()
        );
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)?;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .with_context(|| format!("{} has a malformed safetensors header", path.display()))?;
    let data_len = file_len - 8 - header_len;
    let mut shapes = BTreeMap::new();
    for (name, entry) in header {
        if name == "__metadata__" {
            continue;
        }
        let shape: Vec<usize> = serde_json::from_value(entry["shape"].clone())
            .with_context(|| format!("{}: tensor `{name}` has no shape", path.display()))?;
        let end = entry["data_offsets"][1].as_u64().unwrap_or(u64::MAX);
        if end > data_len {
            bail!(
                "{} is truncated: tensor `{name}` ends at byte {end} of the data, which has {data_len}",
                path.display()
            );
        }
        shapes.insert(name, shape);
    }
    Ok(shapes)
}

fn check_tensors(report: &mut Report, weights: &WeightFiles, config: &BlipConfig) {
    let found = match checkpoint_shapes(weights) {
        Ok(found) => found,
        Err(err) => {
            report.fail("weights", format!("{err:#}"));
            return;
        }
    };
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    let mut used = 0;
    for (name, expected) in tensor_shapes(config) {
        let actual = match name.as_str() {
            TIED_HEAD_WEIGHT if !found.contains_key(&name) => continue,
            HEAD_BIAS => found.get(HEAD_BIAS).or_else(|| found.get(HEAD_BIAS_ALIAS)),
            _ => found.get(&name),
        };
        match actual {
            None => missing.push(format!("missing {name} (expected shape {expected:?})")),
            Some(actual) if *actual != expected => mismatched.push(format!(
                "{name} has shape {actual:?}, the config needs {expected:?}"
            )),
            Some(_) => used += 1,
        }
    }
    if missing.is_empty() && mismatched.is_empty() {
        report.ok(
            "weights",
            format!(
                "all {used} tensors present with the right shapes ({} in the checkpoint)",
                found.len()
            ),
        );
        return;
    }
    let mut detail = format!(
        "{} tensor(s) missing, {} with the wrong shape",
        missing.len(),
        mismatched.len()
    );
    let problems: Vec<&String> = missing.iter().chain(&mismatched).collect();
    for line in problems.iter().take(LISTED) {
        detail.push('\n');
        detail.push_str(line);
    }
    if problems.len() > LISTED {
        detail.push_str(&format!("\n... and {} more", problems.len() - LISTED));
    }
    report.fail("weights", detail);
}

/// Loads the model for real and captions a synthetic image: the proof the server will start.
fn test_caption(report: &mut Report, files: &ModelFiles) {
    let started = Instant::now();
    let captioner = match Captioner::from_files(files, &LoadOptions::default()) {
        Ok(captioner) => captioner,
        Err(err) => {
            report.fail("load", err.to_string());
            return;
        }
    };
    report.ok(
        "load",
        format!("loaded on the CPU in {} ms", started.elapsed().as_millis()),
    );
    let side = captioner.info().image_size as u32;
    let image = RgbImage::from_fn(side, side, |x, y| {
        Rgb([(x * 255 / side) as u8, (y * 255 / side) as u8, 128])
    });
    let started = Instant::now();
    match captioner.caption_batch(&[image], &CaptionOptions::default()) {
        Ok(captions) => {
            let text = |c: &Option<imgcap_models::Caption>| {
                c.as_ref().map_or_else(String::new, |c| c.text.clone())
            };
            let first = captions.first();
            report.ok(
                "test caption",
                format!(
                    "concise {:?}, creative {:?} in {} ms",
                    first.map(|c| text(&c.concise)).unwrap_or_default(),
                    first.map(|c| text(&c.creative)).unwrap_or_default(),
                    started.elapsed().as_millis()
                ),
            );
        }
        Err(err) => report.fail("test caption", err.to_string()),
    }
}
