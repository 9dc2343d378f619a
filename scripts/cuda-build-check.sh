#!/usr/bin/env bash
# Compiles the inference server with the `cuda` feature on a machine with no GPU and no CUDA
# installation, to catch build breaks of the GPU path before they reach the CUDA image:
#
#   scripts/cuda-build-check.sh            # ~10 min cold on 2 cores, ~2.5 GB under target/cuda-check
#
# What it does:
# 1. installs NVIDIA's CUDA 13.0 compiler, headers and libraries from PyPI into a venv (PyPI has
#    no CUDA 12 `nvcc`: the `-cu12` compiler wheels hold only `ptxas`);
# 2. lays them out as a CUDA root (hard links, so nvcc finds nvcc.profile by its real path) and
#    adds a link-time stub of the driver library, libcuda, which only the driver installs: the
#    stub defines every `cu*` symbol cudarc loads;
# 3. `cargo build` of imgcap-inference with `--features cuda` (candle-kernels' build script runs
#    nvcc for CUDA_COMPUTE_CAP, default 80), then `cargo check` of every target, and a check of
#    the Rust code against cudarc's CUDA 12.4 bindings (the toolkit of Dockerfile.inference).
#
# It proves the code and kernels compile, not that they run: the binary needs a real driver
# (libcuda.so.1) to start at all. Not part of scripts/test.sh (size and time).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${IMGCAP_CUDA_CHECK_DIR:-$REPO/target/cuda-check}"
CUDA_VERSION=13.0.88
VENV="$WORK/venv"
ROOT="$WORK/cuda-root"
cd "$REPO"

if [ ! -e "$WORK/wheels-installed" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet \
    "nvidia-cuda-nvcc==$CUDA_VERSION" "nvidia-cuda-crt==$CUDA_VERSION" "nvidia-nvvm==$CUDA_VERSION" \
    'nvidia-cuda-runtime~=13.0.0' 'nvidia-cuda-nvrtc~=13.0.0' 'nvidia-cuda-cccl~=13.0.0' \
    'nvidia-cublas~=13.0.0' 'nvidia-curand~=10.4.0'
  touch "$WORK/wheels-installed"
fi

if [ ! -e "$ROOT/lib/libcuda.so" ]; then
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  rm -rf "$ROOT"
  cp -al "$site/nvidia/cu13" "$ROOT"
  ln -s lib "$ROOT/lib64"
  for lib in libcublas.so.13 libcublasLt.so.13 libcudart.so.13 libcurand.so.10 libnvrtc.so.13; do
    ln -sf "$lib" "$ROOT/lib/${lib%%.so*}.so"
  done
  cargo fetch --locked --quiet
  cudarc="$(awk '/^name = "cudarc"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)"
  sys="$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path "*/cudarc-$cudarc/src/driver/sys/mod.rs" \
    -print -quit)"
  mkdir -p "$ROOT/lib/stubs"
  grep -oE 'load::<_F>\("cu[A-Za-z0-9_]+"\)' "$sys" | grep -oE 'cu[A-Za-z0-9_]+' | sort -u \
    | awk '{ print "void " $1 "(void) {}" }' > "$ROOT/lib/stubs/libcuda_stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$ROOT/lib/stubs/libcuda.so" \
    "$ROOT/lib/stubs/libcuda_stub.c"
  ln -sf stubs/libcuda.so "$ROOT/lib/libcuda.so"
fi

export CUDA_ROOT="$ROOT" CUDA_PATH="$ROOT" CUDA_HOME="$ROOT" PATH="$ROOT/bin:$PATH"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-80}" CARGO_TARGET_DIR="$WORK/target"
nvcc --version | tail -2
cargo build --locked -p imgcap-inference --features cuda
cargo check --locked -p imgcap-models -p imgcap-inference --features imgcap-inference/cuda --all-targets
CUDARC_CUDA_VERSION=12040 cargo check --locked -p imgcap-inference --features cuda
echo "cuda-build-check: imgcap-inference builds with --features cuda (nvcc $CUDA_VERSION, sm_$CUDA_COMPUTE_CAP)"
