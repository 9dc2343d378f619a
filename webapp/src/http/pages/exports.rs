//! The exports of the pages: the history as JSON or CSV, an original with its captions in its
//! metadata, and the fine-tuning dataset.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Serialize;

use super::images::{detail_view, CaptionTexts};
use super::visitor::SignedIn;
use super::PageError;
use crate::core::domain::{rfc3339_ms, UserId};
use crate::error::AppError;
use crate::http::api::parse_id;
use crate::http::export::{attachment, dataset_response, download_response, DatasetQuery};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/export.json", get(export_json))
        .route("/export.csv", get(export_csv))
        .route("/images/{id}/download", get(download))
        .route("/export/dataset.zip", get(export_dataset))
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
