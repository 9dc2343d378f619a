//! The loops, compiled twice: for AVX2 + FMA (chosen when the CPU has them) and for the
//! baseline target.

const LANES: usize = 8;

/// Whether the AVX2 + FMA versions may run (the answer is cached by the standard library).
#[cfg(target_arch = "x86_64")]
fn avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

pub fn softmax_row(src: &[f32], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2_fma() {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { softmax_row_avx2(src, dst) };
    }
    softmax_row_portable(src, dst)
}

pub fn gelu_erf(src: &[f32], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2_fma() {
        // SAFETY: as above.
        return unsafe { gelu_erf_avx2(src, dst) };
    }
    gelu_erf_portable(src, dst)
}

/// One head: `out` [queries, d] = softmax(`q` `k`ᵀ · scale) `v`, with `k`, `v` [keys, d].
pub fn attend(q: &[f32], k: &[f32], v: &[f32], d: usize, scale: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2_fma() {
        // SAFETY: as above.
        return unsafe { attend_avx2(q, k, v, d, scale, out) };
    }
    attend_portable(q, k, v, d, scale, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attend_avx2(q: &[f32], k: &[f32], v: &[f32], d: usize, scale: f32, out: &mut [f32]) {
    attend_portable(q, k, v, d, scale, out)
}

#[inline(always)]
fn attend_portable(q: &[f32], k: &[f32], v: &[f32], d: usize, scale: f32, out: &mut [f32]) {
    let keys = k.len() / d;
    let mut scores = vec![0f32; keys];
    let mut probs = vec![0f32; keys];
    for (q_row, out_row) in q.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        for (score, k_row) in scores.iter_mut().zip(k.chunks_exact(d)) {
            *score = dot(q_row, k_row) * scale;
        }
        softmax_row_portable(&scores, &mut probs);
        weighted_sum_of_rows(&probs, v, out_row);
    }
}

/// `out` = Σ_j `weights[j]` · row j of `rows` (rows as long as `out`).
#[inline(always)]
fn weighted_sum_of_rows(weights: &[f32], rows: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    for (&w, row) in weights.iter().zip(rows.chunks_exact(out.len())) {
        for (o, &x) in out.iter_mut().zip(row) {
            *o += w * x;
        }
    }
}

/// One head: `out` [queries, d] = softmax(`q` `kt` · scale) `v`, with `kt` [d, keys] and
/// `v` [keys, d].
pub fn attend_transposed(q: &[f32], kt: &[f32], v: &[f32], d: usize, scale: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; the lengths are checked inside.
        return unsafe { avx512::attend_transposed(q, kt, v, d, scale, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if avx2_fma() {
        // SAFETY: as above.
        return unsafe { avx2::attend_transposed(q, kt, v, d, scale, out) };
    }
    attend_transposed_portable(q, kt, v, d, scale, out)
}

/// `attend_transposed` with AVX2 intrinsics, tiles of queries sharing each load.
#[cfg(target_arch = "x86_64")]
mod avx2;

#[inline(always)]
pub(super) fn attend_transposed_portable(
    q: &[f32],
    kt: &[f32],
    v: &[f32],
    d: usize,
    scale: f32,
    out: &mut [f32],
) {
    let keys = kt.len() / d;
    let mut scores = vec![0f32; keys];
    let mut probs = vec![0f32; keys];
    for (q_row, out_row) in q.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        scores.fill(0.0);
        for (&x, kt_row) in q_row.iter().zip(kt.chunks_exact(keys)) {
            let x = x * scale;
            for (s, &k) in scores.iter_mut().zip(kt_row) {
                *s += x * k;
            }
        }
        softmax_row_portable(&scores, &mut probs);
        weighted_sum_of_rows(&probs, v, out_row);
    }
}

/// `out` [m, rows of `w`] = the dot product of each of the `m` rows of `x` [m, k] with each
/// row of `w`.
pub fn few_rows_block(x: &[f32], m: usize, k: usize, w: &[f32], out: &mut [f32]) {
    assert!(x.len() == m * k && w.len().is_multiple_of(k) && out.len() == w.len() / k * m);
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F, and the slices have the lengths asserted above.
        return unsafe { avx512::few_rows_block(x, m, k, w, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if avx2_fma() {
        // SAFETY: as above.
        return unsafe { few_rows_block_avx2(x, k, w, out) };
    }
    few_rows_block_portable(x, k, w, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn few_rows_block_avx2(x: &[f32], k: usize, w: &[f32], out: &mut [f32]) {
    few_rows_block_portable(x, k, w, out)
}

/// The decoding kernels with AVX-512 intrinsics (16 lanes, masked loads for the tails). No
/// closures inside: they would not inherit the target feature and stop being inlined.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    const LANES: usize = 16;
    const W_ROWS: usize = 4;
    const X_ROWS: usize = 4;
    /// How far ahead (in floats, 1 KiB) the weight rows are prefetched: the hardware
    /// prefetcher alone left the loads waiting once a tile had more than one input row.
    const PREFETCH: usize = 256;

    /// Register tiles of `W_ROWS` weight rows × up to `X_ROWS` input rows: each weight
    /// vector loaded feeds `X_ROWS` multiply-adds and each input vector `W_ROWS`, so the
    /// loop is bound by arithmetic rather than by loads (a plain dot product needs two loads
    /// per multiply-add), and the weight is still read from memory once. 4 × 4 keeps all
    /// accumulators in registers; 4 × 6 spilled them.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `x` is [m, k], `w` [rows, k] and `out` [m, rows].
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn few_rows_block(x: &[f32], m: usize, k: usize, w: &[f32], out: &mut [f32]) {
        let rows = w.len() / k;
        let mut r = 0;
        while r < rows {
            let tile_rows = (rows - r).min(W_ROWS);
            let mut i = 0;
            while i < m {
                let tile_x = (m - i).min(X_ROWS);
                // SAFETY: rows r..r + tile_rows of `w` and i..i + tile_x of `x` exist.
                unsafe {
                    match (tile_rows, tile_x) {
                        (W_ROWS, 4) => tile::<W_ROWS, 4>(x, k, w, out, r, i),
                        (W_ROWS, 3) => tile::<W_ROWS, 3>(x, k, w, out, r, i),
                        (W_ROWS, 2) => tile::<W_ROWS, 2>(x, k, w, out, r, i),
                        (W_ROWS, _) => tile::<W_ROWS, 1>(x, k, w, out, r, i),
                        (_, _) => tile::<1, 1>(x, k, w, out, r, i),
                    }
                }
                // A partial weight tile goes one weight row at a time, every input row.
                i += if tile_rows == W_ROWS { tile_x } else { 1 };
            }
            r += if tile_rows == W_ROWS { W_ROWS } else { 1 };
        }
    }

    /// Lanes `0..n` of a vector (all of them from 16 up).
    #[inline(always)]
    fn lanes(n: usize) -> __mmask16 {
        if n >= LANES {
            u16::MAX
        } else {
            (1u16 << n) - 1
        }
    }

    /// Queries handled together: each key and value vector loaded serves all of them.
    const QUERY_TILE: usize = 4;
    /// Keys (scores) or head dimensions (outputs) per query held in registers: 4 vectors.
    const SPAN: usize = 4 * LANES;

    /// See `simd::attend_transposed`.
    ///
    /// # Safety
    /// The CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn attend_transposed(
        q: &[f32],
        kt: &[f32],
        v: &[f32],
        d: usize,
        scale: f32,
        out: &mut [f32],
    ) {
        let (queries, keys) = (q.len() / d, kt.len() / d);
        assert!(q.len() == queries * d && v.len() == keys * d && out.len() == q.len());
        let mut scores = vec![0f32; QUERY_TILE * keys];
        let mut probs = vec![0f32; QUERY_TILE * keys];
        let mut first = 0;
        while first < queries {
            let n = (queries - first).min(QUERY_TILE);
            let (q, out) = (&q[first * d..(first + n) * d], &mut out[first * d..]);
            // SAFETY: `q` holds n queries of d values, `kt` d rows of keys, `scores` n rows.
            unsafe {
                match n {
                    4 => row_combinations::<4>(q, d, scale, kt, keys, &mut scores, keys),
                    3 => row_combinations::<3>(q, d, scale, kt, keys, &mut scores, keys),
                    2 => row_combinations::<2>(q, d, scale, kt, keys, &mut scores, keys),
                    _ => row_combinations::<1>(q, d, scale, kt, keys, &mut scores, keys),
                }
            }
            for (src, dst) in scores
                .chunks_exact(keys)
                .zip(probs.chunks_exact_mut(keys))
                .take(n)
            {
                super::softmax_row_portable(src, dst);
            }
            // SAFETY: `probs` holds n rows of keys, `v` keys rows of d, `out` n rows of d.
            unsafe {
                match n {
                    4 => row_combinations::<4>(&probs, keys, 1.0, v, d, out, d),
                    3 => row_combinations::<3>(&probs, keys, 1.0, v, d, out, d),
                    2 => row_combinations::<2>(&probs, keys, 1.0, v, d, out, d),
                    _ => row_combinations::<1>(&probs, keys, 1.0, v, d, out, d),
                }
            }
            first += n;
        }
    }

    /// `out[a]` = scale · Σ_j `coef[a][j]` · `rows[j]` for `a < N`, where `coef` has `depth`
    /// values per row and `rows` holds `depth` rows of `width`: `SPAN` columns at a time in
    /// registers, each row loaded once for all N outputs, the coefficient broadcast.
    /// Scores are queries × transposed keys; outputs are probabilities × values.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `coef` holds N rows of `depth`, `rows` `depth` rows of
    /// `width`, and `out` N rows of `out_stride` ≥ `width`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn row_combinations<const N: usize>(
        coef: &[f32],
        depth: usize,
        scale: f32,
        rows: &[f32],
        width: usize,
        out: &mut [f32],
        out_stride: usize,
    ) {
        let (coef, rows, out) = (coef.as_ptr(), rows.as_ptr(), out.as_mut_ptr());
        let mut start = 0;
        while start < width {
            let mut masks = [0; 4];
            for (u, mask) in masks.iter_mut().enumerate() {
                *mask = lanes((width - start).saturating_sub(u * LANES));
            }
            let mut acc = [[_mm512_setzero_ps(); 4]; N];
            let mut row_vec = [_mm512_setzero_ps(); 4];
            for j in 0..depth {
                let row = rows.wrapping_add(j * width + start);
                for (u, row_vec) in row_vec.iter_mut().enumerate() {
                    *row_vec = _mm512_maskz_loadu_ps(masks[u], row.wrapping_add(u * LANES));
                }
                for (a, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*coef.add(a * depth + j) * scale);
                    for (acc, &row_vec) in acc.iter_mut().zip(&row_vec) {
                        *acc = _mm512_fmadd_ps(x, row_vec, *acc);
                    }
                }
            }
            for (a, acc) in acc.iter().enumerate() {
                for (u, &acc) in acc.iter().enumerate() {
                    let dst = out.wrapping_add(a * out_stride + start + u * LANES);
                    _mm512_mask_storeu_ps(dst, masks[u], acc);
                }
            }
            start += SPAN;
        }
    }

    /// `out[i + b][r + a] = x[i + b] · w[r + a]` for `a < R`, `b < M`.
    #[inline(always)]
    unsafe fn tile<const R: usize, const M: usize>(
        x: &[f32],
        k: usize,
        w: &[f32],
        out: &mut [f32],
        r: usize,
        i: usize,
    ) {
        let rows = w.len() / k;
        let (w, x) = (w.as_ptr().add(r * k), x.as_ptr().add(i * k));
        // acc[b][a]: input row i + b times weight row r + a.
        let mut acc = [[_mm512_setzero_ps(); R]; M];
        let mut w_vec = [_mm512_setzero_ps(); R];
        let mut c = 0;
        while c < k {
            // The last chunk of a row may be partial: masked loads read only what exists.
            let mask = lanes(k - c);
            for (a, w_vec) in w_vec.iter_mut().enumerate() {
                _mm_prefetch::<_MM_HINT_T0>(w.wrapping_add(a * k + c + PREFETCH).cast());
                *w_vec = _mm512_maskz_loadu_ps(mask, w.add(a * k + c));
            }
            for (b, acc) in acc.iter_mut().enumerate() {
                let x_vec = _mm512_maskz_loadu_ps(mask, x.add(b * k + c));
                for (acc, &w_vec) in acc.iter_mut().zip(&w_vec) {
                    *acc = _mm512_fmadd_ps(w_vec, x_vec, *acc);
                }
            }
            c += LANES;
        }
        for (b, row) in acc.iter().enumerate() {
            for (a, &sum) in row.iter().enumerate() {
                *out.get_unchecked_mut((i + b) * rows + r + a) = _mm512_reduce_add_ps(sum);
            }
        }
    }
}

#[inline(always)]
pub(super) fn few_rows_block_portable(x: &[f32], k: usize, w: &[f32], out: &mut [f32]) {
    let rows = w.len() / k;
    for (r, w_row) in w.chunks_exact(k).enumerate() {
        for (i, x_row) in x.chunks_exact(k).enumerate() {
            out[i * rows + r] = dot(w_row, x_row);
        }
    }
}

/// 32 independent partial sums (four AVX2 registers) hide the add latency.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const WIDE: usize = 4 * LANES;
    let mut partial = [0f32; WIDE];
    let (a_chunks, b_chunks) = (a.chunks_exact(WIDE), b.chunks_exact(WIDE));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for ((p, &x), &y) in partial.iter_mut().zip(ca).zip(cb) {
            *p += x * y;
        }
    }
    partial.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_row_avx2(src: &[f32], dst: &mut [f32]) {
    softmax_row_portable(src, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_erf_avx2(src: &[f32], dst: &mut [f32]) {
    gelu_erf_portable(src, dst)
}

#[inline(always)]
fn softmax_row_portable(src: &[f32], dst: &mut [f32]) {
    // Lane-wise partial maxima and sums, so the reductions vectorise (float reductions in
    // one accumulator keep their order and stay scalar).
    let mut maxima = [f32::NEG_INFINITY; LANES];
    let chunks = src.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (m, &x) in maxima.iter_mut().zip(chunk) {
            *m = if x > *m { x } else { *m };
        }
    }
    let max = tail
        .iter()
        .chain(&maxima)
        .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    if max == f32::NEG_INFINITY {
        // Every position masked: candle gives NaN here too (0/0); keep the same meaning.
        dst.fill(f32::NAN);
        return;
    }
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = exp(x - max);
    }
    let mut sums = [0f32; LANES];
    let chunks = dst.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (s, &x) in sums.iter_mut().zip(chunk) {
            *s += x;
        }
    }
    let inv = 1.0 / (sums.iter().sum::<f32>() + tail);
    for d in dst.iter_mut() {
        *d *= inv;
    }
}

#[inline(always)]
fn gelu_erf_portable(src: &[f32], dst: &mut [f32]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// `e^x` as `2^n · e^r` with `|r| ≤ ln 2 / 2` and Cephes' degree-6 polynomial for `e^r`;
/// 0 below the smallest normal result.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let clamped = x.clamp(-87.0, 88.0);
    let n = (clamped * std::f32::consts::LOG2_E + 0.5).floor();
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, clamped));
    let mut p = 1.987_569_1e-4_f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let e_r = (p * r).mul_add(r, r) + 1.0;
    let two_n = f32::from_bits(((n as i32 + 127) << 23) as u32);
    if x < -87.0 {
        0.0
    } else {
        e_r * two_n
    }
}

/// Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7.
#[inline(always)]
pub(super) fn erf(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / 0.327_591_1f32.mul_add(z, 1.0);
    let mut p = 1.061_405_4_f32;
    p = p.mul_add(t, -1.453_152_1);
    p = p.mul_add(t, 1.421_413_8);
    p = p.mul_add(t, -0.284_496_74);
    p = p.mul_add(t, 0.254_829_6);
    let y = 1.0 - p * t * exp(-z * z);
    y.copysign(x)
}
