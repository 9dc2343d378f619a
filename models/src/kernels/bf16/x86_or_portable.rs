//! The inner loops of the bf16 products, per [`Bf16Kernel`]. No closures inside the
//! `target_feature` functions: they would not inherit the features and stop being inlined.

use std::ops::Range;

use super::{bf16_bits_to_f32, Activations, Bf16Kernel, PAIRS_BLOCK, PANEL};

/// Adds to `sums` (rows `first..` of the product, one panel) the products over the input
/// pairs `pairs_slice` of that panel.
pub(super) fn panel_slice(
    kernel: Bf16Kernel,
    a: &Activations,
    pairs: usize,
    first: usize,
    pairs_slice: Range<usize>,
    panel: &[u16],
    sums: &mut [[f32; PANEL]],
) {
    let panel = &panel[pairs_slice.start * 2 * PANEL..pairs_slice.end * 2 * PANEL];
    let depth = pairs_slice.len();
    match (kernel, a) {
        #[cfg(target_arch = "x86_64")]
        (Bf16Kernel::Avx512Bf16, Activations::Bf16Pairs(a)) => {
            for (t, tile) in sums.chunks_mut(avx512::TILE_ROWS).enumerate() {
                let row = first + t * avx512::TILE_ROWS;
                let a = &a[row * pairs + pairs_slice.start..];
                // SAFETY: `detect` chose this kernel, so the CPU has the features; `a` holds
                // `tile.len()` rows of stride `pairs` from the slice's first pair on.
                unsafe { avx512::panel_tile(a, pairs, depth, panel, tile) }
            }
        }
        #[cfg(target_arch = "x86_64")]
        (Bf16Kernel::Avx2, Activations::F32(a)) => {
            let a = &a[2 * (first * pairs + pairs_slice.start)..];
            // SAFETY: as above; `a` holds `sums.len()` rows of stride 2·`pairs` floats.
            unsafe { avx2::panel_slice(a, pairs, depth, panel, sums) }
        }
        (_, Activations::F32(a)) => {
            let a = &a[2 * (first * pairs + pairs_slice.start)..];
            panel_tile_portable(a, pairs, depth, panel, sums)
        }
        (_, Activations::Bf16Pairs(_)) => unreachable!("bf16 pairs are made for AVX512-BF16"),
    }
}

/// `tile[r][c] += Σ_q a[r][q] · panel[q][c]` over `depth` pairs; rows of `a` are `pairs` pairs
/// (2·`pairs` floats) apart.
fn panel_tile_portable(
    a: &[f32],
    pairs: usize,
    depth: usize,
    panel: &[u16],
    tile: &mut [[f32; PANEL]],
) {
    for (r, tile_row) in tile.iter_mut().enumerate() {
        let a_row = &a[2 * r * pairs..2 * (r * pairs + depth)];
        for (a, b) in a_row.chunks_exact(2).zip(panel.chunks_exact(2 * PANEL)) {
            for (t, b) in tile_row.iter_mut().zip(b.chunks_exact(2)) {
                *t += a[0] * bf16_bits_to_f32(b[0]) + a[1] * bf16_bits_to_f32(b[1]);
            }
        }
    }
}

/// `out` [m, rows of `w`] = each of the `m` rows of `x` [m, k] dotted with each bf16 row of
/// `w`; `x_bits` is `x` rounded to bf16 when the kernel needs it.
pub(super) fn few_rows_block(
    kernel: Bf16Kernel,
    x: &[f32],
    x_bits: &[u16],
    m: usize,
    k: usize,
    w: &[u16],
    out: &mut [f32],
) {
    assert!(x.len() == m * k && w.len().is_multiple_of(k) && out.len() == w.len() / k * m);
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Bf16Kernel::Avx512Bf16 => {
            assert_eq!(x_bits.len(), x.len());
            // SAFETY: the CPU has the features (`detect`), the lengths are asserted above.
            unsafe { avx512::few_rows_block(x_bits, m, k, w, out) }
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Bf16Kernel::Avx2 => unsafe { avx2::few_rows_block(x, m, k, w, out) },
        _ => few_rows_block_portable(x, k, w, out),
    }
}

fn few_rows_block_portable(x: &[f32], k: usize, w: &[u16], out: &mut [f32]) {
    let rows = w.len() / k;
    for (r, w_row) in w.chunks_exact(k).enumerate() {
        for (i, x_row) in x.chunks_exact(k).enumerate() {
            out[i * rows + r] = x_row
                .iter()
                .zip(w_row)
                .map(|(&x, &w)| x * bf16_bits_to_f32(w))
                .sum();
        }
    }
}

