//! The inference server's HTTP contract: `POST /invocations` (SageMaker's endpoint), its error
//! body, and the `GET /info` and `GET /health` answers.
//!
//! Every name is snake_case on the wire; durations are milliseconds, sizes bytes.

use serde::{Deserialize, Serialize};

use crate::CaptionMode;

/// The JSON body of `POST /invocations` (`Content-Type: application/json`).
///
/// Raw image bodies (`image/jpeg`, `image/png`, `application/x-image`) carry no options: they get
/// the defaults, with `mode` taken from the `X-Amzn-SageMaker-Custom-Attributes` header
/// (`mode=concise`) when present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CaptionRequest {
    /// The JPEG or PNG image, base64-encoded (standard alphabet, padding optional, whitespace
    /// ignored) or as a `data:image/...;base64,...` URI. The format is sniffed from the bytes.
    /// `inputs` is accepted as an alias, as in the Hugging Face inference toolkit.
    #[serde(alias = "inputs")]
    pub image: String,
    /// Which captions to generate. Default: the `mode` custom attribute if the request has one,
    /// else `both`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<CaptionMode>,
    /// Generation options; every field is optional.
    #[serde(default)]
    pub parameters: CaptionParameters,
}

/// Options for both captions. Out-of-range values are refused with a 422, never clamped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CaptionParameters {
    /// How the concise caption is generated. Default: beam search with 3 beams, 3 to 20 new
    /// tokens, no repeated trigram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concise: Option<GenerationParameters>,
    /// How the creative caption is generated. Default: sampling with temperature 0.9, top-k 50,
    /// top-p 0.9, 10 to 40 new tokens, repetition penalty 1.2, no repeated trigram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creative: Option<GenerationParameters>,
    /// Text the concise caption starts with, e.g. `"a picture of"`; at most 200 characters.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concise_prompt: Option<String>,
    /// Text the creative caption starts with; at most 200 characters. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creative_prompt: Option<String>,
    /// The concise caption is cut to at most this many words, 1 to 30. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concise_words: Option<u32>,
    /// The creative caption keeps at most this many sentences, 1 to 5. Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_creative_sentences: Option<u32>,
}

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GenerationStrategy {
    /// The most likely token each step.
    Greedy,
    /// Beam search (`num_beams`, `length_penalty`).
    BeamSearch,
    /// Nucleus sampling (`temperature`, `top_k`, `top_p`, `seed`).
    Sample,
}

/// Generation options of one caption. A field that does not apply to the strategy (e.g.
/// `temperature` with beam search) is refused rather than ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GenerationParameters {
    /// Default: `beam_search` for the concise caption, `sample` for the creative one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<GenerationStrategy>,
    /// Beam search only: beams kept per step, 1 to 16. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_beams: Option<u32>,
    /// Beam search only: exponent of the length normalisation, -10 to 10 (> 0 favours longer
    /// captions). Default 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_penalty: Option<f32>,
    /// Sampling only: softmax temperature, above 0 and at most 5. Default 0.9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Sampling only: keep the k most likely tokens, 0 (off) to 1000. Default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Sampling only: keep the smallest set of tokens whose probability reaches p, above 0 and
    /// at most 1. Default 0.9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Sampling only: the same seed gives the same caption for the same image and options.
    /// Default: a fresh random seed per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Most tokens generated, 1 to 128 (and within the model's position limit). Default 20
    /// (concise) or 40 (creative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_new_tokens: Option<u32>,
    /// Fewest tokens generated before the end token is allowed, 0 to `max_new_tokens`.
    /// Default 3 (concise) or 10 (creative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_new_tokens: Option<u32>,
    /// Penalty on tokens already generated, above 0 and at most 10 (1 is off, > 1 discourages
    /// repeats). Default 1.0 (concise) or 1.2 (creative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f32>,
    /// No n-gram of this size appears twice, 0 (off) to 10. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_repeat_ngram_size: Option<u32>,
}

/// The answer of `POST /invocations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaptionResponse {
    /// The request id (`x-request-id`), as given by the client or generated (a ULID).
    pub request_id: String,
    /// The mode the captions were generated for.
    pub mode: CaptionMode,
    pub captions: Captions,
    pub model: ModelDescription,
    pub timings: Timings,
}

