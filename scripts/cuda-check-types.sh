#!/usr/bin/env bash
# Type-checks the GPU build on a machine without CUDA, in minutes:
#
#   scripts/cuda-check-types.sh      # cargo check of imgcap-inference --features cuda, every target
#
# candle's CUDA kernels take hours to compile on two cores (scripts/cuda-build-check.sh compiles
# them for real); the Rust that uses candle's and cudarc's CUDA APIs (models/src/gpu.rs, the
# cuda device paths) needs only their types. So `cargo check` runs with a stand-in nvcc
# (scripts/lib/nvcc-stand-in) that writes empty kernels, against cudarc's CUDA 12.4 bindings
# (the toolkit of Dockerfile.inference), in its own target directory so that the empty
# kernels can never reach a real build. Part of scripts/test.sh.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

unset CUDA_HOME CUDA_PATH CUDA_ROOT CUDA_TOOLKIT_ROOT_DIR
export PATH="$REPO/scripts/lib/nvcc-stand-in:$PATH"
export CUDARC_CUDA_VERSION=12040 CUDA_COMPUTE_CAP=80
export CARGO_TARGET_DIR="$REPO/target/cuda-types"
cargo check --locked -p imgcap-models -p imgcap-inference --features imgcap-inference/cuda --all-targets
echo "cuda-check-types: imgcap-inference --features cuda type-checks (every target; kernels stood in)"
