//! The request's `parameters` mapped onto the model's [`CaptionOptions`], with every range
//! checked here, before the request joins a batch: a bad option must fail its own request with a
//! 422, never the batch it would have shared.

use imgcap_common::{CaptionMode, CaptionParameters, GenerationParameters, GenerationStrategy};
use imgcap_models::generate::MAX_BEAMS;
use imgcap_models::{CaptionOptions, Captioner, GenerationOptions, Strategy};

use crate::error::ApiError;

/// Upper bounds that keep one request from monopolising the model.
pub const MAX_NEW_TOKENS: u32 = 128;
pub const MAX_PROMPT_CHARS: usize = 200;
pub const MAX_CONCISE_WORDS: u32 = 30;
pub const MAX_CREATIVE_SENTENCES: u32 = 5;
pub const MAX_TOP_K: u32 = 1000;
pub const MAX_TEMPERATURE: f32 = 5.0;
pub const MAX_REPETITION_PENALTY: f32 = 10.0;
pub const MAX_LENGTH_PENALTY: f32 = 10.0;
pub const MAX_NO_REPEAT_NGRAM: u32 = 10;

fn invalid(message: String) -> ApiError {
    ApiError::InvalidParameters(message)
}

/// Builds and validates the options of one request, whose decoding work (see [`work`]) must
/// stay within `max_work`.
pub fn caption_options(
    mode: CaptionMode,
    params: &CaptionParameters,
    captioner: &Captioner,
    max_work: u64,
) -> Result<CaptionOptions, ApiError> {
    let defaults = CaptionOptions::default();
    let mut options = CaptionOptions {
        mode,
        concise: generation_options("concise", &defaults.concise, params.concise.as_ref())?,
        creative: generation_options("creative", &defaults.creative, params.creative.as_ref())?,
        concise_prompt: prompt("concise_prompt", params.concise_prompt.as_deref())?,
        creative_prompt: prompt("creative_prompt", params.creative_prompt.as_deref())?,
        ..defaults
    };
    if let Some(words) = params.max_concise_words {
        options.max_concise_words = in_range("max_concise_words", words, 1, MAX_CONCISE_WORDS)?;
    }
    if let Some(sentences) = params.max_creative_sentences {
        options.max_creative_sentences = in_range(
            "max_creative_sentences",
            sentences,
            1,
            MAX_CREATIVE_SENTENCES,
        )?;
    }
    // Prompts and generated tokens share the decoder's position embeddings.
    let positions = captioner.model().config().text.max_position_embeddings;
    let captions = [
        (
            "concise",
            mode.wants_concise(),
            &options.concise_prompt,
            &options.concise,
        ),
        (
            "creative",
            mode.wants_creative(),
            &options.creative_prompt,
            &options.creative,
        ),
    ];
    for (name, wanted, prompt, generation) in captions {
        if !wanted {
            continue;
        }
        let prefix = captioner
            .prefix_ids(prompt.as_deref())
            .map_err(|e| invalid(format!("{name}_prompt: {e}")))?;
        if prefix.len() + generation.max_new_tokens > positions {
            return Err(invalid(format!(
                "{name}: the prompt ({} tokens) plus max_new_tokens ({}) exceeds the model's \
                 {positions} positions",
                prefix.len(),
                generation.max_new_tokens
            )));
        }
    }
    options
        .validate()
        .map_err(|e| invalid(format!("invalid generation options: {e}")))?;
    within_work_budget(&options, max_work)?;
    Ok(options)
}

/// Decoder rows one caption's search feeds per step: its beams, or one when sampling or greedy.
fn rows(options: &GenerationOptions) -> usize {
    match options.strategy {
        Strategy::BeamSearch { num_beams, .. } => num_beams,
        Strategy::Greedy | Strategy::Sample { .. } => 1,
    }
}

/// Rows times the most tokens the caption may generate: what its search can cost, in
/// row-steps of the decoder.
fn work(options: &GenerationOptions) -> u64 {
    (rows(options) * options.max_new_tokens) as u64
}

/// The captions a request wants, by name.
fn wanted(options: &CaptionOptions) -> impl Iterator<Item = (&'static str, &GenerationOptions)> {
    [
        ("concise", options.mode.wants_concise(), &options.concise),
        ("creative", options.mode.wants_creative(), &options.creative),
    ]
    .into_iter()
    .filter(|(_, wanted, _)| *wanted)
    .map(|(name, _, generation)| (name, generation))
}

/// The work of every caption the request wants, summed: what the request costs the decoder,
/// against the per-request budget here and the per-batch budget in the queue.
pub fn request_work(options: &CaptionOptions) -> u64 {
    wanted(options)
        .map(|(_, generation)| work(generation))
        .sum()
}

