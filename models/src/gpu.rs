//! What the servers need to know about a CUDA device: its compute capability (which half
//! precision `--dtype auto` picks) and its name and memory (for `/info` and `/metrics`).
//!
//! Queried through the driver (cudarc, which candle's `cuda` feature builds); without that
//! feature, or on another device, there is nothing to report.

use candle_core::{DType, Device};
use imgcap_common::GpuInfo;

use crate::error::Result;

/// `--dtype auto` on a CUDA device: bf16 where the tensor cores compute it (Ampere, compute
/// capability 8.0, and later), f16 before that (Volta and Turing: V100, T4), where bf16 runs
/// emulated and slower than f32. Both keep f32's accuracy within the parity tests' tolerances.
pub fn cuda_auto_dtype(compute_capability: (u32, u32)) -> DType {
    if compute_capability.0 >= 8 {
        DType::BF16
    } else {
        DType::F16
    }
}

/// `major.minor`, as NVIDIA writes it.
pub fn compute_capability_name((major, minor): (u32, u32)) -> String {
    format!("{major}.{minor}")
}

/// The compute capability of `device` when it is a CUDA device.
pub fn compute_capability(device: &Device) -> Result<Option<(u32, u32)>> {
    imp::compute_capability(device)
}

/// Name, compute capability and memory of `device` right now, when it is a CUDA device. The
/// used memory is the whole device's (every process, and the memory pool candle keeps), as
/// `nvidia-smi` shows it.
pub fn gpu_info(device: &Device) -> Result<Option<GpuInfo>> {
    imp::gpu_info(device)
}

#[cfg(feature = "cuda")]
mod imp {
    use super::*;
    use crate::error::ModelError;

    fn driver_error(e: impl std::fmt::Display) -> ModelError {
        ModelError::Backend(candle_core::Error::Cuda(e.to_string().into()))
    }

    pub fn compute_capability(device: &Device) -> Result<Option<(u32, u32)>> {
        let Device::Cuda(cuda) = device else {
            return Ok(None);
        };
        let (major, minor) = cuda
            .cuda_stream()
            .context()
            .compute_capability()
            .map_err(driver_error)?;
        Ok(Some((major as u32, minor as u32)))
    }

    pub fn gpu_info(device: &Device) -> Result<Option<GpuInfo>> {
        let Device::Cuda(cuda) = device else {
            return Ok(None);
        };
        let stream = cuda.cuda_stream();
        let context = stream.context();
        let (free, total) = context.mem_get_info().map_err(driver_error)?;
        let (major, minor) = context.compute_capability().map_err(driver_error)?;
        Ok(Some(GpuInfo {
            name: context.name().map_err(driver_error)?,
            compute_capability: compute_capability_name((major as u32, minor as u32)),
            memory_used_bytes: total.saturating_sub(free) as u64,
            memory_total_bytes: total as u64,
        }))
    }
}

#[cfg(not(feature = "cuda"))]
mod imp {
    use super::*;

    // Without the `cuda` feature no CUDA device can exist (candle refuses to create one).
    pub fn compute_capability(_: &Device) -> Result<Option<(u32, u32)>> {
        Ok(None)
    }

    pub fn gpu_info(_: &Device) -> Result<Option<GpuInfo>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_bf16_from_ampere_on_and_f16_before() {
        for (cc, dtype) in [
            ((7, 0), DType::F16),  // V100
            ((7, 5), DType::F16),  // T4 (g4dn)
            ((8, 0), DType::BF16), // A100 (p4d)
            ((8, 6), DType::BF16), // A10G (g5)
            ((8, 9), DType::BF16), // L4 (g6)
            ((9, 0), DType::BF16), // H100 (p5)
        ] {
            assert_eq!(cuda_auto_dtype(cc), dtype, "compute capability {cc:?}");
        }
        assert_eq!(compute_capability_name((8, 6)), "8.6");
    }

    #[test]
    fn the_cpu_has_no_gpu_to_report() {
        assert_eq!(compute_capability(&Device::Cpu).unwrap(), None);
        assert_eq!(gpu_info(&Device::Cpu).unwrap(), None);
    }
}
