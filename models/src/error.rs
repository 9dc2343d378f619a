//! One error type for everything the models crate can fail at, so callers (the servers) can map
//! each case to a status without string matching. Image errors are `imgcap_imaging`'s
//! [`ImageError`], carried in [`ModelError::Image`].

use std::path::PathBuf;

use imgcap_imaging::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file not found: {}", path.display())]
    MissingFile { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid model configuration {}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("tensor `{name}` is missing from the checkpoint (expected shape {expected:?})")]
    MissingTensor { name: String, expected: Vec<usize> },
    #[error(
        "tensor `{name}` has shape {actual:?} in the checkpoint, the model expects {expected:?}"
    )]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    #[error("invalid checkpoint {}: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },
    #[error("invalid tokenizer {}: {message}", path.display())]
    Tokenizer { path: PathBuf, message: String },
    #[error("cannot fetch the model from the hub: {0}")]
    Hub(String),
    /// The hub could not be reached or answered 5xx/408/429: trying again later may succeed.
    #[error("cannot fetch the model from the hub: {0}")]
    HubUnreachable(String),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("invalid generation options: {0}")]
    InvalidOptions(String),
    #[error("model backend error: {0}")]
    Backend(#[from] candle_core::Error),
}

impl ModelError {
    /// Whether the same load may succeed later without a change of settings (the hub was
    /// unreachable or overloaded).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::HubUnreachable(_))
    }
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
