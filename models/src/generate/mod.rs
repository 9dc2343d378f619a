//! Token generation over a batch of images: greedy, beam search and nucleus sampling.
//!
//! The search logic follows `transformers`' `generate` (v5) step for step, so the same
//! checkpoint and options give the same token ids: logits processors run in its order
//! (repetition penalty → no-repeat n-gram → min new tokens → temperature → top-k → top-p), beam
//! search keeps the top `2 × beams` candidates per step, scores finished hypotheses by
//! `sum log p / generated_len ^ length_penalty` and stops with its early-stop heuristic.
//! Images that finish leave the batch, so long captions do not slow down short ones.

use std::cell::RefCell;
use std::rc::Rc;

use candle_core::Tensor;
use rand::rngs::StdRng;
use rand::Rng;

use crate::error::{ModelError, Result};
use crate::text::{DecoderCache, ImageContext, TextDecoder};

mod beam;
mod sampling;
#[cfg(test)]
mod tests;

use beam::BeamSearch;
use sampling::Sampling;
/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    Greedy,
    BeamSearch {
        num_beams: usize,
        length_penalty: f32,
    },
    /// `seed`: the same seed gives the same caption for the same image; `None` draws a fresh one.
    Sample {
        temperature: f32,
        top_k: usize,
        top_p: f32,
        seed: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenerationOptions {
    pub strategy: Strategy,
    pub max_new_tokens: usize,
    pub min_new_tokens: usize,
    /// 1.0 disables it; > 1 discourages tokens already in the sequence (CTRL's penalty).
    pub repetition_penalty: f32,
    /// 0 disables it; otherwise no n-gram of this size appears twice.
    pub no_repeat_ngram_size: usize,
}

/// Largest beam count accepted: beyond it the cost grows with no gain in caption quality.
pub const MAX_BEAMS: usize = 16;

impl GenerationOptions {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ModelError::InvalidOptions(m));
        if self.max_new_tokens == 0 {
            return bad("max_new_tokens must be at least 1".into());
        }
        if self.min_new_tokens > self.max_new_tokens {
            return bad(format!(
                "min_new_tokens ({}) is larger than max_new_tokens ({})",
                self.min_new_tokens, self.max_new_tokens
            ));
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return bad("repetition_penalty must be a positive number".into());
        }
        match self.strategy {
            Strategy::Greedy => {}
            Strategy::BeamSearch {
                num_beams,
                length_penalty,
            } => {
                if !(1..=MAX_BEAMS).contains(&num_beams) {
                    return bad(format!("num_beams must be between 1 and {MAX_BEAMS}"));
                }
                if !length_penalty.is_finite() {
                    return bad("length_penalty must be a finite number".into());
                }
            }
            Strategy::Sample {
                temperature, top_p, ..
            } => {
                if !(temperature.is_finite() && temperature > 0.0) {
                    return bad("temperature must be a positive number".into());
                }
                if !(top_p > 0.0 && top_p <= 1.0) {
                    return bad("top_p must be in (0, 1]".into());
                }
            }
        }
        Ok(())
    }
}

/// One generated sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedSequence {
    /// New tokens only (after the prefix), ending with the end token when the model stopped.
    pub tokens: Vec<u32>,
    /// The model's own log-probability of each new token (before any logits processor).
    pub token_logprobs: Vec<f32>,
    /// Beam search: the hypothesis score `transformers` reports as `sequences_scores`;
    /// otherwise the sum of `token_logprobs`.
    pub score: f32,
}

impl GeneratedSequence {
    /// Mean token log-probability: the caption's confidence.
    pub fn mean_logprob(&self) -> f32 {
        if self.token_logprobs.is_empty() {
            return f32::NEG_INFINITY;
        }
        self.token_logprobs.iter().sum::<f32>() / self.token_logprobs.len() as f32
    }
}

/// Token ids the search needs to know about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpecialTokens {
    pub eos: u32,
}

/// `log Σ exp(logits)`, computed stably.
fn log_sum_exp(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&x| (x - max).exp()).sum();
    sum.ln() + max
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let log_sum = log_sum_exp(logits);
    logits.iter().map(|&x| x - log_sum).collect()
}

