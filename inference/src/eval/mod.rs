//! `imgcap-inference eval`: `run` captions an evaluation set with a checkpoint, `compare` two
//! checkpoints on one set (`run.rs`, `compare.rs`, `set.rs`), and `score`: the COCO caption metrics (BLEU-1..4, ROUGE-L, CIDEr-D) in
//! Rust, equal to `pycocoevalcap` 1.2 on tokenized captions (`tests.rs` holds them to 1e-9
//! against the figures `scripts/eval_reference_scores.py` wrote with it), on the COCO formats:
//! predictions `[{"image_id", "caption"}]`, references the same list or a COCO annotations file
//! (`{"annotations": [...]}`).

mod bleu;
mod cider;
pub mod cli;
pub mod compare;
mod ngrams;
mod rouge;
pub mod run;
pub mod set;
#[cfg(test)]
mod tests;
mod tokenize;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;

pub use tokenize::tokenize;

/// One image: the candidate caption and its references, tokenized (words joined by spaces).
#[derive(Debug, Clone)]
pub struct Example {
    pub image_id: String,
    pub candidate: String,
    pub references: Vec<String>,
}

/// The corpus figures, named as `pycocoevalcap` names them, and each image's.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    pub images: usize,
    #[serde(rename = "Bleu_1")]
    pub bleu_1: f64,
    #[serde(rename = "Bleu_2")]
    pub bleu_2: f64,
    #[serde(rename = "Bleu_3")]
    pub bleu_3: f64,
    #[serde(rename = "Bleu_4")]
    pub bleu_4: f64,
    #[serde(rename = "ROUGE_L")]
    pub rouge_l: f64,
    #[serde(rename = "CIDEr")]
    pub cider: f64,
    pub per_image: Vec<ImageScores>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageScores {
    pub image_id: String,
    #[serde(rename = "ROUGE_L")]
    pub rouge_l: f64,
    #[serde(rename = "CIDEr")]
    pub cider: f64,
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Scores the examples (already tokenized).
pub fn score(examples: &[Example]) -> Scores {
    let [bleu_1, bleu_2, bleu_3, bleu_4] = bleu::corpus_bleu(examples);
    let rouge: Vec<f64> = examples.iter().map(rouge::rouge_l).collect();
    let cider = cider::cider_d(examples);
    Scores {
        images: examples.len(),
        bleu_1,
        bleu_2,
        bleu_3,
        bleu_4,
        rouge_l: mean(&rouge),
        cider: mean(&cider),
        per_image: examples
            .iter()
            .zip(rouge.iter().zip(&cider))
            .map(|(e, (&rouge_l, &cider))| ImageScores {
                image_id: e.image_id.clone(),
                rouge_l,
                cider,
            })
            .collect(),
    }
}

/// `(image_id, caption)` pairs of a COCO results list or annotations file.
fn captions_in(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let list = match &json {
        Value::Array(list) => list,
        Value::Object(file) => match file.get("annotations") {
            Some(Value::Array(list)) => list,
            _ => bail!(
                "{}: a COCO annotations file needs an `annotations` list",
                path.display()
            ),
        },
        _ => bail!(
            "{}: expected a list of {{\"image_id\", \"caption\"}}",
            path.display()
        ),
    };
    list.iter()
        .enumerate()
        .map(|(i, entry)| {
            let id = match entry.get("image_id") {
                Some(Value::String(id)) => id.clone(),
                Some(Value::Number(id)) => id.to_string(),
                _ => bail!(
                    "{} entry {i}: no `image_id` (a number or a string)",
                    path.display()
                ),
            };
            let Some(Value::String(caption)) = entry.get("caption") else {
                bail!("{} entry {i}: no `caption` string", path.display());
            };
            Ok((id, caption.clone()))
        })
        .collect()
}

/// The examples of a predictions file scored against a references file. Each predicted image
/// needs references and exactly one prediction; references of images not predicted are left
/// out (as pycocoevalcap evaluates the results' images). `tokenized`: the captions are already
/// lower-case words split by single spaces, as the fixtures are.
pub fn load(
    predictions: &Path,
    references: &Path,
    tokenized: bool,
) -> anyhow::Result<Vec<Example>> {
    let name = predictions.display().to_string();
    examples(captions_in(predictions)?, &name, references, tokenized)
}

/// [`load`] with the predictions in hand (`name` says where they come from in messages).
pub fn examples(
    predictions: Vec<(String, String)>,
    name: &str,
    references: &Path,
    tokenized: bool,
) -> anyhow::Result<Vec<Example>> {
    let prepare = |caption: &str| {
        if tokenized {
            caption.to_owned()
        } else {
            tokenize(caption)
        }
    };
    let mut by_image: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, caption) in captions_in(references)? {
        by_image.entry(id).or_default().push(prepare(&caption));
    }
    let mut examples: Vec<Example> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut unreferenced = Vec::new();
    for (id, caption) in predictions {
        if !seen.insert(id.clone()) {
            bail!("{name}: image {id} has more than one prediction");
        }
        match by_image.get(&id) {
            Some(references) => examples.push(Example {
                image_id: id,
                candidate: prepare(&caption),
                references: references.clone(),
            }),
            None => unreferenced.push(id),
        }
    }
    if !unreferenced.is_empty() {
        let shown: Vec<&str> = unreferenced.iter().take(5).map(String::as_str).collect();
        bail!(
            "{} image(s) of {name} have no reference caption in {}: {}{}",
            unreferenced.len(),
            references.display(),
            shown.join(", "),
            if unreferenced.len() > 5 { ", …" } else { "" }
        );
    }
    if examples.is_empty() {
        bail!("{name} holds no predictions");
    }
    Ok(examples)
}

impl Scores {
    /// The corpus figures, one per line.
    pub fn print_table(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        writeln!(out, "images   {}", self.images)?;
        for (name, value) in [
            ("BLEU-1", self.bleu_1),
            ("BLEU-2", self.bleu_2),
            ("BLEU-3", self.bleu_3),
            ("BLEU-4", self.bleu_4),
            ("ROUGE-L", self.rouge_l),
            ("CIDEr-D", self.cider),
        ] {
            writeln!(out, "{name:<8} {value:.4}")?;
        }
        Ok(())
    }
}
