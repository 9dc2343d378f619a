//! Helpers shared by the test modules.

use candle_core::{DType, Device, Tensor};

/// Where the parity tests run the model: `IMGCAP_TEST_DEVICE` (`cpu`, `cuda`, `cuda:N`), the
/// CPU when unset. scripts/gpu-check.sh sets `cuda` to run the same tests, with the same
/// tolerances, on a GPU.
pub fn test_device() -> Device {
    let name = std::env::var("IMGCAP_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
    imgcap_models::parse_device(&name).unwrap_or_else(|e| panic!("IMGCAP_TEST_DEVICE: {e}"))
}

/// Compared on the CPU in f32, wherever and in whichever precision each was computed.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    let on_cpu = |t: &Tensor| {
        t.to_device(&Device::Cpu)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
    };
    max_abs(&(on_cpu(a) - on_cpu(b)).unwrap())
}

pub fn max_abs(a: &Tensor) -> f32 {
    a.to_dtype(DType::F32)
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
