//! All integration tests of `imgcap-models`, in one binary so the crate links once.
//!
//! - `parity`: against `transformers` outputs recorded in `fixtures/tiny-blip`.
//! - `generation`: batching, caching, precisions, quantized and broken checkpoints.
//! - `preprocess`: BLIP preprocessing into tensors (decoding and resizing: `imgcap-imaging`).
//! - `source`: local, SageMaker and hub checkpoint resolution.
//! - `real_weights`: real BLIP weights, when `IMGCAP_TEST_MODEL_DIR` is set.

mod generation;
mod parity;
mod preprocess;
mod real_weights;
mod source;
mod support;
