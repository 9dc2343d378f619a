//! Decoded images in, model input out: the preprocessing of Hugging Face's PIL-based BLIP image
//! processor (`BlipImageProcessor` in transformers 4, `BlipImageProcessorPil` in 5) — resize,
//! rescale, normalise — as candle tensors.
//!
//! Decoding, limits and the Pillow-exact bicubic resize are `imgcap_imaging`'s; the resize must
//! match Pillow bit for bit because the reference captions (and the parity fixtures) come from
//! `transformers`, which resizes with Pillow.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use imgcap_imaging::resize_bicubic;
use serde::Deserialize;

use crate::error::ModelError;

/// CLIP's normalisation constants, which BLIP reuses. Written as `transformers` publishes them;
/// the compiler rounds them to f32 exactly as `np.array(..., dtype=np.float32)` does.
#[allow(clippy::excessive_precision)]
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// The slow (PIL) `BlipImageProcessor`: bicubic resize to a fixed size, rescale, normalise.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageProcessor {
    pub height: u32,
    pub width: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// f64 because `transformers` multiplies in f64 and only then casts to f32; keeping the
    /// exact factor makes the outputs identical, not just close.
    pub rescale_factor: f64,
}

impl ImageProcessor {
    /// BLIP's published preprocessing at `image_size` × `image_size` (384 for the captioning
    /// checkpoints).
    pub fn blip(image_size: u32) -> Self {
        Self {
            height: image_size,
            width: image_size,
            mean: CLIP_MEAN,
            std: CLIP_STD,
            rescale_factor: 1.0 / 255.0,
        }
    }

