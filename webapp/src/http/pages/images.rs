//! Upload, job progress, history, detail (edit, regenerate, delete, download with captions) and
//! the data exports (JSON, CSV, the fine-tuning dataset).

use askama::Template;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};

use super::provenance::{apply, CardProvenance};
use super::visitor::SignedIn;
use super::{friendly_message, is_htmx, megabytes, render, render_with, Nav, PageError};
use crate::core::domain::{rfc3339_ms, ImageRecord, ImageStatus, UserId};
use crate::core::engine::{CaptionChange, Uploaded};
use crate::core::provenance::CaptionKind;
use crate::core::search::{searchable_fields, SearchField, SearchQuery};
use crate::error::AppError;
use crate::http::api::parse_id;
use crate::http::export::{attachment, dataset_response, download_response, DatasetQuery};
use crate::http::upload::accept_upload;
use crate::http::{AppState, RequestId};

/// Thumbnails on one history page.
const HISTORY_PAGE: usize = 24;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/upload",
            get(upload_page)
                .post(upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/history", get(history))
        .route("/images/{id}", get(detail))
        .route("/images/{id}/card", get(card))
        .route("/images/{id}/tile", get(tile))
        .route("/images/{id}/captions", post(edit_captions))
        .route("/images/{id}/regenerate", post(regenerate))
        .route("/images/{id}/delete", post(delete))
        .route("/export.json", get(export_json))
        .route("/export.csv", get(export_csv))
        .route("/images/{id}/download", get(download))
        .route("/export/dataset.zip", get(export_dataset))
}

/// The caption fields of an image, for the pages and the export alike.
#[derive(Serialize)]
struct CaptionTexts {
    /// The captions shown (the user's correction where there is one).
    concise: Option<String>,
    creative: Option<String>,
    /// The model's own text, shown beside a correction.
    model_concise: Option<String>,
    model_creative: Option<String>,
    edited: bool,
    model: Option<String>,
    provider: Option<String>,
    /// `user`, or `<model> via <provider>`.
    concise_source: Option<String>,
    creative_source: Option<String>,
    /// The owner marked the shown captions as checked.
    reviewed: bool,
}

