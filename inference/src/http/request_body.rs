//! Reading an invocation: `Accept` and `Content-Type` negotiation, the SageMaker custom
//! attributes, the body under its size limit, JSON and base64.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName};
use base64::Engine;
use http_body_util::BodyExt;
use imgcap_common::{CaptionMode, CaptionRequest};

use crate::error::ApiError;

pub(super) const CUSTOM_ATTRIBUTES: HeaderName =
    HeaderName::from_static("x-amzn-sagemaker-custom-attributes");

/// `Accept` missing, empty, or allowing `application/json` (`*/*`, `application/*`, with any
/// q other than 0).
pub(super) fn accept_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::ACCEPT) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    if text.trim().is_empty() {
        return Ok(());
    }
    let allows_json = text.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|param| {
            param
                .trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        !refused && matches!(media.as_str(), "*/*" | "application/*" | "application/json")
    });
    if allows_json {
        Ok(())
    } else {
        Err(ApiError::NotAcceptable(text.into_owned()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyKind {
    Json,
    Raw,
}

const RAW_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "application/x-image",
    "application/octet-stream",
];

/// JSON, or raw image bytes (whose format is sniffed later, whatever the declared type). A
/// missing `Content-Type` means raw bytes.
pub(super) fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BodyKind::Raw);
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" {
        Ok(BodyKind::Json)
    } else if RAW_TYPES.contains(&essence.as_str()) {
        Ok(BodyKind::Raw)
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {essence:?} is not supported: send application/json or the image as {}",
            RAW_TYPES.join(", ")
        )))
    }
}

/// The value of `key` in `X-Amzn-SageMaker-Custom-Attributes` (`key=value` pairs separated by
/// `;` or `,`; keys compared without case).
pub(super) fn custom_attribute(headers: &HeaderMap, key: &str) -> Option<String> {
    let text = String::from_utf8_lossy(headers.get(&CUSTOM_ATTRIBUTES)?.as_bytes()).into_owned();
    text.split([';', ',']).find_map(|pair| {
        let (k, value) = pair.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| value.trim().to_string())
    })
}

/// `mode=...` in the custom attributes; other keys are ignored.
pub(super) fn custom_attributes_mode(headers: &HeaderMap) -> Result<Option<CaptionMode>, ApiError> {
    custom_attribute(headers, "mode")
        .map(|value| {
            value.parse().map_err(|e| {
                ApiError::InvalidParameters(format!("X-Amzn-SageMaker-Custom-Attributes: {e}"))
            })
        })
        .transpose()
}

/// The whole body, refusing more than `limit` bytes: up front from `Content-Length`, else as
/// soon as the stream passes the limit.
pub(super) async fn read_body(
    mut body: Body,
    headers: &HeaderMap,
    limit: u64,
) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        discard(body, limit).await;
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::InvalidBody(format!("the request body could not be read: {e}"))
        })?;
        if let Some(data) = frame.data_ref() {
            if (bytes.len() + data.len()) as u64 > limit {
                discard(body, limit).await;
                return Err(ApiError::PayloadTooLarge { limit });
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(bytes)
}

/// Reads and drops the rest of a refused body (up to a few times the limit, for at most a few
/// seconds), so a client still sending it reads the 413 rather than a connection reset.
async fn discard(mut body: Body, limit: u64) {
    let mut budget = limit.saturating_mul(4);
    let drain = async {
        while let Some(Ok(frame)) = body.frame().await {
            let len = frame.data_ref().map_or(0, |d| d.len() as u64);
            if len > budget {
                return;
            }
            budget -= len;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
}

/// Syntax errors are the client's malformed body (400); well-formed JSON with the wrong fields
/// is an unprocessable request (422), as axum's own `Json` extractor distinguishes them.
pub(super) fn parse_json(bytes: &[u8]) -> Result<CaptionRequest, ApiError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    serde_json::from_value(value)
        .map_err(|e| ApiError::InvalidParameters(format!("invalid request: {e}")))
}

/// Base64 (standard alphabet, padding optional, whitespace ignored) or a base64 `data:` URI.
pub(super) fn decode_base64(image: &str) -> Result<Vec<u8>, ApiError> {
    let payload = match image.trim_start().strip_prefix("data:") {
        Some(uri) => {
            let (meta, data) = uri.split_once(',').ok_or_else(|| {
                ApiError::InvalidBase64("the data: URI has no ',' before its data".into())
            })?;
            if !meta
                .split(';')
                .any(|p| p.trim().eq_ignore_ascii_case("base64"))
            {
                return Err(ApiError::InvalidBase64(
                    "only base64 data: URIs are accepted (data:image/png;base64,...)".into(),
                ));
            }
            data
        }
        None => image,
    };
    let compact: Vec<u8> = payload
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    BASE64
        .decode(&compact)
        .map_err(|e| ApiError::InvalidBase64(format!("`image` is not valid base64: {e}")))
}

const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::tests::headers;

    #[test]
    fn accept_negotiation() {
        for ok in [
            "",
            "*/*",
            "application/json",
            "Application/JSON; charset=utf-8",
            "text/html, application/*;q=0.5",
        ] {
            assert!(accept_json(&headers(&[("accept", ok)])).is_ok(), "{ok}");
        }
        assert!(accept_json(&HeaderMap::new()).is_ok());
        for refused in [
            "text/html",
            "image/png",
            "application/json;q=0",
            "application/xml",
        ] {
            assert!(
                matches!(
                    accept_json(&headers(&[("accept", refused)])),
                    Err(ApiError::NotAcceptable(_))
                ),
                "{refused}"
            );
        }
    }

    #[test]
    fn content_types() {
        let kind = |ct: &str| body_kind(&headers(&[("content-type", ct)]));
        assert_eq!(
            kind("application/json; charset=utf-8").unwrap(),
            BodyKind::Json
        );
        assert_eq!(kind("image/jpeg").unwrap(), BodyKind::Raw);
        assert_eq!(kind("application/x-image").unwrap(), BodyKind::Raw);
        assert_eq!(body_kind(&HeaderMap::new()).unwrap(), BodyKind::Raw);
        assert!(matches!(
            kind("image/gif"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn custom_attributes() {
        let mode = |v: &str| {
            custom_attributes_mode(&headers(&[("x-amzn-sagemaker-custom-attributes", v)]))
        };
        assert_eq!(mode("mode=creative").unwrap(), Some(CaptionMode::Creative));
        assert_eq!(
            mode("trace=abc; Mode = concise").unwrap(),
            Some(CaptionMode::Concise)
        );
        assert_eq!(mode("c000b4f9-df62").unwrap(), None);
        assert!(matches!(
            mode("mode=poem"),
            Err(ApiError::InvalidParameters(_))
        ));
    }

    #[test]
    fn base64_and_data_uris() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVs\nbG8=\n").unwrap(), b"hello");
        assert_eq!(
            decode_base64("data:image/png;base64,aGVsbG8=").unwrap(),
            b"hello"
        );
        for bad in [
            "not base64!",
            "data:image/png,aGVsbG8=",
            "data:image/png;base64",
        ] {
            assert!(
                matches!(decode_base64(bad), Err(ApiError::InvalidBase64(_))),
                "{bad}"
            );
        }
    }
}