/// bf16 widened to f32 (a 16-bit shift) and multiplied with AVX2 FMA.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{bf16_bits_to_f32, PAIRS_BLOCK, PANEL};

    /// 8 pairs → the 8 even-input values and the 8 odd-input values, as f32.
    #[inline(always)]
    unsafe fn widen_pairs(v: __m256i) -> (__m256, __m256) {
        let even = _mm256_castsi256_ps(_mm256_slli_epi32::<16>(v));
        let odd = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(-65_536)));
        (even, odd)
    }

    /// Rows per register tile: 6 rows × 2 vectors of accumulators, 2 weight vectors and a
    /// broadcast fill 15 of the 16 registers.
    const TILE_ROWS: usize = 6;

    /// `sums += a · panel` over `depth` ≤ `PAIRS_BLOCK` pairs: the panel slice is widened to
    /// f32 once (a shift per value, into 16 KiB that stay in L1), then every tile of rows
    /// runs plain f32 FMAs over it, so the widening costs nothing per row.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `a` holds `sums.len()` rows 2·`pairs` floats apart with
    /// `depth` pairs each, `panel` `depth` rows of 2·PANEL.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn panel_slice(
        a: &[f32],
        pairs: usize,
        depth: usize,
        panel: &[u16],
        sums: &mut [[f32; PANEL]],
    ) {
        // Row 2q holds the panel's even inputs of pair q, row 2q + 1 its odd ones.
        let mut wide = [[0f32; PANEL]; 2 * PAIRS_BLOCK];
        for q in 0..depth {
            for v in 0..PANEL / 8 {
                let bits = _mm256_loadu_si256(panel.as_ptr().add(q * 2 * PANEL + 16 * v).cast());
                let (even, odd) = widen_pairs(bits);
                _mm256_storeu_ps(wide[2 * q].as_mut_ptr().add(8 * v), even);
                _mm256_storeu_ps(wide[2 * q + 1].as_mut_ptr().add(8 * v), odd);
            }
        }
        let inputs = 2 * depth;
        let mut r = 0;
        while r < sums.len() {
            let n = (sums.len() - r).min(TILE_ROWS);
            for half in 0..2 {
                // SAFETY: rows r..r + n exist; `wide` has `inputs` rows.
                unsafe {
                    match n {
                        6 => tile::<6>(a, 2 * pairs, inputs, r, &wide, half, sums),
                        5 => tile::<5>(a, 2 * pairs, inputs, r, &wide, half, sums),
                        4 => tile::<4>(a, 2 * pairs, inputs, r, &wide, half, sums),
                        3 => tile::<3>(a, 2 * pairs, inputs, r, &wide, half, sums),
                        2 => tile::<2>(a, 2 * pairs, inputs, r, &wide, half, sums),
                        _ => tile::<1>(a, 2 * pairs, inputs, r, &wide, half, sums),
                    }
                }
            }
            r += n;
        }
    }

    /// `sums[r + i][16·half..][..16] += Σ_c a[r + i][c] · wide[c][16·half..][..16]`, `i < N`.
    #[inline(always)]
    unsafe fn tile<const N: usize>(
        a: &[f32],
        stride: usize,
        inputs: usize,
        r: usize,
        wide: &[[f32; PANEL]; 2 * PAIRS_BLOCK],
        half: usize,
        sums: &mut [[f32; PANEL]],
    ) {
        let col = half * PANEL / 2;
        let mut acc = [[_mm256_setzero_ps(); 2]; N];
        for (i, acc) in acc.iter_mut().enumerate() {
            let src = sums[r + i].as_ptr().add(col);
            acc[0] = _mm256_loadu_ps(src);
            acc[1] = _mm256_loadu_ps(src.add(8));
        }
        let a = a.as_ptr().add(r * stride);
        for (c, w) in wide.iter().take(inputs).enumerate() {
            let w0 = _mm256_loadu_ps(w.as_ptr().add(col));
            let w1 = _mm256_loadu_ps(w.as_ptr().add(col + 8));
            for (i, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_broadcast_ss(&*a.add(i * stride + c));
                acc[0] = _mm256_fmadd_ps(x, w0, acc[0]);
                acc[1] = _mm256_fmadd_ps(x, w1, acc[1]);
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            let dst = sums[r + i].as_mut_ptr().add(col);
            _mm256_storeu_ps(dst, acc[0]);
            _mm256_storeu_ps(dst.add(8), acc[1]);
        }
    }

    /// How far ahead (in weights, 1 KiB) each weight row is prefetched.
    const PREFETCH: usize = 512;

    /// One weight row at a time, dotted with the input rows: each row is one sequential
    /// stream (several interleaved rows left the loads waiting on memory), and `U` vectors
    /// per step keep enough independent FMA chains in flight for a single input row.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `x` is [m, k], `w` [rows, k] and `out` [m, rows].
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn few_rows_block(x: &[f32], m: usize, k: usize, w: &[u16], out: &mut [f32]) {
        let rows = w.len() / k;
        for r in 0..rows {
            let mut i = 0;
            while i < m {
                // Pairs of input rows (more would not fit the registers at 4 vectors per
                // step); every row sums in the same order, so batching changes no bits.
                let n = (m - i).min(2);
                // SAFETY: row r of `w` and rows i..i + n of `x` exist.
                unsafe {
                    match n {
                        2 => row_dots::<2, 4>(x, k, w, out, r, i),
                        _ => row_dots::<1, 4>(x, k, w, out, r, i),
                    }
                }
                i += n;
            }
        }
    }

    /// `out[i + b][r] = x[i + b] · w[r]` for `b < M`, `U` vectors of 8 per step.
    #[inline(always)]
    unsafe fn row_dots<const M: usize, const U: usize>(
        x: &[f32],
        k: usize,
        w: &[u16],
        out: &mut [f32],
        r: usize,
        i: usize,
    ) {
        let rows = w.len() / k;
        let (w, x) = (w.as_ptr().add(r * k), x.as_ptr().add(i * k));
        let mut acc = [[_mm256_setzero_ps(); U]; M];
        let step = 8 * U;
        let body = k - k % step;
        let mut c = 0;
        while c < body {
            _mm_prefetch::<_MM_HINT_T0>(w.wrapping_add(c + PREFETCH).cast());
            for u in 0..U {
                let bits = _mm_loadu_si128(w.add(c + 8 * u).cast());
                let w_vec =
                    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(bits)));
                for (b, acc) in acc.iter_mut().enumerate() {
                    let x_vec = _mm256_loadu_ps(x.add(b * k + c + 8 * u));
                    acc[u] = _mm256_fmadd_ps(w_vec, x_vec, acc[u]);
                }
            }
            c += step;
        }
        for (b, acc) in acc.iter().enumerate() {
            let sum = acc[1..].iter().fold(acc[0], |s, &a| _mm256_add_ps(s, a));
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
            let mut total: f32 = lanes.iter().sum();
            for c in body..k {
                total += *x.add(b * k + c) * bf16_bits_to_f32(*w.add(c));
            }
            *out.get_unchecked_mut((i + b) * rows + r) = total;
        }
    }
}

