//! Checked access to a checkpoint's tensors, whatever its file format.
//!
//! Every lookup names the tensor and the shape the model expects, so a broken or mismatched
//! checkpoint fails with an error that says exactly which tensor is wrong.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::quantized::{gguf_file, QMatMul};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Module, Tensor};

use crate::error::{ModelError, Result};
use crate::kernels::bf16::{self, PackedBf16};
use crate::source::WeightFiles;

enum Store {
    /// Memory-mapped: tensors are copied out of the page cache on load and the mapping is
    /// dropped with the `Weights` once the model is built.
    Safetensors(MmapedSafetensors),
    PyTorch(candle_core::pickle::PthTensors),
    Gguf {
        content: gguf_file::Content,
        file: Mutex<BufReader<File>>,
    },
}

/// How a model's tensors are kept and computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Precision {
    /// What activations, norms and biases are computed in.
    pub activations: DType,
    /// Matrices kept in bf16 and multiplied by `kernels::bf16` (bf16 asked for on the CPU,
    /// where candle's own bf16 arithmetic converts element by element and runs at half the
    /// speed of f32).
    pub bf16_matrices: bool,
}

impl Precision {
    pub fn new(dtype: DType, device: &Device) -> Self {
        if dtype == DType::BF16 && device.is_cpu() {
            Self {
                activations: DType::F32,
                bf16_matrices: true,
            }
        } else {
            Self {
                activations: dtype,
                bf16_matrices: false,
            }
        }
    }
}

pub(crate) struct Weights {
    store: Store,
    path: PathBuf,
    device: Device,
    precision: Precision,
}

