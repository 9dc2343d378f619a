//! Every way a request can fail, each mapped to one status and one `error_type`. The message is
//! written for the client; causes (model and I/O errors) go to the log only.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use imgcap_common::{ErrorBody, ErrorType};
use imgcap_imaging::budget::BudgetError;
use imgcap_imaging::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidBase64(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("no route for {0}")]
    NotFound(String),
    #[error("method {0} is not allowed on this route")]
    MethodNotAllowed(String),
    #[error("the answer is application/json, which the Accept header ({0:?}) does not allow")]
    NotAcceptable(String),
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    InvalidImage(String),
    #[error("{0}")]
    InvalidParameters(String),
    #[error(
        "beams × max_new_tokens = {asked} = {work} exceeds the server's work budget of {budget} \
         per request (IMGCAP_MAX_REQUEST_WORK)"
    )]
    OverWorkBudget {
        /// Each wanted caption's share, e.g. `concise 16 × 128 + creative 1 × 40`.
        asked: String,
        work: u64,
        budget: u64,
    },
    #[error("the model failed to caption this batch of images")]
    Backend { cause: String },
    #[error("the server is serving its limit of {limit} concurrent requests; retry shortly")]
    Overloaded { limit: u32 },
    #[error("the server has its limit of {limit} open connections; retry shortly")]
    TooManyConnections { limit: u32 },
    #[error("internal server error")]
    Internal { cause: String },
    /// `imgcap-fault=5xx` on a server started with `--fault-injection`.
    #[error("injected fault (imgcap-fault=5xx): this server runs with --fault-injection")]
    InjectedFault,
    #[error("the model is still loading; retry shortly")]
    NotReady,
    #[error("the model backend has failed; this server cannot caption images any more")]
    Unhealthy,
    #[error("no answer within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    /// The image memory budget stayed spent for the whole wait (`BudgetError::Busy`).
    #[error("{message}")]
    Busy {
        message: String,
        retry_after_secs: u32,
    },
}

impl ApiError {
    pub fn error_type(&self) -> ErrorType {
        match self {
            Self::InvalidJson(_) => ErrorType::InvalidJson,
            Self::InvalidBase64(_) => ErrorType::InvalidBase64,
            Self::InvalidBody(_) => ErrorType::InvalidBody,
            Self::NotFound(_) => ErrorType::NotFound,
            Self::MethodNotAllowed(_) => ErrorType::MethodNotAllowed,
            Self::NotAcceptable(_) => ErrorType::NotAcceptable,
            Self::PayloadTooLarge { .. } => ErrorType::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ErrorType::UnsupportedMediaType,
            Self::InvalidImage(_) => ErrorType::InvalidImage,
            Self::InvalidParameters(_) | Self::OverWorkBudget { .. } => {
                ErrorType::InvalidParameters
            }
            Self::Backend { .. } => ErrorType::Backend,
            Self::Overloaded { .. } | Self::TooManyConnections { .. } => ErrorType::Overloaded,
            Self::Internal { .. } | Self::InjectedFault => ErrorType::Internal,
            Self::NotReady => ErrorType::NotReady,
            Self::Unhealthy => ErrorType::Unhealthy,
            Self::Timeout { .. } => ErrorType::Timeout,
            Self::Busy { .. } => ErrorType::Busy,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self.error_type() {
            ErrorType::InvalidJson | ErrorType::InvalidBase64 | ErrorType::InvalidBody => {
                StatusCode::BAD_REQUEST
            }
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorType::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ErrorType::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorType::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorType::InvalidImage | ErrorType::InvalidParameters => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ErrorType::Backend => StatusCode::FAILED_DEPENDENCY,
            ErrorType::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ErrorType::Internal | ErrorType::Other => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotReady | ErrorType::Unhealthy | ErrorType::Busy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorType::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// Errors answered before the request body was read to its end: the connection cannot be
    /// reused, and saying so spares the client a race with the server closing it.
    fn closes_connection(&self) -> bool {
        matches!(
            self,
            Self::Overloaded { .. }
                | Self::TooManyConnections { .. }
                | Self::Timeout { .. }
                | Self::PayloadTooLarge { .. }
                | Self::InvalidBody(_)
        )
    }

    /// Seconds a client should wait before retrying, for the statuses where retrying helps.
    pub fn retry_after_seconds(&self) -> Option<u32> {
        match self {
            Self::Overloaded { .. } | Self::TooManyConnections { .. } => Some(1),
            Self::NotReady => Some(5),
            Self::Busy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.to_string(),
            error_type: self.error_type(),
        }
    }
}

impl From<ImageError> for ApiError {
    fn from(err: ImageError) -> Self {
        match err {
            ImageError::Empty => Self::InvalidBody("the image is empty: send a JPEG or PNG".into()),
            ImageError::UnsupportedFormat => Self::UnsupportedMediaType(
                "the data is not a JPEG or PNG image (the format is read from the bytes)".into(),
            ),
            other @ (ImageError::TooLarge { .. }
            | ImageError::TooSmall { .. }
            | ImageError::Decode(_)) => Self::InvalidImage(other.to_string()),
        }
    }
}

/// A spent budget is 503 with `Retry-After`; an image needing more than all of it is 422.
impl From<BudgetError> for ApiError {
    fn from(err: BudgetError) -> Self {
        match err {
            BudgetError::Busy { retry_after } => Self::Busy {
                message: err.to_string(),
                retry_after_secs: retry_after.as_secs_f64().ceil().max(1.0) as u32,
            },
            BudgetError::TooLarge { .. } => Self::InvalidImage(err.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Backend { cause } | Self::Internal { cause } => {
                tracing::error!(error_type = self.error_type().as_str(), %cause, "{self}");
            }
            Self::InjectedFault => {
                tracing::warn!(
                    error_type = self.error_type().as_str(),
                    injected = true,
                    "{self}"
                );
            }
            _ => tracing::info!(error_type = self.error_type().as_str(), "{self}"),
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        if self.closes_connection() {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(seconds) = self.retry_after_seconds() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_errors_map_to_the_status_of_their_cause() {
        let status = |err: ImageError| ApiError::from(err).status();
        assert_eq!(status(ImageError::Empty), StatusCode::BAD_REQUEST);
        assert_eq!(
            status(ImageError::UnsupportedFormat),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            status(ImageError::Decode("truncated".into())),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let bomb = ImageError::TooLarge {
            width: 20_000,
            height: 20_000,
            max_side: 16_384,
            max_pixels: 40_000_000,
        };
        assert_eq!(status(bomb), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn causes_stay_out_of_the_client_message() {
        let err = ApiError::Backend {
            cause: "CUDA_ERROR_ILLEGAL_ADDRESS at 0xdeadbeef".into(),
        };
        assert_eq!(err.status(), StatusCode::FAILED_DEPENDENCY);
        assert!(!err.body().error.contains("deadbeef"));
        let response = ApiError::Overloaded { limit: 4 }.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
