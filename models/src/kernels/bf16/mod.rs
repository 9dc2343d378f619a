//! Mixed precision for CPUs: matrices kept in bf16 (the top half of an f32: its range, 8 bits
//! of mantissa), activations, softmax, layer norms and accumulation in f32. Half the weight
//! bytes is half the memory and, while decoding, half of what every step waits for.
//!
//! Two layouts, one per kind of product:
//! - [`matmul_bf16_rows`] takes the weight as PyTorch lays it out, [out, in]: the decoder's
//!   products of a few rows stream each weight row once, widened to f32 on the fly.
//! - [`PackedBf16`] holds it in panels of [`PANEL`] outputs with inputs in adjacent pairs, the
//!   operand layout of `vdpbf16ps` (AVX512-BF16), which multiplies 16 such pairs by a pair of
//!   activations and adds both products to f32 lanes in one instruction. The vision encoder's
//!   products (hundreds of rows) round the activations to bf16 once per call and run on it.
//!   Without AVX512-BF16 the weights are widened to f32 instead and the activations stay f32.
//!
//! Kernels are chosen at run time (see [`Bf16Kernel`]); where the CPU has no bf16 arithmetic
//! the same layouts are widened to f32 (a shift per value) and multiplied with FMA, so every
//! CPU gets the halved memory.

use candle_core::{CpuStorage, DType, Tensor};
use rayon::prelude::*;

/// Outputs per panel of a packed matrix: two AVX-512 accumulators, four AVX2 ones.
pub(crate) const PANEL: usize = 32;

/// Most rows a call of the few-rows kernel takes; longer inputs go through in chunks, each
/// reading the weight again (prompts and big batches only).
const FEW_ROWS: usize = 64;

/// The instructions the bf16 kernels run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// `vdpbf16ps`: bf16 pairs multiplied and accumulated in f32 (AMD Zen 4+, Intel Cooper
    /// Lake, Sapphire Rapids and later).
    Avx512Bf16,
    /// bf16 widened to f32, then AVX2 fused multiply-adds.
    Avx2,
    /// Plain Rust, for other CPUs.
    Portable,
}

impl Bf16Kernel {
    /// The best this CPU runs (detected once; the standard library caches the answer).
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512bf16")
                && std::is_x86_feature_detected!("avx512bw")
            {
                return Self::Avx512Bf16;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Self::Avx2;
            }
        }
        Self::Portable
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512Bf16 => "avx512-bf16",
            Self::Avx2 => "avx2",
            Self::Portable => "portable",
        }
    }
}

/// Whether this CPU multiplies bf16 in hardware, which is what makes bf16 faster than f32 in
/// compute-bound work: the rule `--dtype auto` follows.
pub fn cpu_has_bf16_arithmetic() -> bool {
    Bf16Kernel::detect() == Bf16Kernel::Avx512Bf16
}

/// `x` rounded to the nearest bf16 (ties to even), as its bits; NaN stays NaN.
#[inline(always)]
pub(crate) fn to_bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) as u16) | 0x40;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

#[inline(always)]
pub(crate) fn bf16_bits_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// A weight [out, in] in [`PANEL`]-wide panels of input pairs: element (o, i) sits at
/// `((o / PANEL) · pairs + i / 2) · 2·PANEL + 2·(o % PANEL) + i % 2`, zero-padded to whole
/// panels and an even input count.
#[derive(Debug, Clone)]
pub(crate) struct PackedBf16 {
    inputs: usize,
    outputs: usize,
    data: Vec<u16>,
}

impl PackedBf16 {
    /// Packs `w` [out, in] (any float dtype, on the CPU).
    pub fn pack(w: &Tensor) -> candle_core::Result<Self> {
        let (outputs, inputs) = w.dims2()?;
        let w = w.to_dtype(DType::F32)?.contiguous()?;
        let values = w.flatten_all()?.to_vec1::<f32>()?;
        let pairs = inputs.div_ceil(2);
        let panels = outputs.div_ceil(PANEL);
        let mut data = vec![0u16; panels * pairs * 2 * PANEL];
        data.par_chunks_mut(pairs * 2 * PANEL)
            .enumerate()
            .for_each(|(p, panel)| {
                for o in p * PANEL..((p + 1) * PANEL).min(outputs) {
                    let row = &values[o * inputs..(o + 1) * inputs];
                    for (i, &v) in row.iter().enumerate() {
                        panel[(i / 2) * 2 * PANEL + 2 * (o % PANEL) + i % 2] = to_bf16_bits(v);
                    }
                }
            });
        Ok(Self {
            inputs,
            outputs,
            data,
        })
    }