/// The processors that shape scores before a token is picked, in `transformers`' order.
fn apply_processors(
    scores: &mut [f32],
    sequence: &[u32],
    prefix_len: usize,
    opts: &GenerationOptions,
    eos: u32,
) {
    if opts.repetition_penalty != 1.0 {
        let mut seen = sequence.to_vec();
        seen.sort_unstable();
        seen.dedup();
        for &token in &seen {
            if let Some(s) = scores.get_mut(token as usize) {
                *s = if *s < 0.0 {
                    *s * opts.repetition_penalty
                } else {
                    *s / opts.repetition_penalty
                };
            }
        }
    }
    let n = opts.no_repeat_ngram_size;
    if n > 0 && sequence.len() + 1 >= n {
        let tail = &sequence[sequence.len() + 1 - n..];
        for window in sequence.windows(n) {
            if &window[..n - 1] == tail {
                scores[window[n - 1] as usize] = f32::NEG_INFINITY;
            }
        }
    }
    if sequence.len() - prefix_len < opts.min_new_tokens {
        scores[eos as usize] = f32::NEG_INFINITY;
    }
}

/// Temperature, top-k and top-p as `transformers`' warpers apply them.
fn apply_sampling_warpers(scores: &mut [f32], temperature: f32, top_k: usize, top_p: f32) {
    if temperature != 1.0 {
        scores.iter_mut().for_each(|s| *s /= temperature);
    }
    if top_k > 0 && top_k < scores.len() {
        let mut sorted = scores.to_vec();
        sorted.select_nth_unstable_by(top_k - 1, |a, b| b.total_cmp(a));
        let kth = sorted[top_k - 1];
        scores
            .iter_mut()
            .filter(|s| **s < kth)
            .for_each(|s| *s = f32::NEG_INFINITY);
    }
    if top_p < 1.0 {
        // Tokens already at -inf (e.g. outside the top-k) carry no mass: only the rest is sorted.
        let mut order: Vec<usize> = (0..scores.len())
            .filter(|&i| scores[i] > f32::NEG_INFINITY)
            .collect();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        let sorted: Vec<f32> = order.iter().map(|&i| scores[i]).collect();
        let probs = log_softmax(&sorted);
        let mut cumulative = 0.0f32;
        // Ascending order: drop the low tail whose total mass stays within 1 - top_p, but
        // always keep the most likely token.
        for (rank, &i) in order.iter().enumerate() {
            cumulative += probs[rank].exp();
            if cumulative <= 1.0 - top_p && rank + 1 < order.len() {
                scores[i] = f32::NEG_INFINITY;
            }
        }
    }
}

fn argmax(scores: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = i;
        }
    }
    best as u32
}

fn sample(scores: &[f32], rng: &mut StdRng) -> u32 {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = scores.iter().map(|&s| ((s - max) as f64).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut target = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if *w > 0.0 {
            if target < *w {
                return i as u32;
            }
            target -= w;
        }
    }
    argmax(scores)
}

fn token_column(rows: &[u32], device: &candle_core::Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(rows.to_vec(), (rows.len(), 1), device)?)
}

fn prefix_batch(prefix: &[u32], rows: usize, device: &candle_core::Device) -> Result<Tensor> {
    let ids: Vec<u32> = (0..rows).flat_map(|_| prefix.iter().copied()).collect();
    Ok(Tensor::from_vec(ids, (rows, prefix.len()), device)?)
}

/// What one search wants decoded next, after consuming its rows' logits.
struct Step {
    /// For each row of the next step, the row of the last step it continues.
    parents: Vec<usize>,
    /// The token each next row is fed.
    tokens: Vec<u32>,
}

/// One decoding search over a set of images (beam search, sampling or greedy), driven a step
/// at a time so several searches can share the decoder's passes.
trait Search {
    /// The images still decoding, with the sequences each feeds the decoder.
    fn context(&self) -> &ImageContext;
    /// Consumes the last-position logits of this search's rows, in order, and says what to
    /// decode next; no rows when it has finished.
    fn step(&mut self, logits: &[Vec<f32>]) -> Result<Step>;
    fn finish(self: Box<Self>) -> Vec<GeneratedSequence>;
}

/// Whether image `i` of a generation is no longer wanted.
type StopCheck = Rc<dyn Fn(usize) -> bool>;

thread_local! {
    /// The check [`stop_early_when`] installs for generations on this thread.
    static STOP: RefCell<Option<StopCheck>> = const { RefCell::new(None) };
}

/// Runs `f` (a captioning call on this thread) with `stop` checked once per decoding step of
/// every generation it makes: `stop(i)` says that image `i` of the call (its index among the
/// images `f` captions) is no longer wanted. Such an image leaves the generation where it is
/// and gets what it has so far (possibly no tokens); the others go on, and once every image is
/// stopped the generation ends. For servers whose clients can go away mid-batch: those
/// captions would be for nobody, and the decoder is free sooner. The vision pass is not
/// interrupted.
pub fn stop_early_when<R>(stop: impl Fn(usize) -> bool + 'static, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<StopCheck>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            STOP.with(|slot| *slot.borrow_mut() = previous);
        }
    }
    let previous = STOP.with(|slot| slot.borrow_mut().replace(Rc::new(stop)));
    let _restore = Restore(previous);
    f()
}

