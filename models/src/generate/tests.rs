use super::*;

fn options() -> GenerationOptions {
    GenerationOptions {
        strategy: Strategy::Greedy,
        max_new_tokens: 10,
        min_new_tokens: 0,
        repetition_penalty: 1.0,
        no_repeat_ngram_size: 0,
    }
}

fn kept(scores: &[f32]) -> Vec<usize> {
    (0..scores.len())
        .filter(|&i| scores[i] > f32::NEG_INFINITY)
        .collect()
}

#[test]
fn top_p_keeps_the_smallest_set_reaching_the_mass_like_transformers() {
    // Probabilities 0.5, 0.3, 0.2 (+ a token already removed by top-k).
    let base = [0.5f32.ln(), 0.3f32.ln(), 0.2f32.ln(), f32::NEG_INFINITY];
    let mut scores = base;
    apply_sampling_warpers(&mut scores, 1.0, 0, 0.7);
    assert_eq!(kept(&scores), vec![0, 1]);
    let mut scores = base;
    apply_sampling_warpers(&mut scores, 1.0, 0, 0.5);
    assert_eq!(kept(&scores), vec![0]);
    // Never removes the most likely token, whatever top_p.
    let mut scores = base;
    apply_sampling_warpers(&mut scores, 1.0, 0, 1e-6);
    assert_eq!(kept(&scores), vec![0]);
}

#[test]
fn top_k_and_temperature() {
    let mut scores = [1.0f32, 4.0, 3.0, 2.0];
    apply_sampling_warpers(&mut scores, 2.0, 2, 1.0);
    assert_eq!(kept(&scores), vec![1, 2]);
    assert_eq!((scores[1], scores[2]), (2.0, 1.5));
}

#[test]
fn repetition_penalty_ngram_ban_and_min_tokens() {
    let opts = GenerationOptions {
        repetition_penalty: 2.0,
        no_repeat_ngram_size: 2,
        min_new_tokens: 4,
        ..options()
    };
    // Sequence [bos=9, 1, 2, 1]: bigram (1, 2) seen, so 2 is banned after 1; 1 and 2 (and
    // the bos) are penalised; the end token (0) is blocked until 4 new tokens exist.
    let mut scores = [1.0f32, 2.0, -2.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 6.0];
    apply_processors(&mut scores, &[9, 1, 2, 1], 1, &opts, 0);
    assert_eq!(
        scores[0],
        f32::NEG_INFINITY,
        "min_new_tokens blocks the end token"
    );
    assert_eq!(scores[1], 1.0, "positive logits are divided");
    assert_eq!(
        scores[2],
        f32::NEG_INFINITY,
        "the repeated bigram is banned"
    );
    assert_eq!(scores[3], 4.0, "unseen tokens are untouched");
    assert_eq!(
        scores[9], 3.0,
        "the start token counts as seen, as in transformers"
    );
    let mut scores = [1.0f32, 2.0, -2.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 6.0];
    apply_processors(&mut scores, &[9, 1, 2, 3, 4], 1, &opts, 0);
    assert_eq!(scores[0], 1.0, "four new tokens: the end token is allowed");
    assert_eq!(scores[2], -4.0, "negative logits are multiplied");
}
