//! Pillow-exact bicubic resampling. The reference captions (and the parity fixtures) come from
//! `transformers`, which resizes with Pillow; any other bicubic flavour shifts pixel values and
//! therefore captions, so [`resize_bicubic`] reproduces `Image.resize(size, BICUBIC)` bit for bit.

use image::RgbImage;

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
