#!/usr/bin/env bash
# Compiles the inference server with the `cuda` feature on a machine with no GPU and no CUDA
# installation, to catch build breaks of the GPU path before they reach the CUDA image:
#
#   scripts/cuda-build-check.sh            # ~10 min cold on 2 cores, ~2.5 GB under target/cuda-check
#
# What it does:
# 1.-2. installs NVIDIA's CUDA 13.0 toolkit from PyPI and lays it out as a CUDA root with a
#    link-time stub of the driver library (scripts/lib/cuda-toolkit.sh);
# 3. `cargo build` of imgcap-inference with `--features cuda` (candle-kernels' build script runs
#    nvcc for CUDA_COMPUTE_CAP, default 80), then `cargo check` of every target, and a check of
#    the Rust code against cudarc's CUDA 12.4 bindings (the toolkit of Dockerfile.inference).
#
# It proves the code and kernels compile, not that they run: the binary needs a real driver
# (libcuda.so.1) to start at all. Not part of scripts/test.sh (size and time).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${IMGCAP_CUDA_CHECK_DIR:-$REPO/target/cuda-check}"
cd "$REPO"
# shellcheck source=scripts/lib/cuda-toolkit.sh
. "$REPO/scripts/lib/cuda-toolkit.sh"
cuda_toolkit_from_pypi "$WORK"

export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}" CARGO_TARGET_DIR="$WORK/target"
nvcc --version | tail -2
cargo build --locked -p imgcap-inference --features cuda
cargo check --locked -p imgcap-models -p imgcap-inference --features imgcap-inference/cuda --all-targets
CUDARC_CUDA_VERSION=12040 cargo check --locked -p imgcap-inference --features cuda
echo "cuda-build-check: imgcap-inference builds with --features cuda (nvcc $CUDA_TOOLKIT_VERSION, sm_$CUDA_COMPUTE_CAP)"
