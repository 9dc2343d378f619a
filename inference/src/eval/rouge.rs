//! ROUGE-L as `pycocoevalcap` computes it: per image, the longest common subsequence with each
//! reference, the best precision and the best recall (over possibly different references),
//! combined with beta = 1.2; the corpus figure is the mean over images.

use super::Example;

const BETA: f64 = 1.2;

fn lcs(a: &[&str], b: &[&str]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        let mut diagonal = 0;
        for (j, y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if x == y {
                diagonal + 1
            } else {
                above.max(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// ROUGE-L of one image. Words are split on single spaces, as pycocoevalcap splits them (so an
/// empty candidate is one empty word).
pub fn rouge_l(example: &Example) -> f64 {
    let candidate: Vec<&str> = example.candidate.split(' ').collect();
    let (mut precision, mut recall) = (0.0f64, 0.0f64);
    for reference in &example.references {
        let reference: Vec<&str> = reference.split(' ').collect();
        let common = lcs(&reference, &candidate) as f64;
        precision = precision.max(common / candidate.len() as f64);
        recall = recall.max(common / reference.len() as f64);
    }
    if precision == 0.0 || recall == 0.0 {
        return 0.0;
    }
    (1.0 + BETA * BETA) * precision * recall / (recall + BETA * BETA * precision)
}