    fn pairs(&self) -> usize {
        self.inputs.div_ceil(2)
    }
}

/// `x · wᵀ` for `x` [rows, in] f32 and a packed `w` → [rows, out] f32.
pub(crate) fn matmul_packed(x: &Tensor, w: &PackedBf16) -> candle_core::Result<Tensor> {
    matmul_packed_with(Bf16Kernel::detect(), x, w)
}

pub(crate) fn matmul_packed_with(
    kernel: Bf16Kernel,
    x: &Tensor,
    w: &PackedBf16,
) -> candle_core::Result<Tensor> {
    let (m, k) = x.dims2()?;
    if k != w.inputs {
        candle_core::bail!("matmul_packed: {k} inputs for a {}-input weight", w.inputs)
    }
    let out = with_f32_rows(x, "matmul_packed", |xs| {
        Ok(packed_product(kernel, xs, m, k, w))
    })?;
    Tensor::from_vec(out, (m, w.outputs), x.device())
}

/// The packed product on `xs` [m, k] as a slice: [m, outputs of `w`].
fn packed_product(kernel: Bf16Kernel, xs: &[f32], m: usize, k: usize, w: &PackedBf16) -> Vec<f32> {
    let pairs = w.pairs();
    // The activations in the layout the kernel reads: bf16 pairs for `vdpbf16ps`, else f32
    // rows of `2 · pairs` (a copy only when the width is odd).
    let a = match kernel {
        Bf16Kernel::Avx512Bf16 => {
            let mut pairs_bits = vec![0u32; m * pairs];
            pairs_bits
                .par_chunks_mut(pairs)
                .zip(xs.par_chunks(k))
                .for_each(|(a_row, x_row)| {
                    for (pair, x) in a_row.iter_mut().zip(x_row.chunks(2)) {
                        let hi = x.get(1).map_or(0, |&v| to_bf16_bits(v));
                        *pair = u32::from(to_bf16_bits(x[0])) | u32::from(hi) << 16;
                    }
                });
            Activations::Bf16Pairs(pairs_bits.into())
        }
        _ if k.is_multiple_of(2) => Activations::F32(xs.into()),
        _ => Activations::F32(
            xs.chunks(k)
                .flat_map(|row| row.iter().copied().chain([0.0]))
                .collect::<Vec<_>>()
                .into(),
        ),
    };
    let n = w.outputs;
    let mut out = vec![0f32; m * n];
    let out_ptr = SharedOut(out.as_mut_ptr());
    // Blocks of rows small enough for their activations to stay in L2 while every panel runs
    // over them (one task per panel); within a panel, slices of `PAIRS_BLOCK` input pairs stay
    // in L1 while each tile of rows runs over them.
    // Equal blocks, in whole register tiles (6 rows for AVX2, 8 for AVX512-BF16).
    let blocks = m.div_ceil(ROW_BLOCK);
    let block_rows = m.div_ceil(blocks.max(1)).next_multiple_of(24);
    for first in (0..m).step_by(block_rows) {
        let rows = (m - first).min(block_rows);
        w.data
            .par_chunks(pairs * 2 * PANEL)
            .enumerate()
            .for_each(|(p, panel)| {
                let cols = (n - p * PANEL).min(PANEL);
                let mut sums = vec![[0f32; PANEL]; rows];
                for start in (0..pairs).step_by(PAIRS_BLOCK) {
                    let slice = start..(start + PAIRS_BLOCK).min(pairs);
                    x86_or_portable::panel_slice(kernel, &a, pairs, first, slice, panel, &mut sums);
                }
                for (i, row) in sums.iter().enumerate() {
                    // SAFETY: each task writes only its own panel's columns of rows of `out`,
                    // which outlives the loop.
                    unsafe {
                        let dst = out_ptr.at((first + i) * n + p * PANEL);
                        std::ptr::copy_nonoverlapping(row.as_ptr(), dst, cols);
                    }
                }
            });
    }
    out
}

