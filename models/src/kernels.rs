//! CPU kernels where candle's generic ones leave time on the table, all f32:
//!
//! - softmax over the last dimension and the erf GELU: candle calls libm's scalar
//!   `expf`/`erff` once per element (about 15% of the vision encoder's time on two cores).
//!   These evaluate polynomial approximations instead; errors stay near f32 rounding (exp
//!   within 2 ulp, erf within 1.5e-7).
//! - attention for a few query rows (decoding): candle runs two matrix products per head and
//!   sequence, each with a fixed cost larger than its arithmetic (over a thousand per decoding
//!   step at batch 4); this does scores, softmax and weighted sum in one pass per head. The
//!   variant over transposed keys gets scores sixteen keys per instruction and shares each
//!   key/value load among a tile of queries: cross-attention while decoding, and the vision
//!   encoder's self-attention, which then never materialises its 577 × 577 score maps.
//! - products of a few rows (decoding: one row per sequence, up to 64) with a weight matrix:
//!   candle's matrix multiply packs the weight for every call, which doubles the memory
//!   traffic that bounds decoding. This streams the weight once, in register tiles of 4 weight
//!   rows × 4 input rows, prefetching ahead, so a batch of sequences costs little more
//!   arithmetic time than the weight takes to arrive.
//!
//! The loops are written for the compiler to vectorise (AVX2 + FMA when the CPU has them,
//! picked at run time); the two decoding kernels also have AVX-512 versions, which x86 servers
//! (and this project's development machine) have. Work is split over candle's thread pool.
//! Other dtypes and devices use candle's own operations.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

/// `softmax(x)` over the last dimension, as `candle_nn::ops::softmax_last_dim`.
pub(crate) fn softmax_last_dim(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1_no_bwd(&SoftmaxLastDim)
    } else {
        candle_nn::ops::softmax_last_dim(x)
    }
}

/// `x · Φ(x)` with the exact (erf) normal CDF, as `Tensor::gelu_erf`.
pub(crate) fn gelu_erf(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1_no_bwd(&GeluErf)
    } else {
        x.gelu_erf()
    }
}

/// Most rows `matmul_few_rows` streams itself: beyond that the weight is reused enough for the
/// matrix multiply's packing to pay (at 24 rows, a batch of 8 images with 3 beams each, the
/// packing path took twice as long).
const FEW_ROWS: usize = 64;

/// `x · wᵀ` for `x` [rows, k] and `w` [n, k] (PyTorch's layout). Up to `FEW_ROWS` rows of f32
/// on the CPU stream `w` once; anything else goes to the matrix multiply.
pub(crate) fn matmul_few_rows(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let (m, k) = x.dims2()?;
    let (n, k2) = w.dims2()?;
    if k != k2 || m > FEW_ROWS || !x.device().is_cpu() || x.dtype() != DType::F32 {
        return x.matmul(&w.t()?);
    }
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    let (x_storage, x_layout) = x.storage_and_layout();
    let (w_storage, w_layout) = w.storage_and_layout();
    let (candle_core::Storage::Cpu(xs), candle_core::Storage::Cpu(ws)) = (&*x_storage, &*w_storage)
    else {
        candle_core::bail!("matmul_few_rows: tensors must be on the CPU")
    };
    let xs = contiguous_f32(xs, x_layout, "matmul_few_rows")?;
    let ws = contiguous_f32(ws, w_layout, "matmul_few_rows")?;
    // Blocks of weight rows (output columns), one task each: every weight row is read from
    // memory once, contiguously, and dotted with each input row while it sits in L1.
    const BLOCK: usize = 64;
    let blocks: Vec<Vec<f32>> = ws
        .par_chunks(BLOCK * k)
        .map(|w_rows| {
            let mut out = vec![0f32; m * (w_rows.len() / k)];
            simd::few_rows_block(xs, m, k, w_rows, &mut out);
            out
        })
        .collect();
    let mut out = vec![0f32; m * n];
    for (b, block) in blocks.iter().enumerate() {
        let width = block.len() / m;
        for (out_row, block_row) in out.chunks_exact_mut(n).zip(block.chunks_exact(width)) {
            out_row[b * BLOCK..b * BLOCK + width].copy_from_slice(block_row);
        }
    }
    Tensor::from_vec(out, (m, n), x.device())
}

