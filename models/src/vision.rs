//! The BLIP vision transformer (ViT): patch embedding, pre-norm encoder layers, final LayerNorm.

use candle_core::Tensor;

use crate::config::VisionConfig;
use crate::error::Result;
use crate::weights::{LayerNorm, Linear, Rows, Weights};

/// The activation named by `hidden_act` in the config.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Activation {
    GeluErf,
    GeluTanh,
    Relu,
}

impl Activation {
    pub fn from_config(name: &str) -> Self {
        // `BlipConfig::check` already refused anything else.
        match name {
            "gelu_new" | "gelu_pytorch_tanh" => Self::GeluTanh,
            "relu" => Self::Relu,
            _ => Self::GeluErf,
        }
    }

    pub fn forward(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Self::GeluErf => crate::kernels::gelu_erf(x)?,
            Self::GeluTanh => x.gelu()?,
            Self::Relu => x.relu()?,
        })
    }
}

struct VisionLayer {
    norm1: LayerNorm,
    qkv: Linear,
    projection: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    heads: usize,
    act: Activation,
}

impl VisionLayer {
    fn load(w: &Weights, prefix: &str, cfg: &VisionConfig) -> Result<Self> {
        let (d, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        Ok(Self {
            norm1: w.layer_norm(&format!("{prefix}.layer_norm1"), d, eps)?,
            qkv: w.linear(
                &format!("{prefix}.self_attn.qkv"),
                d,
                3 * d,
                true,
                Rows::Many,
            )?,
            projection: w.linear(
                &format!("{prefix}.self_attn.projection"),
                d,
                d,
                true,
                Rows::Many,
            )?,
            norm2: w.layer_norm(&format!("{prefix}.layer_norm2"), d, eps)?,
            fc1: w.linear(
                &format!("{prefix}.mlp.fc1"),
                d,
                cfg.intermediate_size,
                true,
                Rows::Many,
            )?,
            fc2: w.linear(
                &format!("{prefix}.mlp.fc2"),
                cfg.intermediate_size,
                d,
                true,
                Rows::Many,
            )?,
            heads: cfg.num_attention_heads,
            act: Activation::from_config(&cfg.hidden_act),
        })
    }

    fn attention(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, d) = x.dims3()?;
        let head_dim = d / self.heads;
        // [b, n, 3, heads, head_dim] -> [3, b, heads, n, head_dim]
        let qkv = self
            .qkv
            .forward(x)?
            .reshape((b, n, 3, self.heads, head_dim))?
            .permute((2, 0, 3, 1, 4))?;
        let scale = (head_dim as f64).powf(-0.5);
        let q = qkv.get(0)?.contiguous()?;
        let keys_t = qkv.get(1)?.transpose(2, 3)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let context = crate::kernels::attention_transposed_keys(&q, &keys_t, &v, scale)?
            .transpose(1, 2)?
            .reshape((b, n, d))?;
        self.projection.forward(&context)
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = (x + self.attention(&self.norm1.forward(x)?)?)?;
        let hidden = self
            .act
            .forward(&self.fc1.forward(&self.norm2.forward(&x)?)?)?;
        Ok((&x + self.fc2.forward(&hidden)?)?)
    }
}

pub(crate) struct VisionModel {
    class_embedding: Tensor,
    /// The patch convolution as a matrix product over flattened patches (stride = kernel size).
    patch_embedding: Linear,
    position_embedding: Tensor,
    layers: Vec<VisionLayer>,
    post_layernorm: LayerNorm,
    patch_size: usize,
    image_size: usize,
}

impl VisionModel {
    pub fn load(w: &Weights, cfg: &VisionConfig) -> Result<Self> {
        let (d, p, c) = (cfg.hidden_size, cfg.patch_size, cfg.num_channels);
        let prefix = "vision_model";
        let conv_name = format!("{prefix}.embeddings.patch_embedding.weight");
        let conv = w.get(&conv_name, &[d, c, p, p])?;
        let conv_bias = w.get(&format!("{prefix}.embeddings.patch_embedding.bias"), &[d])?;
        let patch_embedding =
            w.dense(conv.reshape((d, c * p * p))?, Some(conv_bias), Rows::Many)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| VisionLayer::load(w, &format!("{prefix}.encoder.layers.{i}"), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            class_embedding: w.get(&format!("{prefix}.embeddings.class_embedding"), &[1, 1, d])?,
            patch_embedding,
            position_embedding: w.get(
                &format!("{prefix}.embeddings.position_embedding"),
                &[1, cfg.num_positions(), d],
            )?,
            layers,
            post_layernorm: w.layer_norm(
                &format!("{prefix}.post_layernorm"),
                d,
                cfg.layer_norm_eps,
            )?,
            patch_size: p,
            image_size: cfg.image_size,
        })
    }

    pub fn image_size(&self) -> usize {
        self.image_size
    }

    /// `pixel_values` [batch, channels, size, size] → image embeddings [batch, positions, hidden].
    pub fn forward(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = pixel_values.dims4()?;
        let p = self.patch_size;
        let (gh, gw) = (h / p, w / p);
        // [b, c, gh, p, gw, p] -> [b, gh, gw, c, p, p]: one row per patch, in conv weight order.
        let patches = pixel_values
            .reshape((b, c, gh, p, gw, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((b, gh * gw, c * p * p))?;
        let patch_embeds = self.patch_embedding.forward(&patches)?;
        let hidden = self.class_embedding.dims()[2];
        let class = self.class_embedding.broadcast_as((b, 1, hidden))?;
        let mut x = Tensor::cat(&[&class, &patch_embeds], 1)?
            .broadcast_add(&self.position_embedding.narrow(1, 0, gh * gw + 1)?)?;
        for layer in &self.layers {
            x = layer.forward(&x)?;
        }
        self.post_layernorm.forward(&x)
    }
}
