//! `/api/v1`: upload, history, one image, deletion, admin; the exports' operations are in
//! [`super::export`].

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Admin, Caller};
use super::provenance_view::{versions, CaptionVersionView, ShownCaptionsView};
use super::upload::accept_upload;
use super::{AppState, RequestId};
use crate::core::domain::{rfc3339_ms, CaptionResult, ImageId, ImageRecord, ImageStatus};
use crate::core::engine::{AdminStats, CaptionChange, Uploaded};
use crate::core::search::{FieldMatch, SearchQuery};
use crate::error::{ApiErrorBody, AppError, AppResult};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/images",
            post(upload_image)
                .get(list_images)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/images/{id}",
            get(get_image).patch(edit_image).delete(delete_image),
        )
        .route("/images/{id}/regenerate", post(regenerate_image))
        .route("/images/{id}/download", get(super::export::download_image))
        .route("/export/dataset", get(super::export::export_dataset))
        .route("/me", delete(delete_me))
        .route("/admin/stats", get(admin_stats))
        .route("/admin/queue/flush", post(admin_flush_queue))
        .route("/admin/jobs/retry", post(admin_retry_failed))
        .route("/openapi.json", get(openapi_document))
}

/// One image as the API shows it, with short-lived URLs of the original and the thumbnail.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageView {
    /// ULID, time-ordered.
    pub id: String,
    pub status: ImageStatus,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
    /// `image/jpeg` or `image/png`, sniffed from the bytes.
    pub content_type: &'static str,
    /// Size of the stored original (metadata removed).
    pub size_bytes: u64,
    /// Upright width and height in pixels.
    pub width: u32,
    pub height: u32,
    /// EXIF orientation of the upload (1 to 8), applied to the thumbnail; the stored original
    /// carries no metadata.
    pub orientation: u8,
    /// SHA-256 of the uploaded bytes.
    pub sha256: String,
    /// The captions once `status` is `done`.
    pub result: Option<CaptionResult>,
    /// The user's corrections of the captions, kept beside the model's text in `result`.
    pub edited: Option<EditedCaptions>,
    /// The captions shown (your correction where there is one, else the model's), each with
    /// its source, time and any waiting suggestion; absent until captioned.
    pub captions: Option<ShownCaptionsView>,
    /// Whether you marked the shown captions as checked (cleared when a model changes one).
    pub reviewed: bool,
    /// RFC 3339, when `reviewed`.
    pub reviewed_at: Option<String>,
    /// What the captions said before, oldest first (at most 20).
    pub versions: Vec<CaptionVersionView>,
    /// Why captioning failed, once `status` is `failed`.
    pub failure_reason: Option<String>,
    pub image_url: String,
    pub thumbnail_url: String,
    /// When both URLs stop working (RFC 3339).
    pub urls_expire_at: String,
    /// Only in search results (`GET /api/v1/images?q=`): each field that matched (`concise`,
    /// `creative` — the shown captions, corrections included — or `labels`) and its words
    /// that matched, as written there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<FieldMatch>>,
}

/// The user's own wording; a caption not corrected is absent.
#[derive(Debug, Serialize, ToSchema)]
pub struct EditedCaptions {
    pub concise: Option<String>,
    pub creative: Option<String>,
    /// RFC 3339.
    pub edited_at: String,
}

/// A correction of the captions. An absent field leaves that caption as it is; an empty
/// string goes back to the model's text (which takes a waiting suggestion); your own text
/// leaves the suggestion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptionEdit {
    /// At most 10 words and 125 characters.
    pub concise: Option<String>,
    /// At most 600 characters.
    pub creative: Option<String>,
    /// Marks (`true`) or unmarks (`false`) the captions as checked by you.
    pub reviewed: Option<bool>,
}

