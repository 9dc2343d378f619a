//! The one error type of image handling, so callers (the servers) can map each case to a status
//! without string matching.

/// Why an image could not be turned into model input. Every variant is the caller's fault
/// (a bad upload), never the model's, so servers map all of them to a 4xx.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the image is empty")]
    Empty,
    #[error("the data is not a JPEG or PNG image")]
    UnsupportedFormat,
    #[error(
        "the image is {width}x{height} pixels; the limit is {max_side} pixels per side \
         and {max_pixels} pixels in all"
    )]
    TooLarge {
        width: u32,
        height: u32,
        max_side: u32,
        max_pixels: u64,
    },
    #[error("the image is {width}x{height} pixels; each side must be at least {min_side} pixels")]
    TooSmall {
        width: u32,
        height: u32,
        min_side: u32,
    },
    #[error("the image could not be decoded: {0}")]
    Decode(String),
}