/// The captions the mode asked for; the other one is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Captions {
    /// At most `max_concise_words` words, no final punctuation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concise: Option<GeneratedCaption>,
    /// One or two capitalised, punctuated sentences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creative: Option<GeneratedCaption>,
}

/// One caption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GeneratedCaption {
    pub text: String,
    /// Mean log-probability of the generated tokens: at most 0, closer to 0 is more confident.
    pub confidence: f32,
    /// Tokens generated, the end token included.
    pub tokens: u32,
}

/// `<model_id>@<revision>`, or the id alone when there is no revision (a local directory): how
/// the web app names the model that wrote a caption, so its provenance says which weights.
pub fn model_at_revision(model_id: &str, revision: Option<&str>) -> String {
    match revision {
        Some(revision) => format!("{model_id}@{revision}"),
        None => model_id.to_owned(),
    }
}

/// The checkpoint that produced an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelDescription {
    /// Hugging Face id, or the checkpoint's `_name_or_path` / directory name.
    pub model_id: String,
    /// The hub commit; absent for a local directory.
    pub revision: Option<String>,
    /// `f32`, `f16`, `bf16`, or `gguf` for a quantized checkpoint.
    pub dtype: String,
    /// `cpu`, `cuda` or `metal`.
    pub device: String,
}

/// Where the time of one request went, in milliseconds (also sent as `x-*-time` headers).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Timings {
    /// Body parsing, image decoding, resizing and normalisation.
    pub preprocess_ms: f64,
    /// Waiting for a batch to start.
    pub queue_ms: f64,
    /// The batch's run on the model (shared by every request in the batch).
    pub inference_ms: f64,
    /// Arrival of the request to the answer.
    pub total_ms: f64,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A sentence a person understands; causes stay in the server's log.
    pub error: String,
    pub error_type: ErrorType,
}

/// Machine-readable kind of an error. Clients should treat unknown values as `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// 400: the body is not valid JSON.
    InvalidJson,
    /// 400: `image` is not valid base64 or not a base64 data URI.
    InvalidBase64,
    /// 400: the body is empty or could not be read.
    InvalidBody,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 406: the `Accept` header excludes `application/json`.
    NotAcceptable,
    /// 413: the body exceeds the size limit.
    PayloadTooLarge,
    /// 415: neither a supported `Content-Type` nor JPEG/PNG bytes.
    UnsupportedMediaType,
    /// 422: the image cannot be decoded or is outside the size limits.
    InvalidImage,
    /// 422: the JSON fields or generation parameters are invalid.
    InvalidParameters,
    /// 424: the model failed on the batch.
    Backend,
    /// 429: too many concurrent requests; see `Retry-After`.
    Overloaded,
    /// 500: a server bug.
    Internal,
    /// 503: the model is still loading.
    NotReady,
    /// 503: the model backend failed (e.g. a GPU error) and the server must be replaced.
    Unhealthy,
    /// 503: other images hold the server's image memory budget; see `Retry-After`.
    Busy,
    /// 504: no answer within the request timeout.
    Timeout,
    /// A kind this client version does not know.
    #[serde(other)]
    Other,
}

impl ErrorType {
    /// The wire name, e.g. for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidBase64 => "invalid_base64",
            Self::InvalidBody => "invalid_body",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NotAcceptable => "not_acceptable",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::InvalidImage => "invalid_image",
            Self::InvalidParameters => "invalid_parameters",
            Self::Backend => "backend",
            Self::Overloaded => "overloaded",
            Self::Internal => "internal",
            Self::NotReady => "not_ready",
            Self::Unhealthy => "unhealthy",
            Self::Busy => "busy",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }
}

/// The model server's state, as `GET /ping` and `GET /health` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServerStatus {
    /// The model is loading or warming up.
    Loading,
    /// Serving.
    Ready,
    /// The backend failed (e.g. a GPU error); the server answers 503 until replaced.
    Unhealthy,
}

/// The answer of `GET /health`: 200 when ready, 503 otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    pub status: ServerStatus,
    /// Requests preprocessed and waiting for a batch.
    pub queue_size: u64,
    /// `POST /invocations` requests being served.
    pub in_flight_requests: u64,
}

