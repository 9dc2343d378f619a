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
//! picked at run time); the two decoding kernels also have AVX-512 versions, which most x86
//! servers have, and the attention over transposed keys AVX2 ones (tiles of queries sharing
//! each load, which the compiler does not find by itself). Work is split over candle's thread pool.
//! [`bf16`] has the products for bf16 matrices with f32 activations (`--dtype bf16` on the
//! CPU). Other dtypes and devices use candle's own operations.

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
    let mut out = vec![0f32; m * n];
    by_weight_row_blocks(ws, m, k, &mut out, |w_rows, block| {
        simd::few_rows_block(xs, m, k, w_rows, block)
    });
    Tensor::from_vec(out, (m, n), x.device())
}

/// Fills `out` [m, rows of `w`] for `w` [rows, k], computed in blocks of weight rows (output
/// columns), one task each: `block(w_rows, out)` fills [m, rows of `w_rows`], so every weight
/// row is read from memory once, contiguously, and dotted with each input row while it sits
/// in L1.
pub(crate) fn by_weight_row_blocks<W: Sync>(
    w: &[W],
    m: usize,
    k: usize,
    out: &mut [f32],
    block: impl Fn(&[W], &mut [f32]) + Sync,
) {
    const BLOCK: usize = 64;
    let n = w.len() / k;
    let blocks: Vec<Vec<f32>> = w
        .par_chunks(BLOCK * k)
        .map(|w_rows| {
            let mut out = vec![0f32; m * (w_rows.len() / k)];
            block(w_rows, &mut out);
            out
        })
        .collect();
    for (b, block) in blocks.iter().enumerate() {
        let width = block.len() / m;
        for (out_row, block_row) in out.chunks_exact_mut(n).zip(block.chunks_exact(width)) {
            out_row[b * BLOCK..b * BLOCK + width].copy_from_slice(block_row);
        }
    }
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

/// bf16 weights with f32 activations (`--dtype bf16` on the CPU).
pub(crate) mod bf16;

/// The loops, compiled twice: for AVX2 + FMA (chosen when the CPU has them) and for the
/// baseline target.
mod simd;

#[cfg(test)]
pub(crate) mod tests;
