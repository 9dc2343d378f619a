//! BLIP image captioning on candle.
//!
//! [`Captioner`] is the entry point the servers use: load a checkpoint once (local directory,
//! Hugging Face hub, or SageMaker's `/opt/ml/model`), then [`Captioner::caption_batch`] turns
//! decoded images into a concise and a creative caption each. [`BlipModel`] exposes the network
//! itself (vision encoding, cached decoding, generation) for finer control.

pub mod captioner;
pub mod config;
pub mod error;
pub mod generate;
pub mod gpu;
mod kernels;
pub mod model;
pub mod preprocess;
pub mod progress;
pub mod quantize;
pub mod source;
pub mod synthetic;
pub mod text;
mod vision;
mod weights;

pub use captioner::{
    parse_device, parse_dtype, pin_cpu_thread_count, Caption, CaptionOptions, Captioner,
    ImageCaptions, LoadOptions, ModelInfo,
};
pub use config::BlipConfig;
pub use error::{ModelError, Result};
pub use generate::{GeneratedSequence, GenerationOptions, Strategy};
pub use imgcap_common::CaptionMode;
pub use kernels::bf16::{cpu_has_bf16_arithmetic, Bf16Kernel};
pub use model::BlipModel;
pub use progress::{LoadPhase, LoadProgress, LoadStatus};
pub use text::{DecoderCache, ImageContext};
