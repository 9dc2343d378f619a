//! Nucleus sampling, and greedy decoding (sampling without its randomness).

use rand::SeedableRng;

use super::*;

/// Nucleus sampling, or greedy decoding without a sampling strategy.
pub(super) struct Sampling {
    opts: GenerationOptions,
    special: SpecialTokens,
    prefix_len: usize,
    sequences: Vec<Vec<u32>>,
    results: Vec<GeneratedSequence>,
    /// Each image gets its own generator so a batch samples exactly what single calls would.
    rngs: Vec<Option<StdRng>>,
    /// The images still decoding, one row each.
    active: Vec<usize>,
    context: ImageContext,
    steps: usize,
}

impl Sampling {
    pub(super) fn new(
        image: &ImageContext,
        prefix: &[u32],
        opts: GenerationOptions,
        special: SpecialTokens,
    ) -> Self {
        let n = image.num_images();
        let rngs = (0..n)
            .map(|_| match opts.strategy {
                Strategy::Sample { seed, .. } => {
                    Some(StdRng::seed_from_u64(seed.unwrap_or_else(rand::random)))
                }
                _ => None,
            })
            .collect();
        Self {
            opts,
            special,
            prefix_len: prefix.len(),
            sequences: vec![prefix.to_vec(); n],
            results: vec![
                GeneratedSequence {
                    tokens: vec![],
                    token_logprobs: vec![],
                    score: 0.0
                };
                n
            ],
            rngs,
            active: (0..n).collect(),
            context: image.with_group(1),
            steps: 0,
        }
    }
}

impl Search for Sampling {
    fn context(&self) -> &ImageContext {
        &self.context
    }

    fn step(&mut self, logits: &[Vec<f32>]) -> Result<Step> {
        let mut still_active = Vec::with_capacity(self.active.len());
        let mut step = Step {
            parents: Vec::with_capacity(self.active.len()),
            tokens: Vec::with_capacity(self.active.len()),
        };
        for (row, (&i, raw)) in self.active.iter().zip(logits).enumerate() {
            let mut scores = raw.clone();
            apply_processors(
                &mut scores,
                &self.sequences[i],
                self.prefix_len,
                &self.opts,
                self.special.eos,
            );
            let token = match (&self.opts.strategy, self.rngs[i].as_mut()) {
                (
                    Strategy::Sample {
                        temperature,
                        top_k,
                        top_p,
                        ..
                    },
                    Some(rng),
                ) => {
                    apply_sampling_warpers(&mut scores, *temperature, *top_k, *top_p);
                    sample(&scores, rng)
                }
                _ => argmax(&scores),
            };
            let logprob = raw[token as usize] - log_sum_exp(raw);
            self.sequences[i].push(token);
            let result = &mut self.results[i];
            result.tokens.push(token);
            result.token_logprobs.push(logprob);
            result.score += logprob;
            if token != self.special.eos && !image_stopped(i) {
                still_active.push(i);
                step.parents.push(row);
                step.tokens.push(token);
            }
        }
        self.steps += 1;
        if self.steps >= self.opts.max_new_tokens {
            step.parents.clear();
            step.tokens.clear();
        } else if step.parents.len() != self.active.len() && !step.parents.is_empty() {
            self.context = self.context.select_images(&step.parents)?;
        }
        self.active = still_active;
        Ok(step)
    }

    fn finish(self: Box<Self>) -> Vec<GeneratedSequence> {
        self.results
    }
}
