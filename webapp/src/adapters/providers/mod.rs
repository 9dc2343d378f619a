//! The captioner chain: providers in configured order, each behind its own timeout and circuit
//! breaker. The first provider that is ready, whose circuit admits the call and that answers in
//! time wins; a failure moves on to the next. When none answers, [`ChainError`] tells whether
//! the image was refused or no captioner was available at all.

pub mod bedrock;
#[cfg(feature = "embedded-captioner")]
pub mod embedded;
pub mod endpoint;
pub mod hf;
pub mod prompts;
pub mod sagemaker;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::config::BreakerConfig;
use crate::core::domain::{CaptionResult, ImageLabel, ScoredCaption};
use crate::core::ports::{
    CaptionError, CaptionInput, CaptionProvider, ProviderCaptions, ProviderState,
};
use crate::core::readiness::{CaptionerReadiness, CaptionerState};

/// The published caption rules applied to the raw texts of a provider that does not apply them
/// itself (`bedrock`, `hf`): concise at most 10 words, cut at a word boundary without a dangling
/// article; creative one or two full sentences. Nothing left is an error, so the chain moves on.
/// Such providers report no confidence.
fn ruled_captions(concise: &str, creative: &str, model: &str) -> anyhow::Result<ProviderCaptions> {
    const CONCISE_MAX_WORDS: usize = 10;
    const CREATIVE_MAX_SENTENCES: usize = 2;
    let concise = imgcap_common::caption::concise(concise, CONCISE_MAX_WORDS);
    let creative = imgcap_common::caption::creative(creative, CREATIVE_MAX_SENTENCES);
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
        self.remaining_cooldown().is_none()
    }

    /// How long the open circuit still cools down; `None` when it admits a call now (or its
    /// trial call is in flight).
    pub fn remaining_cooldown(&self) -> Option<Duration> {
        match *self.lock() {
            State::Open { until } => until.checked_duration_since(Instant::now()),
            _ => None,
        }
    }
}

struct Entry {
    provider: Arc<dyn CaptionProvider>,
    timeout: Duration,
    breaker: CircuitBreaker,
}

pub struct ProviderChain {
    entries: Vec<Entry>,
}

/// Why no provider answered.
#[derive(Debug, thiserror::Error)]
#[error("no captioner answered ({})", .failures.join("; "))]
pub struct ChainError {
    /// One line per provider.
    pub failures: Vec<String>,
    /// At least one provider refused the image itself; otherwise none was available (down,
    /// circuit open, not loaded), which says nothing about the image.
    pub rejected: bool,
    /// When every provider was unavailable: the shortest remaining cool-down of the open
    /// circuits, the earliest time a call may be let through again. `None` when no circuit is
    /// cooling down (providers loading, failing below their threshold, or a trial in flight).
    pub retry_after: Option<Duration>,
}

impl ProviderChain {
    pub fn new(providers: Vec<(Arc<dyn CaptionProvider>, BreakerConfig)>) -> Self {
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
        let mut rejected = false;
        for (position, entry) in self.entries.iter().enumerate() {
            let name = entry.provider.name();
            let error = if let Some(not_ready) = not_ready(entry.provider.state()) {
                format!("{name}: {not_ready}")
            } else if entry.breaker.try_acquire() {
                let started = Instant::now();
                let call =
                    tracing::info_span!("provider call", provider = name, otel.kind = "client");
                let outcome = tokio::time::timeout(entry.timeout, entry.provider.caption(input))
                    .instrument(call)
                    .await;
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
                    Ok(Err(err)) => {
                        rejected |= matches!(err, CaptionError::Rejected(_));
                        format!("{name}: {err:#}")
                    }
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
        let retry_after = match rejected {
            true => None,
            false => self
                .entries
                .iter()
                .filter_map(|e| e.breaker.remaining_cooldown())
                .min(),
        };
        Err(ChainError {
            failures,
            rejected,
            retry_after,
        })
    }

    /// Each provider's name and whether its circuit is open (cooling down).
    pub fn open_circuits(&self) -> impl Iterator<Item = (&'static str, bool)> + '_ {
        self.entries
            .iter()
            .map(|e| (e.provider.name(), !e.breaker.is_available()))
    }

    /// Each provider in chain order: ready, loading, failed to start, or circuit open.
    pub fn readiness(&self) -> Vec<CaptionerReadiness> {
        self.entries
            .iter()
            .map(|entry| {
                let name = entry.provider.name().to_owned();
                let ready = |state| CaptionerReadiness {
                    name: name.clone(),
                    state,
                    phase: None,
                    percent: None,
                    message: None,
                };
                match entry.provider.state() {
                    ProviderState::Ready if entry.breaker.is_available() => {
                        ready(CaptionerState::Ready)
                    }
                    ProviderState::Ready => ready(CaptionerState::CircuitOpen),
                    ProviderState::Loading { phase, percent } => CaptionerReadiness {
                        phase: Some(phase.to_owned()),
                        percent: percent.map(|p| (p * 10.0).round() / 10.0),
                        ..ready(CaptionerState::Loading)
                    },
                    ProviderState::Failed { message } => CaptionerReadiness {
                        message: Some(message),
                        ..ready(CaptionerState::Failed)
                    },
                }
            })
            .collect()
    }
}

/// Why a provider that is not ready is passed over, for the job's log line.
fn not_ready(state: ProviderState) -> Option<String> {
    match state {
        ProviderState::Ready => None,
        ProviderState::Loading {
            phase,
            percent: Some(percent),
        } => Some(format!("not ready ({phase}, {percent:.0} %)")),
        ProviderState::Loading { phase, .. } => Some(format!("not ready ({phase})")),
        ProviderState::Failed { message } => Some(format!("failed to start ({message})")),
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
        assert!(breaker
            .remaining_cooldown()
            .is_some_and(|left| left <= Duration::from_millis(30)));
        assert!(!breaker.try_acquire());
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.try_acquire(), "one trial after the cool-down");
        assert_eq!(
            breaker.remaining_cooldown(),
            None,
            "half-open: not cooling down"
        );
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
