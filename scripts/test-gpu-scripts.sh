#!/usr/bin/env bash
# Tests of the GPU scripts that need no GPU (run by scripts/test-infra.sh, step "scripts"):
#
# - scripts/cuda-compat-entrypoint.sh puts the image's CUDA compat libraries first on
#   LD_LIBRARY_PATH exactly when the driver is older than them, reading the driver's version
#   from a fake /proc/driver/nvidia/version or a fake nvidia-smi;
# - scripts/gpu-check.sh stops at once, exit 1, with "no NVIDIA GPU" when there is none
#   (no nvidia-smi, or one that cannot reach a driver), and exit 2 on bad usage.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENTRYPOINT="$REPO/scripts/cuda-compat-entrypoint.sh"
GPU_CHECK="$REPO/scripts/gpu-check.sh"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
FAILED=0
CHECKS=0

fail() { echo "FAIL: $*" >&2; FAILED=$((FAILED + 1)); }

# compat_dir VERSION: an image's compat directory whose libcuda comes from driver VERSION.
compat_dir() {
  local dir="$SCRATCH/compat-$1"
  mkdir -p "$dir"
  : > "$dir/libcuda.so.$1"
  ln -sf "libcuda.so.$1" "$dir/libcuda.so.1"
  echo "$dir"
}

# version_file VERSION: /proc/driver/nvidia/version as driver VERSION writes it.
version_file() {
  local file="$SCRATCH/version-$1"
  printf 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  %s  Thu Oct 17 19:42:31 UTC 2024\nGCC version:  gcc version 11.4.0\n' \
    "$1" > "$file"
  echo "$file"
}

# fake_smi DIR DRIVER: an nvidia-smi in DIR that reports DRIVER (empty: fails like a host
# without a driver).
fake_smi() {
  mkdir -p "$1"
  if [ -n "$2" ]; then
    printf '#!/bin/sh\necho "%s"\n' "$2" > "$1/nvidia-smi"
  else
    printf '#!/bin/sh\necho "NVIDIA-SMI has failed because it couldn'"'"'t communicate with the NVIDIA driver."\nexit 9\n' \
      > "$1/nvidia-smi"
  fi
  chmod +x "$1/nvidia-smi"
}

# expect_path NAME WANT [ENV...]: runs the entrypoint with ENV and checks the LD_LIBRARY_PATH
# the command gets.
expect_path() {
  local name="$1" want="$2" got
  shift 2
  CHECKS=$((CHECKS + 1))
  # shellcheck disable=SC2016  # expanded by the command the entrypoint runs
  got="$(env -u LD_LIBRARY_PATH "$@" "$ENTRYPOINT" sh -c 'echo "${LD_LIBRARY_PATH-unset}"' 2> /dev/null)" \
    || { fail "$name: the entrypoint failed"; return; }
  [ "$got" = "$want" ] || fail "$name: LD_LIBRARY_PATH is '$got', want '$want'"
}

compat="$(compat_dir 550.54.15)"
absent="$SCRATCH/no-such-file"
expect_path "driver 470 (SageMaker's default on g5) is older: compat first" "$compat" \
  IMGCAP_CUDA_COMPAT_DIR="$compat" IMGCAP_NVIDIA_VERSION_FILE="$(version_file 470.256.02)"
expect_path "the existing path is kept after compat" "$compat:/usr/local/lib/imgcap" \
  IMGCAP_CUDA_COMPAT_DIR="$compat" IMGCAP_NVIDIA_VERSION_FILE="$(version_file 470.256.02)" \
  LD_LIBRARY_PATH=/usr/local/lib/imgcap
expect_path "versions compare by number, not text (550.9 < 550.54.15)" "$compat" \
  IMGCAP_CUDA_COMPAT_DIR="$compat" IMGCAP_NVIDIA_VERSION_FILE="$(version_file 550.9)"
expect_path "the same driver as compat: host driver" "unset" \
  IMGCAP_CUDA_COMPAT_DIR="$compat" IMGCAP_NVIDIA_VERSION_FILE="$(version_file 550.54.15)"
expect_path "a newer driver (p5e's 560): host driver" "unset" \
  IMGCAP_CUDA_COMPAT_DIR="$compat" IMGCAP_NVIDIA_VERSION_FILE="$(version_file 560.35.03)"
expect_path "no compat package: nothing changes" "unset" \
  IMGCAP_CUDA_COMPAT_DIR="$absent" IMGCAP_NVIDIA_VERSION_FILE="$(version_file 470.256.02)"

smi_old="$SCRATCH/smi-old"
fake_smi "$smi_old" 470.256.02
expect_path "no version file: nvidia-smi's driver 470 is older: compat first" "$compat" \
  IMGCAP_CUDA_COMPAT_DIR="$compat" IMGCAP_NVIDIA_VERSION_FILE="$absent" PATH="$smi_old:$PATH"
smi_broken="$SCRATCH/smi-broken"
fake_smi "$smi_broken" ""
expect_path "no driver at all: nothing changes" "unset" \
  IMGCAP_CUDA_COMPAT_DIR="$compat" IMGCAP_NVIDIA_VERSION_FILE="$absent" PATH="$smi_broken:$PATH"

CHECKS=$((CHECKS + 1))
args="$(IMGCAP_CUDA_COMPAT_DIR="$absent" "$ENTRYPOINT" printf '%s|' serve --port 8080 2> /dev/null)"
[ "$args" = "serve|--port|8080|" ] || fail "the command's arguments arrive unchanged: got '$args'"
CHECKS=$((CHECKS + 1))
rc=0
"$ENTRYPOINT" > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "no command: exit $rc, want 2"

# gpu-check.sh without a GPU: exit 1, and the reason on stderr.
# expect_no_gpu NAME PATH: runs `gpu-check.sh --run` with PATH.
expect_no_gpu() {
  local name="$1" path="$2" rc=0 err
  CHECKS=$((CHECKS + 1))
  err="$(PATH="$path" "$GPU_CHECK" --run "$SCRATCH" 2>&1 > /dev/null)" || rc=$?
  if [ "$rc" -ne 1 ] || ! grep -q "no NVIDIA GPU" <<< "$err"; then
    fail "gpu-check.sh, $name: exit $rc, stderr '$err' (want 1 and 'no NVIDIA GPU')"
  fi
}
# A PATH with the tools the script uses but no nvidia-smi.
tools="$SCRATCH/tools"
mkdir -p "$tools"
for tool in bash dirname env sed head cat mktemp; do
  ln -sf "$(command -v "$tool")" "$tools/$tool"
done
expect_no_gpu "no nvidia-smi" "$tools"
expect_no_gpu "an nvidia-smi without a driver" "$smi_broken:$tools"
CHECKS=$((CHECKS + 1))
rc=0
"$GPU_CHECK" --bogus > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "gpu-check.sh --bogus: exit $rc, want 2"

if [ "$FAILED" -gt 0 ]; then
  echo "test-gpu-scripts: $FAILED of $CHECKS checks failed" >&2
  exit 1
fi
echo "test-gpu-scripts: $CHECKS checks passed (cuda-compat entrypoint, gpu-check.sh without a GPU)"
