//! Format sniffing and decoding under limits: untrusted JPEG or PNG bytes in, upright 8-bit RGB
//! out. The header is checked first (`crate::header`), so a decompression bomb never gets a
//! pixel buffer; the colour conversion follows `transformers`' `convert_to_rgb` on Pillow images.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use crate::header::{check_jpeg_complete, read_header, ImageHeader};
use crate::ImageError;

/// Size limits checked against the image header before any pixel buffer is allocated, so a
/// small file that claims to be huge (a decompression bomb) costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Each side must be at least this many pixels.
    pub min_side: u32,
    /// Neither side may exceed this many pixels.
    pub max_side: u32,
    /// Width × height may not exceed this.
    pub max_pixels: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            min_side: 16,
            max_side: 16384,
            max_pixels: 40_000_000,
        }
    }
}

impl ImageLimits {
    pub(crate) fn check(&self, width: u32, height: u32) -> Result<(), ImageError> {
        if width > self.max_side
            || height > self.max_side
            || u64::from(width) * u64::from(height) > self.max_pixels
        {
            return Err(self.too_large(width, height));
        }
        if width < self.min_side || height < self.min_side {
            return Err(ImageError::TooSmall {
                width,
                height,
                min_side: self.min_side,
            });
        }
        Ok(())
    }

    pub(crate) fn too_large(&self, width: u32, height: u32) -> ImageError {
        ImageError::TooLarge {
            width,
            height,
            max_side: self.max_side,
            max_pixels: self.max_pixels,
        }
    }

    /// The image crate's own limits, a second guard in case a decoder disagrees with the header
    /// we checked. The allocation budget covers the widest layout a PNG can decode to (RGBA,
    /// 16 bits per channel) at the largest allowed pixel count.
    pub(crate) fn image_crate_limits(&self) -> image::Limits {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(self.max_side);
        limits.max_image_height = Some(self.max_side);
        limits.max_alloc = Some(self.max_pixels.saturating_mul(8));
        limits
    }
}

/// The formats the service accepts. Decided from the bytes, never from a declared MIME type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormatKind {
    Jpeg,
    Png,
}

impl ImageFormatKind {
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }

    fn to_image_format(self) -> image::ImageFormat {
        match self {
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::Png => image::ImageFormat::Png,
        }
    }
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];

/// Identifies JPEG or PNG by their magic bytes; anything else is refused.
pub fn sniff_format(bytes: &[u8]) -> Result<ImageFormatKind, ImageError> {
    if bytes.is_empty() {
        Err(ImageError::Empty)
    } else if bytes.starts_with(JPEG_MAGIC) {
        Ok(ImageFormatKind::Jpeg)
    } else if bytes.starts_with(PNG_MAGIC) {
        Ok(ImageFormatKind::Png)
    } else {
        Err(ImageError::UnsupportedFormat)
    }
}

/// A decoded upload: 8-bit RGB, already turned upright.
#[derive(Debug, Clone)]
pub struct DecodedImage {
    pub image: RgbImage,
    /// The EXIF orientation found in the file and applied to `image`.
    pub orientation: Orientation,
    pub format: ImageFormatKind,
}

/// Decodes a JPEG or PNG into upright RGB8.
///
/// The header is read first ([`read_header`]) and checked against `limits` before any decoder
/// or pixel buffer exists; a PNG is decoded without the chunks pixels do not need, so a colour
/// profile or text chunk is never inflated. A truncated or corrupt file is an
/// [`ImageError::Decode`], never a partially grey picture.
/// Colour conversion follows `transformers`' `convert_to_rgb` on the Pillow image: transparency is
/// composited onto white, grayscale is replicated, 16-bit samples keep their high byte, CMYK uses
/// Pillow's formula (up to rounding). One deliberate difference: Pillow clips 16-bit grayscale to 0..255
/// (turning most such images white); here it keeps the high byte like every other 16-bit image.
pub fn decode_image(bytes: &[u8], limits: &ImageLimits) -> Result<DecodedImage, ImageError> {
    decode_image_with_header(bytes, &read_header(bytes, limits)?, limits)
}

/// [`decode_image`] with the header already read by `read_header(bytes, limits)`: callers that
/// share a [`crate::budget::MemoryBudget`] read it first to reserve [`ImageHeader::memory_needed`].
pub fn decode_image_with_header(
    bytes: &[u8],
    header: &ImageHeader,
    limits: &ImageLimits,
) -> Result<DecodedImage, ImageError> {
    let format = header.format;
    if format == ImageFormatKind::Jpeg {
        check_jpeg_complete(bytes)?;
    }
    let source = header.decodable(bytes);
    let mut reader = ImageReader::with_format(Cursor::new(&source[..]), format.to_image_format());
    reader.limits(limits.image_crate_limits());
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    if (width, height) != (header.width, header.height) {
        return Err(ImageError::Decode(format!(
            "the decoder reads {width}x{height} pixels, the header says {}x{}",
            header.width, header.height
        )));
    }
    let orientation = decoder.orientation().map_err(decode_error)?;

    let mut guard = limits.image_crate_limits();
    guard
        .reserve(decoder.total_bytes())
        .map_err(|_| limits.too_large(width, height))?;
    decoder.set_limits(guard).map_err(|err| match err {
        image::ImageError::Limits(_) => limits.too_large(width, height),
        other => decode_error(other),
    })?;
    let decoded = DynamicImage::from_decoder(decoder).map_err(|err| match err {
        image::ImageError::Limits(_) => limits.too_large(width, height),
        other => decode_error(other),
    })?;

    let mut upright = DynamicImage::ImageRgb8(into_rgb8(decoded)?);
    upright.apply_orientation(orientation);
    Ok(DecodedImage {
        image: upright.into_rgb8(),
        orientation,
        format,
    })
}

