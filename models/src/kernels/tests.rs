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
    // Query tiles (4 wide with AVX-512, 6 with AVX2) down to 1, many tiles (self-attention of
    // the vision encoder), key
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
        // The portable fallback, on the first head.
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