/// The request's work against the server's budget.
fn within_work_budget(options: &CaptionOptions, budget: u64) -> Result<(), ApiError> {
    let total = request_work(options);
    if total <= budget {
        return Ok(());
    }
    let asked = wanted(options)
        .map(|(name, generation)| {
            format!(
                "{name} {} × {}",
                rows(generation),
                generation.max_new_tokens
            )
        })
        .collect::<Vec<_>>()
        .join(" + ");
    Err(ApiError::OverWorkBudget {
        asked,
        work: total,
        budget,
    })
}

fn prompt(name: &str, prompt: Option<&str>) -> Result<Option<String>, ApiError> {
    match prompt {
        Some(text) if text.chars().count() > MAX_PROMPT_CHARS => Err(invalid(format!(
            "{name} is longer than {MAX_PROMPT_CHARS} characters"
        ))),
        Some(text) if !text.trim().is_empty() => Ok(Some(text.to_string())),
        _ => Ok(None),
    }
}

fn in_range(name: &str, value: u32, min: u32, max: u32) -> Result<usize, ApiError> {
    if (min..=max).contains(&value) {
        Ok(value as usize)
    } else {
        Err(invalid(format!(
            "{name} must be between {min} and {max}, got {value}"
        )))
    }
}

/// `value` within `(min, max]` when `open_min`, else `[min, max]`.
fn float_in_range(
    name: &str,
    value: f32,
    min: f32,
    open_min: bool,
    max: f32,
) -> Result<f32, ApiError> {
    let above_min = if open_min { value > min } else { value >= min };
    if value.is_finite() && above_min && value <= max {
        Ok(value)
    } else {
        let bracket = if open_min { "above" } else { "at least" };
        Err(invalid(format!(
            "{name} must be {bracket} {min} and at most {max}, got {value}"
        )))
    }
}

