//! The vision encoder's attention with AVX2 intrinsics: what `avx512::attend_transposed` does
//! in 16 lanes, here in 8. The loop the compiler vectorises on its own reads every key and
//! value vector once per query (two loads per multiply-add); tiles of 6 queries share them.

use std::arch::x86_64::*;

const LANES: usize = 8;
/// Queries handled together: 6 × 2 accumulators, 2 row vectors and a broadcast fill 15 of the
/// 16 registers.
const QUERY_TILE: usize = 6;
/// Keys (scores) or head dimensions (outputs) per query held in registers: 2 vectors.
const SPAN: usize = 2 * LANES;

/// Lanes `0..n` of a vector set (all of them from 8 up), for masked loads and stores.
#[inline(always)]
unsafe fn lanes(n: usize) -> __m256i {
    let n = n.min(LANES) as i32;
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// See `simd::attend_transposed`.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
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
                6 => row_combinations::<6>(q, d, scale, kt, keys, &mut scores, keys),
                5 => row_combinations::<5>(q, d, scale, kt, keys, &mut scores, keys),
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
                6 => row_combinations::<6>(&probs, keys, 1.0, v, d, out, d),
                5 => row_combinations::<5>(&probs, keys, 1.0, v, d, out, d),
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
///
/// # Safety
/// The CPU has AVX2 and FMA; `coef` holds N rows of `depth`, `rows` `depth` rows of `width`,
/// and `out` N rows of `out_stride` ≥ `width`.
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
        let left = width - start;
        let masks = [lanes(left), lanes(left.saturating_sub(LANES))];
        let mut acc = [[_mm256_setzero_ps(); 2]; N];
        for j in 0..depth {
            let row = rows.add(j * width + start);
            let r0 = _mm256_maskload_ps(row, masks[0]);
            let r1 = _mm256_maskload_ps(row.wrapping_add(LANES), masks[1]);
            for (a, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_set1_ps(*coef.add(a * depth + j) * scale);
                acc[0] = _mm256_fmadd_ps(x, r0, acc[0]);
                acc[1] = _mm256_fmadd_ps(x, r1, acc[1]);
            }
        }
        for (a, acc) in acc.iter().enumerate() {
            let dst = out.add(a * out_stride + start);
            _mm256_maskstore_ps(dst, masks[0], acc[0]);
            _mm256_maskstore_ps(dst.wrapping_add(LANES), masks[1], acc[1]);
        }
        start += SPAN;
    }
}