impl Weights {
    pub fn open(files: &WeightFiles, device: &Device, precision: Precision) -> Result<Self> {
        let checkpoint_err = |path: &Path, e: &dyn std::fmt::Display| ModelError::Checkpoint {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let ensure_exists = |path: &Path| {
            if path.exists() {
                Ok(())
            } else {
                Err(ModelError::MissingFile {
                    path: path.to_path_buf(),
                })
            }
        };
        let (store, path) = match files {
            WeightFiles::Safetensors(paths) => {
                let first = paths.first().cloned().unwrap_or_default();
                for path in paths {
                    ensure_exists(path)?;
                }
                // SAFETY: the files are opened read-only; like every mmap user we rely on nobody
                // truncating a checkpoint while the model loads.
                let store = unsafe { MmapedSafetensors::multi(paths) }
                    .map_err(|e| checkpoint_err(&first, &e))?;
                (Store::Safetensors(store), first)
            }
            WeightFiles::PyTorch(path) => {
                ensure_exists(path)?;
                let store = candle_core::pickle::PthTensors::new(path, None)
                    .map_err(|e| checkpoint_err(path, &e))?;
                (Store::PyTorch(store), path.clone())
            }
            WeightFiles::Gguf(path) => {
                ensure_exists(path)?;
                let file = File::open(path).map_err(|source| ModelError::Io {
                    path: path.clone(),
                    source,
                })?;
                let mut reader = BufReader::new(file);
                let content =
                    gguf_file::Content::read(&mut reader).map_err(|e| checkpoint_err(path, &e))?;
                (
                    Store::Gguf {
                        content,
                        file: Mutex::new(reader),
                    },
                    path.clone(),
                )
            }
        };
        Ok(Self {
            store,
            path,
            device: device.clone(),
            precision,
        })
    }

    pub fn is_quantized(&self) -> bool {
        matches!(self.store, Store::Gguf { .. })
    }

    fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        match &self.store {
            Store::Safetensors(st) => st.get(name).ok().map(|view| view.shape().to_vec()),
            Store::PyTorch(pth) => pth
                .tensor_infos()
                .get(name)
                .map(|info| info.layout.shape().dims().to_vec()),
            Store::Gguf { content, .. } => content
                .tensor_infos
                .get(name)
                .map(|info| info.shape.dims().to_vec()),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.shape_of(name).is_some()
    }

    fn check_shape(&self, name: &str, expected: &[usize]) -> Result<()> {
        match self.shape_of(name) {
            None => Err(ModelError::MissingTensor {
                name: name.to_string(),
                expected: expected.to_vec(),
            }),
            Some(actual) if actual != expected => Err(ModelError::ShapeMismatch {
                name: name.to_string(),
                expected: expected.to_vec(),
                actual,
            }),
            Some(_) => Ok(()),
        }
    }

    fn read_error(&self, name: &str, e: candle_core::Error) -> ModelError {
        ModelError::Checkpoint {
            path: self.path.clone(),
            message: format!("cannot read tensor `{name}`: {e}"),
        }
    }

    /// A dense tensor of the expected shape, in the activations' dtype, on the model's device.
    pub fn get(&self, name: &str, expected: &[usize]) -> Result<Tensor> {
        self.check_shape(name, expected)?;
        let loaded = match &self.store {
            Store::Safetensors(st) => st.load(name, &self.device),
            Store::PyTorch(pth) => pth.get(name).and_then(|t| {
                t.ok_or_else(|| candle_core::Error::Msg(format!("no tensor {name}")))?
                    .to_device(&self.device)
            }),
            Store::Gguf { .. } => self.qtensor(name).and_then(|q| q.dequantize(&self.device)),
        };
        let tensor = loaded.map_err(|e| self.read_error(name, e))?;
        Ok(tensor.to_dtype(self.precision.activations)?)
    }

    /// [`Self::get`] for a matrix that only takes part in products: in bf16 where the model
    /// keeps its matrices so (an embedding table shared with the output layer, say).
    pub fn matrix(&self, name: &str, expected: &[usize]) -> Result<Tensor> {
        let tensor = self.get(name, expected)?;
        Ok(if self.precision.bf16_matrices {
            tensor.to_dtype(DType::BF16)?
        } else {
            tensor
        })
    }

    /// A dense layer from a weight already in memory ([out, in], PyTorch layout), kept in the
    /// model's precision and laid out for `rows`.
    pub fn dense(&self, weight: Tensor, bias: Option<Tensor>, rows: Rows) -> Result<Linear> {
        if !self.precision.bf16_matrices {
            return Linear::dense(weight, bias, rows);
        }
        let weight = match rows {
            Rows::Many => LinearWeight::Bf16Packed(PackedBf16::pack(&weight)?),
            Rows::Few => LinearWeight::Bf16Rows(weight.to_dtype(DType::BF16)?.contiguous()?),
        };
        Ok(Linear { weight, bias })
    }

    fn qtensor(&self, name: &str) -> candle_core::Result<candle_core::quantized::QTensor> {
        let Store::Gguf { content, file } = &self.store else {
            candle_core::bail!("not a quantized checkpoint")
        };
        let mut reader = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        content.tensor(&mut *reader, name, &self.device)
    }

    /// `{prefix}.weight` of shape [out, in] and, when `bias`, `{prefix}.bias` of shape [out].
    pub fn linear(
        &self,
        prefix: &str,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
        rows: Rows,
    ) -> Result<Linear> {
        let weight_name = format!("{prefix}.weight");
        let bias = if bias {
            Some(self.get(&format!("{prefix}.bias"), &[out_dim])?)
        } else {
            None
        };
        if !self.is_quantized() {
            return self.dense(self.get(&weight_name, &[out_dim, in_dim])?, bias, rows);
        }
        self.check_shape(&weight_name, &[out_dim, in_dim])?;
        let qtensor = self
            .qtensor(&weight_name)
            .map_err(|e| self.read_error(&weight_name, e))?;
        Ok(Linear {
            weight: LinearWeight::Quantized(QMatMul::from_qtensor(qtensor)?),
            bias,
        })
    }

    pub fn layer_norm(&self, prefix: &str, dim: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: self.get(&format!("{prefix}.weight"), &[dim])?,
            bias: self.get(&format!("{prefix}.bias"), &[dim])?,
            eps: eps as f32,
        })
    }
}

