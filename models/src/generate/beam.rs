//! Beam search, as `transformers` runs it: `2 × beams` candidates per step, length-penalised
//! scores, its early-stop heuristic.

use super::*;

#[derive(Debug, Clone)]
struct Hypothesis {
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
    score: f32,
}

struct BeamState {
    running: Vec<Hypothesis>,
    /// Best finished hypotheses, at most `num_beams`, best first.
    finished: Vec<Hypothesis>,
    improvable: bool,
}

pub(super) struct BeamSearch {
    opts: GenerationOptions,
    num_beams: usize,
    length_penalty: f32,
    special: SpecialTokens,
    prefix_len: usize,
    max_length: usize,
    cur_len: usize,
    states: Vec<BeamState>,
    /// The images still decoding; each has `states[i].running.len()` rows.
    active: Vec<usize>,
    context: ImageContext,
}

impl BeamSearch {
    pub(super) fn new(
        image: &ImageContext,
        prefix: &[u32],
        opts: GenerationOptions,
        num_beams: usize,
        length_penalty: f32,
        special: SpecialTokens,
    ) -> Self {
        let n = image.num_images();
        let start = Hypothesis {
            tokens: prefix.to_vec(),
            logprobs: vec![],
            score: 0.0,
        };
        Self {
            max_length: prefix.len() + opts.max_new_tokens,
            opts,
            num_beams,
            length_penalty,
            special,
            prefix_len: prefix.len(),
            cur_len: prefix.len(),
            // The first step expands a single row per image: the other beams would start from
            // the same prefix with a score of -1e9 and could never be picked.
            states: (0..n)
                .map(|_| BeamState {
                    running: vec![start.clone()],
                    finished: vec![],
                    improvable: true,
                })
                .collect(),
            active: (0..n).collect(),
            context: image.with_group(1),
        }
    }
}

impl Search for BeamSearch {
    fn context(&self) -> &ImageContext {
        &self.context
    }

    fn step(&mut self, logits: &[Vec<f32>]) -> Result<Step> {
        let (num_beams, keep) = (self.num_beams, 2 * self.num_beams);
        let (prefix_len, length_penalty) = (self.prefix_len, self.length_penalty);
        let mut row = 0;
        let mut step = Step {
            parents: Vec::new(),
            tokens: Vec::new(),
        };
        let mut still_active = Vec::new();
        let mut kept_images = Vec::new();
        for (position, &i) in self.active.iter().enumerate() {
            let state = &mut self.states[i];
            let beams = state.running.len();
            // (accumulated score, beam, token, raw logprob) for every continuation.
            let mut candidates: Vec<(f32, usize, u32, f32)> = Vec::new();
            for (beam, hyp) in state.running.iter().enumerate() {
                let raw = log_softmax(&logits[row + beam]);
                let mut scores = raw.clone();
                apply_processors(
                    &mut scores,
                    &hyp.tokens,
                    prefix_len,
                    &self.opts,
                    self.special.eos,
                );
                candidates.extend(
                    scores
                        .iter()
                        .enumerate()
                        .map(|(t, &s)| (s + hyp.score, beam, t as u32, raw[t])),
                );
            }
            let order = |a: &(f32, usize, u32, f32), b: &(f32, usize, u32, f32)| {
                b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2)))
            };
            if candidates.len() > keep {
                candidates.select_nth_unstable_by(keep - 1, order);
                candidates.truncate(keep);
            }
            candidates.sort_by(order);
            let new_len = self.cur_len + 1;
            let max_length = self.max_length;
            let eos = self.special.eos;
            let hits = |token: u32| token == eos || new_len >= max_length;
            let extend = |&(score, beam, token, logprob): &(f32, usize, u32, f32)| {
                let parent = &state.running[beam];
                let mut tokens = parent.tokens.clone();
                tokens.push(token);
                let mut logprobs = parent.logprobs.clone();
                logprobs.push(logprob);
                Hypothesis {
                    tokens,
                    logprobs,
                    score,
                }
            };
            // Finished: only candidates ranked within the first `num_beams` count.
            if state.improvable {
                let denominator =
                    ((new_len - prefix_len) as f64).powf(length_penalty as f64) as f32;
                for candidate in candidates.iter().take(num_beams).filter(|c| hits(c.2)) {
                    let mut hyp = extend(candidate);
                    hyp.score = candidate.0 / denominator;
                    state.finished.push(hyp);
                }
                state.finished.sort_by(|a, b| b.score.total_cmp(&a.score));
                state.finished.truncate(num_beams);
            }
            // Running: the best candidates that did not just finish.
            let mut running: Vec<(f32, usize)> = candidates
                .iter()
                .enumerate()
                .map(|(rank, c)| (if hits(c.2) { c.0 + -1.0e9 } else { c.0 }, rank))
                .collect();
            running.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let all_hit = candidates.iter().all(|c| hits(c.2));
            let next_running: Vec<Hypothesis> = running
                .iter()
                .take(num_beams)
                .map(|&(score, rank)| Hypothesis {
                    score,
                    ..extend(&candidates[rank])
                })
                .collect();
            let beam_sources: Vec<usize> = running
                .iter()
                .take(num_beams)
                .map(|&(_, rank)| candidates[rank].1)
                .collect();
            state.running = next_running;
            // transformers' heuristic: stop once the best running beam, scored at its current
            // length, cannot beat the worst of a full set of finished hypotheses.
            if state.improvable && state.finished.len() == num_beams {
                let best_running = state.running[0].score
                    / ((new_len - prefix_len) as f64).powf(length_penalty as f64) as f32;
                let worst_finished = state
                    .finished
                    .last()
                    .map(|h| h.score)
                    .unwrap_or(f32::NEG_INFINITY);
                state.improvable = best_running > worst_finished;
            }
            if state.improvable && !all_hit && !image_stopped(i) {
                still_active.push(i);
                kept_images.push(position);
                for (hyp, source) in state.running.iter().zip(beam_sources) {
                    step.parents.push(row + source);
                    step.tokens.push(*hyp.tokens.last().expect("non-empty"));
                }
            }
            row += beams;
        }
        self.cur_len += 1;
        if !still_active.is_empty() {
            if kept_images.len() != self.active.len() {
                self.context = self.context.select_images(&kept_images)?;
            }
            self.context = self.context.with_group(num_beams);
        }
        self.active = still_active;
        Ok(step)
    }

    fn finish(self: Box<Self>) -> Vec<GeneratedSequence> {
        let prefix_len = self.prefix_len;
        self.states
            .into_iter()
            .map(|state| {
                let best = state
                    .finished
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| state.running[0].clone());
                GeneratedSequence {
                    tokens: best.tokens[prefix_len..].to_vec(),
                    token_logprobs: best.logprobs,
                    score: best.score,
                }
            })
            .collect()
    }
}
