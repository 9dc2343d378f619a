//! Reads an upload body into [`UploadBytes`] while counting: raw image bodies and multipart
//! forms (field `file`) go through the same limit, and nothing past the limit is buffered.

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::BodyExt;
use imgcap_imaging::ImageError;

use super::AppState;
use crate::core::domain::{UploadBytes, UserId};
use crate::core::engine::Uploaded;
use crate::error::{AppError, AppResult};
use crate::telemetry::UploadOutcome;

/// Room for multipart boundaries and part headers on top of the file itself.
const MULTIPART_OVERHEAD: u64 = 16 * 1024;

/// Declared types accepted for a raw body. The declared type only selects raw vs multipart:
/// the image type is always sniffed from the bytes.
const RAW_TYPES: [&str; 4] = [
    "image/jpeg",
    "image/png",
    "application/octet-stream",
    "application/x-image",
];

/// The one upload path of the API and the pages: rate limit, bounded read, then the engine.
pub async fn accept_upload(
    state: &AppState,
    user: &UserId,
    request_id: &str,
    request: Request,
) -> AppResult<Uploaded> {
    let uploaded = async {
        state.engine.check_upload_rate(user).await?;
        let upload = read_upload(request, state.max_upload_bytes).await?;
        state.engine.upload(user, upload, request_id).await
    }
    .await;
    state.engine.metrics().upload(match &uploaded {
        Ok(Uploaded::Created(_)) => UploadOutcome::Accepted,
        Ok(Uploaded::Existing(_)) => UploadOutcome::Duplicate,
        Err(error) => UploadOutcome::of_error(error),
    });
    uploaded
}

pub async fn read_upload(request: Request, limit: u64) -> AppResult<UploadBytes> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let multipart = essence == "multipart/form-data";
    if !multipart && !RAW_TYPES.contains(&essence.as_str()) {
        return Err(AppError::UnsupportedMediaType(format!(
            "send the image as a raw body (image/jpeg or image/png) or as multipart/form-data \
             with a `file` field, not `{essence}`"
        )));
    }
    let wire_limit = if multipart {
        limit + MULTIPART_OVERHEAD
    } else {
        limit
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > wire_limit) {
        return Err(AppError::PayloadTooLarge { limit });
    }
    let bytes = if multipart {
        read_multipart(request, limit, wire_limit).await?
    } else {
        read_raw(request.into_body(), limit).await?
    };
    UploadBytes::new(bytes).ok_or(AppError::InvalidImage(ImageError::Empty))
}

async fn read_raw(mut body: Body, limit: u64) -> AppResult<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            AppError::bad_request("invalid_body", format!("the body could not be read: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            if (out.len() + data.len()) as u64 > limit {
                return Err(AppError::PayloadTooLarge { limit });
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

fn multipart_error(err: axum::extract::multipart::MultipartError, limit: u64) -> AppError {
    if err.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge { limit }
    } else {
        AppError::bad_request(
            "invalid_multipart",
            format!("the form could not be read: {}", err.body_text()),
        )
    }
}

async fn read_multipart(request: Request, limit: u64, wire_limit: u64) -> AppResult<Vec<u8>> {
    let (parts, body) = request.into_parts();
    let limited = Body::new(http_body_util::Limited::new(body, wire_limit as usize));
    let mut form = Multipart::from_request(Request::from_parts(parts, limited), &())
        .await
        .map_err(|e| AppError::bad_request("invalid_multipart", e.body_text()))?;
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| multipart_error(e, limit))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let mut out = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(AppError::PayloadTooLarge { limit });
            }
            out.extend_from_slice(&chunk);
        }
        return Ok(out);
    }
    Err(AppError::bad_request(
        "missing_file_field",
        "the form has no `file` field",
    ))
}