/// How many rows the products of a dense layer mostly have; it decides the weight's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rows {
    /// Hundreds (the vision encoder): the weight is kept as [in, out], which the matrix
    /// multiply reads fastest.
    Many,
    /// One per sequence (decoding steps): the weight is kept as [out, in] so that
    /// `kernels::matmul_few_rows` streams each of its rows once.
    Few,
}

#[derive(Debug, Clone)]
enum LinearWeight {
    /// Contiguous, laid out for `Rows`.
    Dense(Tensor, Rows),
    /// bf16 [out, in] for `Rows::Few`.
    Bf16Rows(Tensor),
    /// bf16 in panels for `Rows::Many`.
    Bf16Packed(PackedBf16),
    Quantized(QMatMul),
}

/// `y = x Wᵀ + b` over the last dimension of `x`, for dense or GGUF-quantized weights.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    weight: LinearWeight,
    bias: Option<Tensor>,
}

impl Linear {
    /// A dense layer in the weight's own dtype ([out, in], PyTorch layout).
    pub fn dense(weight: Tensor, bias: Option<Tensor>, rows: Rows) -> Result<Self> {
        let weight = match rows {
            Rows::Many => weight.t()?.contiguous()?,
            Rows::Few => weight.contiguous()?,
        };
        Ok(Self {
            weight: LinearWeight::Dense(weight, rows),
            bias,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims();
        let in_dim = dims[dims.len() - 1];
        let rows = x.elem_count() / in_dim;
        let flat = x.reshape((rows, in_dim))?;
        let y = match &self.weight {
            LinearWeight::Dense(w, Rows::Many) => flat.matmul(w)?,
            LinearWeight::Dense(w, Rows::Few) => crate::kernels::matmul_few_rows(&flat, w)?,
            LinearWeight::Bf16Rows(w) => bf16::matmul_bf16_rows(&flat, w)?,
            LinearWeight::Bf16Packed(w) => bf16::matmul_packed(&flat, w)?,
            LinearWeight::Quantized(q) => q.forward(&flat)?,
        };
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let mut out_dims = dims.to_vec();
        *out_dims.last_mut().expect("rank >= 1") = y.dim(1)?;
        Ok(y.reshape(out_dims)?)
    }

    /// `forward(x)` transposed per batch entry: `x` [batch, n, in] → [batch, out, n]. Dense
    /// weights get it straight from the matrix multiply (W·xᵀ), as the cross-attention keys
    /// want it, because transposing the result is an element-by-element copy in candle (about
    /// 5 ms per image over BLIP-base's 12 layers).
    pub fn forward_transposed(&self, x: &Tensor) -> Result<Tensor> {
        let LinearWeight::Dense(w, rows) = &self.weight else {
            return Ok(self.forward(x)?.transpose(1, 2)?.contiguous()?);
        };
        let w_out_in = match rows {
            Rows::Many => w.t()?,
            Rows::Few => w.clone(),
        };
        let items = (0..x.dim(0)?)
            .map(|i| {
                let y = w_out_in.matmul(&x.get(i)?.t()?)?;
                Ok(match &self.bias {
                    Some(b) => y.broadcast_add(&b.unsqueeze(1)?)?,
                    None => y,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::stack(&items, 0)?)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::layer_norm(
            x,
            &self.weight,
            &self.bias,
            self.eps,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn transposed_products_equal_transposed_results() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (6, 5), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 6, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (3, 7, 5), &dev).unwrap();
        for rows in [Rows::Many, Rows::Few] {
            for bias in [Some(b.clone()), None] {
                let linear = Linear::dense(w.clone(), bias, rows).unwrap();
                let expected = linear.forward(&x).unwrap().transpose(1, 2).unwrap();
                let got = linear.forward_transposed(&x).unwrap();
                assert_eq!(got.dims(), &[3, 6, 7]);
                let diff = crate::kernels::tests::max_abs_diff(&got, &expected);
                assert!(diff < 1e-5, "{rows:?}: {diff}");
            }
        }
    }
}
