//! CIDEr-D as `pycocoevalcap` computes it (its `Cider` scorer): TF-IDF vectors of 1- to 4-grams
//! with document frequencies over the corpus's references, the candidate's weights clipped to
//! the reference's, a Gaussian penalty (sigma 6) on the length difference, averaged over the
//! n-gram orders and the references, times 10. Two quirks kept for equality: the "length" is
//! the number of bigrams, and the IDF's corpus size is the number of images.

use std::collections::BTreeMap;

use super::ngrams::{NgramCounts, MAX_N};
use super::Example;

const SIGMA: f64 = 6.0;

struct Vector {
    weights: [BTreeMap<String, f64>; MAX_N],
    norms: [f64; MAX_N],
    length: f64,
}

fn vector(
    counts: &NgramCounts,
    document_frequency: &BTreeMap<String, f64>,
    log_images: f64,
) -> Vector {
    let mut weights: [BTreeMap<String, f64>; MAX_N] = Default::default();
    let mut norms = [0.0; MAX_N];
    let mut length = 0.0;
    for (n, gram, count) in counts.iter() {
        let df = document_frequency
            .get(gram)
            .copied()
            .unwrap_or(0.0)
            .max(1.0)
            .ln();
        let weight = f64::from(count) * (log_images - df);
        norms[n] += weight * weight;
        weights[n].insert(gram.to_owned(), weight);
        if n == 1 {
            length += f64::from(count);
        }
    }
    Vector {
        weights,
        norms: norms.map(f64::sqrt),
        length,
    }
}

fn similarity(candidate: &Vector, reference: &Vector) -> [f64; MAX_N] {
    let delta = candidate.length - reference.length;
    let penalty = std::f64::consts::E.powf(-(delta * delta) / (2.0 * SIGMA * SIGMA));
    let mut values = [0.0; MAX_N];
    for (n, value) in values.iter_mut().enumerate() {
        for (gram, weight) in &candidate.weights[n] {
            let theirs = reference.weights[n].get(gram).copied().unwrap_or(0.0);
            *value += weight.min(theirs) * theirs;
        }
        if candidate.norms[n] != 0.0 && reference.norms[n] != 0.0 {
            *value /= candidate.norms[n] * reference.norms[n];
        }
        *value *= penalty;
    }
    values
}

/// CIDEr-D of each image (the corpus figure is their mean).
pub fn cider_d(examples: &[Example]) -> Vec<f64> {
    let cooked: Vec<(NgramCounts, Vec<NgramCounts>)> = examples
        .iter()
        .map(|e| {
            let words = |s: &str| -> NgramCounts {
                NgramCounts::of(&s.split_whitespace().collect::<Vec<_>>())
            };
            (
                words(&e.candidate),
                e.references.iter().map(|r| words(r)).collect(),
            )
        })
        .collect();
    // In how many images' references each n-gram occurs.
    let mut document_frequency: BTreeMap<String, f64> = BTreeMap::new();
    for (_, references) in &cooked {
        let mut seen: Vec<&str> = references
            .iter()
            .flat_map(|r| r.iter().map(|(_, g, _)| g))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        for gram in seen {
            *document_frequency.entry(gram.to_owned()).or_default() += 1.0;
        }
    }
    let log_images = (examples.len() as f64).ln();
    cooked
        .iter()
        .map(|(candidate, references)| {
            let candidate = vector(candidate, &document_frequency, log_images);
            let mut sum = [0.0; MAX_N];
            for reference in references {
                let reference = vector(reference, &document_frequency, log_images);
                for (total, value) in sum.iter_mut().zip(similarity(&candidate, &reference)) {
                    *total += value;
                }
            }
            sum.iter().sum::<f64>() / MAX_N as f64 / references.len() as f64 * 10.0
        })
        .collect()
}
