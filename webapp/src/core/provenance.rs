//! Where each caption came from, what it said before, and whether its owner checked it.
//!
//! The rule that shapes everything here: text a person wrote is never overwritten by a model.
//! A caption the user corrected stays shown when the image is captioned again; the new model
//! text waits beside it as a *suggestion* the user may take (`PATCH {"concise": ""}`: back to
//! the model's text) or leave. Every change of a shown caption adds a [`CaptionVersion`], so the
//! detail page and the API can list what a caption said before.
//!
//! Stored as one JSON value per record (`provenance`, SQLite column and DynamoDB attribute), so
//! both adapters keep the same shape and a record written before it reads as "no history".

use serde::{Deserialize, Serialize};

use super::domain::{CaptionEdits, CaptionResult, ImageRecord};

/// Versions kept per image (both captions together), oldest dropped first: a bound on the
/// record's size (a DynamoDB item holds at most 400 KB).
pub const MAX_VERSIONS: usize = 20;

/// One of the two captions of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaptionKind {
    Concise,
    Creative,
}

impl CaptionKind {
    pub const BOTH: [Self; 2] = [Self::Concise, Self::Creative];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Concise => "concise",
            Self::Creative => "creative",
        }
    }
}

/// Who wrote a caption: a model (its id, `@revision` where the provider names one, and the chain
/// entry that ran it) or the image's owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CaptionSource {
    Model { model: String, provider: String },
    User,
}

impl CaptionSource {
    pub fn of_result(result: &CaptionResult) -> Self {
        Self::Model {
            model: result.model.clone(),
            provider: result.provider.clone(),
        }
    }
}

impl std::fmt::Display for CaptionSource {
    /// `user`, or `<model> via <provider>`: the export's `source` column.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Model { model, provider } => write!(f, "{model} via {provider}"),
            Self::User => f.write_str("user"),
        }
    }
}

/// What a caption said from `at_ms` on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptionVersion {
    pub caption: CaptionKind,
    pub text: String,
    pub source: CaptionSource,
    pub at_ms: i64,
}

/// A record's caption history, review mark and waiting suggestions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Oldest first; at most [`MAX_VERSIONS`].
    #[serde(default)]
    pub versions: Vec<CaptionVersion>,
    /// When the owner marked the shown captions as checked; cleared when a model changes a
    /// shown caption.
    #[serde(default)]
    pub reviewed_ms: Option<i64>,
    /// Captions whose model text (in `result`) came after the user's correction and waits to be
    /// taken or left.
    #[serde(default)]
    pub suggested: Vec<CaptionKind>,
}

/// The caption shown for one kind, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownCaption<'a> {
    pub text: &'a str,
    pub source: CaptionSource,
    /// When it was written (the correction, or the captioning).
    pub at_ms: i64,
    /// A newer model caption waiting beside the user's text.
    pub suggestion: Option<&'a str>,
}

/// What the owner asked to change in one `PATCH` or form post.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// The corrections after the change (`None`: none left).
    pub edits: Option<CaptionEdits>,
    /// The captions the request spoke of (their suggestions are settled either way).
    pub touched: Vec<CaptionKind>,
    /// `Some(true)`: mark reviewed; `Some(false)`: unmark.
    pub reviewed: Option<bool>,
}

fn edit_of(edits: Option<&CaptionEdits>, kind: CaptionKind) -> Option<&str> {
    let edits = edits?;
    match kind {
        CaptionKind::Concise => edits.concise.as_deref(),
        CaptionKind::Creative => edits.creative.as_deref(),
    }
}

fn model_text(result: &CaptionResult, kind: CaptionKind) -> &str {
    match kind {
        CaptionKind::Concise => &result.concise.text,
        CaptionKind::Creative => &result.creative.text,
    }
}

impl Provenance {
    fn push(&mut self, version: CaptionVersion) {
        self.versions.push(version);
        let excess = self.versions.len().saturating_sub(MAX_VERSIONS);
        self.versions.drain(..excess);
    }

