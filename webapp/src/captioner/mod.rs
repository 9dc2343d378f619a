//! The captioner chain: providers in configured order, each behind its own timeout and circuit
//! breaker. The first provider whose circuit admits the call and that answers in time wins; a
//! failure moves on to the next.

pub mod bedrock;
pub mod embedded;
pub mod endpoint;
pub mod hf;
pub mod prompts;
pub mod sagemaker;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::BreakerConfig;
use crate::domain::{CaptionResult, ImageLabel, ScoredCaption};
use crate::ports::{CaptionInput, Captioner, ProviderCaptions};

/// The published caption rules applied to the raw texts of a provider that does not apply them
/// itself (`bedrock`, `hf`): concise at most 10 words, cut at a word boundary without a dangling
/// article; creative one or two full sentences. Nothing left is an error, so the chain moves on.
/// Such providers report no confidence.
fn ruled_captions(concise: &str, creative: &str, model: &str) -> anyhow::Result<ProviderCaptions> {
    const CONCISE_MAX_WORDS: usize = 10;
    const CREATIVE_MAX_SENTENCES: usize = 2;
    let concise = imgcap_models::caption::concise(concise, CONCISE_MAX_WORDS);
    let creative = imgcap_models::caption::creative(creative, CREATIVE_MAX_SENTENCES);
    let has_words = |s: &str| s.chars().any(char::is_alphanumeric);
    anyhow::ensure!(has_words(&concise), "the concise caption is empty");
    anyhow::ensure!(has_words(&creative), "the creative caption is empty");
    let unscored = |text| ScoredCaption {
        text,
        confidence: None,
    };
    Ok(ProviderCaptions {
        concise: unscored(concise),
        creative: unscored(creative),
        model: model.to_owned(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is in flight after the cool-down.
    HalfOpen,
}

/// Opens after `threshold` consecutive failures; after `cooldown` lets one trial call through
/// (half-open), which closes it on success and reopens it on failure.
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold,
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a call may go ahead now (and, after the cool-down, claims the trial call).
    pub fn try_acquire(&self) -> bool {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                true
            }
            State::Open { .. } | State::HalfOpen => false,
        }
    }

    pub fn record_success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    pub fn record_failure(&self) {
        let mut state = self.lock();
        let open = State::Open {
            until: Instant::now() + self.cooldown,
        };
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => open,
        };
    }

    /// False only while the circuit is open and cooling down.
    pub fn is_available(&self) -> bool {
        !matches!(*self.lock(), State::Open { until } if Instant::now() < until)
    }
}

struct Entry {
    provider: Arc<dyn Captioner>,
    timeout: Duration,
    breaker: CircuitBreaker,
}

pub struct CaptionerChain {
    entries: Vec<Entry>,
}

/// Why no provider answered, one line per provider.
#[derive(Debug, thiserror::Error)]
#[error("no captioner answered ({})", .0.join("; "))]
pub struct ChainError(pub Vec<String>);

impl CaptionerChain {
    pub fn new(providers: Vec<(Arc<dyn Captioner>, BreakerConfig)>) -> Self {
        Self {
            entries: providers
                .into_iter()
                .map(|(provider, config)| Entry {
                    provider,
                    timeout: config.timeout(),
                    breaker: CircuitBreaker::new(config.failure_threshold, config.cooldown()),
                })
                .collect(),
        }
    }

    /// Captions `image`; `labels` (found beforehand, may be empty) go to the providers that use
    /// them and into the result. `on_failover` hears of each provider passed over (error,
    /// timeout, open circuit) for the next one in the chain.
    pub async fn caption(
        &self,
        image: &[u8],
        request_id: &str,
        labels: &[ImageLabel],
        on_failover: impl Fn(&'static str),
    ) -> Result<CaptionResult, ChainError> {
        let input = CaptionInput {
            image,
            request_id,
            labels,
        };
        let mut failures = Vec::new();
        for (position, entry) in self.entries.iter().enumerate() {
            let name = entry.provider.name();
            let error = if entry.breaker.try_acquire() {
                let started = Instant::now();
                let outcome =
                    tokio::time::timeout(entry.timeout, entry.provider.caption(input)).await;
                let error = match outcome {
                    Ok(Ok(captions)) => {
                        entry.breaker.record_success();
                        return Ok(CaptionResult {
                            concise: captions.concise,
                            creative: captions.creative,
                            model: captions.model,
                            provider: name.to_owned(),
                            latency_ms: started.elapsed().as_millis() as u64,
                            labels: labels.to_vec(),
                        });
                    }
                    Ok(Err(err)) => format!("{name}: {err:#}"),
                    Err(_) => format!("{name}: no answer within {} ms", entry.timeout.as_millis()),
                };
                entry.breaker.record_failure();
                tracing::warn!(provider = name, %request_id, error = %error, "captioner failed, trying the next");
                error
            } else {
                format!("{name}: circuit open")
            };
            if position + 1 < self.entries.len() {
                on_failover(name);
            }
            failures.push(error);
        }
        Err(ChainError(failures))
    }

    /// Whether at least one provider's circuit is not open.
    pub fn any_available(&self) -> bool {
        self.entries.iter().any(|e| e.breaker.is_available())
    }

    /// Each provider's name and whether its circuit is open (cooling down).
    pub fn open_circuits(&self) -> impl Iterator<Item = (&'static str, bool)> + '_ {
        self.entries
            .iter()
            .map(|e| (e.provider.name(), !e.breaker.is_available()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_the_threshold_and_half_opens_after_the_cooldown() {
        let breaker = CircuitBreaker::new(2, Duration::from_millis(30));
        assert!(breaker.try_acquire());
        breaker.record_failure();
        assert!(breaker.is_available());
        breaker.record_failure();
        assert!(!breaker.is_available());
        assert!(!breaker.try_acquire());
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.try_acquire(), "one trial after the cool-down");
        assert!(!breaker.try_acquire(), "only one trial at a time");
        breaker.record_failure();
        assert!(!breaker.try_acquire(), "a failed trial reopens");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.try_acquire());
        breaker.record_success();
        assert!(
            breaker.try_acquire() && breaker.try_acquire(),
            "closed again"
        );
    }
}
