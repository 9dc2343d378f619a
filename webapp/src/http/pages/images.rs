//! Upload, job progress, history, detail (edit, regenerate, delete, download with captions) and
//! the data exports (JSON, CSV, the fine-tuning dataset).

use askama::Template;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};

use super::provenance::{apply, CardProvenance};
use super::visitor::SignedIn;
use super::{friendly_message, is_htmx, megabytes, render, render_with, Nav, PageError};
use crate::core::domain::{rfc3339_ms, ImageRecord, ImageStatus};
use crate::core::engine::{CaptionChange, Uploaded};
use crate::core::provenance::CaptionKind;
use crate::error::AppError;
use crate::http::api::parse_id;
use crate::http::upload::accept_upload;
use crate::http::{AppState, RequestId};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/upload",
            get(upload_page)
                .post(upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/images/{id}", get(detail))
        .route("/images/{id}/card", get(card))
        .route("/images/{id}/captions", post(edit_captions))
        .route("/images/{id}/regenerate", post(regenerate))
        .route("/images/{id}/delete", post(delete))
}

/// The caption fields of an image, for the pages and the export alike.
#[derive(Serialize)]
pub(super) struct CaptionTexts {
    /// The captions shown (the user's correction where there is one).
    pub(super) concise: Option<String>,
    pub(super) creative: Option<String>,
    /// The model's own text, shown beside a correction.
    pub(super) model_concise: Option<String>,
    pub(super) model_creative: Option<String>,
    pub(super) edited: bool,
    pub(super) model: Option<String>,
    pub(super) provider: Option<String>,
    /// `user`, or `<model> via <provider>`.
    pub(super) concise_source: Option<String>,
    pub(super) creative_source: Option<String>,
    /// The owner marked the shown captions as checked.
    pub(super) reviewed: bool,
}

impl CaptionTexts {
    pub(super) fn of(record: &ImageRecord) -> Self {
        let shown = record.shown_captions();
        let result = record.result.as_ref();
        Self {
            concise: shown.map(|(c, _)| c.to_owned()),
            creative: shown.map(|(_, c)| c.to_owned()),
            model_concise: result.map(|r| r.concise.text.clone()),
            model_creative: result.map(|r| r.creative.text.clone()),
            edited: record.edits.is_some(),
            model: result.map(|r| r.model.clone()),
            provider: result.map(|r| r.provider.clone()),
            concise_source: record
                .shown(CaptionKind::Concise)
                .map(|s| s.source.to_string()),
            creative_source: record
                .shown(CaptionKind::Creative)
                .map(|s| s.source.to_string()),
            reviewed: record.reviewed(),
        }
    }
}

/// One image as the pages show it.
pub(super) struct ImageCard {
    pub(super) id: String,
    pub(super) status: ImageStatus,
    pub(super) thumbnail_url: String,
    pub(super) image_url: String,
    pub(super) texts: CaptionTexts,
    pub(super) latency_ms: Option<u64>,
    pub(super) created_at: String,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) failure_reason: Option<String>,
    /// No captioner can answer now: the image waits in the queue.
    pub(super) captioning_unavailable: bool,
    pub(super) provenance: CardProvenance,
}

impl ImageCard {
    pub(super) async fn new(state: &AppState, record: &ImageRecord) -> Result<Self, PageError> {
        let (image, thumbnail) = state.engine.urls(record).await?;
        Ok(Self {
            id: record.id.to_string(),
            status: record.status,
            thumbnail_url: thumbnail.url,
            image_url: image.url,
            texts: CaptionTexts::of(record),
            latency_ms: record.result.as_ref().map(|r| r.latency_ms),
            created_at: rfc3339_ms(record.created_ms),
            width: record.width,
            height: record.height,
            failure_reason: record.failure_reason.clone(),
            captioning_unavailable: record.status == ImageStatus::Pending
                && !state.engine.captioning_available(),
            provenance: CardProvenance::of(record),
        })
    }

    pub(super) fn pending(&self) -> bool {
        self.status == ImageStatus::Pending
    }

    pub(super) fn failed(&self) -> bool {
        self.status == ImageStatus::Failed
    }

    /// The alt text: the concise caption, or what the image is while it has none.
    pub(super) fn alt(&self) -> String {
        match (&self.texts.concise, self.status) {
            (Some(concise), _) => concise.clone(),
            (None, ImageStatus::Failed) => "An uploaded image that could not be captioned".into(),
            (None, _) => "An uploaded image, not captioned yet".into(),
        }
    }

    pub(super) fn model_concise_differs(&self) -> bool {
        let texts = &self.texts;
        texts.edited && texts.model_concise != texts.concise
    }