/// The answer to an upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResponse {
    pub image: ImageView,
    /// Where to poll for the captions.
    pub status_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImagePage {
    /// Newest first; with `q`, best match first.
    pub items: Vec<ImageView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Search the captions and labels: only images where every word of `q` begins a word of
    /// the shown concise or creative caption or of a label name, best match first (at most
    /// 200 characters and 16 words; punctuation separates words and has no other meaning).
    /// Blank or absent: the whole history.
    pub q: Option<String>,
    /// `next_cursor` of the previous page (of the same `q`).
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Count {
    pub count: u64,
}

async fn view(state: &AppState, record: &ImageRecord) -> AppResult<ImageView> {
    let (image, thumbnail) = state.engine.urls(record).await?;
    Ok(ImageView {
        id: record.id.to_string(),
        status: record.status,
        created_at: rfc3339_ms(record.created_ms),
        updated_at: rfc3339_ms(record.updated_ms),
        content_type: record.content_type,
        size_bytes: record.size_bytes,
        width: record.width,
        height: record.height,
        orientation: record.orientation,
        sha256: record.sha256.to_string(),
        result: record.result.clone(),
        edited: record.edits.as_ref().map(|e| EditedCaptions {
            concise: e.concise.clone(),
            creative: e.creative.clone(),
            edited_at: rfc3339_ms(e.edited_ms),
        }),
        captions: ShownCaptionsView::of(record),
        reviewed: record.reviewed(),
        reviewed_at: record.provenance.reviewed_ms.map(rfc3339_ms),
        versions: versions(record),
        failure_reason: record.failure_reason.clone(),
        image_url: image.url,
        thumbnail_url: thumbnail.url,
        urls_expire_at: rfc3339_ms(image.expires_at.min(thumbnail.expires_at) * 1000),
        matches: None,
    })
}

pub fn parse_id(id: &str) -> AppResult<ImageId> {
    id.parse()
        .map_err(|_| AppError::bad_request("invalid_image_id", "the image id is not a ULID"))
}

/// Upload a JPEG or PNG (at most 10 MB by default) as the raw body or as the multipart field
/// `file`. The type is read from the bytes. Uploading the same bytes again returns the
/// existing image with 200.
#[utoipa::path(post, path = "/api/v1/images", tag = "images",
    security(("bearer" = [])),
    request_body(description = "The image: a raw `image/jpeg` / `image/png` body, or `multipart/form-data` with a `file` field",
        content(("image/jpeg"), ("image/png"), ("multipart/form-data"))),
    responses(
        (status = 202, description = "Stored; captioning is queued", body = UploadResponse),
        (status = 200, description = "The same bytes were uploaded before", body = UploadResponse),
        (status = 400, description = "Empty body or no `file` field", body = ApiErrorBody),
        (status = 401, description = "No valid bearer token", body = ApiErrorBody),
        (status = 413, description = "Larger than the limit", body = ApiErrorBody),
        (status = 415, description = "Not a JPEG or PNG", body = ApiErrorBody),
        (status = 422, description = "Corrupt, truncated, too small or too large in pixels", body = ApiErrorBody),
        (status = 429, description = "Upload limit spent; see Retry-After", body = ApiErrorBody),
    ))]
pub async fn upload_image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    RequestId(request_id): RequestId,
    request: Request,
) -> AppResult<Response> {
    let (status, record) = match accept_upload(&state, &caller.user, &request_id, request).await? {
        Uploaded::Created(record) => (StatusCode::ACCEPTED, record),
        Uploaded::Existing(record) => (StatusCode::OK, record),
    };
    let status_url = format!("/api/v1/images/{}", record.id);
    let body = UploadResponse {
        image: view(&state, &record).await?,
        status_url: status_url.clone(),
    };
    Ok((status, [(header::LOCATION, status_url)], Json(body)).into_response())
}

