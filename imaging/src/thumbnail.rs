//! Thumbnails of uploads: the size rule (longest side, aspect ratio kept, never enlarged) and the
//! JPEG encoding, with Pillow's `thumbnail(reducing_gap=2)` shortcut for large photos.

use image::codecs::jpeg::JpegEncoder;
use image::RgbImage;

use crate::{resize_bicubic, ImageError};

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

/// The upright JPEG thumbnail of `image`: longest side `side` (see [`thumbnail_size`]), Pillow's
/// bicubic filter after a box reduction for large images, encoded at `quality`.
pub fn thumbnail_jpeg(image: &RgbImage, side: u32, quality: u8) -> Result<Vec<u8>, ImageError> {
    let (w, h) = thumbnail_size(image.width(), image.height(), side);
    let small = if (w, h) == image.dimensions() {
        image.clone()
    } else {
        // Like Pillow's `thumbnail(reducing_gap=2)`: average whole blocks down to at least twice
        // the size first, so the bicubic filter never spans dozens of source pixels (a 12 MP
        // photo: 53 taps per output pixel without this, 4 times slower).
        let factor = (image.width() / w).min(image.height() / h) / 2;
        if factor >= 2 {
            resize_bicubic(&box_reduce(image, factor), w, h)
        } else {
            resize_bicubic(image, w, h)
        }
    };
    let mut out = Vec::with_capacity((w * h) as usize / 4);
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&small)
        .map_err(|e| ImageError::Decode(format!("cannot encode the thumbnail: {e}")))?;
    Ok(out)
}

/// Each `factor`×`factor` block averaged into one pixel; blocks cut by the right or bottom edge
/// average the pixels they have.
fn box_reduce(src: &RgbImage, factor: u32) -> RgbImage {
    let (src_w, src_h) = src.dimensions();
    let (w, h) = (src_w.div_ceil(factor), src_h.div_ceil(factor));
    let (k, stride) = (factor as usize, src_w as usize * 3);
    let mut out = Vec::with_capacity(w as usize * h as usize * 3);
    let mut column_sums = vec![0u32; stride];
    for block_rows in src.as_raw().chunks(stride * k) {
        column_sums.fill(0);
        for row in block_rows.chunks_exact(stride) {
            for (sum, &v) in column_sums.iter_mut().zip(row) {
                *sum += u32::from(v);
            }
        }
        let rows = (block_rows.len() / stride) as u32;
        for block in column_sums.chunks(3 * k) {
            let count = rows * (block.len() / 3) as u32;
            let mut totals = [0u32; 3];
            for pixel in block.chunks_exact(3) {
                totals[0] += pixel[0];
                totals[1] += pixel[1];
                totals[2] += pixel[2];
            }
            out.extend(totals.map(|total| ((total + count / 2) / count) as u8));
        }
    }
    // Sized from the same `w` and `h` the loops produce.
    RgbImage::from_raw(w, h, out).unwrap_or_else(|| RgbImage::new(w, h))
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

    #[test]
    fn box_reduce_averages_blocks_and_partial_edge_blocks() {
        // 5×3 with factor 2: blocks of 2×2, a 1-wide right column and a 1-high bottom row.
        let src = RgbImage::from_fn(5, 3, |x, y| {
            let v = (10 * x + 100 * y) as u8;
            image::Rgb([v, v / 2, 255 - v])
        });
        let out = box_reduce(&src, 2);
        assert_eq!(out.dimensions(), (3, 2));
        // Top-left block: 0, 10, 100, 110 -> 55.
        assert_eq!(out.get_pixel(0, 0).0, [55, 28, 200]);
        // Top-right: the 1×2 column x = 4: 40, 140 -> 90.
        assert_eq!(out.get_pixel(2, 0).0, [90, 45, 165]);
        // Bottom-right corner pixel alone: 240.
        assert_eq!(out.get_pixel(2, 1).0, [240, 120, 15]);
    }

    #[test]
    fn large_photos_are_thumbnailed_close_to_a_direct_bicubic_resize() {
        let src = RgbImage::from_fn(4000, 3000, |x, y| {
            image::Rgb([(x / 16) as u8, (y / 12) as u8, ((x + y) / 28) as u8])
        });
        let (w, h) = thumbnail_size(4000, 3000, 300);
        let direct = resize_bicubic(&src, w, h);
        let reduced = resize_bicubic(&box_reduce(&src, 6), w, h);
        let worst = direct
            .as_raw()
            .iter()
            .zip(reduced.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max();
        assert!(worst <= Some(2), "largest difference {worst:?}");
        let jpeg = thumbnail_jpeg(&src, 300, 85).unwrap();
        let decoded = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (300, 225));
    }
}