    /// Reads a Hugging Face `preprocessor_config.json`. Missing keys take BLIP's defaults;
    /// anything this processor cannot reproduce (another resampling filter, no resizing) is a
    /// [`ModelError::Config`] rather than a silently different preprocessing.
    pub fn from_preprocessor_config(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text).map_err(|message| ModelError::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    fn from_json(text: &str) -> Result<Self, String> {
        let raw: RawPreprocessorConfig =
            serde_json::from_str(text).map_err(|err| err.to_string())?;
        if let Some(resample) = raw.resample {
            if resample != PIL_BICUBIC {
                return Err(format!(
                    "resample = {resample} is not supported; only 3 (bicubic) is implemented"
                ));
            }
        }
        if raw.do_resize == Some(false) {
            return Err(
                "do_resize = false is not supported: the model needs a fixed input size".into(),
            );
        }
        let mut processor = Self::blip(BLIP_DEFAULT_SIZE);
        if let Some(size) = &raw.size {
            (processor.height, processor.width) = parse_size(size)?;
        }
        if let Some(mean) = raw.image_mean {
            processor.mean = mean.channels("image_mean")?;
        }
        if let Some(std) = raw.image_std {
            processor.std = std.channels("image_std")?;
        }
        if processor.std.contains(&0.0) {
            return Err("image_std contains 0".into());
        }
        if let Some(factor) = raw.rescale_factor {
            processor.rescale_factor = factor;
        }
        if raw.do_rescale == Some(false) {
            processor.rescale_factor = 1.0;
        }
        if raw.do_normalize == Some(false) {
            processor.mean = [0.0; 3];
            processor.std = [1.0; 3];
        }
        Ok(processor)
    }

    /// The image resized to the model's input size (Pillow-exact bicubic).
    pub fn resize(&self, image: &RgbImage) -> RgbImage {
        resize_bicubic(image, self.width, self.height)
    }

    /// Channel-first `[3, height, width]` model input, resizing first if the image is not
    /// already at the input size. Values are `((v * rescale) - mean) / std`, computed with the
    /// same roundings as `transformers` (product in f64, then f32).
    pub fn pixel_values(&self, image: &RgbImage) -> Vec<f32> {
        let mut out = vec![0f32; self.values_per_image()];
        self.write_pixel_values(image, &mut out);
        out
    }

    /// A `[N, 3, height, width]` tensor of `images` on `device` in `dtype`.
    pub fn batch(
        &self,
        images: &[RgbImage],
        device: &Device,
        dtype: DType,
    ) -> Result<Tensor, ModelError> {
        let per_image = self.values_per_image();
        let mut data = vec![0f32; per_image * images.len()];
        for (image, out) in images.iter().zip(data.chunks_exact_mut(per_image)) {
            self.write_pixel_values(image, out);
        }
        let shape = (images.len(), 3, self.height as usize, self.width as usize);
        Ok(Tensor::from_vec(data, shape, device)?.to_dtype(dtype)?)
    }

    fn values_per_image(&self) -> usize {
        3 * self.height as usize * self.width as usize
    }

    fn write_pixel_values(&self, image: &RgbImage, out: &mut [f32]) {
        let resized;
        let image = if image.dimensions() == (self.width, self.height) {
            image
        } else {
            resized = self.resize(image);
            &resized
        };
        // 256 possible inputs per channel: a lookup table is exact and cheaper than the math.
        let table: [[f32; 256]; 3] = std::array::from_fn(|c| {
            std::array::from_fn(|v| {
                let scaled = (v as f64 * self.rescale_factor) as f32;
                (scaled - self.mean[c]) / self.std[c]
            })
        });
        let plane = self.height as usize * self.width as usize;
        let (red, rest) = out.split_at_mut(plane);
        let (green, blue) = rest.split_at_mut(plane);
        for (i, px) in image.as_raw().chunks_exact(3).enumerate() {
            red[i] = table[0][usize::from(px[0])];
            green[i] = table[1][usize::from(px[1])];
            blue[i] = table[2][usize::from(px[2])];
        }
    }
}

/// `PIL.Image.BICUBIC`.
const PIL_BICUBIC: i64 = 3;
const BLIP_DEFAULT_SIZE: u32 = 384;

#[derive(Deserialize)]
struct RawPreprocessorConfig {
    size: Option<serde_json::Value>,
    image_mean: Option<PerChannel>,
    image_std: Option<PerChannel>,
    rescale_factor: Option<f64>,
    resample: Option<i64>,
    do_resize: Option<bool>,
    do_rescale: Option<bool>,
    do_normalize: Option<bool>,
}

/// `image_mean` / `image_std`: one value for all channels or one per channel.
#[derive(Deserialize)]
#[serde(untagged)]
enum PerChannel {
    One(f64),
    Each(Vec<f64>),
}

impl PerChannel {
    /// f32 like `transformers`, which builds `np.array(mean, dtype=np.float32)`.
    fn channels(self, key: &str) -> Result<[f32; 3], String> {
        match self {
            Self::One(v) => Ok([v as f32; 3]),
            Self::Each(values) => match values.as_slice() {
                [r, g, b] => Ok([*r as f32, *g as f32, *b as f32]),
                other => Err(format!("{key} must have 3 values, found {}", other.len())),
            },
        }
    }
}

/// `size` as `{"height", "width"}`, the legacy integer, or `{"shortest_edge"}` (a square: BLIP
/// always feeds the model a square image).
fn parse_size(size: &serde_json::Value) -> Result<(u32, u32), String> {
    let side = |v: Option<&serde_json::Value>, key: &str| -> Result<u32, String> {
        v.and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (1..=16384).contains(n))
            .ok_or_else(|| format!("size.{key} must be an integer between 1 and 16384"))
    };
    match size {
        serde_json::Value::Number(_) => side(Some(size), "size").map(|s| (s, s)),
        serde_json::Value::Object(map) if map.contains_key("height") => {
            Ok((side(map.get("height"), "height")?, side(map.get("width"), "width")?))
        }
        serde_json::Value::Object(map) if map.contains_key("shortest_edge") => {
            side(map.get("shortest_edge"), "shortest_edge").map(|s| (s, s))
        }
        other => Err(format!(
            "size must be {{\"height\", \"width\"}}, {{\"shortest_edge\"}} or an integer, got {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preprocessor_config_variants() {
        let base = r#"{"do_normalize": true, "do_resize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_processor_type": "BlipImageProcessor", "image_std": [0.26862954, 0.26130258, 0.27577711],
            "processor_class": "BlipProcessor", "resample": 3, "rescale_factor": 0.00392156862745098,
            "size": {"height": 384, "width": 384}}"#;
        assert_eq!(
            ImageProcessor::from_json(base).unwrap(),
            ImageProcessor::blip(384)
        );
        let p = ImageProcessor::from_json(r#"{"size": {"shortest_edge": 224}}"#).unwrap();
        assert_eq!((p.height, p.width), (224, 224));
        let p = ImageProcessor::from_json(r#"{"size": 480, "image_mean": 0.5}"#).unwrap();
        assert_eq!((p.height, p.width, p.mean), (480, 480, [0.5; 3]));
        assert!(ImageProcessor::from_json(r#"{"resample": 2}"#)
            .unwrap_err()
            .contains("bicubic"));
        assert!(ImageProcessor::from_json(r#"{"size": {"width": 3}}"#).is_err());
        assert!(ImageProcessor::from_json(r#"{"image_std": [1, 2]}"#).is_err());
        assert!(ImageProcessor::from_json(r#"{"do_resize": false}"#).is_err());
    }
}