/// The answer of `GET /info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InfoResponse {
    /// The server's version.
    pub version: String,
    pub status: ServerStatus,
    /// The loaded model; absent while it loads.
    pub model: Option<LoadedModel>,
    pub limits: ServerLimits,
    /// The GPU the model runs on; null on the CPU and while the model loads.
    pub gpu: Option<GpuInfo>,
}

/// A CUDA device, for `GET /info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GpuInfo {
    /// As the driver names it, e.g. `NVIDIA A10G`.
    pub name: String,
    /// `major.minor`, e.g. `8.6`.
    pub compute_capability: String,
    /// Memory in use on the whole device (every process, and the pool the model keeps).
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
}

/// The loaded checkpoint, for `GET /info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoadedModel {
    pub model_id: String,
    /// The hub commit; absent for a local directory.
    pub revision: Option<String>,
    /// `f32`, `f16`, `bf16`, or `gguf`.
    pub dtype: String,
    /// `cpu`, `cuda` or `metal`.
    pub device: String,
    /// Side of the square the model sees, in pixels.
    pub image_size: u32,
}

/// Batching and back-pressure settings of the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerLimits {
    pub max_batch_size: u32,
    /// Most decoding work (beams × new tokens, summed over requests) in one batch.
    pub max_batch_work: u64,
    pub max_batch_wait_ms: u64,
    pub max_concurrent_requests: u32,
    pub max_body_bytes: u64,
    pub request_timeout_ms: u64,
    pub max_image_side: u32,
    pub max_image_pixels: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_named_with_its_revision_where_it_has_one() {
        assert_eq!(
            model_at_revision("Salesforce/blip-image-captioning-base", Some("82a1b2c")),
            "Salesforce/blip-image-captioning-base@82a1b2c"
        );
        assert_eq!(model_at_revision("tiny-blip", None), "tiny-blip");
    }

    #[test]
    fn request_accepts_inputs_as_an_alias_and_refuses_unknown_fields() {
        let request: CaptionRequest = serde_json::from_str(
            r#"{"inputs": "aGk=", "mode": "concise", "parameters": {"concise": {"num_beams": 5}}}"#,
        )
        .unwrap();
        assert_eq!(request.image, "aGk=");
        assert_eq!(request.mode, Some(CaptionMode::Concise));
        assert_eq!(
            request.parameters.concise.unwrap().num_beams,
            Some(5),
            "nested generation parameters"
        );
        assert!(serde_json::from_str::<CaptionRequest>(r#"{"image": "", "beams": 3}"#).is_err());
        assert!(serde_json::from_str::<CaptionRequest>(
            r#"{"image": "", "parameters": {"concise": {"beams": 3}}}"#
        )
        .is_err());
    }

    #[test]
    fn response_omits_the_caption_the_mode_did_not_ask_for() {
        let response = CaptionResponse {
            request_id: "r".into(),
            mode: CaptionMode::Concise,
            captions: Captions {
                concise: Some(GeneratedCaption {
                    text: "A cat".into(),
                    confidence: -0.5,
                    tokens: 3,
                }),
                creative: None,
            },
            model: ModelDescription {
                model_id: "m".into(),
                revision: None,
                dtype: "f32".into(),
                device: "cpu".into(),
            },
            timings: Timings {
                preprocess_ms: 1.0,
                queue_ms: 2.0,
                inference_ms: 3.0,
                total_ms: 6.0,
            },
        };
        let json = serde_json::to_value(&response).unwrap();
        assert!(json["captions"].get("creative").is_none());
        assert_eq!(json["captions"]["concise"]["tokens"], 3);
        let back: CaptionResponse = serde_json::from_value(json).unwrap();
        assert_eq!(back, response);
    }

    #[test]
    fn error_types_serialize_as_their_names_and_unknown_ones_are_other() {
        for kind in [
            ErrorType::InvalidBase64,
            ErrorType::Overloaded,
            ErrorType::NotReady,
            ErrorType::Busy,
        ] {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.as_str().into())
            );
        }
        let body: ErrorBody =
            serde_json::from_str(r#"{"error": "x", "error_type": "brand_new"}"#).unwrap();
        assert_eq!(body.error_type, ErrorType::Other);
    }
}
