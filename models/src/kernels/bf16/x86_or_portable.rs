//! The inner loops of the bf16 products, per [`Bf16Kernel`]. No closures inside the
//! `target_feature` functions: they would not inherit the features and stop being inlined.

use super::{bf16_bits_to_f32, Activations, Bf16Kernel, PANEL};

/// Rows of `a` a packed tile multiplies at once.
const TILE_ROWS: usize = 8;

/// One panel of `matmul_packed`: `out[r][c]` for `r < m`, `c < cols` (row stride `stride`) =
/// the dot product of row r of `a` (`pairs` input pairs per row) with panel column c.
///
/// # Safety
/// `out` points at `m` rows of `stride` floats, of which `cols` ≤ `PANEL` from the pointer on
/// are this panel's; `panel` holds `pairs` rows of 2·`PANEL` values; `a` is in the layout
/// `kernel` reads.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn panel(
    kernel: Bf16Kernel,
    a: &Activations,
    m: usize,
    pairs: usize,
    panel: &[u16],
    out: *mut f32,
    stride: usize,
    cols: usize,
) {
    let mut r = 0;
    while r < m {
        let rows = (m - r).min(TILE_ROWS);
        let mut tile = [[0f32; PANEL]; TILE_ROWS];
        match (kernel, a) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect` chose this kernel, so the CPU has the features.
            (Bf16Kernel::Avx512Bf16, Activations::Bf16Pairs(a)) => unsafe {
                avx512::panel_tile(&a[r * pairs..(r + rows) * pairs], pairs, panel, &mut tile)
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            (Bf16Kernel::Avx2, Activations::F32(a)) => unsafe {
                avx2::panel_tile(
                    &a[2 * r * pairs..2 * (r + rows) * pairs],
                    pairs,
                    panel,
                    &mut tile,
                )
            },
            (_, Activations::F32(a)) => panel_tile_portable(
                &a[2 * r * pairs..2 * (r + rows) * pairs],
                pairs,
                panel,
                &mut tile,
            ),
            (_, Activations::Bf16Pairs(_)) => unreachable!("bf16 pairs are made for AVX512-BF16"),
        }
        // SAFETY: per this function's contract, rows r..r + rows of `out` exist.
        let out = unsafe { out.add(r * stride) };
        for (i, tile_row) in tile.iter().take(rows).enumerate() {
            // SAFETY: row i of the tile, this panel's `cols` columns.
            unsafe { std::ptr::copy_nonoverlapping(tile_row.as_ptr(), out.add(i * stride), cols) };
        }
        r += rows;
    }
}

fn panel_tile_portable(
    a: &[f32],
    pairs: usize,
    panel: &[u16],
    tile: &mut [[f32; PANEL]; TILE_ROWS],
) {
    for (a_row, tile_row) in a.chunks_exact(2 * pairs).zip(tile.iter_mut()) {
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

    use super::{bf16_bits_to_f32, PANEL, TILE_ROWS};

    /// 8 pairs → the 8 even-input values and the 8 odd-input values, as f32.
    #[inline(always)]
    unsafe fn widen_pairs(v: __m256i) -> (__m256, __m256) {
        let even = _mm256_castsi256_ps(_mm256_slli_epi32::<16>(v));
        let odd = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(-65_536)));
        (even, odd)
    }

    /// A tile of up to `TILE_ROWS` rows of `a` × one panel, as two halves of 16 columns, each
    /// with 4 rows × 2 vectors of accumulators (16 registers would not hold 8 rows).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `a` holds whole rows of 2·`pairs` values, `panel` `pairs`
    /// rows of 2·PANEL.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn panel_tile(
        a: &[f32],
        pairs: usize,
        panel: &[u16],
        tile: &mut [[f32; PANEL]; TILE_ROWS],
    ) {
        let rows = a.len() / (2 * pairs);
        let mut r = 0;
        while r < rows {
            let n = (rows - r).min(4);
            for half in 0..2 {
                // SAFETY: rows r..r + n exist; each panel row has 2·PANEL values.
                unsafe {
                    match n {
                        4 => quarter::<4>(a, pairs, r, panel, half, tile),
                        3 => quarter::<3>(a, pairs, r, panel, half, tile),
                        2 => quarter::<2>(a, pairs, r, panel, half, tile),
                        _ => quarter::<1>(a, pairs, r, panel, half, tile),
                    }
                }
            }
            r += n;
        }
    }

    #[inline(always)]
    unsafe fn quarter<const N: usize>(
        a: &[f32],
        pairs: usize,
        r: usize,
        panel: &[u16],
        half: usize,
        tile: &mut [[f32; PANEL]; TILE_ROWS],
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; N];
        let b = panel.as_ptr().add(half * PANEL);
        let a = a.as_ptr().add(2 * r * pairs);
        for q in 0..pairs {
            let row = b.add(q * 2 * PANEL).cast::<__m256i>();
            let (even0, odd0) = widen_pairs(_mm256_loadu_si256(row));
            let (even1, odd1) = widen_pairs(_mm256_loadu_si256(row.add(1)));
            for (i, acc) in acc.iter_mut().enumerate() {
                let lo = _mm256_broadcast_ss(&*a.add(2 * (i * pairs + q)));
                let hi = _mm256_broadcast_ss(&*a.add(2 * (i * pairs + q) + 1));
                acc[0] = _mm256_fmadd_ps(hi, odd0, _mm256_fmadd_ps(lo, even0, acc[0]));
                acc[1] = _mm256_fmadd_ps(hi, odd1, _mm256_fmadd_ps(lo, even1, acc[1]));
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            let dst = tile[r + i].as_mut_ptr().add(half * PANEL / 2);
            _mm256_storeu_ps(dst, acc[0]);
            _mm256_storeu_ps(dst.add(8), acc[1]);
        }
    }

    const W_ROWS: usize = 4;

    /// Tiles of 4 weight rows × up to 2 input rows (8 accumulators, 4 widened weight vectors).
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `x` is [m, k], `w` [rows, k] and `out` [m, rows].
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn few_rows_block(x: &[f32], m: usize, k: usize, w: &[u16], out: &mut [f32]) {
        let rows = w.len() / k;
        let mut r = 0;
        while r < rows {
            let full = rows - r >= W_ROWS;
            let mut i = 0;
            while i < m {
                let two = m - i >= 2;
                // SAFETY: rows r.. of `w` and i.. of `x` exist as the tile sizes say.
                unsafe {
                    match (full, two) {
                        (true, true) => tile::<W_ROWS, 2>(x, k, w, out, r, i),
                        (true, false) => tile::<W_ROWS, 1>(x, k, w, out, r, i),
                        (false, _) => tile::<1, 1>(x, k, w, out, r, i),
                    }
                }
                i += if full && two { 2 } else { 1 };
            }
            r += if full { W_ROWS } else { 1 };
        }
    }

    /// `out[i + b][r + a] = x[i + b] · w[r + a]` for `a < R`, `b < M`.
    #[inline(always)]
    unsafe fn tile<const R: usize, const M: usize>(
        x: &[f32],
        k: usize,
        w: &[u16],
        out: &mut [f32],
        r: usize,
        i: usize,
    ) {
        let rows = w.len() / k;
        let (w, x) = (w.as_ptr().add(r * k), x.as_ptr().add(i * k));
        let mut acc = [[_mm256_setzero_ps(); R]; M];
        let mut w_vec = [_mm256_setzero_ps(); R];
        let body = k - k % 8;
        let mut c = 0;
        while c < body {
            for (a, w_vec) in w_vec.iter_mut().enumerate() {
                let bits = _mm_loadu_si128(w.add(a * k + c).cast());
                *w_vec = _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(bits)));
            }
            for (b, acc) in acc.iter_mut().enumerate() {
                let x_vec = _mm256_loadu_ps(x.add(b * k + c));
                for (acc, &w_vec) in acc.iter_mut().zip(&w_vec) {
                    *acc = _mm256_fmadd_ps(w_vec, x_vec, *acc);
                }
            }
            c += 8;
        }
        for (b, acc) in acc.iter().enumerate() {
            for (a, &sum) in acc.iter().enumerate() {
                let mut lanes = [0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
                let mut total: f32 = lanes.iter().sum();
                for c in body..k {
                    total += *x.add(b * k + c) * bf16_bits_to_f32(*w.add(a * k + c));
                }
                *out.get_unchecked_mut((i + b) * rows + r + a) = total;
            }
        }
    }
}

/// `vdpbf16ps`: 16 lanes, each adding the products of a pair of bf16 values to an f32.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{PANEL, TILE_ROWS};

    #[inline(always)]
    unsafe fn dot_pairs(acc: __m512, a: __m512i, b: __m512i) -> __m512 {
        // SAFETY: `__m512bh` is the same 512 bits, read as 32 bf16 values.
        _mm512_dpbf16_ps(
            acc,
            std::mem::transmute::<__m512i, __m512bh>(a),
            std::mem::transmute::<__m512i, __m512bh>(b),
        )
    }

    /// A tile of up to `TILE_ROWS` rows × one panel: 8 rows × 2 vectors of accumulators, each
    /// panel row loaded once per pair of inputs and shared by every row.
    ///
    /// # Safety
    /// The CPU has AVX512-BF16 and AVX512BW; the slices are shaped as in `avx2::panel_tile`.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn panel_tile(
        a: &[u32],
        pairs: usize,
        panel: &[u16],
        tile: &mut [[f32; PANEL]; TILE_ROWS],
    ) {
        // SAFETY: per this function's contract.
        unsafe {
            match a.len() / pairs {
                8 => rows_tile::<8>(a, pairs, panel, tile),
                7 => rows_tile::<7>(a, pairs, panel, tile),
                6 => rows_tile::<6>(a, pairs, panel, tile),
                5 => rows_tile::<5>(a, pairs, panel, tile),
                4 => rows_tile::<4>(a, pairs, panel, tile),
                3 => rows_tile::<3>(a, pairs, panel, tile),
                2 => rows_tile::<2>(a, pairs, panel, tile),
                _ => rows_tile::<1>(a, pairs, panel, tile),
            }
        }
    }

    #[inline(always)]
    unsafe fn rows_tile<const N: usize>(
        a: &[u32],
        pairs: usize,
        panel: &[u16],
        tile: &mut [[f32; PANEL]; TILE_ROWS],
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; N];
        let (a, b) = (a.as_ptr(), panel.as_ptr());
        for q in 0..pairs {
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
