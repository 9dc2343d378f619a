# shellcheck shell=bash
# Shared by scripts/cuda-build-check.sh and scripts/gpu-check.sh (sourced, not run): a CUDA
# toolkit to compile `--features cuda` with on a machine that has none, from PyPI.
#
# cuda_toolkit_from_pypi WORK: installs NVIDIA's CUDA 13.0 compiler, headers and libraries into
# the venv WORK/venv (PyPI has no CUDA 12 `nvcc`: the `-cu12` compiler wheels hold only
# `ptxas`); lays them out as a CUDA root WORK/cuda-root (hard links, so nvcc finds nvcc.profile
# by its real path) with a link-time stub of the driver library, libcuda, which only the driver
# installs (the stub defines every `cu*` symbol cudarc loads); then exports CUDA_ROOT,
# CUDA_PATH, CUDA_HOME and PATH for cargo. Idempotent: a second call reuses what is there.
# Needs python3 with venv, gcc, cargo (for `cargo fetch`), and the repository as the current
# directory.

CUDA_TOOLKIT_VERSION=13.0.88

cuda_toolkit_from_pypi() {
  local work="$1" venv="$1/venv" root="$1/cuda-root"
  mkdir -p "$work"
  if [ ! -e "$work/wheels-installed" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet \
      "nvidia-cuda-nvcc==$CUDA_TOOLKIT_VERSION" "nvidia-cuda-crt==$CUDA_TOOLKIT_VERSION" \
      "nvidia-nvvm==$CUDA_TOOLKIT_VERSION" \
      'nvidia-cuda-runtime~=13.0.0' 'nvidia-cuda-nvrtc~=13.0.0' 'nvidia-cuda-cccl~=13.0.0' \
      'nvidia-cublas~=13.0.0' 'nvidia-curand~=10.4.0'
    touch "$work/wheels-installed"
  fi

  if [ ! -e "$root/lib/libcuda.so" ]; then
    local site cudarc sys lib
    site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    rm -rf "$root"
    cp -al "$site/nvidia/cu13" "$root"
    ln -s lib "$root/lib64"
    for lib in libcublas.so.13 libcublasLt.so.13 libcudart.so.13 libcurand.so.10 libnvrtc.so.13; do
      ln -sf "$lib" "$root/lib/${lib%%.so*}.so"
    done
    cargo fetch --locked --quiet
    cudarc="$(awk '/^name = "cudarc"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)"
    sys="$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" \
      -path "*/cudarc-$cudarc/src/driver/sys/mod.rs" -print -quit)"
    mkdir -p "$root/lib/stubs"
    grep -oE 'load::<_F>\("cu[A-Za-z0-9_]+"\)' "$sys" | grep -oE 'cu[A-Za-z0-9_]+' | sort -u \
      | awk '{ print "void " $1 "(void) {}" }' > "$root/lib/stubs/libcuda_stub.c"
    gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$root/lib/stubs/libcuda.so" \
      "$root/lib/stubs/libcuda_stub.c"
    ln -sf stubs/libcuda.so "$root/lib/libcuda.so"
  fi

  export CUDA_ROOT="$root" CUDA_PATH="$root" CUDA_HOME="$root" PATH="$root/bin:$PATH"
}