fn decode_error(err: image::ImageError) -> ImageError {
    ImageError::Decode(err.to_string())
}

/// RGB8 as `transformers`' `convert_to_rgb` makes it: an image with alpha (including a PNG
/// `tRNS` transparency, which the decoder expands to alpha) is composited onto white with
/// Pillow's `alpha_composite` arithmetic; otherwise Pillow's `convert("RGB")` (grayscale
/// replicated). 16-bit samples keep their high byte, as Pillow's `;16B` raw modes do.
fn into_rgb8(image: DynamicImage) -> Result<RgbImage, ImageError> {
    let (width, height) = (image.width(), image.height());
    let high = |v: u16| (v >> 8) as u8;
    let samples = match &image {
        DynamicImage::ImageRgb8(_) => return Ok(image.into_rgb8()),
        DynamicImage::ImageLuma8(img) => flatten_to_rgb(img.as_raw(), 1, false, |v| v),
        DynamicImage::ImageLumaA8(img) => flatten_to_rgb(img.as_raw(), 2, true, |v| v),
        DynamicImage::ImageRgba8(img) => flatten_to_rgb(img.as_raw(), 4, true, |v| v),
        DynamicImage::ImageLuma16(img) => flatten_to_rgb(img.as_raw(), 1, false, high),
        DynamicImage::ImageLumaA16(img) => flatten_to_rgb(img.as_raw(), 2, true, high),
        DynamicImage::ImageRgb16(img) => flatten_to_rgb(img.as_raw(), 3, false, high),
        DynamicImage::ImageRgba16(img) => flatten_to_rgb(img.as_raw(), 4, true, high),
        // Float images: neither PNG nor JPEG decodes to them.
        _ => return Ok(image.into_rgb8()),
    };
    RgbImage::from_raw(width, height, samples)
        .ok_or_else(|| ImageError::Decode("decoded buffer does not match the image size".into()))
}

/// Packed RGB8 from interleaved samples with `channels` per pixel (gray, gray+alpha, RGB or
/// RGBA); alpha, when present, is composited onto white.
fn flatten_to_rgb<T: Copy>(
    samples: &[T],
    channels: usize,
    has_alpha: bool,
    to_u8: impl Fn(T) -> u8,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() / channels * 3);
    for px in samples.chunks_exact(channels) {
        let rgb = if channels < 3 {
            [to_u8(px[0]); 3]
        } else {
            [to_u8(px[0]), to_u8(px[1]), to_u8(px[2])]
        };
        if has_alpha {
            let alpha = to_u8(px[channels - 1]);
            out.extend(rgb.map(|c| over_white(c, alpha)));
        } else {
            out.extend(rgb);
        }
    }
    out
}

/// One channel of Pillow's `alpha_composite(white, pixel)`. With an opaque white background its
/// 7-bit fixed-point weights are exactly `alpha × 128` and `(255 − alpha) × 128`; the division by
/// 255 is Pillow's rounded shift approximation.
fn over_white(c: u8, alpha: u8) -> u8 {
    if alpha == 0 {
        return 255;
    }
    let (c, a) = (u32::from(c), u32::from(alpha));
    let t = 128 * (c * a + 255 * (255 - a)) + (0x80 << 7);
    ((((t >> 8) + t) >> 8) >> 7) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_structure_walk() {
        // SOI, APP0 (len 4), SOS (len 3), scan with stuffing and a restart marker, EOI.
        let complete = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 1, 2, 0xFF, 0xDA, 0, 3, 9, 1, 0xFF, 0, 2, 0xFF, 0xD0, 3,
            0xFF, 0xD9,
        ];
        assert!(check_jpeg_complete(&complete).is_ok());
        for cut in 3..complete.len() - 1 {
            assert!(
                check_jpeg_complete(&complete[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        // An EOI inside a segment (e.g. an EXIF thumbnail) does not count.
        let hidden_eoi = [
            0xFF, 0xD8, 0xFF, 0xE1, 0, 4, 0xFF, 0xD9, 0xFF, 0xDA, 0, 2, 1, 2,
        ];
        assert!(check_jpeg_complete(&hidden_eoi).is_err());
    }
}