    pub(super) fn model_creative_differs(&self) -> bool {
        let texts = &self.texts;
        texts.edited && texts.model_creative != texts.creative
    }
}

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    nav: Nav,
    max_bytes: u64,
    max_upload: String,
}

async fn upload_page(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    render(&UploadPage {
        nav: Nav::from(&signed_in.visitor),
        max_bytes: state.max_upload_bytes,
        max_upload: megabytes(state.max_upload_bytes),
    })
}

#[derive(Template)]
#[template(path = "card.html")]
struct CardFragment {
    card: ImageCard,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertFragment {
    message: String,
}

/// The upload form's target (a script posts the file with progress): the image's card, or a
/// friendly message with the error's status.
async fn upload(
    State(state): State<AppState>,
    signed_in: SignedIn,
    RequestId(request_id): RequestId,
    request: Request,
) -> Response {
    let user = &signed_in.principal.user;
    let (status, record) = match accept_upload(&state, user, &request_id, request).await {
        Ok(Uploaded::Created(record)) => (StatusCode::ACCEPTED, record),
        Ok(Uploaded::Existing(record)) => (StatusCode::OK, record),
        Err(err) => {
            if err.status().is_server_error() {
                tracing::error!(error = ?err, "page upload failed");
            }
            let message = friendly_message(&err);
            return render_with(err.status(), &AlertFragment { message });
        }
    };
    match ImageCard::new(&state, &record).await {
        Ok(card) => render_with(status, &CardFragment { card }),
        Err(err) => err.into_response(),
    }
}

/// The signed-in user's image as the pages show it; anyone else's is 404.
pub(super) async fn own_card(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
) -> Result<ImageCard, PageError> {
    let record = state
        .engine
        .get(&signed_in.principal.user, parse_id(id)?)
        .await?;
    ImageCard::new(state, &record).await
}

async fn card(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    Ok(render(&CardFragment {
        card: own_card(&state, &signed_in, &id).await?,
    }))
}

#[derive(Template)]
#[template(path = "detail.html")]
struct DetailPage {
    nav: Nav,
    card: ImageCard,
    error: Option<String>,
}

pub(super) async fn detail_view(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    error: Option<AppError>,
) -> Result<Response, PageError> {
    let card = own_card(state, signed_in, id).await?;
    let status = error.as_ref().map_or(StatusCode::OK, AppError::status);
    Ok(render_with(
        status,
        &DetailPage {
            nav: Nav::from(&signed_in.visitor),
            card,
            error: error.as_ref().map(friendly_message),
        },
    ))
}

async fn detail(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    detail_view(&state, &signed_in, &id, None).await
}

#[derive(Deserialize)]
struct CaptionForm {
    concise: String,
    creative: String,
}

/// Saves the user's wording. Text equal to the model's is no correction; a caption left as
/// shown is not changed (so saving one caption leaves the other's suggestion waiting).
async fn edit_captions(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CaptionForm>,
) -> Result<Response, PageError> {
    let user = &signed_in.principal.user;
    let image = parse_id(&id)?;
    let record = state.engine.get(user, image).await?;
    let Some(result) = record.result.as_ref() else {
        let err = AppError::Conflict("the captions can be edited once the image is captioned");
        return detail_view(&state, &signed_in, &id, Some(err)).await;
    };
    let same = |a: &str, b: &str| a.split_whitespace().eq(b.split_whitespace());
    let (shown_concise, shown_creative) = record.shown_captions().unwrap_or_default();
    let correction = |typed: String, shown: &str, model: &str| {
        if same(&typed, shown) {
            None
        } else if same(&typed, model) {
            Some(String::new())
        } else {
            Some(typed)
        }
    };
    let change = CaptionChange {
        concise: correction(form.concise, shown_concise, &result.concise.text),
        creative: correction(form.creative, shown_creative, &result.creative.text),
        reviewed: None,
    };
    apply(&state, &signed_in, &id, change).await
}

async fn regenerate(
    State(state): State<AppState>,
    signed_in: SignedIn,
    RequestId(request_id): RequestId,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let record = state
        .engine
        .recaption(&signed_in.principal.user, parse_id(&id)?, &request_id)
        .await?;
    if is_htmx(&headers) {
        return Ok(render_with(
            StatusCode::ACCEPTED,
            &CardFragment {
                card: ImageCard::new(&state, &record).await?,
            },
        ));
    }
    Ok(Redirect::to(&format!("/images/{id}")).into_response())
}

async fn delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Redirect, PageError> {
    state
        .engine
        .delete_image(&signed_in.principal.user, parse_id(&id)?)
        .await?;
    Ok(Redirect::to("/history"))
}
