//! Untrusted image bytes in, model input out: decoding with limits, EXIF orientation, and the
//! preprocessing of Hugging Face's PIL-based BLIP image processor (`BlipImageProcessor` in
//! transformers 4, `BlipImageProcessorPil` in 5).
//!
//! The resize reproduces Pillow's `Image.resize(size, BICUBIC)` bit for bit, because the
//! reference captions (and the parity fixtures) come from `transformers`, which resizes with
//! Pillow; any other bicubic flavour shifts pixel values and therefore captions.

use std::io::Cursor;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use serde::Deserialize;

use crate::error::{ImageError, ModelError};

pub mod budget;
mod header;
pub mod hostile;

use header::check_jpeg_complete;
pub use header::{read_header, IccProfile, ImageHeader, MAX_ICC_PROFILE_BYTES};

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
    fn check(&self, width: u32, height: u32) -> Result<(), ImageError> {
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

    fn too_large(&self, width: u32, height: u32) -> ImageError {
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
    fn image_crate_limits(&self) -> image::Limits {
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
/// share a [`budget::MemoryBudget`] read it first to reserve [`ImageHeader::memory_needed`].
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

// ---------------------------------------------------------------------------------------------
// Pillow-exact bicubic resampling
// ---------------------------------------------------------------------------------------------

/// Fixed-point precision of the 8-bit coefficients: 8 bits for the pixel value and 2 spare bits
/// for the filter's negative lobes and overshoot, so a 32-bit accumulator never overflows.
const PRECISION_BITS: u32 = 32 - 8 - 2;
const HALF: i32 = 1 << (PRECISION_BITS - 1);
const BICUBIC_SUPPORT: f64 = 2.0;

/// Keys' cubic convolution kernel with a = -0.5 (Pillow's BICUBIC).
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output position along one axis: the first input index, how many inputs contribute,
/// and their fixed-point weights (`ksize` slots per output, unused ones zero).
struct Coefficients {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

impl Coefficients {
    /// Pillow's coefficient computation for resizing `in_size` samples to `out_size`: when
    /// shrinking, the kernel is stretched by the scale (antialiasing); each output's weights are
    /// normalised to sum to 1 in f64, then rounded half away from zero to fixed point.
    fn new(in_size: u32, out_size: u32) -> Self {
        // Pillow computes the box width in f32 and the rest in f64.
        let scale = f64::from(in_size as f32) / f64::from(out_size);
        let filter_scale = scale.max(1.0);
        let support = BICUBIC_SUPPORT * filter_scale;
        let ksize = support.ceil() as usize * 2 + 1;
        let inv_filter_scale = 1.0 / filter_scale;
        let in_size = i64::from(in_size);

        let out_len = out_size as usize;
        let mut bounds = Vec::with_capacity(out_len);
        let mut weights = vec![0i32; out_len * ksize];
        let mut row = vec![0f64; ksize];
        for (xx, out_weights) in weights.chunks_exact_mut(ksize).enumerate() {
            let center = (xx as f64 + 0.5) * scale;
            // `as i64` truncates toward zero, like Pillow's `(int)` rounding trick.
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(in_size);
            let len = (xmax - xmin).max(0) as usize;
            let mut total = 0.0;
            for (x, w) in row[..len].iter_mut().enumerate() {
                *w = bicubic(((x as i64 + xmin) as f64 - center + 0.5) * inv_filter_scale);
                total += *w;
            }
            for (w, out) in row[..len].iter().zip(out_weights.iter_mut()) {
                let w = if total != 0.0 { w / total } else { *w };
                let fixed = w * f64::from(1u32 << PRECISION_BITS);
                *out = if w < 0.0 {
                    (fixed - 0.5) as i32
                } else {
                    (fixed + 0.5) as i32
                };
            }
            bounds.push((xmin as usize, len));
        }
        Self {
            ksize,
            bounds,
            weights,
        }
    }

    fn taps(&self, index: usize) -> (usize, &[i32]) {
        let (start, len) = self.bounds[index];
        (
            start,
            &self.weights[index * self.ksize..index * self.ksize + len],
        )
    }
}

/// Rounds a fixed-point accumulator back to a byte, clamping to 0..=255.
#[inline(always)]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes like Pillow's `Image.resize((width, height), Image.BICUBIC)` on an RGB image, byte
/// for byte. Two separable passes with an 8-bit clip in between, so their order matters; it is
/// Pillow 13's: vertical first when the height shrinks by more than twice as many pixels as the
/// width (Pillow before 13 always went horizontal first, which differs only for such images),
/// otherwise horizontal first over just the source rows the vertical pass reads. An axis whose
/// size does not change is not filtered at all.
pub fn resize_bicubic(src: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (src_w, src_h) = src.dimensions();
    let need_horizontal = width != src_w;
    let need_vertical = height != src_h;
    let shrink_h = i64::from(src_h) - i64::from(height);
    let shrink_w = i64::from(src_w) - i64::from(width);
    let vertical_first = shrink_h > 0 && shrink_h > shrink_w * 2;

    let out = if vertical_first {
        let vertical = Coefficients::new(src_h, height);
        let rows = resample_columns(src.as_raw(), src_w, 0, &vertical);
        if need_horizontal {
            resample_rows(&rows, src_w, 0..height as usize, width)
        } else {
            rows
        }
    } else if need_vertical {
        let vertical = Coefficients::new(src_h, height);
        if need_horizontal {
            // Source rows the vertical pass reads: the first output's first tap to the last
            // output's last tap.
            let first = vertical.bounds.first().map_or(0, |b| b.0);
            let last = vertical.bounds.last().map_or(0, |b| b.0 + b.1);
            let rows = resample_rows(src.as_raw(), src_w, first..last, width);
            resample_columns(&rows, width, first, &vertical)
        } else {
            resample_columns(src.as_raw(), src_w, 0, &vertical)
        }
    } else if need_horizontal {
        resample_rows(src.as_raw(), src_w, 0..src_h as usize, width)
    } else {
        src.as_raw().clone()
    };
    // Both passes size their output from `width` and `height`, so this cannot fail.
    RgbImage::from_raw(width, height, out).unwrap_or_else(|| RgbImage::new(width, height))
}

/// Horizontal pass: `rows` of the packed RGB image `src` (`src_w` wide), each to `out_w` pixels.
fn resample_rows(src: &[u8], src_w: u32, rows: std::ops::Range<usize>, out_w: u32) -> Vec<u8> {
    let coeffs = Coefficients::new(src_w, out_w);
    let src_stride = src_w as usize * 3;
    let out_stride = out_w as usize * 3;
    let mut out = vec![0u8; out_stride * rows.len()];
    let src_rows = src[rows.start * src_stride..rows.end * src_stride].chunks_exact(src_stride);
    for (src_row, out_row) in src_rows.zip(out.chunks_exact_mut(out_stride)) {
        for (xx, out_px) in out_row.chunks_exact_mut(3).enumerate() {
            let (start, k) = coeffs.taps(xx);
            let pixels = &src_row[start * 3..(start + k.len()) * 3];
            let (mut r, mut g, mut b) = (HALF, HALF, HALF);
            for (px, &w) in pixels.chunks_exact(3).zip(k) {
                r += i32::from(px[0]) * w;
                g += i32::from(px[1]) * w;
                b += i32::from(px[2]) * w;
            }
            out_px.copy_from_slice(&[clip8(r), clip8(g), clip8(b)]);
        }
    }
    out
}

/// Vertical pass over a packed RGB image `width` wide whose first row is source row
/// `row_offset`. Each output row is a weighted sum of whole input rows, accumulated over the
/// contiguous row so the inner loop vectorises.
fn resample_columns(rows: &[u8], width: u32, row_offset: usize, coeffs: &Coefficients) -> Vec<u8> {
    let stride = width as usize * 3;
    let mut out = vec![0u8; stride * coeffs.bounds.len()];
    let mut acc = vec![0i32; stride];
    for (yy, out_row) in out.chunks_exact_mut(stride).enumerate() {
        let (start, k) = coeffs.taps(yy);
        acc.fill(HALF);
        for (y, &w) in k.iter().enumerate() {
            let row_start = (start + y - row_offset) * stride;
            for (a, &v) in acc.iter_mut().zip(&rows[row_start..row_start + stride]) {
                *a += i32::from(v) * w;
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = clip8(a);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// BlipImageProcessor
// ---------------------------------------------------------------------------------------------

/// CLIP's normalisation constants, which BLIP reuses. Written as `transformers` publishes them;
/// the compiler rounds them to f32 exactly as `np.array(..., dtype=np.float32)` does.
#[allow(clippy::excessive_precision)]
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// The slow (PIL) `BlipImageProcessor`: bicubic resize to a fixed size, rescale, normalise.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageProcessor {
    pub height: u32,
    pub width: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// f64 because `transformers` multiplies in f64 and only then casts to f32; keeping the
    /// exact factor makes the outputs identical, not just close.
    pub rescale_factor: f64,
}

impl ImageProcessor {
    /// BLIP's published preprocessing at `image_size` × `image_size` (384 for the captioning
    /// checkpoints).
    pub fn blip(image_size: u32) -> Self {
        Self {
            height: image_size,
            width: image_size,
            mean: CLIP_MEAN,
            std: CLIP_STD,
            rescale_factor: 1.0 / 255.0,
        }
    }

    /// Reads a Hugging Face `preprocessor_config.json`. Missing keys take BLIP's defaults;
    /// anything this processor cannot reproduce (another resampling filter, no resizing) is a
    /// [`ModelError::Config`] rather than a silently different preprocessing.
    pub fn from_preprocessor_config(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|message| ModelError::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    fn from_json(text: &str) -> Result<Self, String> {
        let raw: RawPreprocessorConfig =
            serde_json::from_str(text).map_err(|err| err.to_string())?;
        if let Some(resample) = raw.resample {
            if resample != PIL_BICUBIC {
                return Err(format!(
                    "resample = {resample} is not supported; only 3 (bicubic) is implemented"
                ));
            }
        }
        if raw.do_resize == Some(false) {
            return Err(
                "do_resize = false is not supported: the model needs a fixed input size".into(),
            );
        }
        let mut processor = Self::blip(BLIP_DEFAULT_SIZE);
        if let Some(size) = &raw.size {
            (processor.height, processor.width) = parse_size(size)?;
        }
        if let Some(mean) = raw.image_mean {
            processor.mean = mean.channels("image_mean")?;
        }
        if let Some(std) = raw.image_std {
            processor.std = std.channels("image_std")?;
        }
        if processor.std.contains(&0.0) {
            return Err("image_std contains 0".into());
        }
        if let Some(factor) = raw.rescale_factor {
            processor.rescale_factor = factor;
        }
        if raw.do_rescale == Some(false) {
            processor.rescale_factor = 1.0;
        }
        if raw.do_normalize == Some(false) {
            processor.mean = [0.0; 3];
            processor.std = [1.0; 3];
        }
        Ok(processor)
    }

    /// The image resized to the model's input size (Pillow-exact bicubic).
    pub fn resize(&self, image: &RgbImage) -> RgbImage {
        resize_bicubic(image, self.width, self.height)
    }

    /// Channel-first `[3, height, width]` model input, resizing first if the image is not
    /// already at the input size. Values are `((v * rescale) - mean) / std`, computed with the
    /// same roundings as `transformers` (product in f64, then f32).
    pub fn pixel_values(&self, image: &RgbImage) -> Vec<f32> {
        let mut out = vec![0f32; self.values_per_image()];
        self.write_pixel_values(image, &mut out);
        out
    }

    /// A `[N, 3, height, width]` tensor of `images` on `device` in `dtype`.
    pub fn batch(
        &self,
        images: &[RgbImage],
        device: &Device,
        dtype: DType,
    ) -> Result<Tensor, ModelError> {
        let per_image = self.values_per_image();
        let mut data = vec![0f32; per_image * images.len()];
        for (image, out) in images.iter().zip(data.chunks_exact_mut(per_image)) {
            self.write_pixel_values(image, out);
        }
        let shape = (images.len(), 3, self.height as usize, self.width as usize);
        Ok(Tensor::from_vec(data, shape, device)?.to_dtype(dtype)?)
    }

    fn values_per_image(&self) -> usize {
        3 * self.height as usize * self.width as usize
    }

    fn write_pixel_values(&self, image: &RgbImage, out: &mut [f32]) {
        let resized;
        let image = if image.dimensions() == (self.width, self.height) {
            image
        } else {
            resized = self.resize(image);
            &resized
        };
        // 256 possible inputs per channel: a lookup table is exact and cheaper than the math.
        let table: [[f32; 256]; 3] = std::array::from_fn(|c| {
            std::array::from_fn(|v| {
                let scaled = (v as f64 * self.rescale_factor) as f32;
                (scaled - self.mean[c]) / self.std[c]
            })
        });
        let plane = self.height as usize * self.width as usize;
        let (red, rest) = out.split_at_mut(plane);
        let (green, blue) = rest.split_at_mut(plane);
        for (i, px) in image.as_raw().chunks_exact(3).enumerate() {
            red[i] = table[0][usize::from(px[0])];
            green[i] = table[1][usize::from(px[1])];
            blue[i] = table[2][usize::from(px[2])];
        }
    }
}

/// `PIL.Image.BICUBIC`.
const PIL_BICUBIC: i64 = 3;
const BLIP_DEFAULT_SIZE: u32 = 384;

#[derive(Deserialize)]
struct RawPreprocessorConfig {
    size: Option<serde_json::Value>,
    image_mean: Option<PerChannel>,
    image_std: Option<PerChannel>,
    rescale_factor: Option<f64>,
    resample: Option<i64>,
    do_resize: Option<bool>,
    do_rescale: Option<bool>,
    do_normalize: Option<bool>,
}

/// `image_mean` / `image_std`: one value for all channels or one per channel.
#[derive(Deserialize)]
#[serde(untagged)]
enum PerChannel {
    One(f64),
    Each(Vec<f64>),
}

impl PerChannel {
    /// f32 like `transformers`, which builds `np.array(mean, dtype=np.float32)`.
    fn channels(self, key: &str) -> Result<[f32; 3], String> {
        match self {
            Self::One(v) => Ok([v as f32; 3]),
            Self::Each(values) => match values.as_slice() {
                [r, g, b] => Ok([*r as f32, *g as f32, *b as f32]),
                other => Err(format!("{key} must have 3 values, found {}", other.len())),
            },
        }
    }
}

/// `size` as `{"height", "width"}`, the legacy integer, or `{"shortest_edge"}` (a square: BLIP
/// always feeds the model a square image).
fn parse_size(size: &serde_json::Value) -> Result<(u32, u32), String> {
    let side = |v: Option<&serde_json::Value>, key: &str| -> Result<u32, String> {
        v.and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=16384).contains(n))
            .ok_or_else(|| format!("size.{key} must be an integer between 1 and 16384"))
    };
    match size {
        serde_json::Value::Number(_) => side(Some(size), "size").map(|s| (s, s)),
        serde_json::Value::Object(map) if map.contains_key("height") => {
            Ok((side(map.get("height"), "height")?, side(map.get("width"), "width")?))
        }
        serde_json::Value::Object(map) if map.contains_key("shortest_edge") => {
            side(map.get("shortest_edge"), "shortest_edge").map(|s| (s, s))
        }
        other => Err(format!(
            "size must be {{\"height\", \"width\"}}, {{\"shortest_edge\"}} or an integer, got {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocessor_config_variants() {
        let base = r#"{"do_normalize": true, "do_resize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_processor_type": "BlipImageProcessor", "image_std": [0.26862954, 0.26130258, 0.27577711],
            "processor_class": "BlipProcessor", "resample": 3, "rescale_factor": 0.00392156862745098,
            "size": {"height": 384, "width": 384}}"#;
        assert_eq!(
            ImageProcessor::from_json(base).unwrap(),
            ImageProcessor::blip(384)
        );
        let p = ImageProcessor::from_json(r#"{"size": {"shortest_edge": 224}}"#).unwrap();
        assert_eq!((p.height, p.width), (224, 224));
        let p = ImageProcessor::from_json(r#"{"size": 480, "image_mean": 0.5}"#).unwrap();
        assert_eq!((p.height, p.width, p.mean), (480, 480, [0.5; 3]));
        assert!(ImageProcessor::from_json(r#"{"resample": 2}"#)
            .unwrap_err()
            .contains("bicubic"));
        assert!(ImageProcessor::from_json(r#"{"size": {"width": 3}}"#).is_err());
        assert!(ImageProcessor::from_json(r#"{"image_std": [1, 2]}"#).is_err());
        assert!(ImageProcessor::from_json(r#"{"do_resize": false}"#).is_err());
    }

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
