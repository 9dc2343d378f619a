//! What `/readyz` and the admin page say about the service's dependencies: the database, the
//! blob store, and each captioner of the chain in turn (ready, loading with its percent,
//! circuit open, or failed with the reason), plus the jobs waiting for a captioner.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaptionerState {
    /// It takes calls.
    Ready,
    /// The embedded model is downloading or loading its weights.
    Loading,
    /// It failed too often; no calls until its cool-down ends.
    CircuitOpen,
    /// It cannot start: the embedded model could not be fetched or loaded (see `message`).
    Failed,
}

/// One provider of the captioner chain, in chain order.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CaptionerReadiness {
    /// `embedded`, `endpoint`, `sagemaker`, `bedrock` or `hf`.
    pub name: String,
    pub state: CaptionerState,
    /// While loading: `downloading` or `loading weights`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// While downloading: the percent of the bytes of the files started so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// When failed: what went wrong and what to set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Why the service is not ready, for `/readyz`: 503 unless the database and the blob store
/// answer and at least one captioner can caption now (a model still loading cannot).
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub database: bool,
    pub blob_store: bool,
    /// At least one captioner is ready and its circuit is not open.
    pub captioner: bool,
    pub captioners: Vec<CaptionerReadiness>,
    /// Caption jobs put back because no captioner could take them; they are captioned, without
    /// spending attempts, once one can.
    pub jobs_waiting_for_captioner: u64,
}

impl CaptionerReadiness {
    /// The state as the admin page shows it.
    pub fn state_label(&self) -> &'static str {
        match self.state {
            CaptionerState::Ready => "ready",
            CaptionerState::Loading => "loading",
            CaptionerState::CircuitOpen => "circuit open",
            CaptionerState::Failed => "failed",
        }
    }
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.database && self.blob_store && self.captioner
    }
}

/// The banner of the pages while no captioner can caption because the model is loading or
/// failed to load; `None` otherwise.
pub fn captioning_notice(captioners: &[CaptionerReadiness]) -> Option<String> {
    if captioners.iter().any(|c| c.state == CaptionerState::Ready) {
        return None;
    }
    if let Some(loading) = captioners
        .iter()
        .find(|c| c.state == CaptionerState::Loading)
    {
        let progress = match (loading.percent, loading.phase.as_deref()) {
            #[cfg(feature = "embedded-captioner")]
            (_, Some(phase)) if phase == imgcap_models::LoadPhase::LoadingWeights.label() => {
                " — loading its weights".to_owned()
            }
            (Some(percent), _) => format!(" — {percent:.0} %"),
            (None, _) => String::new(),
        };
        return Some(format!(
            "The captioning model is loading{progress}; uploads are kept and captioned when it \
             is ready."
        ));
    }
    captioners
        .iter()
        .any(|c| c.state == CaptionerState::Failed)
        .then(|| {
            "The captioning model could not be loaded. Uploads are kept and captioned once an \
             administrator has fixed it (the Admin page and /readyz say why)."
                .to_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captioner(
        state: CaptionerState,
        phase: Option<&str>,
        percent: Option<f64>,
    ) -> CaptionerReadiness {
        CaptionerReadiness {
            name: "embedded".into(),
            state,
            phase: phase.map(str::to_owned),
            percent,
            message: None,
        }
    }

    #[test]
    fn the_banner_shows_while_no_captioner_is_ready_and_the_model_loads_or_failed() {
        let loading = captioner(CaptionerState::Loading, Some("downloading"), Some(43.14));
        assert_eq!(
            captioning_notice(std::slice::from_ref(&loading)).as_deref(),
            Some(
                "The captioning model is loading — 43 %; uploads are kept and captioned when it \
                 is ready."
            )
        );
        // The phase names are the in-process model's.
        #[cfg(feature = "embedded-captioner")]
        {
            let weights = captioner(
                CaptionerState::Loading,
                Some("loading weights"),
                Some(100.0),
            );
            assert!(captioning_notice(&[weights])
                .unwrap()
                .contains("loading its weights"));
        }
        let failed = captioner(CaptionerState::Failed, None, None);
        assert!(captioning_notice(std::slice::from_ref(&failed))
            .unwrap()
            .contains("could not be loaded"));
        let ready = CaptionerReadiness {
            name: "endpoint".into(),
            ..captioner(CaptionerState::Ready, None, None)
        };
        assert_eq!(
            captioning_notice(&[loading, ready]),
            None,
            "another captioner answers"
        );
        let open = captioner(CaptionerState::CircuitOpen, None, None);
        assert_eq!(captioning_notice(&[open]), None, "the cards say that one");
    }
}
