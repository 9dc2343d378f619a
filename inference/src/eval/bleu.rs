//! Corpus BLEU-1..4 as `pycocoevalcap` computes it: clipped n-gram matches summed over the
//! corpus, the reference length closest to each candidate's (the shorter on a tie), and the same
//! smoothing constants (`tiny` 1e-15 over `small` 1e-9), so an empty candidate scores, not fails.

use super::ngrams::{NgramCounts, MAX_N};
use super::Example;

const TINY: f64 = 1e-15;
const SMALL: f64 = 1e-9;

/// BLEU-1 to BLEU-4 of the corpus.
pub fn corpus_bleu(examples: &[Example]) -> [f64; MAX_N] {
    let (mut test_len, mut ref_len) = (0usize, 0usize);
    let mut guess = [0usize; MAX_N];
    let mut correct = [0usize; MAX_N];
    for example in examples {
        let candidate: Vec<&str> = example.candidate.split_whitespace().collect();
        let references: Vec<Vec<&str>> = example
            .references
            .iter()
            .map(|r| r.split_whitespace().collect())
            .collect();
        let len = candidate.len();
        test_len += len;
        ref_len += references
            .iter()
            .map(Vec::len)
            .min_by_key(|&l| (l.abs_diff(len), l))
            .unwrap_or(0);
        let mut max_ref = NgramCounts::default();
        for reference in &references {
            for (n, gram, count) in NgramCounts::of(reference).iter() {
                let best = max_ref.by_n[n].entry(gram.to_owned()).or_default();
                *best = (*best).max(count);
            }
        }
        for (n, gram, count) in NgramCounts::of(&candidate).iter() {
            let clip = max_ref.by_n[n].get(gram).copied().unwrap_or(0);
            correct[n] += count.min(clip) as usize;
        }
        for (n, slot) in guess.iter_mut().enumerate() {
            *slot += (len + 1).saturating_sub(n + 1);
        }
    }
    let mut scores = [0.0; MAX_N];
    let mut product = 1.0f64;
    for n in 0..MAX_N {
        product *= (correct[n] as f64 + TINY) / (guess[n] as f64 + SMALL);
        scores[n] = product.powf(1.0 / (n + 1) as f64);
    }
    let ratio = (test_len as f64 + TINY) / (ref_len as f64 + SMALL);
    if ratio < 1.0 {
        for score in &mut scores {
            *score *= (1.0 - 1.0 / ratio).exp();
        }
    }
    scores
}
