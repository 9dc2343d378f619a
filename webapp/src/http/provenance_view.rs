//! Caption provenance as the API and the exports show it: each shown caption with its source,
//! time and waiting suggestion; the review mark; the past versions.

use serde::Serialize;
use utoipa::ToSchema;

use crate::core::domain::{rfc3339_ms, ImageRecord};
use crate::core::provenance::{CaptionKind, CaptionSource, ShownCaption};

/// A caption as shown, and where it came from.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShownCaptionView {
    pub text: String,
    /// `{"type": "model", "model", "provider"}` or `{"type": "user"}`.
    pub source: CaptionSource,
    /// When this text was written (RFC 3339).
    pub at: String,
    /// A newer model caption waiting beside your own text: send an empty string for this
    /// caption to take it, or your text to leave it.
    pub suggestion: Option<String>,
}

impl ShownCaptionView {
    fn of(shown: ShownCaption<'_>) -> Self {
        Self {
            text: shown.text.to_owned(),
            source: shown.source,
            at: rfc3339_ms(shown.at_ms),
            suggestion: shown.suggestion.map(str::to_owned),
        }
    }
}

/// The two captions as shown; absent until the image is captioned.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShownCaptionsView {
    pub concise: ShownCaptionView,
    pub creative: ShownCaptionView,
}

impl ShownCaptionsView {
    pub fn of(record: &ImageRecord) -> Option<Self> {
        Some(Self {
            concise: ShownCaptionView::of(record.shown(CaptionKind::Concise)?),
            creative: ShownCaptionView::of(record.shown(CaptionKind::Creative)?),
        })
    }
}

/// What a caption said from `at` on.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaptionVersionView {
    pub caption: CaptionKind,
    pub text: String,
    pub source: CaptionSource,
    /// RFC 3339.
    pub at: String,
}

/// Past and present versions, oldest first (at most 20 per image, both captions together).
pub fn versions(record: &ImageRecord) -> Vec<CaptionVersionView> {
    record
        .provenance
        .versions
        .iter()
        .map(|v| CaptionVersionView {
            caption: v.caption,
            text: v.text.clone(),
            source: v.source.clone(),
            at: rfc3339_ms(v.at_ms),
        })
        .collect()
}
