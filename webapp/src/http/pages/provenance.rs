//! The detail page's provenance: where each caption came from, the model's waiting
//! suggestions (take or leave), the review mark and the past versions.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use super::images::detail_view;
use super::visitor::SignedIn;
use super::PageError;
use crate::core::domain::{rfc3339_ms, ImageRecord};
use crate::core::engine::CaptionChange;
use crate::core::provenance::{CaptionKind, CaptionSource};
use crate::error::AppError;
use crate::http::api::parse_id;
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/{id}/suggestion", post(settle_suggestion))
        .route("/images/{id}/review", post(review))
}

/// Where a shown caption came from, and the model's text waiting beside it.
pub struct CaptionOrigin {
    pub kind: &'static str,
    pub label: &'static str,
    pub source: String,
    pub at: String,
    pub suggestion: Option<String>,
}

pub struct VersionRow {
    pub label: &'static str,
    pub text: String,
    pub source: String,
    pub at: String,
}

/// An image's provenance as the detail page shows it.
#[derive(Default)]
pub struct CardProvenance {
    pub reviewed: bool,
    pub origins: Vec<CaptionOrigin>,
    /// Newest first.
    pub versions: Vec<VersionRow>,
}

fn label(kind: CaptionKind) -> &'static str {
    match kind {
        CaptionKind::Concise => "Concise",
        CaptionKind::Creative => "Creative",
    }
}

fn source_text(source: &CaptionSource) -> String {
    match source {
        CaptionSource::User => "you".to_owned(),
        model => model.to_string(),
    }
}

impl CardProvenance {
    pub fn of(record: &ImageRecord) -> Self {
        let origins = CaptionKind::BOTH
            .into_iter()
            .filter_map(|kind| {
                let shown = record.shown(kind)?;
                Some(CaptionOrigin {
                    kind: kind.as_str(),
                    label: label(kind),
                    source: source_text(&shown.source),
                    at: rfc3339_ms(shown.at_ms),
                    suggestion: shown.suggestion.map(str::to_owned),
                })
            })
            .collect();
        let versions = record
            .provenance
            .versions
            .iter()
            .rev()
            .map(|v| VersionRow {
                label: label(v.caption),
                text: v.text.clone(),
                source: source_text(&v.source),
                at: rfc3339_ms(v.at_ms),
            })
            .collect();
        Self {
            reviewed: record.reviewed(),
            origins,
            versions,
        }
    }
}

#[derive(Deserialize)]
struct SuggestionForm {
    caption: CaptionKind,
    /// `true`: show the model's text; `false`: keep mine.
    take: bool,
}

/// Takes the model's suggestion (the correction goes) or leaves it (the correction stays).
async fn settle_suggestion(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<SuggestionForm>,
) -> Result<Response, PageError> {
    let user = &signed_in.principal.user;
    let image = parse_id(&id)?;
    let record = state.engine.get(user, image).await?;
    let Some(mine) = record
        .shown(form.caption)
        .filter(|s| s.suggestion.is_some())
    else {
        let err = AppError::Conflict("there is no suggestion for that caption any more");
        return detail_view(&state, &signed_in, &id, Some(err)).await;
    };
    let text = if form.take {
        String::new()
    } else {
        mine.text.to_owned()
    };
    let change = match form.caption {
        CaptionKind::Concise => CaptionChange {
            concise: Some(text),
            ..CaptionChange::default()
        },
        CaptionKind::Creative => CaptionChange {
            creative: Some(text),
            ..CaptionChange::default()
        },
    };
    apply(&state, &signed_in, &id, change).await
}

#[derive(Deserialize)]
struct ReviewForm {
    reviewed: bool,
}

async fn review(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, PageError> {
    let change = CaptionChange {
        reviewed: Some(form.reviewed),
        ..CaptionChange::default()
    };
    apply(&state, &signed_in, &id, change).await
}

/// Applies the change and shows the detail page again; a refused change is explained on it.
pub async fn apply(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    change: CaptionChange,
) -> Result<Response, PageError> {
    let user = &signed_in.principal.user;
    match state
        .engine
        .edit_captions(user, parse_id(id)?, change)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/images/{id}")).into_response()),
        Err(err @ (AppError::BadRequest { .. } | AppError::Conflict(_))) => {
            detail_view(state, signed_in, id, Some(err)).await
        }
        Err(err) => Err(err.into()),
    }
}
