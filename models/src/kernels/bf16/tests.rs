use candle_core::{DType, Device, Tensor};

use super::*;

/// Every kernel this CPU can run (the portable one always).
fn kernels() -> Vec<Bf16Kernel> {
    let mut all = vec![Bf16Kernel::Portable];
    match Bf16Kernel::detect() {
        Bf16Kernel::Avx512Bf16 => all.extend([Bf16Kernel::Avx2, Bf16Kernel::Avx512Bf16]),
        Bf16Kernel::Avx2 => all.push(Bf16Kernel::Avx2),
        Bf16Kernel::Portable => {}
    }
    all
}

fn random(shape: (usize, usize), seed: u64) -> Tensor {
    crate::synthetic::random_normal(&[shape.0, shape.1], 1.0, seed).unwrap()
}

fn rounded(values: &[f32]) -> Vec<f64> {
    values
        .iter()
        .map(|&v| f64::from(bf16_bits_to_f32(to_bf16_bits(v))))
        .collect()
}

/// `x · wᵀ` in f64, after rounding `w` (and `x`, when `round_x`) to bf16.
fn reference(x: &Tensor, w: &Tensor, round_x: bool) -> Vec<f32> {
    let (m, k) = x.dims2().unwrap();
    let n = w.dim(0).unwrap();
    let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let xs: Vec<f64> = if round_x {
        rounded(&xs)
    } else {
        xs.iter().map(|&v| f64::from(v)).collect()
    };
    let ws = rounded(&w.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for o in 0..n {
            let dot: f64 = (0..k).map(|c| xs[i * k + c] * ws[o * k + c]).sum();
            out.push(dot as f32);
        }
    }
    out
}

fn assert_close(got: &Tensor, expected: &[f32], k: usize, what: &str) {
    let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(got.len(), expected.len(), "{what}");
    // f32 accumulation of k products of magnitude ~1: error grows like sqrt(k) ulps.
    let tolerance = 4e-6 * (k as f32).sqrt().max(1.0) * 4.0;
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - e).abs() <= tolerance * e.abs().max(1.0),
            "{what}: [{i}] {g} vs {e}"
        );
    }
}

#[test]
fn rounding_to_bf16_matches_the_half_crate() {
    let specials = [
        0.0f32,
        -0.0,
        1.0,
        f32::MAX,
        f32::MIN_POSITIVE,
        1e-40,
        f32::INFINITY,
    ];
    let ties = (0..2000u32).map(|i| f32::from_bits(0x3f80_8000 + (i << 16)));
    let spread = (0..20_000).map(|i| (i as f32 - 10_000.0) * 0.013_7);
    for x in specials.into_iter().chain(ties).chain(spread) {
        assert_eq!(to_bf16_bits(x), half::bf16::from_f32(x).to_bits(), "{x}");
    }
    assert!(bf16_bits_to_f32(to_bf16_bits(f32::NAN)).is_nan());
}

#[test]
fn packed_products_match_the_rounded_reference_on_odd_shapes() {
    for (m, k, n) in [
        (1, 1, 1),
        (5, 7, 31),
        (9, 32, 33),
        (17, 33, 70),
        (13, 96, 64),
    ] {
        let (x, w) = (random((m, k), 1), random((n, k), 2));
        let packed = PackedBf16::pack(&w).unwrap();
        for kernel in kernels() {
            // Only the AVX512-BF16 kernel rounds the activations.
            let expected = reference(&x, &w, kernel == Bf16Kernel::Avx512Bf16);
            let got = matmul_packed_with(kernel, &x, &packed).unwrap();
            assert_eq!(got.dims(), &[m, n]);
            assert_close(&got, &expected, k, &format!("{kernel:?} {m}x{k}x{n}"));
        }
    }
}

#[test]
fn few_row_products_match_the_reference_through_chunks() {
    // 70 rows: two chunks of the few-rows kernel.
    for (m, k, n) in [(1, 1, 1), (3, 7, 5), (4, 40, 130), (70, 24, 9)] {
        let (x, w) = (random((m, k), 3), random((n, k), 4));
        let w16 = w.to_dtype(DType::BF16).unwrap();
        for kernel in kernels() {
            // Only the AVX512-BF16 kernel rounds the activations.
            let expected = reference(&x, &w, kernel == Bf16Kernel::Avx512Bf16);
            let got = matmul_bf16_rows_with(kernel, &x, &w16).unwrap();
            assert_eq!(got.dims(), &[m, n]);
            assert_close(&got, &expected, k, &format!("{kernel:?} {m}x{k}x{n}"));
        }
    }
}

#[test]
fn a_row_gives_the_same_bits_alone_and_in_a_batch() {
    let (x, w) = (random((11, 64), 5), random((40, 64), 6));
    let (packed, w16) = (
        PackedBf16::pack(&w).unwrap(),
        w.to_dtype(DType::BF16).unwrap(),
    );
    for kernel in kernels() {
        let batch_packed = matmul_packed_with(kernel, &x, &packed).unwrap();
        let batch_rows = matmul_bf16_rows_with(kernel, &x, &w16).unwrap();
        for i in 0..11 {
            let row = x.narrow(0, i, 1).unwrap();
            let alone = matmul_packed_with(kernel, &row, &packed).unwrap();
            let in_batch = batch_packed.narrow(0, i, 1).unwrap();
            assert_eq!(
                alone.to_vec2::<f32>().unwrap(),
                in_batch.to_vec2::<f32>().unwrap()
            );
            let alone = matmul_bf16_rows_with(kernel, &row, &w16).unwrap();
            let in_batch = batch_rows.narrow(0, i, 1).unwrap();
            assert_eq!(
                alone.to_vec2::<f32>().unwrap(),
                in_batch.to_vec2::<f32>().unwrap()
            );
        }
    }
}

#[test]
fn mismatched_shapes_are_refused() {
    let x = Tensor::zeros((2, 8), DType::F32, &Device::Cpu).unwrap();
    let packed = PackedBf16::pack(&random((4, 6), 7)).unwrap();
    assert!(matmul_packed(&x, &packed).is_err());
    let w = Tensor::zeros((4, 6), DType::BF16, &Device::Cpu).unwrap();
    assert!(matmul_bf16_rows(&x, &w).is_err());
    let w32 = Tensor::zeros((4, 8), DType::F32, &Device::Cpu).unwrap();
    assert!(matmul_bf16_rows(&x, &w32).is_err());
}
