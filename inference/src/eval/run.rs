//! `eval run`: caption an evaluation set with one checkpoint, one image at a time (the latency
//! a single request sees), with a progress bar on stderr; write the predictions and score them.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use imgcap_common::CaptionMode;
use imgcap_imaging::{decode_image, ImageLimits};
use imgcap_models::{CaptionOptions, Captioner, Strategy};
use serde_json::json;

use super::set::EvalSet;

/// Which caption an evaluation scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scored {
    Concise,
    Creative,
}

/// One checkpoint's captions of a set and how long each took.
#[derive(Debug, Clone)]
pub struct Run {
    /// `model_id@revision` and dtype, for the reports.
    pub model: String,
    /// `(image_id, caption)` in the set's order.
    pub predictions: Vec<(String, String)>,
    pub latencies_ms: Vec<f64>,
    pub total_seconds: f64,
}

impl Run {
    pub fn images_per_second(&self) -> f64 {
        self.predictions.len() as f64 / self.total_seconds.max(f64::EPSILON)
    }

    /// The `q`-quantile (0..=1) of the latencies, nearest rank.
    pub fn latency_ms(&self, q: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
        sorted.get(rank - 1).copied().unwrap_or(0.0)
    }

    /// The predictions as a COCO results list.
    pub fn write_predictions(&self, path: &Path) -> anyhow::Result<()> {
        let list: Vec<_> = self
            .predictions
            .iter()
            .map(|(id, caption)| json!({"image_id": id, "caption": caption}))
            .collect();
        std::fs::write(path, serde_json::to_vec_pretty(&list)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

fn progress(done: usize, total: usize, started: Instant) {
    const WIDTH: usize = 30;
    let filled = WIDTH * done / total.max(1);
    let rate = done as f64 / started.elapsed().as_secs_f64().max(f64::EPSILON);
    eprint!(
        "\r[{}{}] {done}/{total} images, {rate:.2} images/s",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    );
    if done == total {
        eprintln!();
    }
    let _ = std::io::stderr().flush();
}

/// Captions every image of `set` with `captioner`.
pub fn caption_set(captioner: &Captioner, set: &EvalSet, scored: Scored) -> anyhow::Result<Run> {
    let info = captioner.info();
    let model = format!(
        "{} ({})",
        imgcap_common::model_at_revision(&info.model_id, info.revision.as_deref()),
        info.dtype
    );
    // Only the scored caption, and sampling seeded, so two runs of one checkpoint agree.
    let mut options = CaptionOptions {
        mode: match scored {
            Scored::Concise => CaptionMode::Concise,
            Scored::Creative => CaptionMode::Creative,
        },
        ..CaptionOptions::default()
    };
    if let Strategy::Sample { seed, .. } = &mut options.creative.strategy {
        *seed = Some(0);
    }
    let limits = ImageLimits::default();
    let started = Instant::now();
    let mut run = Run {
        model,
        predictions: Vec::with_capacity(set.images.len()),
        latencies_ms: Vec::with_capacity(set.images.len()),
        total_seconds: 0.0,
    };
    progress(0, set.images.len(), started);
    for (done, image) in set.images.iter().enumerate() {
        let bytes = std::fs::read(&image.path)
            .with_context(|| format!("cannot read {}", image.path.display()))?;
        let one = Instant::now();
        let decoded = decode_image(&bytes, &limits).with_context(|| {
            format!("{} is not an image this server takes", image.path.display())
        })?;
        let mut captions = captioner.caption_batch(&[decoded.image], &options)?;
        let captions = captions.pop().context("the model returned no captions")?;
        run.latencies_ms.push(one.elapsed().as_secs_f64() * 1000.0);
        let caption = match scored {
            Scored::Concise => captions.concise,
            Scored::Creative => captions.creative,
        };
        run.predictions.push((
            image.image_id.clone(),
            caption.map(|c| c.text).unwrap_or_default(),
        ));
        progress(done + 1, set.images.len(), started);
    }
    run.total_seconds = started.elapsed().as_secs_f64();
    Ok(run)
}
