//! The CPU half of the upload pipeline, shared by pages and API: sniff, decode under limits,
//! strip metadata losslessly, make the thumbnail (the image work itself is `imgcap_imaging`'s).
//! Runs on a blocking thread once the image memory budget has room for it ([`prepare_within`]);
//! storage and records are `crate::core::engine`'s job.

use anyhow::Context;
use imgcap_imaging::budget::MemoryBudget;
use imgcap_imaging::strip::strip_metadata;
use imgcap_imaging::thumbnail::thumbnail_jpeg;
use imgcap_imaging::{
    decode_image_with_header, read_header, IccProfile, ImageError, ImageFormatKind, ImageHeader,
    ImageLimits,
};

use crate::core::domain::UploadBytes;
use crate::error::AppResult;

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
    /// The upload without metadata (see [`imgcap_imaging::strip`]).
    pub original: Vec<u8>,
    /// Upright JPEG thumbnail.
    pub thumbnail: Vec<u8>,
    /// Upright dimensions.
    pub width: u32,
    pub height: u32,
    /// EXIF orientation of the upload, 1 to 8.
    pub orientation: u8,
}

/// [`prepare`] under the process's image memory budget: the header is read first, the memory
/// its decode needs is reserved (waiting a bounded time; 503 when the budget stays spent, 422
/// when the image alone needs more than all of it), and given back when the work is done.
pub async fn prepare_within(
    budget: &MemoryBudget,
    upload: UploadBytes,
    settings: PipelineSettings,
) -> AppResult<PreparedImage> {
    let header = read_header(upload.as_slice(), &settings.limits)?;
    let reservation = budget.reserve(header.memory_needed()).await?;
    let prepared = tokio::task::spawn_blocking(move || {
        let prepared = prepare_read(&upload, &header, &settings);
        drop(reservation);
        prepared
    })
    .await
    .context("image processing was interrupted")??;
    Ok(prepared)
}

/// Validates the upload and produces what is stored. Every error is the uploader's fault
/// (415 for a type that is not JPEG/PNG, 422 for a bomb or a broken file).
pub fn prepare(
    upload: &UploadBytes,
    settings: &PipelineSettings,
) -> Result<PreparedImage, ImageError> {
    let header = read_header(upload.as_slice(), &settings.limits)?;
    prepare_read(upload, &header, settings)
}

fn prepare_read(
    upload: &UploadBytes,
    header: &ImageHeader,
    settings: &PipelineSettings,
) -> Result<PreparedImage, ImageError> {
    // Checks the header before allocating pixels, refuses truncated JPEGs, applies the EXIF
    // orientation.
    let decoded = decode_image_with_header(upload.as_slice(), header, &settings.limits)?;
    let keep_icc = !matches!(header.icc_profile, IccProfile::OverCap);
    let original = strip_metadata(upload.as_slice(), decoded.format, keep_icc)?;
    let (width, height) = decoded.image.dimensions();
    let thumbnail = thumbnail_jpeg(
        &decoded.image,
        settings.thumbnail_side,
        settings.thumbnail_quality,
    )?;
    Ok(PreparedImage {
        format: decoded.format,
        original,
        thumbnail,
        width,
        height,
        orientation: decoded.orientation.to_exif(),
    })
}
