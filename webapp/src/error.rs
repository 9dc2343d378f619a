//! [`AppError`]: every way a request can fail, each with its status, a safe sentence and a
//! `snake_case` kind. The cause of a 5xx goes to the log, never to the client.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use imgcap_imaging::budget::BudgetError;
use imgcap_imaging::ImageError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer: `{"error": "...", "error_type": "..."}`. The web app's kinds
/// (authentication, rate limits, cursors) differ from the model server's, so it has its own
/// error body of the same shape rather than `imgcap_common::ErrorBody`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiErrorBody {
    /// A sentence a person understands.
    pub error: String,
    /// Machine-readable kind, e.g. `payload_too_large`, `rate_limited`, `not_found`.
    pub error_type: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    BadRequest { kind: &'static str, message: String },
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// A personal API token past its expiry (`api_tokens.lifetime_days`).
    #[error("this API token has expired; create a new one on the Account page")]
    TokenExpired,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("no such route")]
    UnknownRoute,
    #[error("this route does not accept that method")]
    MethodNotAllowed,
    #[error("the upload exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    InvalidImage(#[from] ImageError),
    /// The image memory budget is spent (503 with `Retry-After`), or this image alone needs
    /// more than all of it (422).
    #[error(transparent)]
    ImageMemory(#[from] BudgetError),
    #[error("the upload limit is spent; try again later")]
    RateLimited { retry_after: Duration },
    /// The user's budget of regenerations (each one a captioner call) is spent.
    #[error(
        "the regenerate limit is spent (each regenerate captions the image again); try again later"
    )]
    RegenerateLimited { retry_after: Duration },
    #[error("the service is not ready")]
    NotReady,
    /// The connection cap is reached: the connection is answered 503 and closed.
    #[error("the server has {limit} open connections, its limit; try again shortly")]
    TooManyConnections { limit: u32 },
    /// The request body arrived slower than the server's minimum transfer rate.
    #[error("the request body arrived too slowly; send it again on a faster connection")]
    RequestTimeout,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_request(kind: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            kind,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::TokenExpired => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::UnknownRoute => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidImage(ImageError::Empty) => StatusCode::BAD_REQUEST,
            Self::InvalidImage(ImageError::UnsupportedFormat) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidImage(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::ImageMemory(BudgetError::Busy { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            Self::ImageMemory(BudgetError::TooLarge { .. }) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } | Self::RegenerateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::NotReady | Self::TooManyConnections { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest { kind, .. } => kind,
            Self::Unauthorized => "unauthorized",
            Self::TokenExpired => "token_expired",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::UnknownRoute => "unknown_route",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::InvalidImage(ImageError::Empty) => "empty_body",
            Self::InvalidImage(ImageError::UnsupportedFormat) => "unsupported_media_type",
            Self::InvalidImage(ImageError::TooLarge { .. }) => "image_too_large",
            Self::InvalidImage(ImageError::TooSmall { .. }) => "image_too_small",
            Self::InvalidImage(ImageError::Decode(_)) => "invalid_image",
            Self::ImageMemory(BudgetError::Busy { .. }) => "server_busy",
            Self::ImageMemory(BudgetError::TooLarge { .. }) => "image_too_large",
            Self::RateLimited { .. } | Self::RegenerateLimited { .. } => "rate_limited",
            Self::NotReady => "not_ready",
            Self::TooManyConnections { .. } => "too_many_connections",
            Self::RequestTimeout => "request_timeout",
            Self::Internal(_) => "internal",
        }
    }

    /// What the client is told.
    pub fn body(&self) -> ApiErrorBody {
        ApiErrorBody {
            error: self.public_message(),
            error_type: self.kind(),
        }
    }

    fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "something went wrong on our side; please try again".into(),
            Self::InvalidImage(ImageError::Decode(_)) => {
                "the image is truncated or corrupt and cannot be decoded".into()
            }
            Self::InvalidImage(ImageError::UnsupportedFormat) => {
                "only JPEG and PNG images are accepted (the type is read from the bytes)".into()
            }
            other => other.to_string(),
        }
    }
}

/// The `Retry-After` value for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_value(retry_after: Duration) -> HeaderValue {
    HeaderValue::from(retry_after.as_secs_f64().ceil().max(1.0) as u64)
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        } else {
            tracing::info!(error = %self, kind = self.kind(), "request refused");
        }
        let mut response = (status, Json(self.body())).into_response();
        match &self {
            Self::RateLimited { retry_after }
            | Self::RegenerateLimited { retry_after }
            | Self::ImageMemory(BudgetError::Busy { retry_after }) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after_value(*retry_after));
            }
            Self::Unauthorized | Self::TokenExpired => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;