    fn last_of(&self, kind: CaptionKind) -> Option<&CaptionVersion> {
        self.versions.iter().rev().find(|v| v.caption == kind)
    }

    /// After a captioning: a caption the user did not correct shows the new model text (a new
    /// version, and the review mark goes: nobody checked this text); a corrected one keeps the
    /// user's text and the model's waits as a suggestion, unless it says the same.
    pub fn after_captioning(
        &self,
        edits: Option<&CaptionEdits>,
        result: &CaptionResult,
        now_ms: i64,
    ) -> Self {
        let mut next = self.clone();
        for kind in CaptionKind::BOTH {
            let model = model_text(result, kind);
            next.suggested.retain(|k| *k != kind);
            match edit_of(edits, kind) {
                Some(edit) if edit != model => next.suggested.push(kind),
                Some(_) => {}
                None => {
                    next.reviewed_ms = None;
                    next.push(CaptionVersion {
                        caption: kind,
                        text: model.to_owned(),
                        source: CaptionSource::of_result(result),
                        at_ms: now_ms,
                    });
                }
            }
        }
        next
    }

    /// After the owner's change: each touched caption whose shown text changed gets a version
    /// (the user's text, or the model's when the correction was cleared, which is how a
    /// suggestion is taken) and its suggestion is settled.
    pub fn after_user_change(
        &self,
        record: &ImageRecord,
        change: &UserChange,
        now_ms: i64,
    ) -> Self {
        let mut next = self.clone();
        if let Some(result) = &record.result {
            for &kind in &change.touched {
                next.suggested.retain(|k| *k != kind);
                let before = record.shown_text(kind).unwrap_or_default();
                let (text, source) = match edit_of(change.edits.as_ref(), kind) {
                    Some(edit) => (edit, CaptionSource::User),
                    None => (model_text(result, kind), CaptionSource::of_result(result)),
                };
                if text != before {
                    next.push(CaptionVersion {
                        caption: kind,
                        text: text.to_owned(),
                        source,
                        at_ms: now_ms,
                    });
                }
            }
        }
        match change.reviewed {
            Some(true) => next.reviewed_ms = Some(now_ms),
            Some(false) => next.reviewed_ms = None,
            None => {}
        }
        next
    }
}

impl ImageRecord {
    /// The text shown for `kind`: the user's correction where there is one, else the model's;
    /// `None` until the image is captioned.
    pub fn shown_text(&self, kind: CaptionKind) -> Option<&str> {
        let result = self.result.as_ref()?;
        Some(edit_of(self.edits.as_ref(), kind).unwrap_or(model_text(result, kind)))
    }

    /// Both captions to show, concise first.
    pub fn shown_captions(&self) -> Option<(&str, &str)> {
        Some((
            self.shown_text(CaptionKind::Concise)?,
            self.shown_text(CaptionKind::Creative)?,
        ))
    }

    /// The caption shown for `kind` and its origin; `None` until the image is captioned.
    pub fn shown(&self, kind: CaptionKind) -> Option<ShownCaption<'_>> {
        let result = self.result.as_ref()?;
        let text = self.shown_text(kind)?;
        let edit = edit_of(self.edits.as_ref(), kind);
        let recorded = self
            .provenance
            .last_of(kind)
            .filter(|v| v.text == text && (v.source == CaptionSource::User) == edit.is_some());
        let (source, at_ms) = match (recorded, &self.edits) {
            (Some(version), _) => (version.source.clone(), version.at_ms),
            // Written before versions were kept: the record's own times.
            (None, Some(edits)) if edit.is_some() => (CaptionSource::User, edits.edited_ms),
            (None, _) => (CaptionSource::of_result(result), self.updated_ms),
        };
        let suggestion = (edit.is_some() && self.provenance.suggested.contains(&kind))
            .then(|| model_text(result, kind));
        Some(ShownCaption {
            text,
            source,
            at_ms,
            suggestion,
        })
    }

    pub fn reviewed(&self) -> bool {
        self.provenance.reviewed_ms.is_some()
    }
}

#[cfg(test)]
mod tests;