/// `vdpbf16ps`: 16 lanes, each adding the products of a pair of bf16 values to an f32.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::PANEL;

    #[inline(always)]
    unsafe fn dot_pairs(acc: __m512, a: __m512i, b: __m512i) -> __m512 {
        // SAFETY: `__m512bh` is the same 512 bits, read as 32 bf16 values.
        _mm512_dpbf16_ps(
            acc,
            std::mem::transmute::<__m512i, __m512bh>(a),
            std::mem::transmute::<__m512i, __m512bh>(b),
        )
    }

    /// Rows per register tile: 8 rows × 2 vectors of accumulators.
    pub(super) const TILE_ROWS: usize = 8;

    /// `tile += a · panel` for up to `TILE_ROWS` rows over `depth` pairs: 8 rows × 2 vectors
    /// of accumulators, each panel row loaded once per pair of inputs and shared by every row.
    ///
    /// # Safety
    /// The CPU has AVX512-BF16 and AVX512BW; `a` holds `tile.len()` rows `pairs` pairs apart
    /// with `depth` pairs each, `panel` `depth` rows of 2·PANEL.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn panel_tile(
        a: &[u32],
        pairs: usize,
        depth: usize,
        panel: &[u16],
        tile: &mut [[f32; PANEL]],
    ) {
        // SAFETY: per this function's contract.
        unsafe {
            match tile.len() {
                8 => rows_tile::<8>(a, pairs, depth, panel, tile),
                7 => rows_tile::<7>(a, pairs, depth, panel, tile),
                6 => rows_tile::<6>(a, pairs, depth, panel, tile),
                5 => rows_tile::<5>(a, pairs, depth, panel, tile),
                4 => rows_tile::<4>(a, pairs, depth, panel, tile),
                3 => rows_tile::<3>(a, pairs, depth, panel, tile),
                2 => rows_tile::<2>(a, pairs, depth, panel, tile),
                _ => rows_tile::<1>(a, pairs, depth, panel, tile),
            }
        }
    }

    #[inline(always)]
    unsafe fn rows_tile<const N: usize>(
        a: &[u32],
        pairs: usize,
        depth: usize,
        panel: &[u16],
        tile: &mut [[f32; PANEL]],
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; N];
        for (i, acc) in acc.iter_mut().enumerate() {
            acc[0] = _mm512_loadu_ps(tile[i].as_ptr());
            acc[1] = _mm512_loadu_ps(tile[i].as_ptr().add(16));
        }
        let (a, b) = (a.as_ptr(), panel.as_ptr());
        for q in 0..depth {
            let row = b.add(q * 2 * PANEL);
            let b0 = _mm512_loadu_si512(row.cast());
            let b1 = _mm512_loadu_si512(row.add(PANEL).cast());
            for (i, acc) in acc.iter_mut().enumerate() {
                let pair = _mm512_set1_epi32(*a.add(i * pairs + q) as i32);
                acc[0] = dot_pairs(acc[0], pair, b0);
                acc[1] = dot_pairs(acc[1], pair, b1);
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            _mm512_storeu_ps(tile[i].as_mut_ptr(), acc[0]);
            _mm512_storeu_ps(tile[i].as_mut_ptr().add(16), acc[1]);
        }
    }

    const W_ROWS: usize = 4;
    const X_ROWS: usize = 4;
    const LANES: usize = 32;

    /// Tiles of 4 weight rows × up to 4 input rows, 32 bf16 values per load, masked at the
    /// end of a row.
    ///
    /// # Safety
    /// The CPU has AVX512-BF16 and AVX512BW; `x` is [m, k] bf16, `w` [rows, k], `out` [m, rows].
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn few_rows_block(x: &[u16], m: usize, k: usize, w: &[u16], out: &mut [f32]) {
        let rows = w.len() / k;
        let mut r = 0;
        while r < rows {
            let full = rows - r >= W_ROWS;
            let mut i = 0;
            while i < m {
                let tile_x = (m - i).min(X_ROWS);
                // SAFETY: rows r.. of `w` and i.. of `x` exist as the tile sizes say.
                unsafe {
                    match (full, tile_x) {
                        (true, 4) => tile::<W_ROWS, 4>(x, k, w, out, r, i),
                        (true, 3) => tile::<W_ROWS, 3>(x, k, w, out, r, i),
                        (true, 2) => tile::<W_ROWS, 2>(x, k, w, out, r, i),
                        (true, _) => tile::<W_ROWS, 1>(x, k, w, out, r, i),
                        (false, _) => tile::<1, 1>(x, k, w, out, r, i),
                    }
                }
                i += if full { tile_x } else { 1 };
            }
            r += if full { W_ROWS } else { 1 };
        }
    }

    #[inline(always)]
    unsafe fn tile<const R: usize, const M: usize>(
        x: &[u16],
        k: usize,
        w: &[u16],
        out: &mut [f32],
        r: usize,
        i: usize,
    ) {
        let rows = w.len() / k;
        let (w, x) = (w.as_ptr().add(r * k), x.as_ptr().add(i * k));
        let mut acc = [[_mm512_setzero_ps(); R]; M];
        let mut w_vec = [_mm512_setzero_si512(); R];
        let mut c = 0;
        while c < k {
            let left = k - c;
            let mask: __mmask32 = if left >= LANES {
                u32::MAX
            } else {
                (1u32 << left) - 1
            };
            for (a, w_vec) in w_vec.iter_mut().enumerate() {
                *w_vec = _mm512_maskz_loadu_epi16(mask, w.add(a * k + c).cast());
            }
            for (b, acc) in acc.iter_mut().enumerate() {
                let x_vec = _mm512_maskz_loadu_epi16(mask, x.add(b * k + c).cast());
                for (acc, &w_vec) in acc.iter_mut().zip(&w_vec) {
                    *acc = dot_pairs(*acc, w_vec, x_vec);
                }
            }
            c += LANES;
        }
        for (b, acc) in acc.iter().enumerate() {
            for (a, &sum) in acc.iter().enumerate() {
                *out.get_unchecked_mut((i + b) * rows + r + a) = _mm512_reduce_add_ps(sum);
            }
        }
    }
}
