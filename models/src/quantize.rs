//! Converting a checkpoint to a quantized GGUF file the loader reads through the same API.
//!
//! The matrices of linear layers are quantized when their rows fit the format's block size
//! (32 values for q8_0, 256 for the k-quants); embeddings, norms, biases and anything else stay
//! f32, as they are small and sensitive.

use std::path::Path;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use crate::error::{ModelError, Result};
use crate::source::WeightFiles;

/// Parses `q8_0`, `q4k`/`q4_k`, `q5k`, `q6k`, `q4_0`, `f16`.
pub fn parse_quantization(name: &str) -> Result<GgmlDType> {
    Ok(
        match name.trim().to_ascii_lowercase().replace('_', "").as_str() {
            "q80" => GgmlDType::Q8_0,
            "q40" => GgmlDType::Q4_0,
            "q4k" => GgmlDType::Q4K,
            "q5k" => GgmlDType::Q5K,
            "q6k" => GgmlDType::Q6K,
            "f16" => GgmlDType::F16,
            other => {
                return Err(ModelError::InvalidOptions(format!(
                    "unknown quantization `{other}`: use q8_0, q4_0, q4k, q5k, q6k or f16"
                )))
            }
        },
    )
}

fn is_linear_matrix(name: &str, tensor: &Tensor) -> bool {
    tensor.rank() == 2 && name.ends_with(".weight") && !name.contains("embeddings")
}

/// Quantizes `tensors` and writes them to `out` as GGUF. Returns how many were quantized.
pub fn write_gguf(tensors: &[(String, Tensor)], dtype: GgmlDType, out: &Path) -> Result<usize> {
    let mut quantized = 0;
    let qtensors = tensors
        .iter()
        .map(|(name, tensor)| {
            let tensor = tensor
                .to_device(&Device::Cpu)?
                .to_dtype(candle_core::DType::F32)?;
            let row = *tensor.dims().last().unwrap_or(&0);
            let target = if is_linear_matrix(name, &tensor) && row % dtype.block_size() == 0 {
                quantized += 1;
                dtype
            } else {
                GgmlDType::F32
            };
            Ok((name.as_str(), QTensor::quantize(&tensor, target)?))
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<(&str, &QTensor)> = qtensors.iter().map(|(n, q)| (*n, q)).collect();
    let io_err = |source| ModelError::Io {
        path: out.to_path_buf(),
        source,
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).map_err(io_err)?);
    gguf_file::write(&mut file, &[], &refs)?;
    std::io::Write::flush(&mut file).map_err(io_err)?;
    Ok(quantized)
}

/// Reads every tensor of a safetensors or PyTorch checkpoint.
pub fn read_all(weights: &WeightFiles) -> Result<Vec<(String, Tensor)>> {
    let err = |path: &Path, e: candle_core::Error| ModelError::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    match weights {
        WeightFiles::Safetensors(paths) => {
            let mut all = Vec::new();
            for path in paths {
                let tensors =
                    candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| err(path, e))?;
                all.extend(tensors);
            }
            all.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(all)
        }
        WeightFiles::PyTorch(path) => candle_core::pickle::read_all(path).map_err(|e| err(path, e)),
        WeightFiles::Gguf(path) => Err(ModelError::InvalidOptions(format!(
            "{} is already quantized",
            path.display()
        ))),
    }
}
