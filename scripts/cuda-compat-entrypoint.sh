#!/usr/bin/env bash
# Entrypoint of the CUDA inference image (Dockerfile.inference, --target cuda): uses the CUDA
# forward-compatibility libraries shipped in the image only when the host's NVIDIA driver is
# older than the driver they come from, then runs the given command (the server).
#
#   cuda-compat-entrypoint.sh imgcap-inference serve
#
# Why: the image's CUDA 12.4 needs driver 550 or later, and SageMaker real-time endpoints on
# ml.g4dn/g5/p4d run driver 470 (CUDA 11.4) unless the production variant sets an
# InferenceAmiVersion with a newer one. NVIDIA Container Toolkit 1.17.4 and later no longer
# mount the image's compat libraries, so AWS asks bring-your-own containers to do it themselves
# ("Updating inference containers to comply with the NVIDIA Container Toolkit"): put
# /usr/local/cuda/compat first on LD_LIBRARY_PATH when, and only when, the driver is older than
# the compat package. With a newer driver the compat libcuda would be the older one, and fail.
#
# The driver version comes from /proc/driver/nvidia/version, else `nvidia-smi`; the compat
# version from the name libcuda.so.1 links to (libcuda.so.<driver version>). Without either,
# nothing changes: the server reports the missing GPU itself.
#
# Env (for tests): IMGCAP_CUDA_COMPAT_DIR (default /usr/local/cuda/compat),
#                  IMGCAP_NVIDIA_VERSION_FILE (default /proc/driver/nvidia/version)
set -euo pipefail

COMPAT_DIR="${IMGCAP_CUDA_COMPAT_DIR:-/usr/local/cuda/compat}"
VERSION_FILE="${IMGCAP_NVIDIA_VERSION_FILE:-/proc/driver/nvidia/version}"

log() { echo "cuda-compat: $*" >&2; }

# The loaded kernel module's version, e.g. 470.256.02; empty without a driver.
driver_version() {
  local version=""
  if [[ -r "$VERSION_FILE" ]]; then
    version="$(sed -n 's/^NVRM version:.*Kernel Module[^0-9]*\([0-9][0-9.]*\).*/\1/p' "$VERSION_FILE" \
      | head -n 1)"
  fi
  if [[ -z "$version" ]] && command -v nvidia-smi > /dev/null; then
    version="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2> /dev/null \
      | head -n 1 | tr -d '[:space:]')" || version=""
  fi
  echo "$version"
}

# The driver version the compat libcuda comes from, e.g. 550.54.15; empty without the package.
compat_version() {
  local target
  target="$(readlink "$COMPAT_DIR/libcuda.so.1" 2> /dev/null)" || return 0
  target="${target##*/}"
  echo "${target#libcuda.so.}"
}

# older A B: true when version A sorts strictly before version B.
older() {
  [[ "$1" != "$2" && "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" == "$1" ]]
}

if [[ $# -eq 0 ]]; then
  log "usage: $0 COMMAND [ARGS...]"
  exit 2
fi

driver="$(driver_version)"
compat="$(compat_version)"
if [[ -z "$compat" ]]; then
  log "no compat libraries in $COMPAT_DIR: using the host driver ${driver:-(none found)}"
elif [[ -z "$driver" ]]; then
  log "no NVIDIA driver found: not using the compat libraries"
elif older "$driver" "$compat"; then
  log "driver $driver is older than the image's CUDA (compat $compat): using $COMPAT_DIR"
  export LD_LIBRARY_PATH="$COMPAT_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  log "driver $driver is not older than compat $compat: using the host driver"
fi
exec "$@"