/// Runs `f`, a generation over some of the call's images (`images[k]` is the call's index of
/// the generation's image `k`), with the stop check translated to the generation's indices.
pub(crate) fn for_images<R>(images: &[usize], f: impl FnOnce() -> R) -> R {
    match STOP.with(|slot| slot.borrow().clone()) {
        Some(stop) => {
            let images = images.to_vec();
            stop_early_when(move |k| images.get(k).is_some_and(|&i| stop(i)), f)
        }
        None => f(),
    }
}

/// Whether image `i` of the running generation is no longer wanted.
fn image_stopped(i: usize) -> bool {
    let stop = STOP.with(|slot| slot.borrow().clone());
    stop.is_some_and(|stop| stop(i))
}

/// Generates one sequence per image of `image` (whose group must be 1), all starting with
/// `prefix` (the start token, then any prompt tokens).
pub(crate) fn generate(
    decoder: &TextDecoder,
    image: &ImageContext,
    prefix: &[u32],
    opts: &GenerationOptions,
    special: SpecialTokens,
) -> Result<Vec<GeneratedSequence>> {
    let mut results = generate_together(decoder, image, prefix, &[opts], special)?;
    Ok(results.remove(0))
}

/// Runs one search per entry of `options` over the same images and prefix in shared decoder
/// passes: each pass streams the decoder's weights once for the rows of every search (a
/// concise beam search and a creative sample of the same images cost little more than the
/// beam search alone). Returns one sequence per image for each entry of `options`, exactly
/// what separate [`generate`] calls would give.
pub(crate) fn generate_together(
    decoder: &TextDecoder,
    image: &ImageContext,
    prefix: &[u32],
    options: &[&GenerationOptions],
    special: SpecialTokens,
) -> Result<Vec<Vec<GeneratedSequence>>> {
    if prefix.is_empty() || prefix.len() >= decoder.max_positions() {
        return Err(ModelError::InvalidOptions(format!(
            "the prompt must leave room for new tokens within {} positions",
            decoder.max_positions()
        )));
    }
    let device = image_device(image)?;
    let mut searches = options
        .iter()
        .map(|opts| {
            opts.validate()?;
            // Hard cap: never run past the position embeddings.
            let opts = GenerationOptions {
                max_new_tokens: opts
                    .max_new_tokens
                    .min(decoder.max_positions() - prefix.len()),
                ..(*opts).clone()
            };
            Ok(match opts.strategy {
                Strategy::BeamSearch {
                    num_beams,
                    length_penalty,
                } => Box::new(BeamSearch::new(
                    image,
                    prefix,
                    opts,
                    num_beams,
                    length_penalty,
                    special,
                )) as Box<dyn Search>,
                Strategy::Greedy | Strategy::Sample { .. } => {
                    Box::new(Sampling::new(image, prefix, opts, special))
                }
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Rows each search feeds the next pass; 0 once it has finished.
    let mut rows: Vec<usize> = vec![image.num_images(); searches.len()];
    let mut cache = DecoderCache::new();
    let mut input = prefix_batch(prefix, rows.iter().sum(), &device)?;
    loop {
        if (0..image.num_images()).all(image_stopped) {
            break;
        }
        let segments: Vec<&ImageContext> = searches
            .iter()
            .zip(&rows)
            .filter(|(_, &r)| r > 0)
            .map(|(search, _)| search.context())
            .collect();
        let logits = decoder
            .forward_segments(&input, &segments, &mut cache)?
            .to_vec2::<f32>()?;
        let (mut parents, mut tokens, mut offset) = (Vec::new(), Vec::new(), 0);
        for (search, rows) in searches.iter_mut().zip(rows.iter_mut()) {
            if *rows == 0 {
                continue;
            }
            let step = search.step(&logits[offset..offset + *rows])?;
            parents.extend(step.parents.iter().map(|&p| p + offset));
            tokens.extend(step.tokens);
            offset += *rows;
            *rows = step.parents.len();
        }
        if tokens.is_empty() {
            break;
        }
        if !parents.iter().copied().eq(0..logits.len()) {
            cache.select_rows(&parents)?;
        }
        input = token_column(&tokens, &device)?;
    }
    Ok(searches.into_iter().map(|s| s.finish()).collect())
}

pub(super) fn image_device(image: &ImageContext) -> Result<candle_core::Device> {
    image
        .device()
        .cloned()
        .ok_or_else(|| ModelError::InvalidOptions("no images to caption".into()))
}
