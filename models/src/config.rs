//! The Hugging Face `config.json` of a BLIP captioning checkpoint.
//!
//! Architecture sizes are required (a checkpoint without them is broken); secondary values take
//! the defaults of `transformers`' `BlipTextConfig` / `BlipVisionConfig`.

use std::path::Path;

use serde::Deserialize;

use crate::error::{ModelError, Result};

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub image_size: usize,
    pub patch_size: usize,
    #[serde(default = "default_num_channels")]
    pub num_channels: usize,
    #[serde(default = "default_vision_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    /// Width of the image embeddings fed to cross-attention. The published base config omits it;
    /// [`BlipConfig::from_json`] fills it with the vision hidden size.
    #[serde(default)]
    pub encoder_hidden_size: Option<usize>,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_text_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_bos")]
    pub bos_token_id: u32,
    #[serde(default = "default_sep")]
    pub sep_token_id: u32,
    #[serde(default)]
    pub pad_token_id: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlipConfig {
    pub vision: VisionConfig,
    pub text: TextConfig,
}

fn default_num_channels() -> usize {
    3
}
fn default_vision_eps() -> f64 {
    1e-5
}
fn default_text_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".to_string()
}
fn default_max_positions() -> usize {
    512
}
fn default_bos() -> u32 {
    30522
}
fn default_sep() -> u32 {
    102
}

impl TextConfig {
    pub fn encoder_hidden_size(&self) -> usize {
        self.encoder_hidden_size.unwrap_or(self.hidden_size)
    }
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

impl VisionConfig {
    /// Patches plus the class token.
    pub fn num_positions(&self) -> usize {
        (self.image_size / self.patch_size).pow(2) + 1
    }
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

impl BlipConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ModelError::MissingFile {
                    path: path.to_path_buf(),
                }
            } else {
                ModelError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Self::from_json(&text, path)
    }

    /// Parses and checks a config; `origin` only names the source in errors.
    pub fn from_json(json: &str, origin: &Path) -> Result<Self> {
        let err = |message: String| ModelError::Config {
            path: origin.to_path_buf(),
            message,
        };
        let root: serde_json::Value =
            serde_json::from_str(json).map_err(|e| err(format!("not valid JSON: {e}")))?;
        let section = |key: &str| {
            root.get(key)
                .cloned()
                .ok_or_else(|| err(format!("missing section `{key}`")))
        };
        let vision: VisionConfig = serde_json::from_value(section("vision_config")?)
            .map_err(|e| err(format!("vision_config: {e}")))?;
        let mut text: TextConfig = serde_json::from_value(section("text_config")?)
            .map_err(|e| err(format!("text_config: {e}")))?;
        text.encoder_hidden_size.get_or_insert(vision.hidden_size);
        let config = BlipConfig { vision, text };
        config.check().map_err(err)?;
        Ok(config)
    }

    fn check(&self) -> std::result::Result<(), String> {
        let (v, t) = (&self.vision, &self.text);
        let positive = [
            ("vision_config.hidden_size", v.hidden_size),
            ("vision_config.intermediate_size", v.intermediate_size),
            ("vision_config.num_hidden_layers", v.num_hidden_layers),
            ("vision_config.num_attention_heads", v.num_attention_heads),
            ("vision_config.image_size", v.image_size),
            ("vision_config.patch_size", v.patch_size),
            ("text_config.vocab_size", t.vocab_size),
            ("text_config.hidden_size", t.hidden_size),
            ("text_config.intermediate_size", t.intermediate_size),
            ("text_config.num_hidden_layers", t.num_hidden_layers),
            ("text_config.num_attention_heads", t.num_attention_heads),
            (
                "text_config.max_position_embeddings",
                t.max_position_embeddings,
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(format!("`{key}` must be positive"));
        }
        if v.hidden_size % v.num_attention_heads != 0 {
            return Err(
                "vision_config.hidden_size is not a multiple of num_attention_heads".into(),
            );
        }
        if t.hidden_size % t.num_attention_heads != 0 {
            return Err("text_config.hidden_size is not a multiple of num_attention_heads".into());
        }
        if v.image_size % v.patch_size != 0 {
            return Err("vision_config.image_size is not a multiple of patch_size".into());
        }
        for (key, act) in [
            ("vision_config", &v.hidden_act),
            ("text_config", &t.hidden_act),
        ] {
            if !matches!(
                act.as_str(),
                "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu"
            ) {
                return Err(format!("{key}.hidden_act `{act}` is not supported"));
            }
        }
        for (key, id) in [
            ("bos_token_id", t.bos_token_id),
            ("sep_token_id", t.sep_token_id),
            ("pad_token_id", t.pad_token_id),
        ] {
            if id as usize >= t.vocab_size {
                return Err(format!("text_config.{key} {id} is outside the vocabulary"));
            }
        }
        Ok(())
    }
}