/// One caption's options: the defaults, the strategy switched if asked, then each field set.
fn generation_options(
    caption: &str,
    defaults: &GenerationOptions,
    params: Option<&GenerationParameters>,
) -> Result<GenerationOptions, ApiError> {
    let Some(p) = params else {
        return Ok(defaults.clone());
    };
    let field = |name: &str| format!("{caption}.{name}");
    let mut options = defaults.clone();
    let strategy = p.strategy.unwrap_or(match defaults.strategy {
        Strategy::Greedy => GenerationStrategy::Greedy,
        Strategy::BeamSearch { .. } => GenerationStrategy::BeamSearch,
        Strategy::Sample { .. } => GenerationStrategy::Sample,
    });
    let beam_fields = [
        ("num_beams", p.num_beams.is_some()),
        ("length_penalty", p.length_penalty.is_some()),
    ];
    let sample_fields = [
        ("temperature", p.temperature.is_some()),
        ("top_k", p.top_k.is_some()),
        ("top_p", p.top_p.is_some()),
        ("seed", p.seed.is_some()),
    ];
    let (allowed, strategy_name) = match strategy {
        GenerationStrategy::Greedy => ([].as_slice(), "greedy"),
        GenerationStrategy::BeamSearch => {
            (["num_beams", "length_penalty"].as_slice(), "beam_search")
        }
        GenerationStrategy::Sample => (
            ["temperature", "top_k", "top_p", "seed"].as_slice(),
            "sample",
        ),
    };
    if let Some((name, _)) = beam_fields
        .iter()
        .chain(&sample_fields)
        .find(|(name, set)| *set && !allowed.contains(name))
    {
        return Err(invalid(format!(
            "{} does not apply to strategy {strategy_name}",
            field(name)
        )));
    }
    options.strategy = match strategy {
        GenerationStrategy::Greedy => Strategy::Greedy,
        GenerationStrategy::BeamSearch => {
            let (beams, penalty) = match defaults.strategy {
                Strategy::BeamSearch {
                    num_beams,
                    length_penalty,
                } => (num_beams, length_penalty),
                _ => (3, 1.0),
            };
            Strategy::BeamSearch {
                num_beams: match p.num_beams {
                    Some(n) => in_range(&field("num_beams"), n, 1, MAX_BEAMS as u32)?,
                    None => beams,
                },
                length_penalty: match p.length_penalty {
                    Some(v) => float_in_range(
                        &field("length_penalty"),
                        v,
                        -MAX_LENGTH_PENALTY,
                        false,
                        MAX_LENGTH_PENALTY,
                    )?,
                    None => penalty,
                },
            }
        }
        GenerationStrategy::Sample => {
            let (temperature, top_k, top_p) = match defaults.strategy {
                Strategy::Sample {
                    temperature,
                    top_k,
                    top_p,
                    ..
                } => (temperature, top_k, top_p),
                _ => (0.9, 50, 0.9),
            };
            Strategy::Sample {
                temperature: match p.temperature {
                    Some(v) => {
                        float_in_range(&field("temperature"), v, 0.0, true, MAX_TEMPERATURE)?
                    }
                    None => temperature,
                },
                top_k: match p.top_k {
                    Some(k) => in_range(&field("top_k"), k, 0, MAX_TOP_K)?,
                    None => top_k,
                },
                top_p: match p.top_p {
                    Some(v) => float_in_range(&field("top_p"), v, 0.0, true, 1.0)?,
                    None => top_p,
                },
                seed: p.seed,
            }
        }
    };
    if let Some(n) = p.max_new_tokens {
        options.max_new_tokens = in_range(&field("max_new_tokens"), n, 1, MAX_NEW_TOKENS)?;
    }
    if let Some(n) = p.min_new_tokens {
        options.min_new_tokens = in_range(&field("min_new_tokens"), n, 0, MAX_NEW_TOKENS)?;
    }
    if options.min_new_tokens > options.max_new_tokens {
        return Err(invalid(format!(
            "{} ({}) is larger than {} ({})",
            field("min_new_tokens"),
            options.min_new_tokens,
            field("max_new_tokens"),
            options.max_new_tokens
        )));
    }
    if let Some(v) = p.repetition_penalty {
        options.repetition_penalty = float_in_range(
            &field("repetition_penalty"),
            v,
            0.0,
            true,
            MAX_REPETITION_PENALTY,
        )?;
    }
    if let Some(n) = p.no_repeat_ngram_size {
        options.no_repeat_ngram_size =
            in_range(&field("no_repeat_ngram_size"), n, 0, MAX_NO_REPEAT_NGRAM)?;
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generation(json: &str) -> Result<GenerationOptions, ApiError> {
        let params: GenerationParameters = serde_json::from_str(json).unwrap();
        let defaults = CaptionOptions::default();
        generation_options("concise", &defaults.concise, Some(&params))
    }

    fn message(result: Result<GenerationOptions, ApiError>) -> String {
        match result {
            Err(ApiError::InvalidParameters(message)) => message,
            other => panic!("expected invalid parameters, got {other:?}"),
        }
    }

    #[test]
    fn no_parameters_means_the_model_defaults() {
        let defaults = CaptionOptions::default();
        assert_eq!(
            generation_options("concise", &defaults.concise, None).unwrap(),
            defaults.concise
        );
        assert_eq!(generation("{}").unwrap(), defaults.concise);
    }

    #[test]
    fn fields_override_the_defaults_and_strategies_switch() {
        let options = generation(r#"{"num_beams": 5, "max_new_tokens": 12}"#).unwrap();
        assert_eq!(
            options.strategy,
            Strategy::BeamSearch {
                num_beams: 5,
                length_penalty: 1.0
            }
        );
        assert_eq!(options.max_new_tokens, 12);
        let options =
            generation(r#"{"strategy": "sample", "temperature": 0.5, "seed": 7}"#).unwrap();
        assert_eq!(
            options.strategy,
            Strategy::Sample {
                temperature: 0.5,
                top_k: 50,
                top_p: 0.9,
                seed: Some(7)
            }
        );
        let options = generation(r#"{"strategy": "greedy"}"#).unwrap();
        assert_eq!(options.strategy, Strategy::Greedy);
    }

    #[test]
    fn work_is_beams_times_tokens_summed_over_the_wanted_captions() {
        let defaults = CaptionOptions::default();
        assert_eq!(work(&defaults.concise), 3 * 20);
        assert_eq!(work(&defaults.creative), 40);
        assert!(within_work_budget(&defaults, 100).is_ok());
        let heavy = CaptionOptions {
            concise: generation(r#"{"num_beams": 16, "max_new_tokens": 128}"#).unwrap(),
            ..CaptionOptions::default()
        };
        let err = within_work_budget(&heavy, 512).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            err.to_string(),
            "beams × max_new_tokens = concise 16 × 128 + creative 1 × 40 = 2088 exceeds the \
             server's work budget of 512 per request (IMGCAP_MAX_REQUEST_WORK)"
        );
        let concise_only = CaptionOptions {
            mode: CaptionMode::Concise,
            ..heavy
        };
        assert!(within_work_budget(&concise_only, 2048).is_ok());
        assert!(within_work_budget(&concise_only, 2047)
            .unwrap_err()
            .to_string()
            .contains("= concise 16 × 128 = 2048 exceeds"));
    }

    #[test]
    fn out_of_range_and_inapplicable_fields_are_named() {
        assert!(message(generation(r#"{"num_beams": 17}"#)).contains("concise.num_beams"));
        assert!(message(generation(r#"{"num_beams": 0}"#)).contains("between 1 and 16"));
        assert!(message(generation(r#"{"temperature": 0.5}"#))
            .contains("temperature does not apply to strategy beam_search"));
        assert!(message(generation(r#"{"strategy": "sample", "top_p": 1.5}"#)).contains("top_p"));
        assert!(
            message(generation(r#"{"strategy": "sample", "temperature": 0}"#)).contains("above 0")
        );
        assert!(message(generation(r#"{"max_new_tokens": 500}"#)).contains("max_new_tokens"));
        assert!(message(generation(r#"{"min_new_tokens": 30}"#)).contains("larger than"));
        assert!(message(generation(r#"{"repetition_penalty": -1}"#)).contains("repetition_penalty"));
    }
}