/// Most query rows per head `attention` handles itself; longer ones go through the matrix
/// multiply.
const FEW_QUERIES: usize = 64;

/// `softmax(q kᵀ · scale) v` per head, unmasked: `q` [b, h, queries, d], `k` and `v`
/// [b, h, keys, d] → [b, h, queries, d].
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
) -> candle_core::Result<Tensor> {
    let (b, h, queries, d) = q.dims4()?;
    let keys = k.dim(2)?;
    let own = q.device().is_cpu() && q.dtype() == DType::F32 && queries <= FEW_QUERIES;
    if !own || k.dims() != [b, h, keys, d] || v.dims() != k.dims() {
        let scores = (q.matmul(&k.t()?)? * scale)?;
        return softmax_last_dim(&scores)?.matmul(v);
    }
    each_head(q, k, v, scale, simd::attend)
}

/// One head's attention: (q, keys, values, head size, scale, out).
type HeadKernel = fn(&[f32], &[f32], &[f32], usize, f32, &mut [f32]);

/// Runs `head` on every head of contiguous f32 CPU tensors `q` [b, h, queries, d] and `k`,
/// `v` (one head's keys and values each, in whatever layout `head` reads) → [b, h, queries, d].
fn each_head(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    head: HeadKernel,
) -> candle_core::Result<Tensor> {
    let (b, h, queries, d) = q.dims4()?;
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    let per_head = k.elem_count() / (b * h);
    let (q_storage, q_layout) = q.storage_and_layout();
    let (k_storage, k_layout) = k.storage_and_layout();
    let (v_storage, v_layout) = v.storage_and_layout();
    let (
        candle_core::Storage::Cpu(qs),
        candle_core::Storage::Cpu(ks),
        candle_core::Storage::Cpu(vs),
    ) = (&*q_storage, &*k_storage, &*v_storage)
    else {
        candle_core::bail!("attention: tensors must be on the CPU")
    };
    let qs = contiguous_f32(qs, q_layout, "attention")?;
    let ks = contiguous_f32(ks, k_layout, "attention")?;
    let vs = contiguous_f32(vs, v_layout, "attention")?;
    let mut out = vec![0f32; b * h * queries * d];
    out.par_chunks_mut(queries * d)
        .zip(qs.par_chunks(queries * d))
        .zip(ks.par_chunks(per_head).zip(vs.par_chunks(per_head)))
        .for_each(|((out, q), (k, v))| head(q, k, v, d, scale as f32, out));
    Tensor::from_vec(out, (b, h, queries, d), q.device())
}

/// `softmax(q · kt · scale) v` per head, unmasked, with the keys given transposed: `q`
/// [b, h, queries, d], `kt` [b, h, d, keys], `v` [b, h, keys, d] → [b, h, queries, d].
///
/// With the keys transposed, the scores come out a vector of keys at a time instead of one dot
/// product (and one horizontal sum) per key, and each load of a key or value vector serves a
/// tile of queries. Decoding uses it for cross-attention (the image's keys are kept transposed,
/// and an image's sequences share every load); the vision encoder for its self-attention (577
/// queries), where it also avoids writing and re-reading the score maps (16 MB per image and
/// layer) that a matrix product, softmax, matrix product sequence materialises.
pub(crate) fn attention_transposed_keys(
    q: &Tensor,
    kt: &Tensor,
    v: &Tensor,
    scale: f64,
) -> candle_core::Result<Tensor> {
    let (b, h, _, d) = q.dims4()?;
    let keys = kt.dim(3)?;
    let own = q.device().is_cpu() && q.dtype() == DType::F32;
    if !own || kt.dims() != [b, h, d, keys] || v.dims() != [b, h, keys, d] {
        let scores = (q.matmul(kt)? * scale)?;
        return softmax_last_dim(&scores)?.matmul(v);
    }
    each_head(q, kt, v, scale, simd::attend_transposed)
}

fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        candle_core::bail!("{op}: only f32 runs here")
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: the input must be contiguous"),
    }
}

struct SoftmaxLastDim;