/// Rows of a packed product's input kept in L2 while the panels run over them (~200 KiB of
/// f32 activations at BLIP-base's width).
const ROW_BLOCK: usize = 192;
/// Input pairs of a panel kept in L1 while tiles of rows run over them (8 KiB of bf16
/// weights; 16 KiB once the AVX2 kernel has widened them to f32).
pub(crate) const PAIRS_BLOCK: usize = 64;

/// A packed product's input rows, `pairs` input pairs each.
pub(crate) enum Activations<'a> {
    /// Rounded to bf16, a pair per u32 (low half first): what `vdpbf16ps` multiplies.
    Bf16Pairs(std::borrow::Cow<'a, [u32]>),
    /// As they are, for kernels that widen the weights to f32 instead.
    F32(std::borrow::Cow<'a, [f32]>),
}

/// `out` shared by tasks that write disjoint columns of it.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: see the use in `matmul_packed_with`: the tasks' writes never overlap.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}
impl SharedOut {
    /// # Safety
    /// `offset` is inside the buffer.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: per the caller.
        unsafe { self.0.add(offset) }
    }
}

/// `x · wᵀ` for `x` [rows, in] f32 and `w` [out, in] bf16 → [rows, out] f32, streaming `w`
/// once per [`FEW_ROWS`] rows.
pub(crate) fn matmul_bf16_rows(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    matmul_bf16_rows_with(Bf16Kernel::detect(), x, w)
}

pub(crate) fn matmul_bf16_rows_with(
    kernel: Bf16Kernel,
    x: &Tensor,
    w: &Tensor,
) -> candle_core::Result<Tensor> {
    let (m, k) = x.dims2()?;
    let (n, k2) = w.dims2()?;
    if k != k2 || w.dtype() != DType::BF16 || !w.device().is_cpu() {
        candle_core::bail!("matmul_bf16_rows: x [{m}, {k}] and a bf16 CPU weight [{n}, {k2}]")
    }
    let w = w.contiguous()?;
    let (storage, layout) = w.storage_and_layout();
    let candle_core::Storage::Cpu(CpuStorage::BF16(values)) = &*storage else {
        candle_core::bail!("matmul_bf16_rows: the weight must be bf16 on the CPU")
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("matmul_bf16_rows: the weight must be contiguous")
    };
    let ws: &[u16] = bf16_as_bits(&values[start..end]);
    let mut out = vec![0f32; m * n];
    with_f32_rows(x, "matmul_bf16_rows", |xs| {
        for (rows, out) in xs.chunks(FEW_ROWS * k).zip(out.chunks_mut(FEW_ROWS * n)) {
            few_rows(kernel, rows, k, ws, out);
        }
        Ok(())
    })?;
    Tensor::from_vec(out, (m, n), x.device())
}

/// Runs `f` on `x` as f32 values in one slice, read in place where `x` already is contiguous
/// f32 on the CPU.
fn with_f32_rows<T>(
    x: &Tensor,
    op: &str,
    f: impl FnOnce(&[f32]) -> candle_core::Result<T>,
) -> candle_core::Result<T> {
    let x = x.to_dtype(DType::F32)?.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let candle_core::Storage::Cpu(storage) = &*storage else {
        candle_core::bail!("{op}: the input must be on the CPU")
    };
    f(super::contiguous_f32(storage, layout, op)?)
}

fn bf16_as_bits(values: &[half::bf16]) -> &[u16] {
    // SAFETY: `half::bf16` is `repr(transparent)` over its u16 bits.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), values.len()) }
}

/// One chunk of at most [`FEW_ROWS`] rows of `x` times every row of `w` into `out`
/// [rows, rows of `w`].
fn few_rows(kernel: Bf16Kernel, x: &[f32], k: usize, w: &[u16], out: &mut [f32]) {
    let m = x.len() / k;
    // The AVX512-BF16 kernel multiplies bf16 by bf16: round the inputs once here.
    let x_bits: Vec<u16> = match kernel {
        Bf16Kernel::Avx512Bf16 => x.iter().map(|&v| to_bf16_bits(v)).collect(),
        _ => Vec::new(),
    };
    super::by_weight_row_blocks(w, m, k, out, |w_rows, block| {
        x86_or_portable::few_rows_block(kernel, x, &x_bits, m, k, w_rows, block)
    });
}

/// The per-block loops for each [`Bf16Kernel`].
mod x86_or_portable;

#[cfg(test)]
mod tests;