impl CaptionTexts {
    fn of(record: &ImageRecord) -> Self {
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
struct ImageCard {
    id: String,
    status: ImageStatus,
    thumbnail_url: String,
    image_url: String,
    texts: CaptionTexts,
    latency_ms: Option<u64>,
    created_at: String,
    width: u32,
    height: u32,
    failure_reason: Option<String>,
    /// No captioner can answer now: the image waits in the queue.
    captioning_unavailable: bool,
    provenance: CardProvenance,
}

impl ImageCard {
    async fn new(state: &AppState, record: &ImageRecord) -> Result<Self, PageError> {
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

    fn pending(&self) -> bool {
        self.status == ImageStatus::Pending
    }

    fn failed(&self) -> bool {
        self.status == ImageStatus::Failed
    }

    /// The alt text: the concise caption, or what the image is while it has none.
    fn alt(&self) -> String {
        match (&self.texts.concise, self.status) {
            (Some(concise), _) => concise.clone(),
            (None, ImageStatus::Failed) => "An uploaded image that could not be captioned".into(),
            (None, _) => "An uploaded image, not captioned yet".into(),
        }
    }

    fn model_concise_differs(&self) -> bool {
        let texts = &self.texts;
        texts.edited && texts.model_concise != texts.concise
    }

    fn model_creative_differs(&self) -> bool {
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
async fn own_card(
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
#[template(path = "tile.html")]
struct TileFragment {
    tile: Tile,
}

/// A history tile: while its image is pending it fetches itself again, so images uploaded in
/// bulk fill in their captions in the history as they finish.
async fn tile(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    Ok(render(&TileFragment {
        tile: Tile::plain(own_card(&state, &signed_in, &id).await?),
    }))
}

#[derive(Deserialize)]
struct HistoryQuery {
    /// A caption search; blank or absent: the whole history.
    q: Option<String>,
    cursor: Option<String>,
}

/// Text cut into pieces, `true` for a word that matched the search; the template escapes each
/// piece and marks the matching ones.
type Highlighted = Vec<(String, bool)>;

/// One thumbnail of the history or of the search results.
struct Tile {
    card: ImageCard,
    /// The concise caption, highlighted in search results.
    caption: Option<Highlighted>,
    /// In search results, the other fields that matched (`creative caption`, `labels`).
    also: Vec<(&'static str, Highlighted)>,
}

impl Tile {
    /// A history tile: the concise caption, nothing marked.
    fn plain(card: ImageCard) -> Self {
        let caption = card.texts.concise.clone().map(|c| vec![(c, false)]);
        Self {
            card,
            caption,
            also: Vec::new(),
        }
    }

    fn new(card: ImageCard, record: &ImageRecord, search: Option<&SearchQuery>) -> Self {
        let Some(search) = search else {
            return Self::plain(card);
        };
        let mut caption = None;
        let mut also = Vec::new();
        for (field, text) in searchable_fields(record) {
            let pieces = search.highlight(&text);
            let matched = pieces.iter().any(|(_, hit)| *hit);
            let pieces: Highlighted = pieces
                .into_iter()
                .map(|(piece, hit)| (piece.to_owned(), hit))
                .collect();
            match field {
                SearchField::Concise => caption = Some(pieces),
                SearchField::Creative if matched => also.push(("creative caption", pieces)),
                SearchField::Labels if matched => also.push(("labels", pieces)),
                _ => {}
            }
        }
        Self {
            card,
            caption,
            also,
        }
    }
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    nav: Nav,
    tiles: Vec<Tile>,
    /// The search as typed; empty for the plain history.
    q: String,
    searching: bool,
    /// The first page of this history or search, and the next one.
    first_href: String,
    next_href: Option<String>,
    first_page: bool,
}

/// `/history` with these query parameters.
fn history_href(q: Option<&str>, cursor: Option<&str>) -> String {
    let params: Vec<(&str, &str)> = [("q", q), ("cursor", cursor)]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect();
    match serde_urlencoded::to_string(params) {
        Ok(query) if !query.is_empty() => format!("/history?{query}"),
        _ => "/history".to_owned(),
    }
}

/// The history, newest first, or with `q` the images whose captions or labels match it, best
/// first, the matching words marked.
async fn history(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<HistoryQuery>,
) -> Result<Response, PageError> {
    let user = &signed_in.principal.user;
    let search = SearchQuery::parse(query.q.as_deref().unwrap_or_default())?;
    let cursor = query.cursor.as_deref();
    let (records, next_cursor) = match &search {
        Some(search) => {
            let (hits, next) = state
                .engine
                .search(user, search, cursor, HISTORY_PAGE)
                .await?;
            (hits.into_iter().map(|hit| hit.record).collect(), next)
        }
        None => state.engine.list(user, cursor, HISTORY_PAGE).await?,
    };
    let mut tiles = Vec::with_capacity(records.len());
    for record in &records {
        let card = ImageCard::new(&state, record).await?;
        tiles.push(Tile::new(card, record, search.as_ref()));
    }
    let q = search.as_ref().map(|s| s.text().to_owned());
    Ok(render(&HistoryPage {
        nav: Nav::from(&signed_in.visitor),
        tiles,
        searching: q.is_some(),
        first_href: history_href(q.as_deref(), None),
        next_href: next_cursor.map(|c| history_href(q.as_deref(), Some(&c))),
        q: q.unwrap_or_default(),
        first_page: cursor.is_none(),
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

/// One image in the export: what the user needs for alt-text work and to see what is stored.
#[derive(Serialize)]
struct ExportRow {
    id: String,
    file_name: String,
    status: &'static str,
    uploaded_at: String,
    updated_at: String,
    expires_at: String,
    width: u32,
    height: u32,
    #[serde(flatten)]
    texts: CaptionTexts,
}

async fn export_rows(state: &AppState, user: &UserId) -> Result<Vec<ExportRow>, PageError> {
    let records = state.engine.all_records(user).await?;
    Ok(records
        .iter()
        .map(|record| ExportRow {
            id: record.id.to_string(),
            file_name: record.file_name(),
            status: record.status.as_str(),
            uploaded_at: rfc3339_ms(record.created_ms),
            updated_at: rfc3339_ms(record.updated_ms),
            expires_at: rfc3339_ms(record.expires_at * 1000),
            width: record.width,
            height: record.height,
            texts: CaptionTexts::of(record),
        })
        .collect())
}

async fn export_json(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let rows = export_rows(&state, &signed_in.principal.user).await?;
    let body = serde_json::to_string_pretty(&rows).map_err(anyhow::Error::from)?;
    Ok(attachment("application/json", "imgcap-export.json", body))
}

/// The original with its captions in its XMP; an image without captions answers the detail
/// page with the reason.
async fn download(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let user = &signed_in.principal.user;
    match state.engine.captioned_original(user, parse_id(&id)?).await {
        Ok(original) => Ok(download_response(original)),
        Err(err @ AppError::Conflict(_)) => detail_view(&state, &signed_in, &id, Some(err)).await,
        Err(err) => Err(err.into()),
    }
}

async fn export_dataset(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<DatasetQuery>,
) -> Result<Response, PageError> {
    let rows = state
        .engine
        .dataset_rows(&signed_in.principal.user, query.options())
        .await?;
    Ok(dataset_response(state.engine.clone(), rows))
}

/// One CSV field (RFC 4180 quoting). A leading `=`, `+`, `-` or `@` is prefixed with `'` so a
/// spreadsheet shows the text instead of running it as a formula.
fn csv_field(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

async fn export_csv(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let rows = export_rows(&state, &signed_in.principal.user).await?;
    let mut body = String::from(
        "id,file_name,status,uploaded_at,updated_at,expires_at,width,height,concise,creative,\
         model_concise,model_creative,edited,model,provider,concise_source,creative_source,\
         reviewed\r\n",
    );
    for row in &rows {
        let text = |v: &Option<String>| csv_field(v.as_deref().unwrap_or(""));
        let texts = &row.texts;
        let fields = [
            csv_field(&row.id),
            csv_field(&row.file_name),
            csv_field(row.status),
            csv_field(&row.uploaded_at),
            csv_field(&row.updated_at),
            csv_field(&row.expires_at),
            row.width.to_string(),
            row.height.to_string(),
            text(&texts.concise),
            text(&texts.creative),
            text(&texts.model_concise),
            text(&texts.model_creative),
            texts.edited.to_string(),
            text(&texts.model),
            text(&texts.provider),
            text(&texts.concise_source),
            text(&texts.creative_source),
            texts.reviewed.to_string(),
        ];
        body.push_str(&fields.join(","));
        body.push_str("\r\n");
    }
    Ok(attachment(
        "text/csv; charset=utf-8",
        "imgcap-export.csv",
        body,
    ))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("a dog, running"), "\"a dog, running\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "\"'=HYPERLINK(1)\"");
    }
}