impl CustomOp1 for SoftmaxLastDim {
    fn name(&self) -> &'static str {
        "imgcap-softmax-last-dim"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(storage, layout, self.name())?;
        let row = layout.dims().last().copied().unwrap_or(1).max(1);
        let mut dst = vec![0f32; src.len()];
        // Enough rows per task to amortise scheduling; a BLIP-base attention map has 577 × 12.
        let rows_per_task = (16_384 / row).max(1);
        dst.par_chunks_mut(row * rows_per_task)
            .zip(src.par_chunks(row * rows_per_task))
            .for_each(|(dst, src)| {
                for (dst, src) in dst.chunks_exact_mut(row).zip(src.chunks_exact(row)) {
                    simd::softmax_row(src, dst);
                }
            });
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "imgcap-gelu-erf"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(storage, layout, self.name())?;
        let mut dst = vec![0f32; src.len()];
        dst.par_chunks_mut(16_384)
            .zip(src.par_chunks(16_384))
            .for_each(|(dst, src)| simd::gelu_erf(src, dst));
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

/// The loops, compiled twice: for AVX2 + FMA (chosen when the CPU has them) and for the
/// baseline target.
mod simd {
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
    pub fn attend_transposed(
        q: &[f32],
        kt: &[f32],
        v: &[f32],
        d: usize,
        scale: f32,
        out: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F; the lengths are checked inside.
            return unsafe { avx512::attend_transposed(q, kt, v, d, scale, out) };
        }
        #[cfg(target_arch = "x86_64")]
        if avx2_fma() {
            // SAFETY: as above.
            return unsafe { attend_transposed_avx2(q, kt, v, d, scale, out) };
        }
        attend_transposed_portable(q, kt, v, d, scale, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn attend_transposed_avx2(
        q: &[f32],
        kt: &[f32],
        v: &[f32],
        d: usize,
        scale: f32,
        out: &mut [f32],
    ) {
        attend_transposed_portable(q, kt, v, d, scale, out)
    }

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
        pub(super) unsafe fn few_rows_block(
            x: &[f32],
            m: usize,
            k: usize,
            w: &[f32],
            out: &mut [f32],
        ) {
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
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn exp_matches_libm() {
        for i in -17_400..=17_600 {
            let x = i as f32 * 0.005;
            let (fast, exact) = (simd::exp(x), x.exp());
            assert!(
                (fast - exact).abs() <= 3.0 * f32::EPSILON * exact,
                "exp({x}) = {fast}, libm {exact}"
            );
        }
        // Below e^-87 (subnormal results) it flushes to zero.
        assert_eq!(simd::exp(-100.0), 0.0);
        assert_eq!(simd::exp(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn gelu_matches_candle_over_its_whole_range() {
        let x = Tensor::arange(-40_000f32, 40_000., &Device::Cpu).unwrap() * 2.5e-4;
        let x = x.unwrap();
        let ours = gelu_erf(&x).unwrap().to_vec1::<f32>().unwrap();
        let theirs = x.gelu_erf().unwrap().to_vec1::<f32>().unwrap();
        for ((a, b), x) in ours.iter().zip(&theirs).zip(x.to_vec1::<f32>().unwrap()) {
            assert!(
                (a - b).abs() <= 3e-7 * x.abs().max(1.0),
                "gelu({x}) = {a}, candle {b}"
            );
        }
    }

    pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn softmax_and_gelu_match_candle_on_odd_shapes() {
        let x = (Tensor::randn(0f32, 3.0, (3, 5, 77), &Device::Cpu).unwrap() * 2.0).unwrap();
        let ours = softmax_last_dim(&x).unwrap();
        let theirs = candle_nn::ops::softmax_last_dim(&x).unwrap();
        assert!(max_abs_diff(&ours, &theirs) < 1e-6);
        let ours = gelu_erf(&x).unwrap();
        let theirs = x.gelu_erf().unwrap();
        assert!(max_abs_diff(&ours, &theirs) < 1e-5);
        // A strided input is made contiguous first.
        let t = x.transpose(1, 2).unwrap();
        let ours = softmax_last_dim(&t).unwrap();
        let theirs = candle_nn::ops::softmax_last_dim(&t.contiguous().unwrap()).unwrap();
        assert!(max_abs_diff(&ours, &theirs) < 1e-6);
    }

    #[test]
    fn few_row_products_match_candle() {
        // Every input-row tile (4 down to 1), partial weight tiles, masked k tails.
        for (m, k, n) in [
            (1, 768, 3072),
            (3, 64, 300),
            (16, 5, 257),
            (7, 300, 1),
            (11, 100, 130),
            (2, 17, 66),
            (4, 16, 64),
        ] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
            let w = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu).unwrap();
            let ours = matmul_few_rows(&x, &w).unwrap();
            let theirs = x.matmul(&w.t().unwrap()).unwrap();
            assert_eq!(ours.dims(), &[m, n]);
            let tolerance = 1e-5 * (k as f32).sqrt();
            assert!(max_abs_diff(&ours, &theirs) < tolerance, "{m}x{k}x{n}");
            // The fallback for CPUs without AVX-512, whichever path ran above.
            let mut portable = vec![0f32; m * n];
            simd::few_rows_block_portable(
                &x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                k,
                &w.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                &mut portable,
            );
            let portable = Tensor::from_vec(portable, (m, n), &Device::Cpu).unwrap();
            assert!(max_abs_diff(&portable, &theirs) < tolerance, "{m}x{k}x{n}");
        }
    }

    /// softmax(q kᵀ · scale) v with candle's own operations.
    fn candle_attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Tensor {
        let scores = (q.matmul(&k.t().unwrap()).unwrap() * scale).unwrap();
        candle_nn::ops::softmax_last_dim(&scores)
            .unwrap()
            .matmul(v)
            .unwrap()
    }

    #[test]
    fn attention_matches_candle() {
        for (queries, keys, d) in [(1, 577, 64), (3, 7, 64), (5, 1, 16), (64, 33, 8)] {
            let q = Tensor::randn(0f32, 1.0, (2, 3, queries, d), &Device::Cpu).unwrap();
            let k = Tensor::randn(0f32, 1.0, (2, 3, keys, d), &Device::Cpu).unwrap();
            let v = Tensor::randn(0f32, 1.0, (2, 3, keys, d), &Device::Cpu).unwrap();
            let scale = 1.0 / (d as f64).sqrt();
            let ours = attention(&q, &k, &v, scale).unwrap();
            let theirs = candle_attention(&q, &k, &v, scale);
            assert!(max_abs_diff(&ours, &theirs) < 1e-5, "{queries}x{keys}x{d}");
        }
    }

    #[test]
    fn attention_with_transposed_keys_matches_candle() {
        // Query tiles of 4 down to 1, many tiles (self-attention of the vision encoder), key
        // spans with partial tails, head sizes below, at and above one register span.
        for (queries, keys, d) in [
            (3, 577, 64),
            (150, 150, 64),
            (9, 7, 8),
            (1, 1, 16),
            (6, 65, 20),
            (4, 130, 72),
        ] {
            let q = Tensor::randn(0f32, 1.0, (2, 3, queries, d), &Device::Cpu).unwrap();
            let k = Tensor::randn(0f32, 1.0, (2, 3, keys, d), &Device::Cpu).unwrap();
            let v = Tensor::randn(0f32, 1.0, (2, 3, keys, d), &Device::Cpu).unwrap();
            let kt = k.transpose(2, 3).unwrap().contiguous().unwrap();
            let scale = 1.0 / (d as f64).sqrt();
            let ours = attention_transposed_keys(&q, &kt, &v, scale).unwrap();
            let theirs = candle_attention(&q, &k, &v, scale);
            assert!(max_abs_diff(&ours, &theirs) < 1e-5, "{queries}x{keys}x{d}");
            // The fallback for CPUs without AVX-512, on the first head.
            let head = |t: &Tensor| t.get(0).unwrap().get(0).unwrap().flatten_all().unwrap();
            let mut portable = vec![0f32; queries * d];
            simd::attend_transposed_portable(
                &head(&q).to_vec1::<f32>().unwrap(),
                &head(&kt).to_vec1::<f32>().unwrap(),
                &head(&v).to_vec1::<f32>().unwrap(),
                d,
                scale as f32,
                &mut portable,
            );
            let portable = Tensor::from_vec(portable, queries * d, &Device::Cpu).unwrap();
            assert!(
                max_abs_diff(&portable, &head(&theirs)) < 1e-5,
                "{queries}x{keys}x{d}"
            );
        }
    }

    #[test]
    fn masked_positions_get_zero_probability() {
        let x = Tensor::new(
            &[[0.5f32, f32::NEG_INFINITY, 1.5, f32::NEG_INFINITY]],
            &Device::Cpu,
        )
        .unwrap();
        let p = softmax_last_dim(&x).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!((p[0][1], p[0][3]), (0.0, 0.0));
        assert!((p[0][0] + p[0][2] - 1.0).abs() < 1e-6);
    }
}