/// The caller's history, newest first; with `q`, the caller's images whose captions or labels
/// match, best first, each with the fields and words that matched in `matches`.
#[utoipa::path(get, path = "/api/v1/images", tag = "images", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "One page", body = ImagePage),
        (status = 400, description = "Bad cursor, limit or search (`invalid_search`: too long, too many words)", body = ApiErrorBody),
        (status = 401, description = "No valid bearer token", body = ApiErrorBody),
    ))]
pub async fn list_images(
    State(state): State<AppState>,
    Caller(caller): Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> AppResult<Json<ImagePage>> {
    let Query(query) = query.map_err(|e| AppError::bad_request("invalid_query", e.body_text()))?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(AppError::bad_request(
            "invalid_query",
            "`limit` must be between 1 and 100",
        ));
    }
    let search = SearchQuery::parse(query.q.as_deref().unwrap_or_default())?;
    if let Some(search) = search {
        let (hits, next_cursor) = state
            .engine
            .search(
                &caller.user,
                &search,
                query.cursor.as_deref(),
                limit as usize,
            )
            .await?;
        let mut items = Vec::with_capacity(hits.len());
        for hit in &hits {
            let mut item = view(&state, &hit.record).await?;
            item.matches = Some(search.field_matches(&hit.record));
            items.push(item);
        }
        return Ok(Json(ImagePage { items, next_cursor }));
    }
    let (records, next_cursor) = state
        .engine
        .list(&caller.user, query.cursor.as_deref(), limit as usize)
        .await?;
    let mut items = Vec::with_capacity(records.len());
    for record in &records {
        items.push(view(&state, record).await?);
    }
    Ok(Json(ImagePage { items, next_cursor }))
}

/// One of the caller's images; another user's id is 404.
#[utoipa::path(get, path = "/api/v1/images/{id}", tag = "images", security(("bearer" = [])),
    params(("id" = String, Path, description = "Image ULID")),
    responses(
        (status = 200, description = "The image", body = ImageView),
        (status = 400, description = "Not a ULID", body = ApiErrorBody),
        (status = 401, description = "No valid bearer token", body = ApiErrorBody),
        (status = 404, description = "No such image of the caller", body = ApiErrorBody),
    ))]
pub async fn get_image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> AppResult<Json<ImageView>> {
    let record = state.engine.get(&caller.user, parse_id(&id)?).await?;
    Ok(Json(view(&state, &record).await?))
}

/// Corrects the captions of one of the caller's captioned images, takes or leaves a waiting
/// suggestion, or sets the review mark; the model's captions are kept in `result`, the
/// correction is in `edited`, and each change of a shown caption is added to `versions`.
#[utoipa::path(patch, path = "/api/v1/images/{id}", tag = "images", security(("bearer" = [])),
    params(("id" = String, Path, description = "Image ULID")),
    request_body(content = CaptionEdit, content_type = "application/json"),
    responses(
        (status = 200, description = "The image with its corrected captions", body = ImageView),
        (status = 400, description = "Not a ULID, not JSON, or a caption too long", body = ApiErrorBody),
        (status = 401, description = "No valid bearer token", body = ApiErrorBody),
        (status = 404, description = "No such image of the caller", body = ApiErrorBody),
        (status = 409, description = "The image is not captioned yet, or changed since it was read (read it again)", body = ApiErrorBody),
    ))]
pub async fn edit_image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: Result<Json<CaptionEdit>, JsonRejection>,
) -> AppResult<Json<ImageView>> {
    let id = parse_id(&id)?;
    let Json(edit) = body.map_err(|e| AppError::bad_request("invalid_json", e.body_text()))?;
    let change = CaptionChange {
        concise: edit.concise,
        creative: edit.creative,
        reviewed: edit.reviewed,
    };
    let record = state.engine.edit_captions(&caller.user, id, change).await?;
    Ok(Json(view(&state, &record).await?))
}

