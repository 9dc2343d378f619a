//! The whole BLIP captioning network: vision encoder + text decoder, loaded from a checkpoint.

use candle_core::{DType, Device, Tensor};

use crate::config::BlipConfig;
use crate::error::Result;
use crate::generate::{self, GeneratedSequence, GenerationOptions, SpecialTokens};
use crate::source::WeightFiles;
use crate::text::{DecoderCache, ImageContext, TextDecoder};
use crate::vision::VisionModel;
use crate::weights::{Precision, Weights};

pub struct BlipModel {
    config: BlipConfig,
    vision: VisionModel,
    text: TextDecoder,
    device: Device,
    dtype: DType,
    quantized: bool,
}

impl BlipModel {
    /// Loads every tensor, checking names and shapes against `config`. Quantized (GGUF)
    /// checkpoints always compute in f32, whatever `dtype` asks.
    pub fn load(
        config: BlipConfig,
        weights: &WeightFiles,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        let quantized = matches!(weights, WeightFiles::Gguf(_));
        let dtype = if quantized { DType::F32 } else { dtype };
        let store = Weights::open(weights, device, Precision::new(dtype, device))?;
        let vision = VisionModel::load(&store, &config.vision)?;
        let text = TextDecoder::load(&store, &config.text)?;
        // `store` (and its memory map) is dropped here: only the converted tensors stay resident.
        Ok(Self {
            config,
            vision,
            text,
            device: device.clone(),
            dtype,
            quantized,
        })
    }

    pub fn config(&self) -> &BlipConfig {
        &self.config
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// The precision the model was loaded in (bf16 on the CPU: bf16 matrices, f32 activations).
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// The dtype activations are computed in: what pixel values are given in.
    pub fn activation_dtype(&self) -> DType {
        Precision::new(self.dtype, &self.device).activations
    }
    pub fn is_quantized(&self) -> bool {
        self.quantized
    }

    /// `pixel_values` [images, 3, size, size] → image embeddings [images, positions, hidden].
    pub fn encode_images(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let expected = self.vision.image_size();
        let (_, _, h, w) = pixel_values.dims4()?;
        if (h, w) != (expected, expected) {
            return Err(crate::ModelError::InvalidOptions(format!(
                "pixel values are {h}x{w}, the model expects {expected}x{expected}"
            )));
        }
        self.vision
            .forward(&pixel_values.to_dtype(self.activation_dtype())?)
    }

    /// The cross-attention keys/values of each image, computed once and shared by the `group`
    /// sequences decoded per image.
    pub fn image_context(&self, image_embeds: &Tensor, group: usize) -> Result<ImageContext> {
        self.text.image_context(image_embeds, group)
    }

    /// One decoder pass: feeds `input_ids` [sequences, t] after what `cache` holds and returns
    /// the last position's logits [sequences, vocab] in f32.
    pub fn decode(
        &self,
        input_ids: &Tensor,
        image: &ImageContext,
        cache: &mut DecoderCache,
    ) -> Result<Tensor> {
        self.text.forward(input_ids, image, cache)
    }

    /// Generates one sequence per image from `prefix` (start token plus optional prompt ids).
    pub fn generate(
        &self,
        image_embeds: &Tensor,
        prefix: &[u32],
        options: &GenerationOptions,
    ) -> Result<Vec<GeneratedSequence>> {
        let context = self.image_context(image_embeds, 1)?;
        let special = SpecialTokens {
            eos: self.config.text.sep_token_id,
        };
        generate::generate(&self.text, &context, prefix, options, special)
    }

    /// Several searches over the same images from the same prefix, decoded in shared passes
    /// (each pass reads the decoder's weights once for all of them): one sequence per image for
    /// each entry of `options`, the same as separate [`Self::generate`] calls give.
    pub fn generate_together(
        &self,
        image_embeds: &Tensor,
        prefix: &[u32],
        options: &[&GenerationOptions],
    ) -> Result<Vec<Vec<GeneratedSequence>>> {
        let context = self.image_context(image_embeds, 1)?;
        let special = SpecialTokens {
            eos: self.config.text.sep_token_id,
        };
        generate::generate_together(&self.text, &context, prefix, options, special)
    }
}
