//! The CPU half of the upload pipeline, shared by pages and API: sniff, decode under limits,
//! strip metadata losslessly, make the thumbnail. Runs on a blocking thread; storage and
//! records are `crate::service`'s job.

pub mod strip;

use image::codecs::jpeg::JpegEncoder;
use imgcap_models::preprocess::{decode_image, resize_bicubic, ImageFormatKind, ImageLimits};
use imgcap_models::ImageError;

use crate::domain::UploadBytes;

#[derive(Debug, Clone, Copy)]
pub struct PipelineSettings {
    pub limits: ImageLimits,
    /// Longest side of the thumbnail; smaller images are not enlarged.
    pub thumbnail_side: u32,
    pub thumbnail_quality: u8,
}

/// An upload that passed validation, ready to store.
#[derive(Debug, Clone)]
pub struct PreparedImage {
    pub format: ImageFormatKind,
    /// The upload without metadata (see [`strip`]).
    pub original: Vec<u8>,
    /// Upright JPEG thumbnail.
    pub thumbnail: Vec<u8>,
    /// Upright dimensions.
    pub width: u32,
    pub height: u32,
    /// EXIF orientation of the upload, 1 to 8.
    pub orientation: u8,
}

/// Validates the upload and produces what is stored. Every error is the uploader's fault
/// (415 for a type that is not JPEG/PNG, 422 for a bomb or a broken file).
pub fn prepare(
    upload: &UploadBytes,
    settings: &PipelineSettings,
) -> Result<PreparedImage, ImageError> {
    // Reads and checks the header before allocating pixels, refuses truncated JPEGs, applies
    // the EXIF orientation.
    let decoded = decode_image(upload.as_slice(), &settings.limits)?;
    let original = strip::strip_metadata(upload.as_slice(), decoded.format)?;
    let (width, height) = decoded.image.dimensions();
    let thumbnail = thumbnail_jpeg(&decoded.image, settings)?;
    Ok(PreparedImage {
        format: decoded.format,
        original,
        thumbnail,
        width,
        height,
        orientation: decoded.orientation.to_exif(),
    })
}

/// Size of the thumbnail: longest side `side`, aspect ratio kept, never larger than the image.
pub fn thumbnail_size(width: u32, height: u32, side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= side {
        return (width, height);
    }
    let scale = |v: u32| {
        ((u64::from(v) * u64::from(side) + u64::from(longest) / 2) / u64::from(longest)).max(1)
            as u32
    };
    (scale(width), scale(height))
}

fn thumbnail_jpeg(
    image: &image::RgbImage,
    settings: &PipelineSettings,
) -> Result<Vec<u8>, ImageError> {
    let (w, h) = thumbnail_size(image.width(), image.height(), settings.thumbnail_side);
    let small = if (w, h) == image.dimensions() {
        image.clone()
    } else {
        resize_bicubic(image, w, h)
    };
    let mut out = Vec::with_capacity((w * h) as usize / 4);
    JpegEncoder::new_with_quality(&mut out, settings.thumbnail_quality)
        .encode_image(&small)
        .map_err(|e| ImageError::Decode(format!("cannot encode the thumbnail: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_keep_the_aspect_ratio_and_never_grow() {
        assert_eq!(thumbnail_size(4000, 3000, 300), (300, 225));
        assert_eq!(thumbnail_size(427, 640, 300), (200, 300));
        assert_eq!(thumbnail_size(200, 100, 300), (200, 100));
        assert_eq!(thumbnail_size(10000, 16, 300), (300, 1));
    }
}