/// Captions one of the caller's images again. A caption you did not correct is replaced when
/// the new job finishes; one you corrected keeps your text, and the new model text waits beside
/// it as `captions.<kind>.suggestion`. Poll the image for the result. Each regenerate is a captioner call and
/// is counted against the caller's hourly regenerate budget.
#[utoipa::path(post, path = "/api/v1/images/{id}/regenerate", tag = "images", security(("bearer" = [])),
    params(("id" = String, Path, description = "Image ULID")),
    responses(
        (status = 202, description = "Queued; the image is pending again", body = ImageView),
        (status = 400, description = "Not a ULID", body = ApiErrorBody),
        (status = 401, description = "No valid bearer token", body = ApiErrorBody),
        (status = 404, description = "No such image of the caller", body = ApiErrorBody),
        (status = 409, description = "The image is already being captioned", body = ApiErrorBody),
        (status = 429, description = "The caller's regenerate budget is spent (`rate_limit.regenerations_per_hour`); `Retry-After` says when the next is allowed", body = ApiErrorBody),
    ))]
pub async fn regenerate_image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    RequestId(request_id): RequestId,
    Path(id): Path<String>,
) -> AppResult<(StatusCode, Json<ImageView>)> {
    let record = state
        .engine
        .recaption(&caller.user, parse_id(&id)?, &request_id)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(view(&state, &record).await?)))
}

/// Deletes one of the caller's images with its blobs and job.
#[utoipa::path(delete, path = "/api/v1/images/{id}", tag = "images", security(("bearer" = [])),
    params(("id" = String, Path, description = "Image ULID")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Not a ULID", body = ApiErrorBody),
        (status = 401, description = "No valid bearer token", body = ApiErrorBody),
        (status = 404, description = "No such image of the caller", body = ApiErrorBody),
    ))]
pub async fn delete_image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    state
        .engine
        .delete_image(&caller.user, parse_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes all of the caller's data: every blob, record, job and rate-limit entry.
/// Idempotent; an interrupted deletion is finished by the next call or at start-up.
#[utoipa::path(delete, path = "/api/v1/me", tag = "images", security(("bearer" = [])),
    responses(
        (status = 204, description = "Everything is deleted"),
        (status = 401, description = "No valid bearer token", body = ApiErrorBody),
    ))]
pub async fn delete_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<StatusCode> {
    state.engine.delete_user(&caller.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Uploads and captions per day, failures, latency per provider, queue depth (admin).
#[utoipa::path(get, path = "/api/v1/admin/stats", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Figures of the last 30 days", body = AdminStats),
        (status = 401, description = "No valid bearer token", body = ApiErrorBody),
        (status = 403, description = "Not an admin", body = ApiErrorBody),
    ))]
pub async fn admin_stats(State(state): State<AppState>, _: Admin) -> AppResult<Json<AdminStats>> {
    Ok(Json(state.engine.admin_stats().await?))
}

/// Removes every queued caption job; their images become `failed` (admin).
#[utoipa::path(post, path = "/api/v1/admin/queue/flush", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Jobs removed", body = Count),
        (status = 401, description = "No valid bearer token", body = ApiErrorBody),
        (status = 403, description = "Not an admin", body = ApiErrorBody),
    ))]
pub async fn admin_flush_queue(State(state): State<AppState>, _: Admin) -> AppResult<Json<Count>> {
    Ok(Json(Count {
        count: state.engine.flush_queue().await?,
    }))
}

/// Queues every failed image's caption job again (admin).
#[utoipa::path(post, path = "/api/v1/admin/jobs/retry", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Jobs queued again", body = Count),
        (status = 401, description = "No valid bearer token", body = ApiErrorBody),
        (status = 403, description = "Not an admin", body = ApiErrorBody),
    ))]
pub async fn admin_retry_failed(
    State(state): State<AppState>,
    _: Admin,
    RequestId(request_id): RequestId,
) -> AppResult<Json<Count>> {
    Ok(Json(Count {
        count: state.engine.retry_failed(&request_id).await?,
    }))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_document() -> Json<utoipa::openapi::OpenApi> {
    Json(super::openapi::document())
}
